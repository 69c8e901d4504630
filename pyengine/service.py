"""The allocation service: commands in, events stored, the portfolio re-matched after each."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

from adapters.store import store_env

from . import commands as c
from .domain import Household, Ledger, SaleCase, Unit
from .errors import ConcurrencyConflict
from .log import get_logger
from .policy import Policy
from .portfolio import Portfolio
from .store import EventLog


class AllocationService:
    def __init__(self, store_url: str, policy: Policy | None = None) -> None:
        self.store_url = store_url
        self.policy = policy  # None: keep the policy the log has in force
        self.log = get_logger("pyengine.service").bind(store=store_url)
        self.app = EventLog(env=store_env(store_url))
        self.portfolio = self._new_portfolio()
        self.catch_up()

    def close(self) -> None:
        self.app.close()

    def catch_up(self) -> int:
        """Fold in whatever other writers appended since we last looked."""
        n = 0
        for note in self.app.records(self.portfolio.last_notification_id + 1):
            self.portfolio.apply(self.app.mapper.to_domain_event(note), note)
            self.portfolio.last_notification_id = note.id
            n += 1
        return n

    def _new_portfolio(self) -> Portfolio:
        return Portfolio(self.policy, encode=self.app.mapper.to_stored_event)

    def _rebuild(self) -> None:
        self.portfolio = self._new_portfolio()
        self.catch_up()

    def submit(self, cmd: c.Command) -> list[tuple[int, Any]]:
        """Apply one command; return its stored (position, event) pairs, MatchRun last.

        A refused command raises InputError and stores nothing; a stale view raises
        ConcurrencyConflict and stores nothing.
        """
        return self._store(lambda: self.portfolio.handle(cmd), type(cmd).__name__)

    def submit_batch(
        self, cmds: Sequence[c.Command], trigger: str, labels: Sequence[str] = ()
    ) -> list[tuple[int, Any]]:
        """Apply `cmds` as one write: their events, then ONE MatchRun (bulk import).

        All or nothing: a refused command raises InputError (its field under `labels[i]`) and a
        stale view ConcurrencyConflict; either way nothing is stored.
        """
        return self._store(lambda: self.portfolio.handle_batch(cmds, trigger, labels), trigger)

    def _store(self, decide: Callable[[], list[Any]], what: str) -> list[tuple[int, Any]]:
        self.catch_up()
        position = self.portfolio.position
        try:
            events = decide()
        except Exception:
            # Validation refuses before anything is triggered; anything that fails later may have
            # changed the in-memory aggregates or projection, so fold the log in again.
            if self.portfolio.position != position or any(a.pending_events for a in self._aggregates()):
                self._rebuild()
            raise
        try:
            recordings = self.app.save(*events)
        except IntegrityError as e:
            self._rebuild()
            raise ConcurrencyConflict(f"another writer appended to {self.store_url} first; nothing was stored") from e
        except BaseException:
            self._rebuild()
            raise
        self.portfolio.last_notification_id = max(r.notification.id for r in recordings)
        run = events[-1].payload
        self.log.info(
            "command_applied", type=what, events=len(events), run=run.run,
            objective=run.objective, matched=len(run.assignments), solve_ms=run.solve_ms,
        )  # fmt: skip
        return [(r.notification.id, r.domain_event) for r in recordings]

    def _aggregates(self) -> Iterator[Unit | Household | Ledger | SaleCase]:
        yield from self.portfolio.units.values()
        yield from self.portfolio.households.values()
        yield from self.portfolio.open_case.values()
        if self.portfolio.ledger is not None:
            yield self.portfolio.ledger

    def stored_events(self) -> Iterator[tuple[int, Any]]:
        for note in self.app.records():
            yield note.id, self.app.mapper.to_domain_event(note)
