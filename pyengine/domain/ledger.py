"""The allocation ledger, and the streams of commands accepted under a key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from eventsourcing.domain import Aggregate

from .. import commands as c
from ..errors import InputError
from ..policy import Policy
from ..schema import Assignment, CapUsage
from .base import LEDGER_ID, cap_key, command_uuid


class Ledger(Aggregate):
    """The allocation ledger: the engine's date and every MatchRun.

    Every write to the log also appends here, so its version orders all writers: a second
    process that appends from a stale view gets a version conflict instead of a silent merge.
    """

    TOPIC = "pyengine/Ledger"

    class Event(Aggregate.Event):
        TOPIC = "pyengine/Ledger.Event"

    class Opened(Aggregate.Created):
        TOPIC = "pyengine/LedgerOpened"
        payload: c.LedgerOpened

    class DayClosed(Event):
        TOPIC = "pyengine/DayClosed"
        payload: c.DayClosed

        def apply(self, aggregate: Any) -> None:
            aggregate.date = self.payload.date

    class PolicyAdopted(Event):
        TOPIC = "pyengine/PolicyAdopted"
        payload: c.PolicyAdopted

        def apply(self, aggregate: Any) -> None:
            aggregate.policy = self.payload.policy

    class ProceedsAllocated(Event):
        TOPIC = "pyengine/ProceedsAllocated"
        payload: c.ProceedsAllocated

        def apply(self, aggregate: Any) -> None:
            aggregate.proceeds_nok += self.payload.amount_nok

    class MatchRun(Event):
        TOPIC = "pyengine/MatchRun"
        payload: c.MatchRun

        def apply(self, aggregate: Any) -> None:
            run = self.payload
            if run.full:
                aggregate.decision, aggregate.cap_rows = aggregate.decision_after(run)
            else:  # in place: a delta run costs what it changed, not a copy of the decision
                _fold(aggregate.decision, aggregate.cap_rows, run)
            aggregate.last_run = run

    def __init__(self, payload: c.LedgerOpened) -> None:
        self.date: dt.date | None = None
        self.last_run: c.MatchRun | None = None
        self.proceeds_nok = 0  # all sale proceeds so far; spending is UnitAcquired on the units
        self.policy: Policy | None = None  # in force since the last PolicyAdopted
        # the current decision, folded from full and delta MatchRuns
        self.decision: dict[str, Assignment] = {}
        self.cap_rows: dict[str, CapUsage] = {}

    def decision_after(self, run: c.MatchRun) -> tuple[dict[str, Assignment], dict[str, CapUsage]]:
        """The whole decision once `run` is applied (without applying it)."""
        decision: dict[str, Assignment] = {} if run.full else dict(self.decision)
        rows: dict[str, CapUsage] = {} if run.full else dict(self.cap_rows)
        _fold(decision, rows, run)
        return decision, rows

    @classmethod
    def open(cls) -> Ledger:
        return cls._create(cls.Opened, id=LEDGER_ID, payload=c.LedgerOpened())

    def close_day(self, payload: c.DayClosed) -> None:
        """Move the engine's date: never back."""
        if self.date is not None and payload.date < self.date:
            raise InputError("date", f"{payload.date} is before the engine's date {self.date}")
        self.trigger_event(self.DayClosed, payload=payload)

    def record_run(self, payload: c.MatchRun) -> None:
        self.trigger_event(self.MatchRun, payload=payload)

    def adopt_policy(self, payload: c.PolicyAdopted) -> None:
        self.trigger_event(self.PolicyAdopted, payload=payload)

    def allocate_proceeds(self, payload: c.ProceedsAllocated) -> None:
        self.trigger_event(self.ProceedsAllocated, payload=payload)

    class SnapshotRecorded(Event):
        """Only vouches for a stored snapshot (readers look it up in the log); no state."""

        TOPIC = "pyengine/SnapshotRecorded"
        payload: c.SnapshotRecorded

        def apply(self, aggregate: Any) -> None:
            pass

    def record_snapshot(self, payload: c.SnapshotRecorded) -> None:
        self.trigger_event(self.SnapshotRecorded, payload=payload)


class AcceptedCommand(Aggregate):
    """A command stored under an idempotency key: one event, in a stream of its own named by
    the key, so the store itself refuses a second command with the same key."""

    TOPIC = "pyengine/AcceptedCommand"

    class Event(Aggregate.Event):
        TOPIC = "pyengine/AcceptedCommand.Event"

    class Accepted(Aggregate.Created):
        TOPIC = "pyengine/CommandAccepted"
        payload: c.CommandAccepted

    def __init__(self, payload: c.CommandAccepted) -> None:
        self.command_id = payload.command_id

    @classmethod
    def accept(cls, payload: c.CommandAccepted) -> AcceptedCommand:
        return cls._create(cls.Accepted, id=command_uuid(payload.command_id), payload=payload)


def _fold(decision: dict[str, Assignment], rows: dict[str, CapUsage], run: c.MatchRun) -> None:
    """Apply a run's changes to a decision and its cap rows (a full run's onto empty ones)."""
    for hid in run.withdrawn:
        decision.pop(hid, None)
    for key in run.caps_dropped:
        rows.pop(key, None)
    for a in run.assignments:
        decision[a.household] = a
    for row in run.caps:
        rows[cap_key(row)] = row
