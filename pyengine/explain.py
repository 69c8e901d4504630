"""`pyengine explain`: why a household got this unit (or none), or why a unit went to whom,
at a past run: from the state that run saw, with the numbers (DESIGN §2: an allocation is an
individual decision that must state its reasons)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

from adapters.store import open_app

from . import commands as c
from . import lottery
from .errors import InputError
from .event_log import EventLog
from .fold import fold_all
from .portfolio import Portfolio
from .schema import flags_of

TOPIC_RUN = "pyengine/MatchRun"
LABELS = {
    "size_fit": "size fit", "waiting": "waiting", "urgency": "urgency", "tenure_stability": "tenure stability",
    "preference": "preference", "resource_mix": "resource mix",
}  # fmt: skip


def state_at(store_url: str, run: int | None, at: dt.date | None) -> tuple[Portfolio, c.MatchRun]:
    """The portfolio as run `run` saw it (default: the last run; `at`: the last run on or before)."""
    app = open_app(EventLog, store_url, write=False)
    try:
        notes = app.records(topics=[TOPIC_RUN])
        runs: list[c.MatchRun] = [getattr(app.mapper.to_domain_event(n), "payload") for n in notes]  # noqa: B009
        if not runs:
            raise InputError("--store", "the log has no MatchRun yet")
        if run is not None:
            chosen = next((r for r in runs if r.run == run), None)
            if chosen is None:
                raise InputError("--run", f"no run {run}; the log has runs 1 to {runs[-1].run}")
        elif at is not None:
            before = [r for r in runs if r.as_of <= at]
            if not before:
                raise InputError("--at", f"no run on or before {at}; the first is on {runs[0].as_of}")
            chosen = before[-1]
        else:
            chosen = runs[-1]
        pf = Portfolio(None)
        fold_all(app, pf, stop=chosen.log_position)
        gone = pf.erased_in_play()
        if gone:  # their scores, and so every comparison with them, can no longer be computed
            raise InputError(
                "--run", f"run {chosen.run} weighed households whose personal data was erased since "
                f"({', '.join(gone)}): it cannot be explained again (its recorded decision stays in the log)",
            )  # fmt: skip
        pf.sync()
        return pf, pf.full_run(chosen)
    finally:
        app.close()


def _rule(reason: str) -> str:
    m = re.match(r"rule (\d+)", reason)
    return f"rule {m.group(1)}" if m else reason


def explain_household(pf: Portfolio, run: c.MatchRun, hid: str, top: int = 5) -> dict[str, Any]:
    h = pf.households.get(hid)
    if h is None or h.withdrawn:
        raise InputError("--household", f"{hid!r} was not in the portfolio at run {run.run}")
    m = pf.matcher
    by_household = {a.household: a for a in run.assignments}
    by_unit = {a.unit: a for a in run.assignments}
    # one row and one column of the eligible pairs, not all of them (national scale)
    mine = sorted(((s, uid) for uid, s in m.engine.eligible_units(hid)), key=lambda x: (-x[0], x[1]))
    got = by_household.get(hid)
    alternatives = []
    for score, uid in mine:
        if got is not None and uid == got.unit:
            continue
        winner = by_unit.get(uid)
        alternatives.append({
            "unit": uid, "score": score, "breakdown": m.engine.score_breakdown(hid, uid),
            "building": pf.units[uid].spec.building,
            "given_to": winner.household if winner else None, "their_score": winner.score if winner else None,
        })  # fmt: skip
        if len(alternatives) == top:
            break
    eligible = {uid for _, uid in mine}
    excluded: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for uid in m.engine.unit_ids():
        if uid in eligible:
            continue
        reason = m.ineligibility(hid, uid) or "not worth proposing (score 0 or less)"
        excluded[_rule(reason)] += 1
        examples.setdefault(_rule(reason), f"{uid}: {reason}")
    flags = flags_of(pf.household_row(h))
    binding = [
        {"rule": cu.rule, "flag": cu.flag, "scope": cu.scope, "count": cu.count, "cap": cu.cap}
        for cu in run.caps if cu.flag in flags and cu.count >= cu.cap
    ]  # fmt: skip
    best = mine[0][1] if mine else None
    rank = None
    if best is not None:
        rivals = sorted(((s, h_) for h_, s in m.engine.eligible_households(best)), key=lambda x: (-x[0], x[1]))
        rank = {"unit": best, "rank": 1 + [x[1] for x in rivals].index(hid), "of": len(rivals)}
    return {
        "run": run.run, "as_of": run.as_of.isoformat(), "policy_version": run.policy_version, "household": hid,
        "points_lacking": points_lacking(pf, run, hid) if got is None else None,
        "unit": got.unit if got else None, "score": got.score if got else 0,
        "breakdown": got.breakdown if got else None, "flags": flags, "alternatives": alternatives,
        "excluded": {k: {"units": n, "example": examples[k]} for k, n in sorted(excluded.items())},
        "binding_caps": binding, "rank_for_best_unit": rank, "former_purchase": former_purchase(pf, h.spec),
        "lottery": lottery_of(pf, hid),
    }  # fmt: skip


def lottery_of(pf: Portfolio, hid: str) -> dict[str, Any] | None:
    """The household's lottery number under a policy with a published seed (policy v2)."""
    seed = pf.policy.lottery_seed
    if not isinstance(seed, str):
        return None
    return {"number": lottery.lottery_number(seed, hid), "seed": seed}


def former_purchase(pf: Portfolio, spec: c.ApplicationSubmitted) -> dict[str, Any] | None:
    """For a former buyer applying again (`former_household`): the flat it bought and when."""
    if not isinstance(spec.former_household, str):
        return None
    case = pf.bought.get(spec.former_household)
    if case is None:  # checked when the application was submitted
        return None
    on = case.completed_on.isoformat() if case.completed_on is not None else None
    return {"household": spec.former_household, "unit": case.unit, "on": on}


def points_lacking(pf: Portfolio, run: c.MatchRun, hid: str) -> dict[str, Any]:
    """How far an unhoused applicant was from a unit at `run`: the fewest points more (on every
    pair, as waiting points add) that would have got it proposed one, from the optimal duals,
    and the date by which its own waiting points alone would have risen that much."""
    m = pf.matcher
    m.follow(run.engine_version)
    summary = m.rematch()  # the run's state, decided again (replay checks that it is the same)
    if (summary.objective, summary.optimal) != (run.objective, run.optimal):
        return {"status": "not_computed", "points": None, "exact": False, "at_most": None, "unit": None,
                "by_waiting": None}  # fmt: skip
    lack: dict[str, Any] = dict(m.engine.points_lacking(hid))
    h = pf.household_row(pf.households[hid])
    points = lack["points"]
    when = (
        waiting_date(pf.policy, h.applied_on, run.as_of, points)
        if lack["status"] == "lacking" and isinstance(points, int) and h.applied_on is not None
        else None
    )
    lack["by_waiting"] = when.isoformat() if when else None
    return lack


def waiting_date(policy: Any, applied_on: dt.date, as_of: dt.date, points: int) -> dt.date | None:
    """The first date on which the household's waiting points are `points` above those it had
    on `as_of` (2 points per full 30 days waited in policy v1, up to the cap); None if the cap
    comes first."""
    per, days, most = policy.waiting_points_per_period, policy.waiting_period_days, policy.waiting_max_periods
    if per <= 0:
        return None
    now = min(most, max(0, (as_of - applied_on).days) // days)
    target = now + -(-points // per)
    return applied_on + dt.timedelta(days=target * days) if target <= most else None


def explain_unit(pf: Portfolio, run: c.MatchRun, uid: str, top: int = 5) -> dict[str, Any]:
    u = pf.units.get(uid)
    if u is None or not u.active:
        raise InputError("--unit", f"{uid!r} was not in the rental portfolio at run {run.run}")
    m = pf.matcher
    by_household = {a.household: a for a in run.assignments}
    winner = next((a for a in run.assignments if a.unit == uid), None)
    rivals = sorted(((s, h) for h, s in m.engine.eligible_households(uid)), key=lambda x: (-x[0], x[1]))
    runners = []
    for score, hid in rivals:
        if winner is not None and hid == winner.household:
            continue
        other = by_household.get(hid)
        row = pf.household_row(pf.households[hid])
        held = [
            f"{cu.flag} in {cu.scope} ({cu.count} of {cu.cap})"
            for cu in run.caps
            if getattr(row, cu.flag) and cu.count >= cu.cap and cu.scope in (u.spec.building, u.spec.stairwell)
        ]
        runners.append({"household": hid, "score": score, "got": other.unit if other else None,
                        "score_there": other.score if other else 0, "binding_caps": held})  # fmt: skip
        if len(runners) == top:
            break
    excluded: Counter[str] = Counter()
    eligible = {h for _, h in rivals}
    for hid in m.engine.household_ids():
        if hid not in eligible:
            excluded[_rule(m.ineligibility(hid, uid) or "not worth proposing (score 0 or less)")] += 1
    return {
        "run": run.run, "as_of": run.as_of.isoformat(), "unit": uid, "building": u.spec.building,
        "household": winner.household if winner else None, "score": winner.score if winner else 0,
        "breakdown": winner.breakdown if winner else None, "runners_up": runners,
        "eligible_households": len(rivals), "excluded": dict(sorted(excluded.items())),
    }  # fmt: skip


def _parts(b: Any) -> str:
    d = b if isinstance(b, dict) else {k: getattr(b, k) for k in LABELS}
    return ", ".join(f"{LABELS[k]} {v}" for k, v in d.items() if v)


def household_text(x: dict[str, Any]) -> str:
    head = f"Run {x['run']} ({x['as_of']}, policy v{x['policy_version']}): household {x['household']}"
    lines = []
    if x["unit"]:
        lines.append(f"{head} was proposed unit {x['unit']} with {x['score']} points ({_parts(x['breakdown'])}).")
    else:
        lines.append(f"{head} was not proposed a unit this time and stays in the queue.")
    bought = x.get("former_purchase")
    if bought:
        lines.append(f"Bought {bought['unit']} on {bought['on']} as household {bought['household']} (rent-to-own).")
    if x["alternatives"]:
        lines.append("Its best other eligible units:")
        for a in x["alternatives"]:
            who = (
                f"went to {a['given_to']} ({a['their_score']} points)"
                if a["given_to"]
                else "was not proposed to anyone"
            )
            lines.append(f"  {a['unit']} in {a['building']}: {a['score']} points for {x['household']}; {who}")
    for rule, e in x["excluded"].items():
        lines.append(f"{e['units']} unit(s) excluded by {rule}, e.g. {e['example']}")
    for cap in x["binding_caps"]:
        lines.append(
            f"The cap on {cap['flag']} households in {cap['scope']} was binding: {cap['count']} of {cap['cap']}."
        )
    lack = x.get("points_lacking")
    if lack and lack["status"] == "lacking":
        if lack["exact"]:
            how = f"It lacked {lack['points']} points: with that many more it would have been proposed {lack['unit']}"
        else:
            upper = f" and at most {lack['at_most']}" if lack["at_most"] is not None else ""
            how = (f"It lacked at least {lack['points']}{upper} points (the mix caps hold the exact figure back): "
                   f"with more it would have been proposed {lack['unit']} or another unit")  # fmt: skip
        when = (f"; its waiting points alone would have added them by {lack['by_waiting']}, if nothing else changed"
                if lack["by_waiting"] else "; waiting points alone would not add as many")  # fmt: skip
        lines.append(how + when + ".")
    elif lack and lack["status"] == "no_unit":
        lines.append(
            "No number of points would have got it a unit then: none of the units it is eligible for could be freed "
            "for it (sitting tenants who stay, or the mix caps)."
        )
    if x["rank_for_best_unit"]:
        r = x["rank_for_best_unit"]
        lines.append(f"For its best unit {r['unit']} it ranked {r['rank']} of {r['of']} eligible households.")
    if x.get("lottery"):
        lot = x["lottery"]
        lines.append(f"Its lottery number is {lot['number']:,} of 65,535 (seed {lot['seed']!r}): among equal "
                     "points, higher numbers are housed first.")  # fmt: skip
    return "\n".join(lines)


def unit_text(x: dict[str, Any]) -> str:
    lines = [f"Run {x['run']} ({x['as_of']}): unit {x['unit']} in {x['building']} "
             + (f"went to {x['household']} with {x['score']} points ({_parts(x['breakdown'])})."
                if x["household"] else "was not proposed to anyone.")]  # fmt: skip
    lines.append(f"{x['eligible_households']} household(s) were eligible for it. Runners-up:")
    for r in x["runners_up"]:
        where = f"got {r['got']} ({r['score_there']} points)" if r["got"] else "stayed in the queue"
        cap = f"; held back by the cap on {', '.join(r['binding_caps'])}" if r["binding_caps"] else ""
        lines.append(f"  {r['household']}: {r['score']} points here; {where}{cap}")
    for rule, n in x["excluded"].items():
        lines.append(f"{n} household(s) excluded by {rule}")
    return "\n".join(lines)
