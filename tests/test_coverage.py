"""The policy's mix rules scored per unit (issue 19; report 000): task coverage («Rekruttering»:
points for each listed task a household brings to a building, stairwell or floor whose other
residents lack it) and flag bonuses (pilot 1's «øke andelen av yngre beboere»), each possibly
limited to some buildings, as caps may be. The core's scores, optima and re-matches against the
plain reference on random instances, the rules' validation, the pilot-2 demo and the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyengine import commands as c
from pyengine import coverage
from pyengine.errors import InputError
from pyengine.generate import operations
from pyengine.matching import Matcher, solve_instance
from pyengine.operations import apply_to_instance, apply_to_matcher
from pyengine.policy import Coverage, MixBonus, Policy, load_policy, parse_policy
from pyengine.scenarios import pilot2
from pyengine.schema import Household, Instance, Unit
from pyengine.service import AllocationService

from .helpers import POLICY, matcher
from .reference import breakdown, eligible_scores, hard_cover_optimum, lsa_optimum, mip_optimum, uncovered
from .strategies import AS_OF, FLAGS, SKILLS, instances
from .test_stream import check_stream, strip

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SOME = st.sampled_from([[], [], ["B0"], ["B1", "B2"]])
coverage_rules = st.lists(
    st.builds(
        Coverage,
        tasks=st.lists(st.sampled_from(SKILLS), min_size=1, max_size=3, unique=True),
        scope=st.sampled_from(["building", "stairwell", "floor"]),
        points=st.sampled_from([0, 30, 200]),
        buildings=SOME,
    ),
    max_size=2,
)
bonus_rules = st.lists(
    st.builds(MixBonus, flag=st.sampled_from(FLAGS), points=st.sampled_from([0, 40, 300]), buildings=SOME),
    max_size=2,
)
rules = st.tuples(coverage_rules, bonus_rules).filter(lambda r: bool(r[0] or r[1]))


Rules = tuple[list[Coverage], list[MixBonus]]


def covering(rules: Rules) -> Policy:
    return msgspec.structs.replace(POLICY, version=7, coverage=rules[0], mix_bonuses=rules[1])


@SETTINGS
@given(instances(max_units=8, max_households=8), rules)
def test_scores_equal_the_reference(inst: Instance, cov: Rules) -> None:
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
def test_uncapped_optimum_equals_scipy(inst: Instance, cov: Rules) -> None:
    policy = covering(cov)
    res = solve_instance(inst, policy)
    assert res.optimal and res.objective == res.bound == lsa_optimum(inst, policy)


@SETTINGS
@given(instances(max_units=8, max_households=8, caps=True), rules)
def test_capped_optimum_equals_highs(inst: Instance, cov: Rules) -> None:
    policy = covering(cov)
    res = solve_instance(inst, policy)
    assert res.optimal and res.objective == res.bound == mip_optimum(inst, policy)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_units=9, max_households=9), st.integers(0, 10_000), rules)
def test_streams_equal_scratch_and_the_optimum(inst: Instance, seed: int, cov: Rules) -> None:
    check_stream(inst, 10, seed, exact=True, policy=covering(cov))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_units=8, max_households=8, caps=True), st.integers(0, 10_000), rules)
def test_capped_streams_equal_scratch_and_the_optimum(inst: Instance, seed: int, cov: Rules) -> None:
    check_stream(inst, 8, seed, exact=True, policy=covering(cov))


hard_rules = st.lists(
    st.builds(
        Coverage,
        tasks=st.lists(st.sampled_from(SKILLS), min_size=1, max_size=3, unique=True),
        scope=st.sampled_from(["building", "stairwell", "floor"]),
        points=st.sampled_from([0, 30, 200]),
        buildings=SOME,
        hard=st.just(True),
    ),
    min_size=1,
    max_size=2,
)


def placed_of(res: object) -> dict[str, str]:
    return {a.household: a.unit for a in res.assignments}  # type: ignore[attr-defined]


def check_hard(inst: Instance, policy: Policy, res: object) -> None:
    """The fewest (task, scope) pairs uncovered, then the most points, as HiGHS finds them;
    no cap exceeded."""
    assert res.optimal and res.objective == res.bound  # type: ignore[attr-defined]
    assert (uncovered(inst, policy, placed_of(res)), res.objective) == hard_cover_optimum(inst, policy)  # type: ignore[attr-defined]
    assert all(c.count <= c.cap for c in res.caps)  # type: ignore[attr-defined]


@SETTINGS
@given(instances(max_units=8, max_households=8), hard_rules)
def test_hard_rules_equal_highs(inst: Instance, cov: list[Coverage]) -> None:
    policy = covering((cov, []))
    check_hard(inst, policy, solve_instance(inst, policy))


@SETTINGS
@given(instances(max_units=8, max_households=8, caps=True), hard_rules)
def test_hard_rules_with_caps_equal_highs(inst: Instance, cov: list[Coverage]) -> None:
    policy = covering((cov, []))
    check_hard(inst, policy, solve_instance(inst, policy))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_units=8, max_households=8, caps=True), st.integers(0, 10_000), hard_rules)
def test_hard_rule_streams_equal_scratch_and_the_optimum(inst: Instance, seed: int, cov: list[Coverage]) -> None:
    policy = covering((cov, []))
    m = Matcher(policy)
    m.load(inst)
    m.solve()
    cur = inst
    for op in operations(inst, 8, seed):
        apply_to_matcher(m, op)
        cur = apply_to_instance(cur, op)
        m.rematch()
        live = m.result()
        assert strip(live) == strip(solve_instance(cur, policy))
        check_hard(cur, policy, live)


def test_a_hard_rule_takes_the_gardener_over_more_points() -> None:
    """Stairwell B has no gardener: under the points form (0 points) the cleaner, who waited
    longer, is proposed B's flat; under the hard rule the gardener is, and the report shows the
    task covered."""
    older = msgspec.structs.replace(person("H1", ["cleaning"]), applied_on="2020-01-01")
    inst = Instance(
        as_of=AS_OF,
        units=[flat("A1", "A"), flat("B1", "B")],
        households=[person("T1", ["gardening"], home="A1"), older, person("H2", ["gardening"])],
    )
    rule = Coverage(tasks=["gardening"], scope="stairwell", points=0)
    soft = solve_instance(inst, covering(([rule], [])))
    hard = solve_instance(inst, covering(([msgspec.structs.replace(rule, hard=True)], [])))
    assert placed_of(soft) == {"T1": "A1", "H1": "B1"}
    assert placed_of(hard) == {"T1": "A1", "H2": "B1"}
    assert hard.optimal and hard.objective < soft.objective == soft.uncapped_objective
    assert hard.uncapped_objective == soft.objective


def test_hard_rules_and_caps_are_at_most_32_rules() -> None:
    data = msgspec.to_builtins(POLICY)
    data["coverage"] = [{"tasks": [f"t{i}" for i in range(33)], "scope": "floor", "points": 0, "hard": True}]
    with pytest.raises(InputError) as e:
        parse_policy(data)
    assert e.value.field == "policy.coverage[0].hard" and "at most 32" in e.value.reason
    data["coverage"][0]["hard"] = "yes"  # type: ignore[index]
    with pytest.raises(InputError) as e:
        parse_policy(data)
    assert e.value.field == "policy.coverage[0].hard"


def test_a_policy_without_hard_rules_reaches_the_core_as_before() -> None:
    """`hard = false` is left out of what the core reads, so that recorded policies keep their
    bytes; `hard = true` is passed on."""
    rule = Coverage(tasks=["gardening"], scope="stairwell", points=5)
    params = json.loads(covering(([rule], [])).match_params_json())
    assert params["coverage"] == [{"tasks": ["gardening"], "scope": "stairwell", "points": 5, "buildings": []}]
    params = json.loads(covering(([msgspec.structs.replace(rule, hard=True)], [])).match_params_json())
    assert params["coverage"][0]["hard"] is True


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
    policy = covering(([Coverage(tasks=["gardening", "cleaning"], scope="stairwell", points=50)], []))
    res = solve_instance(inst, policy)
    got = {a.household: (a.unit, a.breakdown.resource_mix) for a in res.assignments}
    assert got["H1"] == ("B2", 50) and got["H2"] == ("A2", 50)
    # by floor, both stairwells' first floors are one floor of B1, where both tasks live
    policy = covering(([Coverage(tasks=["gardening", "cleaning"], scope="floor", points=50)], []))
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


# --- the pilot-2 group building and `pyengine report coverage` -----------------------------------
def pilot_store(url: str) -> None:
    svc = AllocationService(url, pilot2.policy())
    for cmd in pilot2.commands():
        svc.submit(cmd)
    svc.close()


def test_the_pilot_policy_covers_more_tasks_than_v1_and_the_report_counts_them(tmp_path: Path) -> None:
    """The report's states equal a direct count over the decision; the coverage rules leave
    fewer (stairwell, task) pairs uncovered than v1 on the same applications."""
    missing = {}
    for name, policy in (("v1", load_policy()), ("pilot2", pilot2.policy())):
        svc = AllocationService("memory:", policy)
        for cmd in pilot2.commands():
            svc.submit(cmd)
        pf = svc.portfolio
        rules = [Coverage(tasks=list(pilot2.TASKS), scope="stairwell", points=0)]
        rep = coverage.report_of(pf, rules)
        placed: dict[str, set[str]] = {}
        sitting: dict[str, set[str]] = {}
        for a in pf.decision().assignments:
            placed.setdefault(pf.units[a.unit].spec.stairwell, set()).update(pf.households[a.household].spec.skills)
        for uid, hid in pf.occupant.items():
            sitting.setdefault(pf.units[uid].spec.stairwell, set()).update(pf.households[hid].spec.skills)
        assert [s.scope for s in rep.scopes] == ["A1", "A2", "A3", "B1", "B2", "B3"]
        for s in rep.scopes:
            for t, state in s.tasks.items():
                want = "now" if t in sitting.get(s.scope, set()) else "decision" if t in placed[s.scope] else "missing"
                assert state == want, (name, s.scope, t)
            assert s.units == 7 and s.placed == 7
        missing[name] = sum(v == "missing" for s in rep.scopes for v in s.tasks.values())
        svc.close()
    assert missing["pilot2"] < missing["v1"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "report", "coverage", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_tables_json_and_files(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    pilot_store(url)
    p = cli("--store", url)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("shared tasks covered, as of 2021-05-01 (run ")
    assert any(line.startswith("== per stairwell: ") for line in lines)
    assert any(line.startswith("== per floor: ") for line in lines)
    out = tmp_path / "rep"
    p = cli("--store", url, "--tasks", "gardening,music", "--scope", "building", "--json", "--out", str(out))
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert [r["tasks"] for r in doc["rules"]] == [["gardening", "music"]]
    assert [s["scope"] for s in doc["scopes"]] == ["Blokk-A", "Blokk-B"]
    assert all(set(s["tasks"].values()) <= {"now", "decision", "missing"} for s in doc["scopes"])
    assert (out / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<h2>Per building</h2>" in (out / "coverage.html").read_text("utf-8")


def test_cli_without_rules_or_tasks_names_the_option(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = AllocationService(url)
    svc.submit(c.DayClosed(date=AS_OF))
    svc.close()
    p = cli("--store", url)
    assert p.returncode != 0 and "--tasks: policy v1 has no coverage rules" in p.stderr
    p = cli("--store", url, "--scope", "floor")
    assert p.returncode != 0 and "--tasks: required with --scope" in p.stderr


def test_the_http_route_answers_as_the_cli_does(tmp_path: Path) -> None:
    from litestar.testing import TestClient

    from pyengine.http import create_app, hash_token

    url = f"sqlite:///{tmp_path / 's.db'}"
    pilot_store(url)
    with TestClient(create_app(url, {hash_token("c"): "clerk"})) as cl:
        got = cl.get("/reports/coverage", headers={"Authorization": "Bearer c"})
        assert got.status_code == 200, got.text
        assert got.json() == json.loads(coverage.as_json(coverage.report(url)))
        bad = cl.get("/reports/coverage", params={"scope": "floor"}, headers={"Authorization": "Bearer c"})
        assert bad.status_code == 400 and bad.json()["extra"]["field"] == "tasks"
