"""Task coverage (issue 19; report 000, «Rekruttering»): a policy's coverage rules give points for
each listed task a household brings to a building, stairwell or floor whose other residents
lack it. The core's scores, optima and re-matches against the plain reference on random
instances, and the rule's validation."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyengine.errors import InputError
from pyengine.matching import solve_instance
from pyengine.policy import Coverage, Policy, parse_policy
from pyengine.schema import Household, Instance, Unit

from .helpers import POLICY, matcher
from .reference import breakdown, eligible_scores, lsa_optimum, mip_optimum
from .strategies import AS_OF, SKILLS, instances
from .test_stream import check_stream

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

rules = st.lists(
    st.builds(
        Coverage,
        tasks=st.lists(st.sampled_from(SKILLS), min_size=1, max_size=3, unique=True),
        scope=st.sampled_from(["building", "stairwell", "floor"]),
        points=st.sampled_from([0, 30, 200]),
    ),
    min_size=1,
    max_size=2,
)


def covering(cov: list[Coverage]) -> Policy:
    return msgspec.structs.replace(POLICY, version=7, coverage=cov)


@SETTINGS
@given(instances(max_units=8, max_households=8), rules)
def test_scores_equal_the_reference(inst: Instance, cov: list[Coverage]) -> None:
    policy = covering(cov)
    m = matcher(inst, policy)
    hi, ui, sc = m.pairs()
    hids, uids = m.engine.household_ids(), m.engine.unit_ids()
    core = {(hids[h], uids[u]): int(s) for h, u, s in zip(hi.tolist(), ui.tolist(), sc.tolist(), strict=True)}
    assert core == eligible_scores(inst, policy)
    res = m.solve()
    hs = {h.id: h for h in inst.households}
    us = {u.id: u for u in inst.units}
    for a in res.assignments:
        assert msgspec.to_builtins(a.breakdown) == breakdown(inst, hs[a.household], us[a.unit], policy)


@SETTINGS
@given(instances(max_units=10, max_households=10), rules)
def test_uncapped_optimum_equals_scipy(inst: Instance, cov: list[Coverage]) -> None:
    policy = covering(cov)
    res = solve_instance(inst, policy)
    assert res.optimal and res.objective == res.bound == lsa_optimum(inst, policy)


@SETTINGS
@given(instances(max_units=8, max_households=8, caps=True), rules)
def test_capped_optimum_equals_highs(inst: Instance, cov: list[Coverage]) -> None:
    policy = covering(cov)
    res = solve_instance(inst, policy)
    assert res.optimal and res.objective == res.bound == mip_optimum(inst, policy)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_units=9, max_households=9), st.integers(0, 10_000), rules)
def test_streams_equal_scratch_and_the_optimum(inst: Instance, seed: int, cov: list[Coverage]) -> None:
    check_stream(inst, 10, seed, exact=True, policy=covering(cov))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_units=8, max_households=8, caps=True), st.integers(0, 10_000), rules)
def test_capped_streams_equal_scratch_and_the_optimum(inst: Instance, seed: int, cov: list[Coverage]) -> None:
    check_stream(inst, 8, seed, exact=True, policy=covering(cov))


def flat(uid: str, stairwell: str, floor: int = 1) -> Unit:
    return Unit(
        id=uid, building="B1", stairwell=stairwell, floor=floor, rooms=2, area_m2=50.0, rent_nok_month=6800,
        accessible=True, kind="ordinary", district="Lademoen",
    )  # fmt: skip


def person(hid: str, skills: list[str], home: str | None = None) -> Household:
    return Household(
        id=hid, adults=1, children=0, needs_accessible=False, care_need=False, disadvantaged=False,
        refugee=False, urgency=0, applied_on=AS_OF if home is None else None, skills=skills,
        preferred_districts=[], current_unit=home,
    )  # fmt: skip


def test_a_stairwell_without_a_gardener_gets_one() -> None:
    """Stairwell A has a gardener, B has none: the applicant who gardens is proposed B's flat,
    the one who cleans A's, though both score the same for both flats otherwise."""
    inst = Instance(
        as_of=AS_OF,
        units=[flat("A1", "A"), flat("A2", "A"), flat("B1", "B"), flat("B2", "B")],
        households=[
            person("T1", ["gardening"], home="A1"),
            person("T2", ["cleaning"], home="B1"),
            person("H1", ["gardening"]),
            person("H2", ["cleaning"]),
        ],
    )
    policy = covering([Coverage(tasks=["gardening", "cleaning"], scope="stairwell", points=50)])
    res = solve_instance(inst, policy)
    got = {a.household: (a.unit, a.breakdown.resource_mix) for a in res.assignments}
    assert got["H1"] == ("B2", 50) and got["H2"] == ("A2", 50)
    # by floor, both stairwells' first floors are one floor of B1, where both tasks live
    policy = covering([Coverage(tasks=["gardening", "cleaning"], scope="floor", points=50)])
    res = solve_instance(inst, policy)
    assert all(a.breakdown.resource_mix == 0 for a in res.assignments if a.household.startswith("H"))


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        ({"tasks": ["gardening"], "scope": "block", "points": 5}, "policy.coverage[0].scope", "Invalid enum value"),
        ({"tasks": [], "scope": "floor", "points": 5}, "policy.coverage[0].tasks", "length"),
        ({"tasks": ["a", "a"], "scope": "floor", "points": 5}, "policy.coverage[0].tasks[1]", "listed twice"),
        ({"tasks": ["a"], "scope": "floor", "points": -1}, "policy.coverage[0].points", ">= 0"),
        ({"tasks": ["a"], "scope": "floor"}, "policy.coverage[0].points", "missing"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_field(rule: dict[str, object], field: str, reason: str) -> None:
    data = msgspec.to_builtins(POLICY)
    data["coverage"] = [rule]
    with pytest.raises(InputError) as e:
        parse_policy(data)
    assert e.value.field == field and reason in e.value.reason
