"""The matcher against independent implementations on random instances."""

from __future__ import annotations

import random

import msgspec
from hypothesis import HealthCheck, given, settings

from pyengine.matching import solve_instance
from pyengine.schema import Instance, Result, flags_of

from .helpers import POLICY, matcher
from .reference import breakdown, eligible_scores, lsa_optimum, mip_optimum, scope_caps
from .strategies import instances

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_consistent(inst: Instance, res: Result) -> None:
    """A result must be a feasible matching whose numbers add up."""
    scores = eligible_scores(inst, POLICY)
    hs = {h.id: h for h in inst.households}
    us = {u.id: u for u in inst.units}
    assert len({a.household for a in res.assignments}) == len(res.assignments)
    assert len({a.unit for a in res.assignments}) == len(res.assignments)
    assert sorted([a.household for a in res.assignments] + res.unmatched) == sorted(hs)
    for a in res.assignments:
        assert (a.household, a.unit) in scores
        assert a.score == scores[(a.household, a.unit)]
        assert msgspec.to_builtins(a.breakdown) == breakdown(inst, hs[a.household], us[a.unit], POLICY)
        assert sum(msgspec.to_builtins(a.breakdown).values()) == a.score
    assert sum(a.score for a in res.assignments) == res.objective
    matched = {a.household for a in res.assignments}
    assert all(h.id in matched for h in inst.households if h.current_unit)  # nobody evicted


@SETTINGS
@given(instances(max_units=8, max_households=8))
def test_eligible_pairs_and_scores_equal_the_reference(inst: Instance) -> None:
    m = matcher(inst)
    hi, ui, sc = m.pairs()
    hids, uids = m.engine.household_ids(), m.engine.unit_ids()
    core = {(hids[h], uids[u]): int(s) for h, u, s in zip(hi.tolist(), ui.tolist(), sc.tolist(), strict=True)}
    assert core == eligible_scores(inst, POLICY)


@SETTINGS
@given(instances(max_units=12, max_households=12))
def test_without_caps_objective_equals_scipy_linear_sum_assignment(inst: Instance) -> None:
    res = solve_instance(inst, POLICY)
    check_consistent(inst, res)
    assert res.objective == lsa_optimum(inst, POLICY)
    assert res.bound == res.objective and res.optimal
    assert res.uncapped_objective == res.objective


@SETTINGS
@given(instances(max_units=10, max_households=10, caps=True))
def test_with_caps_objective_equals_highs_mip_and_no_cap_is_exceeded(inst: Instance) -> None:
    res = solve_instance(inst, POLICY)
    check_consistent(inst, res)
    assert res.optimal and res.bound == res.objective
    assert res.objective == mip_optimum(inst, POLICY)
    assert res.uncapped_objective == lsa_optimum(inst, POLICY)
    unit_of = {a.household: a.unit for a in res.assignments}
    hs = {h.id: h for h in inst.households}
    expected = scope_caps(inst, POLICY)
    assert len(res.caps) == len(expected)
    for usage, (rule, flag, key, cap, ids) in zip(res.caps, expected, strict=True):
        count = sum(1 for h, u in unit_of.items() if u in set(ids) and flag in flags_of(hs[h]))
        assert (usage.rule, usage.flag, usage.scope, usage.cap, usage.count) == (rule, flag, key, cap, count)
        assert count <= cap


@settings(max_examples=60, deadline=None)
@given(instances(max_units=10, max_households=10, caps=True))
def test_same_set_in_any_order_gives_the_same_bytes(inst: Instance) -> None:
    a = solve_instance(inst, POLICY)
    rng = random.Random(7)
    units, households = list(inst.units), list(inst.households)
    rng.shuffle(units)
    rng.shuffle(households)
    b = solve_instance(msgspec.structs.replace(inst, units=units, households=households), POLICY)
    strip = {"solve_ms": 0.0}
    assert msgspec.json.encode(msgspec.structs.replace(a, **strip)) == msgspec.json.encode(
        msgspec.structs.replace(b, **strip)
    )


def test_node_budget_reports_a_gap_or_optimum() -> None:
    """A budget of one node must still give a feasible answer and a valid bound."""
    from pyengine.schema import Cap

    from .helpers import household, instance, unit

    units = [unit(f"U{i}", building=f"B{i % 2}") for i in range(8)]
    hs = [household(f"D{i}", disadvantaged=True, urgency=i % 4) for i in range(8)]
    hs += [household(f"N{i}", urgency=(i + 1) % 3) for i in range(3)]
    inst = instance(units, hs, [Cap(flag="disadvantaged", scope="building", max_count=1)])
    full = matcher(inst).solve()
    cut = matcher(inst).solve(node_limit=1)
    assert cut.objective <= full.objective <= cut.bound
    assert cut.optimal == (cut.objective == cut.bound)
