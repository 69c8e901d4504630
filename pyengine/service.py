"""The allocation service: commands in, events stored, the portfolio re-matched after each."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import msgspec
from eventsourcing.persistence import IntegrityError

from adapters.keys import Erased
from adapters.store import open_app, redacted

from . import commands as c
from . import snapshot
from .domain import Household, Ledger, SaleCase, Unit
from .errors import ConcurrencyConflict, InputError
from .event_log import EventLog, RecordingMapper, Row
from .fold import fold_all
from .log import get_logger
from .policy import Policy, check_policy
from .portfolio import Portfolio
from .sealing import CASE_STEPS

SNAPSHOT_EVERY = 10_000  # events between two snapshots taken by a writer
# Commands an erasable store fingerprinted with a plain SHA-256 before their records were sealed
# (the case steps, and PurchaseInterestRegistered, until 1f12171), and now with an HMAC
# under the buyer's key: a retry of one stored before that still matches its plain fingerprint
# (so does an application stored before the store kept keys: `_earlier_fingerprint`).
FINGERPRINTED_IN_CLEAR_BEFORE = (c.PurchaseInterestRegistered, *CASE_STEPS)


class Head(NamedTuple):
    run: int
    position: int  # notification id of that run's record
    hash: str  # its result_hash


class AllocationService:
    def __init__(
        self, store_url: str, policy: Policy | None = None, *, snapshots: bool = True,
        snapshot_every: int = SNAPSHOT_EVERY, write: bool = True,
    ) -> None:  # fmt: skip
        """`snapshots`: start from the newest snapshot that fits the log (else fold it all);
        `snapshot_every`: after a save, snapshot when that many events were folded in since the
        last snapshot (0: never; `pyengine snapshot` takes one on demand); `write`: False opens
        the store read-only (it must exist; nothing is created or written)."""
        self.store_url = store_url
        self.policy = policy  # None: keep the policy the log has in force
        self.log = get_logger("pyengine.service").bind(store=redacted(store_url))
        self.app = open_app(EventLog, store_url, write=write)
        self.use_snapshots = snapshots
        self.snapshot_every = snapshot_every
        self.snapshot_at = 0  # Portfolio.position of the last snapshot loaded or taken
        self.loaded_from = 0  # notification id of the snapshot this view started from (0: none)
        # A policy this writer would adopt is checked as a policy file is (`check_policy`), before
        # anything is written: one given from code has not been through `parse_policy`. The one
        # the log has in force is not checked again: it was recorded as it is, and a store whose
        # policy was adopted before a check existed must still open.
        refused = self._refusal(policy) if write else None
        try:
            self.portfolio = self._load()
            self.catch_up()
        except ValueError as e:  # the core refuses some of it first (a cap's max_share and max_count)
            if refused is None:
                raise
            self.close()
            raise refused from e
        if refused is not None and self.portfolio.to_adopt() is not None:
            self.close()
            raise refused
        if write:
            self.finish_erasures()

    @staticmethod
    def _refusal(policy: Policy | None) -> InputError | None:
        """Why `policy` would be refused in a policy file (None: it would not be, or no policy)."""
        try:
            if policy is not None:
                check_policy(policy, "policy")
        except InputError as e:
            return e
        return None

    def close(self) -> None:
        self.app.close()

    def catch_up(self) -> int:
        """Fold in whatever other writers appended since we last looked."""
        return fold_all(self.app, self.portfolio)

    def _new_portfolio(self) -> Portfolio:
        mapper = self.app.mapper
        assert isinstance(mapper, RecordingMapper)
        pf = Portfolio(self.policy, encode=mapper.encode_for_hash)
        pf.seals = self.app.keys.enabled
        return pf

    def _load(self) -> Portfolio:
        """The newest snapshot that fits the log, or an empty portfolio."""
        self.loaded_from = 0
        if not self.use_snapshots:
            return self._new_portfolio()
        found = snapshot.latest(self.app)  # logs each snapshot it does not trust
        if found.state is None:
            return self._new_portfolio()
        pf = self._new_portfolio()
        pf = snapshot.restore(found.state, self.policy, pf.encode)
        pf.seals = self.app.keys.enabled
        self.snapshot_at, self.loaded_from = found.state.count, found.state.position
        return pf

    def _rebuild(self) -> None:
        self.portfolio = self._load()
        self.catch_up()

    def snapshot(self) -> snapshot.PortfolioState | None:
        """Snapshot the portfolio at its last MatchRun (after catching up with the log), and
        record the snapshot's digest in the log, without which no reader trusts it."""
        self.catch_up()
        pf = self.portfolio
        if pf.has_pending or pf.ledger is None or pf.ledger.last_run is None:
            return None  # only right after a MatchRun (a writer's log always ends with one)
        saved = snapshot.save(self.app, pf)
        self.snapshot_at = pf.position
        if saved is None:
            return None
        state, digest = saved
        pf.ledger.record_snapshot(c.SnapshotRecorded(run_position=state.position, sha256=digest))
        events: list[Any] = list(pf.ledger.collect_events())
        for ev in events:
            pf.note_event(ev, pf.ledger)
        self._save(events)
        return state

    @property
    def head(self) -> Head | None:
        """The log's head as this view last saw it: the last MatchRun's number, its position
        and its result_hash, which chains every record before it. An office keeps it outside
        the database (`pyengine submit --checkpoint`) and checks it with `replay --expect-head`."""
        pf = self.portfolio
        last = pf.ledger.last_run if pf.ledger is not None else None
        if last is None:
            return None
        return Head(run=last.run, position=pf.run_position, hash=last.result_hash)

    def _maybe_snapshot(self) -> None:
        if self.snapshot_every <= 0 or self.portfolio.position - self.snapshot_at < self.snapshot_every:
            return
        try:
            self.snapshot()
        except Exception:  # the command is stored; a snapshot is only a shortcut for the next start
            self.log.exception("snapshot_failed", position=self.portfolio.last_notification_id)
            self.snapshot_at = self.portfolio.position

    def submit(self, cmd: c.Command, command_id: str | None = None) -> list[tuple[int, Any]]:
        """Apply one command; return its stored (position, event) pairs, MatchRun last.

        A refused command raises InputError and stores nothing; a stale view raises
        ConcurrencyConflict and stores nothing. `command_id` is an idempotency key chosen by
        the client: a command whose key is already stored is not applied again, and the events
        first stored for it are returned (a key reused for another command is refused).
        """
        cmd = c.validate_command(cmd)
        self._see_key_table()
        if isinstance(cmd, c.ErasureRequested):
            self._check_erasable(cmd.id)
            stored = self._submit(cmd, command_id)
            self.finish_erasures()
            return stored
        return self._submit(cmd, command_id)

    def _see_key_table(self) -> None:
        """At the start of a write: whether the store gained its key table while this writer had it
        open (`pyengine db init --erasable` run by another process), so that this write seals what
        a writer opened since would seal, and a household applying now can be erased. Read once
        per write, before its fingerprint and its records are made, so one write never mixes the
        two; one query while the store keeps no keys, none once it does. A write already
        decided in clear that another writer's sealed one overtakes is refused as stale when it
        is saved, as any write made from a view another writer has moved on from."""
        keys = self.app.keys
        if keys.enabled or not keys.look_again():
            return
        self.portfolio.seals = True
        self.log.info("store_keeps_keys", position=self.portfolio.last_notification_id)

    def _submit(self, cmd: c.Command, command_id: str | None) -> list[tuple[int, Any]]:
        if command_id is None:
            return self._commit(lambda: self.portfolio.handle(cmd), "command_applied", type=type(cmd).__name__)
        self.catch_up()  # first: a case's command is fingerprinted with its buyer's key
        sha = self._fingerprint(cmd)
        earlier = functools.partial(self._earlier_fingerprint, cmd, sha)  # read only where `sha` does not match
        stored = self.stored_for(command_id, sha, earlier)
        if stored is not None:
            return stored
        try:
            return self._commit(
                lambda: self.portfolio.handle(cmd, command_id, sha), "command_applied", type=type(cmd).__name__,
                command_id=command_id,
            )  # fmt: skip
        except ConcurrencyConflict:
            stored = self.stored_for(command_id, sha, earlier)  # the other writer may have stored this very command
            if stored is not None:
                return stored
            raise

    def _fingerprint(self, cmd: c.Command) -> str:
        """CommandAccepted.sha256: SHA-256 of the command; for one whose record an erasable store
        seals (pyengine.sealing.SEALED), HMAC-SHA256 under that household's key, since a plain
        hash of a few small fields (an application, a start loan's amount) could be matched by
        trying them all, after the erasure too."""
        household = self._sealed_for(cmd) if self.app.keys.enabled else None
        if household is None:
            return c.command_sha256(cmd)
        try:
            key = self.app.keys.key(household, create=True)
        except Erased:
            return c.command_sha256(cmd)  # refused by the handler (a withdrawn household, a closed case)
        return hmac.new(key, msgspec.json.encode(cmd), hashlib.sha256).hexdigest()

    def _earlier_fingerprint(self, cmd: c.Command, sha: str) -> str | None:
        """The fingerprint the engine gave `cmd` before its scheme changed, where it differs from
        `sha` (None: it did not change). Until its records were sealed (1f12171), an erasable
        store fingerprinted a rent-to-own command with the plain SHA-256 it still gives a command
        nothing seals; a client retrying one stored then (same command_id, same body) must be
        answered "already stored", not refused as another command, and nothing stored is
        rewritten. Both are accepted, for those commands only: the plain hash is compared with
        what is stored, never stored anew (a new command is stored with `sha`), so a key's
        fingerprint hides as much as before; and an HMAC does not equal a command's plain hash.

        Likewise an application (`ApplicationSubmitted`, `ApplicationUpdated`) stored with a
        command_id before the store kept keys (`pyengine db init --erasable` on a store in use):
        it was fingerprinted with the plain SHA-256 a store in clear gives every command, and a
        retry now is fingerprinted under the household's key. The plain hash is accepted only
        where the household's application (the first record of its stream) is stored in clear,
        that is where the household applied before the store kept keys: one that applied since
        had none of its applications fingerprinted in clear, and its retries match its HMAC only."""
        if isinstance(cmd, c.ApplicationSubmitted | c.ApplicationUpdated):
            if not self.app.keys.enabled or self.app.application_sealed(cmd.id) is not False:
                return None
        elif not isinstance(cmd, FINGERPRINTED_IN_CLEAR_BEFORE):
            return None
        plain = c.command_sha256(cmd)
        return plain if plain != sha else None

    def _sealed_for(self, cmd: c.Command) -> str | None:
        """The household under whose key `cmd`'s record is sealed (None: none is)."""
        if isinstance(cmd, c.ApplicationSubmitted | c.ApplicationUpdated):
            return cmd.id
        if isinstance(cmd, c.PurchaseInterestRegistered):  # no key made for a household refused as unknown
            return cmd.household if cmd.household in self.portfolio.households else None
        if isinstance(cmd, CASE_STEPS):
            # the case it is for: the open one, or the last (a retry of the command that closed it)
            case = self.portfolio.latest_case(cmd.unit)
            return case.household if case is not None else None
        return None

    def _check_erasable(self, household: str, *, catch_up: bool = True) -> None:
        """Erasure deletes a key: refused where that would not make the household's data
        unreadable. A key alone does not tell: one is made for the first sealed record or
        fingerprint of a household, whose application may have been stored in clear before the
        store kept keys (and a key may outlive a crash or a refused command).

        `catch_up=False` in a write of several commands (`submit_batch`, `submit_many`): the
        household is then checked as the commands before it in the write left it."""
        keys = self.app.keys
        if not keys.enabled:
            raise InputError(
                "id",
                "this store keeps personal data in clear (it was not made with "
                "`pyengine db init --erasable`): no household's data can be erased by deleting its key",
            )
        if catch_up:
            self.catch_up()  # a household another writer stored since
        h = self.portfolio.households.get(household)
        if h is None or h.erased or keys.erased(household):
            return  # the handler refuses an unknown household, and a second erasure
        sealed = self.app.application_sealed(household)
        if sealed is None:
            return  # it applied earlier in this write, whose application this store seals
        if not sealed:
            raise InputError(
                "id",
                f"household {household!r} applied before the store kept keys: its application is "
                "stored in clear and cannot be erased by deleting a key",
            )

    def finish_erasures(self) -> list[str]:
        """Delete the keys of households whose erasure is stored (also those a crash or another
        writer left undone) and the snapshots, which hold the state in clear; the households done."""
        keys = self.app.keys
        pf = self.portfolio
        if not keys.enabled or not pf.erased:
            return []
        done: list[str] = []
        for hid in sorted(pf.erased):
            if not keys.erased(hid) and pf.households[hid].withdrawn:
                keys.shred(hid, pf.date or dt.date.today())
                done.append(hid)
        if done:
            dropped = snapshot.drop_all(self.app)
            self.snapshot_at = pf.position  # the next one after as many events again
            self.log.info("households_erased", households=done, snapshots_dropped=dropped)
        return done

    def stored_for(
        self, command_id: str, sha256: str, earlier: Callable[[], str | None] | None = None
    ) -> list[tuple[int, Any]] | None:
        """The events stored for an idempotency key (None if it is new); InputError if the key
        was used for another command. `earlier`: gives the command's fingerprint as the engine
        made it before its scheme changed (`_earlier_fingerprint`), which matches too; called
        only where the key is stored with another fingerprint than `sha256`."""
        found = self.portfolio.commands.get(command_id)
        if found is None:
            return None
        digest, start = found
        if digest != sha256 and (earlier is None or digest != earlier()):
            raise InputError(
                "command_id", f"{command_id!r} was already used for another command (stored at position {start})"
            )
        out: list[tuple[int, Any]] = []
        for row in self.app.rows(start):
            event = self.app.decode(row)
            out.append((row.id, event))
            if type(event.payload) is c.MatchRun:
                break
        self.log.info("command_already_stored", command_id=command_id, position=start, events=len(out))
        return out

    def submit_batch(
        self, cmds: Sequence[c.Command], trigger: str, labels: Sequence[str] = ()
    ) -> list[tuple[int, Any]]:
        """Apply `cmds` as one write: their events, then ONE MatchRun (bulk import).

        All or nothing: a refused command raises InputError (its field under `labels[i]`) and a
        stale view ConcurrencyConflict; either way nothing is stored. An ErasureRequested is
        checked as by `submit`, against the state the commands before it left, and the key is
        deleted once the batch is stored.
        """
        checked = []
        for i, cmd in enumerate(cmds):
            try:
                checked.append(c.validate_command(cmd))
            except InputError as e:
                label = labels[i] if i < len(labels) else ""
                raise InputError(f"{label}.{e.field}" if label else e.field, e.reason) from None
        erasing = any(isinstance(x, c.ErasureRequested) for x in checked)
        self._see_key_table()
        check = self._check_in_write if erasing else None
        stored = self._commit(
            lambda: self.portfolio.handle_batch(checked, trigger, labels, check), "batch_applied", trigger=trigger,
            commands=len(cmds),
        )  # fmt: skip
        if erasing:
            self.finish_erasures()
        return stored

    def _check_in_write(self, cmd: c.Command) -> None:
        """What `submit` checks before the handler, for a command of a write of several: against
        the portfolio as the commands before it left it, not caught up in between (the write
        is refused as stale if another writer appended meanwhile)."""
        if isinstance(cmd, c.ErasureRequested):
            self._check_erasable(cmd.id, catch_up=False)

    def submit_many(self, cmds: Iterable[c.Command], batch: int = 500) -> int:
        """Apply commands in order, each re-matched as by `submit`, storing `batch` commands'
        events (each command's events and its MatchRun) in one transaction; return how many
        were applied. `cmds` is consumed lazily, so a generator may read `self.portfolio` as
        it is after the previous command.

        The log is the one `submit` one at a time would write. A refused command raises
        InputError after the commands before it were stored (as `pyengine submit` does); a
        concurrent writer raises ConcurrencyConflict and nothing of the unsaved batch is stored.
        An ErasureRequested is checked as by `submit`, and the key is deleted once the
        transaction holding it is stored.
        """
        self.catch_up()
        pending: list[Any] = []
        erasing = False  # an erasure among the pending commands: keys to delete once they are stored
        n = 0

        def flush() -> None:
            nonlocal pending, erasing
            done, pending = pending, []
            self._save(done)
            if erasing:
                erasing = False
                self.finish_erasures()

        try:
            for cmd in cmds:
                if not pending:  # each transaction is one write
                    self._see_key_table()
                position = self.portfolio.position
                try:
                    cmd = c.validate_command(cmd)
                    self._check_in_write(cmd)
                    pending += self.portfolio.handle(cmd)
                except Exception:
                    if pending:
                        flush()  # the commands before the failed one stay stored
                    if self._changed_since(position):
                        self._rebuild()
                    raise
                erasing = erasing or isinstance(cmd, c.ErasureRequested)
                n += 1
                if n % batch == 0:
                    flush()
        except BaseException:
            if pending:  # interrupted between commands: what was not stored must not stay in memory
                self._rebuild()
            raise
        if pending:
            flush()
        self.log.info("commands_applied", commands=n, position=self.portfolio.position)
        return n

    def _commit(self, decide: Callable[[], list[Any]], what: str, **fields: Any) -> list[tuple[int, Any]]:
        """Catch up, `decide` the events (MatchRun last), store them in one write and log it."""
        self.catch_up()
        position = self.portfolio.position
        try:
            events = decide()
        except Exception:
            if self._changed_since(position):
                self._rebuild()
            raise
        recordings = self._save(events)
        run = events[-1].payload
        self.log.info(
            what, **fields, events=len(events), run=run.run, objective=run.objective,
            matched=len(run.assignments), solve_ms=run.solve_ms,
        )  # fmt: skip
        return [(r.notification.id, r.domain_event) for r in recordings]

    def _changed_since(self, position: int) -> bool:
        """Validation refuses before anything is triggered; anything that fails later may have
        changed the in-memory aggregates or projection, which must then be folded in again."""
        return self.portfolio.position != position or any(a.pending_events for a in self._aggregates())

    def _check_readable(self, events: list[Any]) -> None:
        """Every record must read back as the event it was made from: a command that would store
        anything else (a value the reader refuses, or one it would read differently) is refused
        before anything is written, so no accepted command can make the store unreadable."""
        mapper = self.app.mapper
        assert isinstance(mapper, RecordingMapper)
        for ev in events:
            try:
                rec = mapper.record_of(ev)
                back = self.app.decode(Row(0, rec.originator_id, rec.originator_version, rec.topic, rec.state))
                same = type(back) is type(ev) and back.payload == ev.payload
                why = "" if same else "it would read back differently"
            except Exception as e:  # whatever the reader would raise later, for good
                why = f"it would not read back ({type(e).__name__}: {e})"
            if why:
                raise InputError(type(ev.payload).__name__, f"refused: {why}; nothing was stored")

    def _save(self, events: list[Any]) -> list[Any]:
        try:
            self._check_readable(events)
        except InputError:
            self.app.mapper.forget()  # type: ignore[attr-defined]
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
        finally:
            self.app.mapper.forget()  # type: ignore[attr-defined]
        pf = self.portfolio
        pf.last_notification_id = max(r.notification.id for r in recordings)
        for r in recordings:
            p = getattr(r.domain_event, "payload", None)
            if type(p) is c.MatchRun:
                pf.run_position = r.notification.id
            elif isinstance(p, c.CommandAccepted):
                pf.commands[p.command_id] = (p.sha256, r.notification.id)
        self._maybe_snapshot()
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
