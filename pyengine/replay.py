"""Audit replay: rebuild the state from the log and re-run every MatchRun at its position,
under the policy in force there, verifying its recorded hashes (DESIGN §1, issue 5)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from adapters.store import store_env

from . import commands as c
from .matching import result_hash
from .portfolio import Portfolio
from .schema import Result
from .store import EventLog


@dataclass
class Divergence:
    run: int
    position: int
    reason: str
    household: str | None = None
    unit: str | None = None

    def message(self) -> str:
        where = ""
        if self.household is not None:
            where = f"; household {self.household}: recorded {self.unit or 'no unit'}"
        return f"run {self.run} (log position {self.position}) diverges: {self.reason}{where}"


@dataclass
class ReplayReport:
    events: int
    runs_verified: int
    divergence: Divergence | None


def first_difference(recorded: c.MatchRun, recomputed: dict[str, str]) -> tuple[str | None, str | None, str]:
    rec = {a.household: a.unit for a in recorded.assignments}
    for hid in sorted(set(rec) | set(recomputed)):
        if rec.get(hid) != recomputed.get(hid):
            return hid, rec.get(hid), f"replay gives {recomputed.get(hid) or 'no unit'}"
    return None, None, "same assignments, other numbers"


def replay(store_url: str, progress: Callable[[int, int], None] | None = None) -> ReplayReport:
    app = EventLog(env=store_env(store_url))
    try:
        total = app.recorder.max_notification_id() or 0
        pf = Portfolio(None)
        runs = 0
        previous = ""
        for note in app.records():
            pos = note.id
            try:
                event = app.mapper.to_domain_event(note)
            except Exception as e:  # an edited row that no longer decodes
                return ReplayReport(pos, runs, Divergence(runs + 1, pos, f"stored event does not decode: {e}"))
            p = getattr(event, "payload", None)
            if isinstance(p, c.MatchRun):
                bad = verify_run(pf, p, previous, pos)
                if bad is not None:
                    return ReplayReport(pos, runs, bad)
                runs += 1
                previous = p.result_hash
            try:
                pf.apply(event, note)
            except Exception as e:  # a deleted or reordered row breaks an aggregate's sequence
                return ReplayReport(pos, runs, Divergence(runs + 1, pos, f"log does not fold: {type(e).__name__}"))
            if progress is not None and pos % 500 == 0:
                progress(pos, total)
        return ReplayReport(total, runs, None)
    finally:
        app.close()


def verify_run(pf: Portfolio, run: c.MatchRun, previous: str, pos: int) -> Divergence | None:
    if run.previous_hash != previous:
        return Divergence(run.run, pos, "the previous run's hash does not match (a run was removed or changed)")
    if run.events_hash != pf.events_hash:
        return Divergence(run.run, pos, "the events before this run are not those it saw (edited or deleted)")
    if run.policy_version != pf.policy.version:
        return Divergence(run.run, pos, f"policy v{run.policy_version} recorded, v{pf.policy.version} in force")
    pf.sync()
    result = pf.matcher.solve()
    assert pf.date is not None
    as_of = pf.date.isoformat()
    run = pf.full_run(run)  # deltas folded onto the decision before it
    recorded = recorded_result(run)
    if result_hash(recorded, run.as_of.isoformat(), previous, run.events_hash) != run.result_hash:
        hid, unit, _ = first_difference(run, {a.household: a.unit for a in result.assignments})
        return Divergence(run.run, pos, "the recorded decision does not match its own hash", hid, unit)
    if result_hash(result, as_of, previous, run.events_hash) != run.result_hash:
        hid, unit, why = first_difference(run, {a.household: a.unit for a in result.assignments})
        return Divergence(run.run, pos, why, household=hid, unit=unit)
    return None


def recorded_result(run: c.MatchRun) -> Result:
    return Result(
        assignments=run.assignments, unmatched=run.unmatched or [], objective=run.objective, bound=run.bound,
        uncapped_objective=run.uncapped_objective, optimal=run.optimal, nodes=run.nodes, caps=run.caps,
        policy_version=run.policy_version, engine_version=run.engine_version,
    )  # fmt: skip


def print_progress(pos: int, total: int) -> None:
    print(f"  replayed {pos}/{total} events", file=sys.stderr)
