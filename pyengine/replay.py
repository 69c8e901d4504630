"""Audit replay: rebuild the state from the log and re-run every MatchRun at its position,
under the policy in force there, verifying its recorded hashes (DESIGN §1, issue 5)."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec

from adapters.store import open_app

from . import commands as c
from . import snapshot
from .digest import LtHash, advance, hash_of_run
from .event_log import EventLog, Row
from .fold import BadRecord, fold
from .matching import result_hash
from .portfolio import Portfolio, record_bytes
from .schema import Result


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
    seconds: float = 0.0
    snapshots_checked: int = 0
    snapshot_problems: list[str] = field(default_factory=list)  # stored snapshots that do not fit the log
    snapshot_notes: list[str] = field(default_factory=list)  # snapshots readers ignore, harmlessly
    head: Anchor | None = None  # the last run verified
    # runs whose chain was verified but that cannot be solved again: households they weighed
    # were erased since ("run N: household H erased")
    not_resolved: list[str] = field(default_factory=list)
    anchor_run: int | None = None  # the run that matched the expected head, if one was given


@dataclass(frozen=True)
class Anchor:
    """A head an office kept outside the database: run `run` must have result_hash `hash`
    (`run` None: any run may)."""

    hash: str
    run: int | None = None
    position: int | None = None

    def describe(self) -> str:
        return f"run {self.run} ({self.hash})" if self.run is not None else self.hash


def first_difference(recorded: c.MatchRun, recomputed: dict[str, str]) -> tuple[str | None, str | None, str]:
    rec = {a.household: a.unit for a in recorded.assignments}
    for hid in sorted(set(rec) | set(recomputed)):
        if rec.get(hid) != recomputed.get(hid):
            return hid, rec.get(hid), f"replay gives {recomputed.get(hid) or 'no unit'}"
    return None, None, "same assignments, other numbers"


PROGRESS_EVERY = 50_000  # records between two progress lines


PARALLEL_FROM = 200_000  # records from which replay splits the log between two processes
FOLD_SHARE = 0.3  # the cost of folding a record without verifying, against verifying it


def replay(
    store_url: str,
    progress: Callable[[int, int, int, float], None] | None = None,
    expect: Anchor | None = None,
    workers: int | None = 1,
) -> ReplayReport:
    """Fold the whole log from its first record, re-run every MatchRun and check its hashes, and
    compare every stored snapshot with the state replayed at its position. Snapshots are never
    used here: an audit trusts nothing but the log. `expect`: a head kept outside the store,
    which the log must still contain (a log cut after it, or rewritten, fails).

    `workers`: processes to share the work (None: 2 on a multi-core machine for a log of at
    least PARALLEL_FROM records in a file or server store, as `pyengine replay` does; they are
    spawned, so a script calling this needs the `if __name__ == "__main__":` guard). Each verifies the runs of one
    stretch of the log after folding, unverified, the records before it; the stretches meet,
    so every run is verified once and every record folded by a process that checks it."""
    t0 = time.perf_counter()
    app = open_app(EventLog, store_url, write=False)
    try:
        total = app.recorder.max_notification_id() or 0
    finally:
        app.close()
    if workers is None:
        workers = 2 if total >= PARALLEL_FROM and (os.cpu_count() or 1) > 1 and store_url != "memory:" else 1
    if workers <= 1 or total < 2 * workers:
        part = _verify_part(store_url, 0, None, expect, progress, t0, total)
        return _merge([part], expect, t0)
    # Later stretches also fold the records before them (about a third of a verification's
    # cost per record): the first stretches are longer, so that all end together.
    weights = [1.0 / (1.0 + FOLD_SHARE * k) for k in range(workers)]
    bounds = [0]
    for w in weights[:-1]:
        bounds.append(bounds[-1] + round(total * w / sum(weights)))
    ctx = multiprocessing.get_context("spawn")  # the Rust core is never forked
    with ctx.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        ticks = manager.Queue()
        futures = [
            pool.submit(_verify_part, store_url, lo, hi, expect, ticks, t0, total)
            for lo, hi in zip(bounds, [*bounds[1:], None], strict=True)
        ]
        done: dict[int, tuple[int, int]] = {}
        while not all(f.done() for f in futures):
            try:
                k, events, runs = ticks.get(timeout=0.2)
            except queue.Empty:
                continue
            done[k] = (events, runs)
            if progress is not None:
                progress(
                    sum(e for e, _ in done.values()), total, sum(r for _, r in done.values()), time.perf_counter() - t0
                )
        parts = [f.result() for f in futures]
    return _merge(parts, expect, t0)


@dataclass
class Part:
    """What one process found on its stretch of the log (positions after `lo`, up to `hi`)."""

    lo: int
    report: ReplayReport
    end: int = 0  # the last position read
    fits: dict[int, str] = field(default_factory=dict)  # snapshot position -> sha256 of its record
    vouched: dict[int, str] = field(default_factory=dict)
    pending_tail: list[str] = field(default_factory=list)


def _verify_part(
    store_url: str,
    lo: int,
    hi: int | None,
    expect: Anchor | None,
    progress: Any,
    t0: float,
    total: int,
) -> Part:
    """Fold the log up to `hi` (None: its end); verify the runs and snapshots after `lo`.
    `progress`: a callback, or a queue that gets (lo, records verified, runs) tuples."""
    app = open_app(EventLog, store_url, write=False)
    part = Part(lo, ReplayReport(0, 0, None))
    report = part.report

    def tick(events: int, runs: int) -> None:
        if progress is None:
            return
        if callable(progress):
            progress(events, total, runs, time.perf_counter() - t0)
        else:
            progress.put((lo, events, runs))

    try:
        snaps = {p: d for p, d in snapshot.stored(app, limit=1000) if p > lo and (hi is None or p <= hi)}
        pf = Portfolio(None)
        runs = seen = 0  # runs verified here; runs in the log so far (folded or verified)
        previous = ""
        chain = Chain()
        diverged: Divergence | None = None

        def stop(why: Divergence) -> Part:
            report.events, report.runs_verified, report.divergence = why.position, runs, why
            part.end = why.position
            return part

        def check(row: Row, event: Any) -> bool:
            """Before `row` is folded in: a run after `lo` is verified on the state it saw."""
            nonlocal runs, seen, previous, diverged
            p = event.payload
            if type(p) is c.MatchRun:
                if row.id > lo:
                    gone = pf.erased_in_play()
                    if gone:
                        report.not_resolved.append(f"run {p.run}: household{'s' if len(gone) > 1 else ''} "
                                                   f"{', '.join(gone)} erased")  # fmt: skip
                    diverged = verify_run(pf, p, previous, row.id, chain, solve=not gone)
                    if diverged is not None:
                        return True
                    runs += 1
                    report.head = Anchor(p.result_hash, p.run, row.id)
                    if expect is not None and p.result_hash == expect.hash and expect.run in (None, p.run):
                        report.anchor_run = p.run
                previous = p.result_hash
                seen += 1
            elif type(p) is c.SnapshotRecorded:
                part.vouched[p.run_position] = p.sha256
            return False

        try:
            for row, _ in fold(app, pf, stop=hi, before=check, name_bad=True):
                pos = row.id
                if pos in snaps:
                    report.snapshots_checked += 1
                    data = snaps.pop(pos)
                    why, harmless = _snapshot_problem(pf, row, data)
                    if why:
                        into = report.snapshot_notes if harmless else report.snapshot_problems
                        into.append(f"snapshot at position {pos}: {why}")
                    else:
                        part.fits[pos] = hashlib.sha256(data).hexdigest()
                if pos > lo and (pos - lo) % PROGRESS_EVERY == 0:
                    tick(pos - lo, runs)
        except BadRecord as e:
            if e.applying:  # a deleted or reordered row breaks an aggregate's sequence
                why = f"log does not fold: {type(e.__cause__).__name__}"
            else:  # an edited row that no longer decodes
                why = f"stored event does not decode: {e.__cause__}"
            return stop(Divergence(seen + 1, e.row.id, why))
        if diverged is not None:
            return stop(diverged)
        pos = pf.last_notification_id
        if hi is None:
            for position in sorted(snaps):
                report.snapshot_problems.append(f"snapshot at position {position}: the log has no such record")
            part.pending_tail = [
                type(e.payload).__name__ for e, _ in pf.pending if type(e.payload) is not c.SnapshotRecorded
            ]
        report.events, report.runs_verified = pf.position, runs
        part.end = pos
        if progress is not None and not callable(progress):
            tick(pos - lo, runs)  # the parent's count ends where this stretch did
        return part
    finally:
        app.close()


def _merge(parts: list[Part], expect: Anchor | None, t0: float) -> ReplayReport:
    """One report from the stretches, as one process walking the whole log would give it: the
    first divergence ends it."""
    report = ReplayReport(0, 0, None)
    vouched: dict[int, str] = {}
    fits: dict[int, str] = {}
    for part in parts:
        r = part.report
        report.runs_verified += r.runs_verified
        report.snapshots_checked += r.snapshots_checked
        report.snapshot_problems += r.snapshot_problems
        report.snapshot_notes += r.snapshot_notes
        report.not_resolved += r.not_resolved
        report.head = r.head or report.head
        report.anchor_run = r.anchor_run if r.anchor_run is not None else report.anchor_run
        report.events = r.events
        vouched.update(part.vouched)
        fits.update(part.fits)
        if r.divergence is not None:
            return _done(report, r.events, report.runs_verified, t0, r.divergence)
    runs, pos = report.runs_verified, parts[-1].end
    for position, digest in sorted(fits.items()):
        if position not in vouched:
            report.snapshot_notes.append(
                f"snapshot at position {position}: the log does not vouch for it (no SnapshotRecorded); "
                "readers ignore it"
            )
        elif digest != vouched[position]:
            report.snapshot_problems.append(
                f"snapshot at position {position}: its record is not the one the log recorded (edited after)"
            )
    tail = parts[-1].pending_tail
    if tail:
        # a writer stores each command's events with their MatchRun in one write
        why = (
            f"the log ends with {len(tail)} event(s) ({', '.join(tail[:3])}{', ...' if len(tail) > 3 else ''}) "
            "that no MatchRun covers: a run was removed or the log was cut"
        )
        return _done(report, report.events, runs, t0, Divergence(runs + 1, pos, why))
    if expect is not None and report.anchor_run is None:
        why = f"the expected head {expect.describe()} is not in the log: it was truncated or rewritten"
        return _done(report, report.events, runs, t0, Divergence(expect.run or runs, pos, why))
    return _done(report, report.events, runs, t0, None)


def _done(report: ReplayReport, events: int, runs: int, t0: float, divergence: Divergence | None) -> ReplayReport:
    report.events, report.runs_verified, report.divergence = events, runs, divergence
    report.seconds = time.perf_counter() - t0
    return report


def _snapshot_problem(pf: Portfolio, row: Row, data: bytes) -> tuple[str, bool]:
    """Why the stored snapshot does not fit the replayed state ("" if it does), and whether
    that is harmless (an older engine's format, which readers skip)."""
    try:
        stored = snapshot.decode(data)
    except (msgspec.MsgspecError, ValueError) as e:
        return f"does not decode ({e})", False
    if stored.format != snapshot.FORMAT:
        return f"format {stored.format} (this engine writes {snapshot.FORMAT}); not used", True
    if pf.has_pending:
        return "not at a MatchRun", False
    replayed = snapshot.capture(pf, hashlib.sha256(record_bytes(row)).hexdigest())
    if stored != replayed:
        return "differs from the state replayed from the log (it is not used when its head no longer matches)", False
    return "", False


@dataclass
class Chain:
    """What replay carries from run to run: the digest of the recorded decision (runs with a
    digest), while known."""

    digest: LtHash | None = None


def verify_run(
    pf: Portfolio, run: c.MatchRun, previous: str, pos: int, chain: Chain | None = None, *, solve: bool = True
) -> Divergence | None:
    """The run's place in the chain, then (`solve`) its decision against the core's."""
    if run.previous_hash != previous:
        return Divergence(run.run, pos, "the previous run's hash does not match (a run was removed or changed)")
    if run.events_hash != pf.events_hash:
        return Divergence(run.run, pos, "the events before this run are not those it saw (edited or deleted)")
    if run.policy_version != pf.policy.version:
        return Divergence(run.run, pos, f"policy v{run.policy_version} recorded, v{pf.policy.version} in force")
    if not solve:
        return _verify_recorded(pf, run, pos, chain or Chain(), previous)
    pf.matcher.follow(run.engine_version)
    if run.digest:
        return _verify_digest_run(pf, run, pos, chain or Chain())
    pf.sync()
    result = pf.matcher.solve()
    pf.reported_run = None  # the core's report is not this run's decision (none is taken)
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


def _verify_digest_run(pf: Portfolio, run: c.MatchRun, pos: int, chain: Chain) -> Divergence | None:
    """A run with a digest, at the cost of what it changed: the recorded changes, folded onto
    the decision before them, must give the recorded digest and hash; the core, re-matched on
    the same state, must report the same changes since the run before (whose decision it was
    shown equal to), or, for full runs and after a new policy, the same whole decision."""
    ledger = pf.ledger
    assert ledger is not None and pf.date is not None
    digest = advance(chain.digest, ledger.decision, ledger.cap_rows, run)
    chain.digest = None
    pf.sync()
    last = ledger.last_run
    recomputed: Callable[[], dict[str, str]]  # the solver's units, only to name a difference
    if run.full or last is None or pf.reported_run != last.run:
        result = pf.matcher.solve()
        pf.matcher.mark_reported()
        whole = pf.full_run(run)
        same = (result.assignments, result.caps) == (whole.assignments, whole.caps)
        figures: tuple[object, ...] = (result.objective, result.bound, result.uncapped_objective, result.optimal)

        def recomputed() -> dict[str, str]:
            return {a.household: a.unit for a in result.assignments}
    else:
        summary = pf.matcher.rematch()
        delta = pf.matcher.delta()
        same = (delta.assignments, delta.withdrawn, delta.caps, sorted(delta.caps_dropped)) == (
            run.assignments, run.withdrawn, run.caps, run.caps_dropped,
        )  # fmt: skip
        figures = (summary.objective, summary.bound, summary.uncapped_objective, summary.optimal)

        def recomputed() -> dict[str, str]:
            units = {h: a.unit for h, a in ledger.decision.items() if h not in delta.withdrawn}
            units.update((a.household, a.unit) for a in delta.assignments)
            return units

    pf.reported_run = run.run
    if digest.hexdigest() != run.digest or hash_of_run(run) != run.result_hash:
        hid, unit, _ = first_difference(pf.full_run(run), recomputed())
        return Divergence(run.run, pos, "the recorded decision does not match its own hash", hid, unit)
    if not same or figures != (run.objective, run.bound, run.uncapped_objective, run.optimal):
        hid, unit, why = first_difference(pf.full_run(run), recomputed())
        return Divergence(run.run, pos, why, household=hid, unit=unit)
    chain.digest = digest
    return None


def _verify_recorded(pf: Portfolio, run: c.MatchRun, pos: int, chain: Chain, previous: str) -> Divergence | None:
    """A run that cannot be solved again: its recorded decision must still give its own hash;
    the next run solved is compared whole (the core's last report is not this run's)."""
    pf.reported_run = None
    if run.digest:
        ledger = pf.ledger
        assert ledger is not None
        digest = advance(chain.digest, ledger.decision, ledger.cap_rows, run)
        chain.digest = None
        if digest.hexdigest() != run.digest or hash_of_run(run) != run.result_hash:
            return Divergence(run.run, pos, "the recorded decision does not match its own hash")
        chain.digest = digest
        return None
    whole = pf.full_run(run)
    if result_hash(recorded_result(whole), whole.as_of.isoformat(), previous, run.events_hash) != run.result_hash:
        return Divergence(run.run, pos, "the recorded decision does not match its own hash")
    return None


def recorded_result(run: c.MatchRun) -> Result:
    return Result(
        assignments=run.assignments, unmatched=run.unmatched or [], objective=run.objective, bound=run.bound,
        uncapped_objective=run.uncapped_objective, optimal=run.optimal, nodes=run.nodes, caps=run.caps,
        policy_version=run.policy_version, engine_version=run.engine_version,
    )  # fmt: skip


def print_progress(events: int, total: int, runs: int, seconds: float) -> None:
    rate = events / seconds if seconds > 0 else 0.0
    print(
        f"  replayed {events:,}/{total:,} events, {runs:,} runs verified ({rate:,.0f} events/s, "
        f"{runs / seconds if seconds > 0 else 0.0:,.0f} runs/s)",
        file=sys.stderr,
        flush=True,
    )
