"""The portfolio as the engine sees it: aggregates folded from the log, and the commands.

`Portfolio.apply` folds a stored event in (pyengine.projection); `Portfolio.handle` validates
a command against the whole portfolio *before* it triggers any event (so a refused command
leaves nothing behind), then re-matches and returns the events to store: the command's events
and one MatchRun. Each command is decided by its handler (pyengine.handlers); the rules of one
aggregate are its command methods' (pyengine.domain).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from . import commands as c
from .digest import advance, hash_of_run
from .domain import AcceptedCommand, Ledger, cap_key
from .errors import InputError
from .handlers import decide
from .policy import Policy
from .projection import Projection, event_bytes, record_bytes
from .schema import Assignment, CapUsage

__all__ = ["Portfolio", "event_bytes", "record_bytes"]


class Portfolio(Projection):
    """The projection, and the commands and MatchRuns written from it."""

    # --- commands ---------------------------------------------------------------------
    def handle(self, cmd: c.Command, command_id: str | None = None, sha256: str | None = None) -> list[Any]:
        """Validate `cmd`, trigger its events, re-match; return the events to store.

        Raises InputError before anything is triggered when the command is refused. With an
        idempotency key, a CommandAccepted event comes first (`sha256`: the command's
        fingerprint, `command_sha256` unless the store keys it).
        """
        start = len(self._pending)
        try:
            events = self._apply_command(cmd)
        except OverflowError:  # a date computed from the command (calendar, timedelta) beyond year 9999
            raise InputError("date", "a date this command leads to is beyond the calendar (year 9999)") from None
        if command_id is not None:
            events.insert(0, self._accept(cmd, command_id, start, sha256 or c.command_sha256(cmd)))
        events.append(self._match(trigger=type(cmd).__name__))
        return events

    def _accept(self, cmd: c.Command, command_id: str, start: int, sha256: str) -> Any:
        """The CommandAccepted event of a command already applied (so that a refused command
        leaves nothing to undo), moved in front of its events in the hash chain's order."""
        payload = c.CommandAccepted(command_id=command_id, command=type(cmd).__name__, sha256=sha256)
        agg = AcceptedCommand.accept(payload)
        (ev,) = agg.collect_events()
        self._note(ev, agg)
        self._pending.insert(start, self._pending.pop())
        return ev

    def handle_batch(
        self, cmds: Sequence[c.Command], trigger: str, labels: Sequence[str] = (),
        check: Callable[[c.Command], None] | None = None,
    ) -> list[Any]:  # fmt: skip
        """Validate and apply `cmds` in order, then re-match once: the events to store, one MatchRun
        last (bulk import). Each command is checked against the portfolio as the ones before it
        left it (and by `check`, the store's own checks, first). A refused command raises
        InputError with its field under `labels[i]` (where the command came from, e.g.
        `units[3]`); the commands before it have then changed the projection, so the caller must
        fold the log in again.
        """
        events: list[Any] = []
        for i, cmd in enumerate(cmds):
            try:
                if check is not None:
                    check(cmd)
                events += self._apply_command(cmd)
            except InputError as e:
                label = labels[i] if i < len(labels) else ""
                raise InputError(f"{label}.{e.field}" if label else e.field, e.reason) from None
        events.append(self._match(trigger=trigger))
        return events

    def _apply_command(self, cmd: c.Command) -> list[Any]:
        """Validate `cmd`, trigger its events and fold them in (no re-match)."""
        touched: list[Any] = self._adopt_if_needed()
        decided = decide(self, cmd)
        for agg in [*decided, *self._adopt_if_needed()]:  # each aggregate once, in trigger order
            if not any(agg is t for t in touched):  # aggregates are unhashable
                touched.append(agg)
        events: list[Any] = []
        for agg in touched:
            self._by_uuid[agg.id] = agg  # as folding its events from the log would
            for ev in agg.collect_events():
                self._note(ev, agg)
                events.append(ev)
        return events

    def to_adopt(self) -> Policy | None:
        """The policy the next write adopts (PolicyAdopted): the one this writer wants where the
        log has another in force, or for a log with none the packaged default if it wants none;
        None where the log's own stays in force."""
        recorded = self.ledger.policy if self.ledger is not None else None
        wanted = self.adopt if self.adopt is not None else (self.policy if recorded is None else None)
        return None if wanted is None or wanted == recorded else wanted

    def _adopt_if_needed(self) -> list[Any]:
        ledger = self.ledger
        wanted = self.to_adopt()
        if ledger is None or wanted is None:
            return []
        ledger.adopt_policy(c.PolicyAdopted(version=wanted.version, policy=wanted))
        return [ledger]

    # --- the MatchRun -----------------------------------------------------------------
    def _match(self, trigger: str) -> Any:
        assert self.ledger is not None and self.date is not None
        self.sync()
        ledger = self.ledger
        last = ledger.last_run
        number = (last.run + 1) if last else 1
        previous = last.result_hash if last else ""
        events_hash = self.events_hash
        full = last is None or number % c.CHECKPOINT == 1
        # the core's deltas are against the run it last reported, which must be the ledger's
        whole = full or last is None or self.reported_run != last.run
        if whole and not full and self._reported is not None:
            fields = self._caught_up_run(ledger, *self._reported)
        else:
            fields = self._whole_run(ledger, full) if whole else self._delta_run()
        self._reported = None
        run = c.MatchRun(
            run=number, as_of=self.date, log_position=self.position, trigger=trigger, full=full,
            events_hash=events_hash, previous_hash=previous, result_hash="", **fields,
        )  # fmt: skip
        # the decision's digest, at the cost of what changed (pyengine.digest)
        digest = advance(self._digest, ledger.decision, ledger.cap_rows, run)
        run = msgspec.structs.replace(run, digest=digest.hexdigest())
        run = msgspec.structs.replace(run, result_hash=hash_of_run(run))
        ledger.record_run(run)
        (ev,) = ledger.collect_events()
        self._note(ev, ledger)
        self.reported_run, self._digest = number, digest
        return ev

    def _whole_run(self, ledger: Ledger, full: bool) -> dict[str, Any]:
        """A run from the whole result (a full run, or the core's last report is not the
        ledger's decision, as after a rebuild): what changed is found by comparing here."""
        result = self.matcher.solve()
        self.matcher.mark_reported()
        withdrawn: list[str]
        dropped: list[str]
        if full:
            assignments, withdrawn, unmatched = list(result.assignments), [], list(result.unmatched)
            caps, dropped = list(result.caps), []
        else:  # only what changed since the previous run
            now = {a.household: a for a in result.assignments}
            rows = {cap_key(r): r for r in result.caps}
            assignments, withdrawn, caps, dropped = _changes(ledger, now, rows)
            unmatched = None
        return dict(
            policy_version=result.policy_version, engine_version=result.engine_version, assignments=assignments,
            withdrawn=withdrawn, unmatched=unmatched, objective=result.objective, bound=result.bound,
            uncapped_objective=result.uncapped_objective, optimal=result.optimal, nodes=result.nodes, caps=caps,
            caps_dropped=dropped, solve_ms=result.solve_ms,
        )  # fmt: skip

    def _caught_up_run(
        self, ledger: Ledger, decision: dict[str, Assignment], rows: dict[str, CapUsage]
    ) -> dict[str, Any]:
        """A run after other writers' runs were folded in: the core's delta is against the
        decision it last reported (`decision`, `rows`), so it is applied to that, and what
        differs from the ledger's decision is this run's change. Costs a comparison of two
        decisions in Python, not a whole result rendered by the core."""
        summary = self.matcher.rematch()
        delta = self.matcher.delta()
        now, now_rows = dict(decision), dict(rows)
        for hid in delta.withdrawn:
            now.pop(hid, None)
        now.update((a.household, a) for a in delta.assignments)
        for key in delta.caps_dropped:
            now_rows.pop(key, None)
        now_rows.update((cap_key(r), r) for r in delta.caps)
        assignments, withdrawn, caps, dropped = _changes(ledger, now, now_rows)
        return dict(
            policy_version=self.policy.version, engine_version=self.matcher.engine_version,
            assignments=assignments, withdrawn=withdrawn, unmatched=None, objective=summary.objective,
            bound=summary.bound, uncapped_objective=summary.uncapped_objective, optimal=summary.optimal,
            nodes=summary.nodes, caps=caps, caps_dropped=dropped, solve_ms=summary.solve_ms,
        )  # fmt: skip

    def _delta_run(self) -> dict[str, Any]:
        """A run from what the core reports changed since the ledger's decision (the core's
        last report): no whole result crosses from the core."""
        summary = self.matcher.rematch()
        delta = self.matcher.delta()
        engine = self.matcher.engine_version
        return dict(
            policy_version=self.policy.version, engine_version=engine, assignments=delta.assignments,
            withdrawn=delta.withdrawn, unmatched=None, objective=summary.objective, bound=summary.bound,
            uncapped_objective=summary.uncapped_objective, optimal=summary.optimal, nodes=summary.nodes,
            caps=delta.caps, caps_dropped=sorted(delta.caps_dropped), solve_ms=summary.solve_ms,
        )  # fmt: skip

    def full_run(self, run: c.MatchRun) -> c.MatchRun:
        """`run` with its whole decision, from the state it saw (call before folding it in)."""
        assert self.ledger is not None
        decision, rows = self.ledger.decision_after(run)
        assigned = set(decision)
        unmatched = sorted(self._active.difference(assigned))
        return msgspec.structs.replace(
            run, full=True, assignments=[decision[h] for h in sorted(decision)], withdrawn=[],
            unmatched=unmatched, caps=sorted(rows.values(), key=lambda r: (r.rule, r.scope)), caps_dropped=[],
        )  # fmt: skip

    def decision(self) -> c.MatchRun:
        """The latest run with its whole decision."""
        ledger = self.ledger
        last = ledger.last_run if ledger is not None else None
        assert ledger is not None and last is not None
        assigned = set(ledger.decision)
        return msgspec.structs.replace(
            last, full=True, assignments=[ledger.decision[h] for h in sorted(ledger.decision)],
            withdrawn=[], caps_dropped=[],
            unmatched=sorted(self._active.difference(assigned)),
            caps=sorted(ledger.cap_rows.values(), key=lambda r: (r.rule, r.scope)),
        )  # fmt: skip


def _changes(
    ledger: Ledger, now: dict[str, Assignment], rows: dict[str, CapUsage]
) -> tuple[list[Assignment], list[str], list[CapUsage], list[str]]:
    """What a decision (`now`, `rows`) changes in the ledger's: assignments new or changed (in
    household id order), households withdrawn, cap rows changed (in the core's order: rule,
    scope) and dropped; the order a run from the core's delta has."""
    old, old_rows = ledger.decision, ledger.cap_rows
    changed = [now[h] for h in sorted(now) if old.get(h) != now[h]]
    caps = sorted((r for k, r in rows.items() if old_rows.get(k) != r), key=lambda r: (r.rule, r.scope))
    return changed, sorted(set(old) - set(now)), caps, sorted(set(old_rows) - set(rows))
