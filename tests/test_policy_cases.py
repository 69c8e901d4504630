"""Policy v1, rule by rule and component by component, on hand-computed cases (DESIGN §5)."""

from __future__ import annotations

import datetime as dt

import pytest

from pyengine.schema import Cap

from .helpers import AS_OF, household, instance, matcher, unit


def bd(inst, h: str, u: str) -> dict[str, int] | None:  # type: ignore[no-untyped-def]
    return matcher(inst).engine.score_breakdown(h, u)


def why(inst, h: str, u: str) -> str | None:  # type: ignore[no-untyped-def]
    return matcher(inst).ineligibility(h, u)


# --- rooms needed and size fit --------------------------------------------------------
@pytest.mark.parametrize(
    ("adults", "children", "rooms", "size_fit"),
    [
        (1, 0, 2, 60),  # single adult needs 1 room: 100 - 40 * 1
        (1, 0, 1, 100),
        (2, 0, 2, 100),  # couple: 1 bedroom + 1 = 2 rooms
        (1, 1, 3, 100),  # single parent, 1 child: 1 + ceil(1/2) = 2 bedrooms -> 3 rooms
        (2, 3, 4, 100),  # 1 + ceil(3/2) = 3 bedrooms -> 4 rooms
        (3, 3, 5, 100),  # 1 + (3 - 2) + 2 = 4 bedrooms -> 5 rooms
        (2, 0, 5, -20),  # 100 - 40 * 3
    ],
)
def test_size_fit(adults: int, children: int, rooms: int, size_fit: int) -> None:
    inst = instance([unit("U1", rooms=rooms)], [household("H1", adults=adults, children=children)])
    b = bd(inst, "H1", "U1")
    assert b is not None and b["size_fit"] == size_fit


def test_rule2_unit_too_small_for_applicant() -> None:
    inst = instance([unit("U1", rooms=2)], [household("H1", adults=1, children=1)])
    assert bd(inst, "H1", "U1") is None
    assert "rule 2" in (why(inst, "H1", "U1") or "")


def test_rule6_own_unit_too_small_stays_eligible_with_deficit_penalty() -> None:
    inst = instance([unit("U1", rooms=2)], [household("T1", adults=2, children=2, current_unit="U1", applied_on=None)])
    b = bd(inst, "T1", "U1")
    assert b == {
        "size_fit": -100, "waiting": 0, "urgency": 0, "tenure_stability": 1000,
        "preference": 0, "resource_mix": 0,
    }  # fmt: skip


# --- waiting, urgency, preference ------------------------------------------------------
@pytest.mark.parametrize(
    ("days", "points"), [(0, 0), (29, 0), (30, 2), (59, 2), (60, 4), (1799, 118), (1800, 120), (9000, 120)]
)
def test_waiting(days: int, points: int) -> None:
    inst = instance([unit("U1")], [household("H1", applied_on=AS_OF - dt.timedelta(days=days))])
    b = bd(inst, "H1", "U1")
    assert b is not None and b["waiting"] == points


def test_urgency_and_preference() -> None:
    inst = instance(
        [unit("U1"), unit("U2", district="Saupstad")],
        [household("H1", urgency=3, preferred_districts=["Lademoen"])],
    )
    b1, b2 = bd(inst, "H1", "U1"), bd(inst, "H1", "U2")
    assert b1 is not None and b2 is not None
    assert (b1["urgency"], b1["preference"]) == (450, 40)
    assert (b2["urgency"], b2["preference"]) == (450, 0)


# --- tenure stability -----------------------------------------------------------------
def test_tenure_stability_components() -> None:
    units = [
        unit("U1", rooms=3),
        unit("U2", rooms=3),  # same building as the current unit
        unit("U3", rooms=3, building="B2", stairwell="B2-A", school_district="Saupstad"),
    ]
    hs = [household("T1", current_unit="U1", transfer_requested=True, children=1, school_district="Lademoen")]
    m = matcher(instance(units, hs))
    own = m.engine.score_breakdown("T1", "U1")
    assert own is not None and own["tenure_stability"] == 0 + 80  # transfer requested; school district
    same = m.engine.score_breakdown("T1", "U2")
    assert same is not None and same["tenure_stability"] == 60 + 80
    # U3: other building and school district: 100 < own 180 -> excluded by rule 7
    assert m.engine.score_breakdown("T1", "U3") is None
    assert "rule 7" in (m.ineligibility("T1", "U3") or "")


def test_stay_bonus_and_rule5() -> None:
    inst = instance([unit("U1"), unit("U2")], [household("T1", current_unit="U1")])
    m = matcher(inst)
    own = m.engine.score_breakdown("T1", "U1")
    assert own is not None and own["tenure_stability"] == 1000
    assert m.engine.score_breakdown("T1", "U2") is None
    assert "rule 5" in (m.ineligibility("T1", "U2") or "")


def test_school_district_needs_children() -> None:
    inst = instance([unit("U1")], [household("H1", children=0, school_district="Lademoen")])
    b = bd(inst, "H1", "U1")
    assert b is not None and b["tenure_stability"] == 0


# --- resource mix ---------------------------------------------------------------------
def test_resource_mix_counts_skills_missing_in_building_and_caps_at_75() -> None:
    units = [unit("U1"), unit("U2"), unit("U3", building="B2", stairwell="B2-A")]
    hs = [
        household("T1", current_unit="U2", skills=["gardening", "cleaning"]),
        household("H1", skills=["gardening", "cleaning", "childcare", "carpentry", "cooking"]),
    ]
    m = matcher(instance(units, hs))
    b1, b3 = m.engine.score_breakdown("H1", "U1"), m.engine.score_breakdown("H1", "U3")
    assert b1 is not None and b1["resource_mix"] == 75  # 3 missing skills in B1 -> 75
    assert b3 is not None and b3["resource_mix"] == 75  # 5 missing in B2, capped at 75
    hs2 = [
        household("T1", current_unit="U2", skills=["gardening", "cleaning", "childcare"]),
        household("H1", skills=["gardening", "cleaning", "childcare", "carpentry"]),
    ]
    b = matcher(instance(units, hs2)).engine.score_breakdown("H1", "U1")
    assert b is not None and b["resource_mix"] == 25


def test_resource_mix_excludes_the_household_itself() -> None:
    inst = instance([unit("U1")], [household("T1", current_unit="U1", skills=["gardening", "music"])])
    b = bd(inst, "T1", "U1")
    assert b is not None and b["resource_mix"] == 50


# --- eligibility rules 1, 3, 4, 7 ------------------------------------------------------
def test_rule1_unit_let_to_someone_else() -> None:
    inst = instance([unit("U1")], [household("T1", current_unit="U1"), household("H1")])
    assert "rule 1" in (why(inst, "H1", "U1") or "")


def test_rule3_step_free_access() -> None:
    inst = instance(
        [unit("U1", accessible=False), unit("U2", accessible=True)], [household("H1", needs_accessible=True)]
    )
    assert "rule 3" in (why(inst, "H1", "U1") or "")
    assert why(inst, "H1", "U2") is None


def test_rule4_care_units_exactly_for_care_needs() -> None:
    inst = instance(
        [unit("U1", kind="ordinary"), unit("U2", kind="care")],
        [household("C1", care_need=True), household("H1")],
    )
    assert "rule 4" in (why(inst, "C1", "U1") or "")
    assert why(inst, "C1", "U2") is None
    assert "rule 4" in (why(inst, "H1", "U2") or "")


def test_rule7_transfer_only_to_something_at_least_as_good() -> None:
    inst = instance(
        [unit("U1", rooms=3), unit("U2", rooms=2, building="B2", stairwell="B2-A"), unit("U3", rooms=2)],
        [household("T1", current_unit="U1", transfer_requested=True, applied_on=None)],
    )
    m = matcher(inst)
    # own: 100 - 40 = 60; U2 (other building): 100; U3 (same building): 100 + 60
    assert m.engine.score_breakdown("T1", "U2") is not None
    assert m.engine.score_breakdown("T1", "U3") is not None
    res = m.solve()
    assert [(a.household, a.unit, a.score) for a in res.assignments] == [("T1", "U3", 160)]


# --- matching ------------------------------------------------------------------------
def test_sitting_tenant_is_never_evicted_for_a_higher_scoring_applicant() -> None:
    inst = instance(
        [unit("U1")],
        [
            household("T1", current_unit="U1", transfer_requested=True, applied_on=None),
            household("H1", urgency=3, applied_on=AS_OF - dt.timedelta(days=3000)),
        ],
    )
    res = matcher(inst).solve()
    assert [(a.household, a.unit) for a in res.assignments] == [("T1", "U1")]
    assert res.unmatched == ["H1"]


def test_cap_binds_and_is_rounded_down() -> None:
    units = [unit(f"U{i}") for i in range(10)]  # cap: floor(0.3 * 10) = 3
    hs = [household(f"D{i}", disadvantaged=True, urgency=3) for i in range(5)]
    hs += [household(f"N{i}") for i in range(5)]
    caps = [Cap(flag="disadvantaged", scope="building", max_share=0.3)]
    res = matcher(instance(units, hs, caps)).solve()
    assert res.optimal and res.objective == res.bound
    assert sum(1 for a in res.assignments if a.household.startswith("D")) == 3
    assert [(c.scope, c.count, c.cap, c.units) for c in res.caps] == [("B1", 3, 3, 10)]
    assert res.uncapped_objective == 5 * (100 + 450) + 5 * 100
    assert res.objective == 3 * (100 + 450) + 5 * 100


def test_cap_never_below_flagged_sitting_tenants() -> None:
    units = [unit(f"U{i}") for i in range(4)]  # floor(0.3 * 4) = 1, but 2 flagged live there
    hs = [
        household("T1", current_unit="U0", disadvantaged=True),
        household("T2", current_unit="U1", disadvantaged=True),
        household("D1", disadvantaged=True, urgency=3),
    ]
    caps = [Cap(flag="disadvantaged", scope="building", max_share=0.3)]
    res = matcher(instance(units, hs, caps)).solve()
    assert [(c.count, c.cap) for c in res.caps] == [(2, 2)]
    assert "D1" in res.unmatched


def test_max_count_cap_on_stairwell() -> None:
    units = [unit("U1"), unit("U2"), unit("U3", stairwell="B1-B")]
    hs = [household(f"R{i}", refugee=True) for i in range(3)]
    caps = [Cap(flag="refugee", scope="stairwell", max_count=1)]
    res = matcher(instance(units, hs, caps)).solve()
    assert len(res.assignments) == 2
    assert {(c.scope, c.count, c.cap) for c in res.caps} == {("B1-A", 1, 1), ("B1-B", 1, 1)}
