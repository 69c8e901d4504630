"""An independent, deliberately plain implementation of policy v1 (DESIGN §5) and of the
matching problem as a MIP (HiGHS via scipy.optimize.milp) and as an assignment problem
(scipy.optimize.linear_sum_assignment). The tests hold the Rust core to these."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp
from scipy.sparse import lil_matrix

from pyengine.policy import Coverage, Policy
from pyengine.schema import Household, Instance, Unit, flags_of


def rooms_needed(h: Household, p: Policy) -> int:
    if h.adults == 1 and h.children == 0:
        return p.single_adult_rooms
    return 1 + max(0, h.adults - 2) + math.ceil(h.children / 2) + 1


def home(h: Household) -> str | None:
    """Its unit for the matcher: its own, or the vacant one an open offer holds for it."""
    return h.current_unit or (h.held_unit if isinstance(h.held_unit, str) else None)


def breakdown(inst: Instance, h: Household, u: Unit, p: Policy) -> dict[str, int]:
    need = rooms_needed(h, p)
    if u.rooms >= need:
        size = p.size_fit_base - p.size_fit_excess_penalty * (u.rooms - need)
    else:
        size = -p.size_fit_deficit_penalty * (need - u.rooms)
    days = (inst.as_of - h.applied_on).days if h.applied_on else 0
    waiting = p.waiting_points_per_period * min(p.waiting_max_periods, days // p.waiting_period_days)
    units = {x.id: x for x in inst.units}
    tenure = 0
    if home(h) == u.id:
        if h.current_unit is not None:  # a held unit is not yet its home: no stay bonus
            tenure += p.transfer_own_unit_bonus if h.transfer_requested else p.stay_bonus
    elif home(h) is not None and units[home(h)].building == u.building:  # type: ignore[index]
        tenure += p.same_building_bonus
    if h.children > 0 and h.school_district is not None and u.school_district == h.school_district:
        tenure += p.school_district_bonus
    pref = p.preferred_district_bonus if u.district in h.preferred_districts else 0
    present: set[str] = set()
    for o in inst.households:
        if o.id != h.id and home(o) is not None and units[home(o)].building == u.building:  # type: ignore[index]
            present.update(o.skills)
    mix = min(p.skill_bonus_max, p.skill_bonus * len(set(h.skills) - present))
    for bonus in p.mix_bonuses:  # points for a flagged household in the rule's buildings
        if bonus.flag in flags_of(h) and (not bonus.buildings or u.building in bonus.buildings):
            mix += bonus.points
    for rule in p.coverage:  # task coverage: points for each listed task no other resident of the scope has
        if rule.buildings and u.building not in rule.buildings:
            continue

        def scope(x: Unit, rule: Coverage = rule) -> tuple[str, int]:
            keys = {"building": (x.building, 0), "stairwell": (x.stairwell, 0), "floor": (x.building, x.floor)}
            return keys[rule.scope]

        others: set[str] = set()
        for o in inst.households:
            if o.id == h.id or home(o) is None:
                continue
            there = units[home(o)]  # type: ignore[index]
            if (not rule.buildings or there.building in rule.buildings) and scope(there) == scope(u):
                others.update(o.skills)
        mix += rule.points * len((set(h.skills) & set(rule.tasks)) - others)
    return {
        "size_fit": size, "waiting": waiting, "urgency": p.urgency_points * h.urgency,
        "tenure_stability": tenure, "preference": pref, "resource_mix": mix,
    }  # fmt: skip


def eligible_scores(inst: Instance, p: Policy) -> dict[tuple[str, str], int]:
    """(household, unit) -> total score, for every eligible pair (rules 1-8)."""
    occupant = {home(h): h.id for h in inst.households if home(h)}
    out: dict[tuple[str, str], int] = {}
    for h in inst.households:
        own = None
        if home(h) is not None:
            own = sum(breakdown(inst, h, next(u for u in inst.units if u.id == home(h)), p).values())
        for u in inst.units:
            if u.id == home(h):  # rule 6
                out[(h.id, u.id)] = own  # type: ignore[assignment]
                continue
            if u.id in occupant:  # rule 1
                continue
            if home(h) is not None and not h.transfer_requested:  # rule 5
                continue
            if u.rooms < rooms_needed(h, p):  # rule 2
                continue
            if h.needs_accessible and not u.accessible:  # rule 3
                continue
            if (u.kind == "care") != h.care_need:  # rule 4
                continue
            s = sum(breakdown(inst, h, u, p).values())
            if own is not None and s < own:  # rule 7
                continue
            if isinstance(h.declined_units, list) and u.id in h.declined_units:  # rule 8
                continue
            out[(h.id, u.id)] = s
    return out


def scope_caps(inst: Instance, p: Policy) -> list[tuple[int, str, str, int, list[str]]]:
    """(rule, flag, scope key, effective cap, unit ids in scope) for every cap and scope."""
    caps = p.caps if inst.caps is None else inst.caps
    out = []
    for r, cap in enumerate(caps):
        scopes: dict[str, list[str]] = {}
        for u in inst.units:
            if isinstance(cap.buildings, list) and cap.buildings and u.building not in cap.buildings:
                continue  # a cap limited to some buildings has no scope elsewhere
            scopes.setdefault(u.building if cap.scope == "building" else u.stairwell, []).append(u.id)
        for key, ids in sorted(scopes.items()):
            if cap.max_count is not None:
                value = cap.max_count
            else:
                assert cap.max_share is not None
                value = math.floor(cap.max_share * len(ids) + 1e-9)
            sitting = sum(1 for h in inst.households if cap.flag in flags_of(h) and home(h) in set(ids))
            out.append((r, cap.flag, key, max(value, sitting), ids))
    return out


def lsa_optimum(inst: Instance, p: Policy) -> int:
    """Optimum without caps by scipy's linear_sum_assignment.

    Columns: the units, then one private "unmatched" column per household (score 0, or
    forbidden for sitting tenants, who must be matched). Ineligible pairs are forbidden with
    a large negative weight; sitting tenants' pairs get a large bonus so they are matched.
    """
    scores = eligible_scores(inst, p)
    hs = [h.id for h in inst.households]
    us = [u.id for u in inst.units]
    sitting = {h.id for h in inst.households if home(h)}
    big = 10 * (1 + sum(abs(s) for s in scores.values()))
    w = np.full((len(hs), len(us) + len(hs)), -big * 10, dtype=np.int64)
    for i, hid in enumerate(hs):
        if hid not in sitting:
            w[i, len(us) + i] = 0
        for j, uid in enumerate(us):
            if (hid, uid) in scores:
                w[i, j] = scores[(hid, uid)] + (big if hid in sitting else 0)
    rows, cols = linear_sum_assignment(w, maximize=True)
    total = int(w[rows, cols].sum())
    return total - big * len(sitting)


def mip_optimum(
    inst: Instance, p: Policy, *, forced: str | None = None, extra: int = 0, caps: bool = True
) -> int | None:
    """Optimum with caps as a MIP solved by HiGHS (scipy.optimize.milp). With `forced`, the
    best matching that houses that applicant, its scores raised by `extra` (its pairs count
    only above 0 then, as the matcher's do); None if no matching does. `caps=False` leaves
    the mix caps out."""
    scores = eligible_scores(inst, p)
    if forced is not None:
        scores = {
            pr: s + extra if pr[0] == forced else s for pr, s in scores.items() if pr[0] != forced or s + extra > 0
        }
    pairs = sorted(scores)
    if not pairs:
        return None if forced is not None else 0
    idx = {pr: k for k, pr in enumerate(pairs)}
    hs = [h.id for h in inst.households]
    flags = {h.id: h for h in inst.households}
    sitting = {h.id for h in inst.households if home(h)}
    rows: list[tuple[list[int], float, float]] = []
    for hid in hs:
        ks = [idx[pr] for pr in pairs if pr[0] == hid]
        lo = 1.0 if hid in sitting or hid == forced else 0.0
        rows.append((ks, lo, 1.0))
    for u in inst.units:
        ks = [idx[pr] for pr in pairs if pr[1] == u.id]
        rows.append((ks, 0.0, 1.0))
    for _, flag, _, cap, ids in scope_caps(inst, p) if caps else []:
        in_scope = set(ids)
        ks = [idx[pr] for pr in pairs if pr[1] in in_scope and flag in flags_of(flags[pr[0]])]
        rows.append((ks, 0.0, float(cap)))
    a = lil_matrix((len(rows), len(pairs)))
    lb, ub = [], []
    for r, (ks, lo, hi) in enumerate(rows):
        for k in ks:
            a[r, k] = 1
        lb.append(lo)
        ub.append(hi)
    c = -np.array([scores[pr] for pr in pairs], dtype=float)
    res = milp(
        c, constraints=LinearConstraint(a.tocsr(), lb, ub), integrality=np.ones(len(pairs)),
        bounds=Bounds(0, 1),
    )  # fmt: skip
    if forced is not None and res.status == 2:  # infeasible: nothing can house it
        return None
    assert res.success, res.message
    return round(-res.fun)


def cover_scopes(inst: Instance, p: Policy) -> list[tuple[str, set[str]]]:
    """(task, unit ids in scope) for every task of every hard coverage rule and scope."""
    out = []
    for rule in p.coverage:
        if not rule.hard:
            continue
        scopes: dict[tuple[str, int], set[str]] = {}
        for u in inst.units:
            if rule.buildings and u.building not in rule.buildings:
                continue
            key = {
                "building": (u.building, 0), "stairwell": (u.stairwell, 0), "floor": (u.building, u.floor),
            }[rule.scope]  # fmt: skip
            scopes.setdefault(key, set()).add(u.id)
        out += [(task, ids) for task in rule.tasks for _, ids in sorted(scopes.items())]
    return out


def uncovered(inst: Instance, p: Policy, placed: dict[str, str]) -> int:
    """Scopes of hard coverage rules, task by task, where no household `placed` (household
    -> unit) has the task."""
    skills = {h.id: set(h.skills) for h in inst.households}
    return sum(
        1 for task, ids in cover_scopes(inst, p) if not any(u in ids and task in skills[h] for h, u in placed.items())
    )


def hard_cover_optimum(inst: Instance, p: Policy) -> tuple[int, int]:
    """(scopes left uncovered, objective) of the lexicographic optimum under the caps and the
    hard coverage rules, as a MIP solved by HiGHS: the fewest uncovered (task, scope) pairs,
    then the most points. One 0/1 variable per eligible pair and one slack per (task, scope),
    each slack costing more than every score together."""
    hs = {h.id: h for h in inst.households}
    sitting = {h.id for h in inst.households if home(h)}
    # An applicant is never proposed a pair at 0 points or below, not even to cover a task.
    scores = {pr: s for pr, s in eligible_scores(inst, p).items() if s > 0 or pr[0] in sitting}
    pairs = sorted(scores)
    covers = cover_scopes(inst, p)
    n = len(pairs) + len(covers)
    if n == 0:
        return 0, 0
    big = 10.0 * (1 + sum(abs(s) for s in scores.values()))
    rows: list[tuple[list[int], float, float]] = []
    for hid in hs:
        rows.append(([k for k, pr in enumerate(pairs) if pr[0] == hid], 1.0 if hid in sitting else 0.0, 1.0))
    for u in inst.units:
        rows.append(([k for k, pr in enumerate(pairs) if pr[1] == u.id], 0.0, 1.0))
    for _, flag, _, cap, ids in scope_caps(inst, p):
        in_scope = set(ids)
        rows.append(
            ([k for k, pr in enumerate(pairs) if pr[1] in in_scope and flag in flags_of(hs[pr[0]])], 0.0, float(cap))
        )
    for j, (task, ids) in enumerate(covers):
        ks = [k for k, pr in enumerate(pairs) if pr[1] in ids and task in hs[pr[0]].skills]
        rows.append(([*ks, len(pairs) + j], 1.0, np.inf))  # covered, or its slack taken
    a = lil_matrix((len(rows), n))
    for r, (ks, _, _) in enumerate(rows):
        for k in ks:
            a[r, k] = 1
    c = np.concatenate([-np.array([scores[pr] for pr in pairs], dtype=float), np.full(len(covers), big)])
    res = milp(
        c, constraints=LinearConstraint(a.tocsr(), [r[1] for r in rows], [r[2] for r in rows]),
        integrality=np.ones(n), bounds=Bounds(0, 1),
    )  # fmt: skip
    assert res.success, res.message
    x = np.round(res.x).astype(int)
    placed = {pairs[k][0]: pairs[k][1] for k in range(len(pairs)) if x[k]}
    return uncovered(inst, p, placed), sum(scores[pr] for k, pr in enumerate(pairs) if x[k])
