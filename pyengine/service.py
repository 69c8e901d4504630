"""The allocation service: commands in, events stored, the portfolio re-matched after each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
        pf, decode = self.portfolio, self.app.decode
        n = 0
        for row in self.app.rows(pf.last_notification_id + 1):
            pf.apply(decode(row), row)
            pf.last_notification_id = row.id
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
        self.catch_up()
        events = self._handle(cmd)
        recordings = self._save(events)
        run = events[-1].payload
        self.log.info(
            "command_applied", type=type(cmd).__name__, events=len(events), run=run.run,
            objective=run.objective, matched=len(run.assignments), solve_ms=run.solve_ms,
        )  # fmt: skip
        return [(r.notification.id, r.domain_event) for r in recordings]

    def submit_many(self, cmds: Iterable[c.Command], batch: int = 500) -> int:
        """Apply commands in order, each re-matched as by `submit`, storing `batch` commands'
        events (each command's events and its MatchRun) in one transaction; return how many
        were applied. `cmds` is consumed lazily, so a generator may read `self.portfolio` as
        it is after the previous command.

        The log is the one `submit` one at a time would write. A refused command raises
        InputError after the commands before it were stored (as `pyengine submit` does); a
        concurrent writer raises ConcurrencyConflict and nothing of the unsaved batch is stored.
        """
        self.catch_up()
        pending: list[Any] = []
        n = 0
        try:
            for cmd in cmds:
                position = self.portfolio.position
                try:
                    pending += self.portfolio.handle(cmd)
                except Exception:
                    if pending:
                        done, pending = pending, []
                        self._save(done)  # the commands before the failed one stay stored
                    if self._changed_since(position):
                        self._rebuild()
                    raise
                n += 1
                if n % batch == 0:
                    done, pending = pending, []
                    self._save(done)
        except BaseException:
            if pending:  # interrupted between commands: what was not stored must not stay in memory
                self._rebuild()
            raise
        if pending:
            done, pending = pending, []
            self._save(done)
        self.log.info("commands_applied", commands=n, position=self.portfolio.position)
        return n

    def _handle(self, cmd: c.Command) -> list[Any]:
        position = self.portfolio.position
        try:
            return self.portfolio.handle(cmd)
        except Exception:
            if self._changed_since(position):
                self._rebuild()
            raise

    def _changed_since(self, position: int) -> bool:
        """Validation refuses before anything is triggered; anything that fails later may have
        changed the in-memory aggregates or projection, which must then be folded in again."""
        return self.portfolio.position != position or any(a.pending_events for a in self._aggregates())

    def _save(self, events: list[Any]) -> list[Any]:
        try:
            recordings = self.app.save(*events)
        except IntegrityError as e:
            self._rebuild()
            raise ConcurrencyConflict(f"another writer appended to {self.store_url} first; nothing was stored") from e
        except BaseException:
            self._rebuild()
            raise
        self.portfolio.last_notification_id = max(r.notification.id for r in recordings)
        return recordings

    def _aggregates(self) -> Iterator[Unit | Household | Ledger | SaleCase]:
        yield from self.portfolio.units.values()
        yield from self.portfolio.households.values()
        yield from self.portfolio.open_case.values()
        if self.portfolio.ledger is not None:
            yield self.portfolio.ledger

    def stored_events(self) -> Iterator[tuple[int, Any]]:
        for note in self.app.records():
            yield note.id, self.app.mapper.to_domain_event(note)
