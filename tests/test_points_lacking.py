"""Points lacking ("how far am I from a flat") for unhoused applicants, from the optimal duals,
against a MIP (HiGHS) that houses it with that many more points, and with one fewer."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from pyengine.policy import Policy, load_policy
from pyengine.schema import Instance

from .helpers import POLICY, matcher
from .reference import mip_optimum
from .strategies import instances

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(inst: Instance, caps: bool, policy: Policy = POLICY) -> int:
    m = matcher(inst, policy)
    res = m.solve()
    housed = {a.household: a.unit for a in res.assignments}
    checked = 0
    for h in inst.households:
        lack = m.engine.points_lacking(h.id)
        if h.id in housed:
            assert lack == {"status": "proposed", "points": 0, "exact": True, "at_most": 0, "unit": housed[h.id]}
            continue
        if h.current_unit is not None:
            assert lack["status"] == "sitting_tenant"
            continue
        best = mip_optimum(inst, policy, forced=h.id, extra=10_000, caps=caps)
        if lack["status"] == "no_unit":
            assert best is None, f"{h.id}: no unit said, yet a matching houses it"
            continue
        assert lack["status"] == "lacking"
        points = lack["points"]
        assert isinstance(points, int) and points >= 1
        # One fewer point: no matching that houses it is better than the decision (ties
        # aside, which decide below one point).
        fewer = mip_optimum(inst, policy, forced=h.id, extra=points - 1, caps=caps)
        assert fewer is None or fewer <= res.objective, f"{h.id}: {points - 1} points would do"
        at_most = lack["at_most"]
        assert lack["exact"] == (at_most == points)
        if at_most is not None:
            assert isinstance(at_most, int) and at_most >= points
            enough = mip_optimum(inst, policy, forced=h.id, extra=at_most, caps=caps)
            assert enough is not None and enough >= res.objective, f"{h.id}: {at_most} points are not enough"
            checked += 1
    return checked


@SETTINGS
@given(instances(max_units=8, max_households=10))
def test_points_lacking_equal_a_re_solve_without_caps(inst: Instance) -> None:
    check(inst, caps=False)


@SETTINGS
@given(instances(max_units=8, max_households=10, caps=True))
def test_points_lacking_with_caps_are_exact_or_a_lower_bound(inst: Instance) -> None:
    check(inst, caps=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_units=8, max_households=10, caps=True))
def test_points_lacking_under_the_lottery(inst: Instance) -> None:
    """Policy v2 breaks ties otherwise; the points a household lacks are the same kind of figure."""
    check(inst, caps=bool(inst.caps), policy=load_policy("default-v2"))


def test_the_figure_is_the_score_gap_and_the_unit_named() -> None:
    """Hand-countable: one flat, two applicants; H1 has waited 150 days longer (5 periods of
    2 points), so H2 lacks 10 points, or 11 where the tie-break at equal scores favours H1."""
    import datetime as dt

    from .helpers import AS_OF, household, instance, unit

    inst = instance(
        [unit("U1")],
        [household("H1", applied_on=AS_OF - dt.timedelta(days=300)),
         household("H2", applied_on=AS_OF - dt.timedelta(days=150))],
    )  # fmt: skip
    m = matcher(inst)
    res = m.solve()
    assert [a.household for a in res.assignments] == ["H1"]
    (_, s1), (_, s2) = m.engine.eligible_units("H1")[0], m.engine.eligible_units("H2")[0]
    assert s1 - s2 == 10
    lack = m.engine.points_lacking("H2")
    assert lack["status"] == "lacking" and lack["exact"] and lack["unit"] == "U1"
    assert lack["points"] in (10, 11)
    proposed = {"status": "proposed", "points": 0, "exact": True, "at_most": 0, "unit": "U1"}
    assert m.engine.points_lacking("H1") == proposed
