"""The portfolio as the engine sees it: aggregates folded from the log, and the commands.

`Portfolio.apply` folds a stored event in; `Portfolio.handle` validates a command against the
whole portfolio *before* it triggers any event (so a refused command leaves nothing behind),
then re-matches and returns the events to store: the command's events and one MatchRun.
The Rust matcher mirrors the portfolio: only what an event touched is sent to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate, AggregateCreated

from . import commands as c
from . import schema
from .calendar import add_months, grant_repayment, lease_end, lease_years
from .digest import LtHash, advance, hash_of_run
from .domain import AcceptedCommand, Household, Ledger, SaleCase, Unit, cap_key
from .errors import InputError
from .matching import Matcher
from .policy import Policy, load_policy
from .schema import Assignment, CapUsage

Event = Aggregate.Event


class Portfolio:
    def __init__(
        self, policy: Policy | None = None, encode: Callable[[Any], Any] | None = None,
        matcher_policy: Policy | None = None,
    ) -> None:  # fmt: skip
        """`policy`: the policy a writer wants in force (adopted with PolicyAdopted when the log
        has another); None keeps the log's own (the packaged default for a new log).
        `encode`: the store's mapper (event -> stored record), so the hash chain covers the
        records exactly as stored; without it the payloads are hashed. `matcher_policy`: the
        matcher scores under this policy whatever the log adopts (what-ifs: the history
        re-matched under another policy, incrementally)."""
        self.adopt = policy
        self.encode = encode
        self.matcher_policy = matcher_policy
        self.policy = policy or load_policy()
        self.units: dict[str, Unit] = {}
        self.households: dict[str, Household] = {}
        self.ledger: Ledger | None = None
        self.open_case: dict[str, SaleCase] = {}  # unit id -> its open rent-to-own case
        self.case_count: dict[str, int] = {}  # unit id -> cases ever opened
        self.spent_nok = 0  # spent from the pot on UnitAcquired
        self._by_uuid: dict[uuid.UUID, Any] = {}
        self.occupant: dict[str, str] = {}  # unit id -> household id (sitting tenant)
        self._home: dict[str, str] = {}  # household id -> unit id
        self.position = 0  # events folded in so far = log position of the next event
        self.last_notification_id = 0
        self.matcher = Matcher(matcher_policy or self.policy)
        self._pending: list[tuple[Any, Any]] = []  # (event, stored record) since the last MatchRun
        self._active: set[str] = set()  # households not withdrawn
        self._leased: set[str] = set()  # households not withdrawn holding a lease
        self._with_offers: set[str] = set()  # households with an open offer
        self._dirty_units: set[str] = set()
        self._dirty_households: set[str] = set()
        self._date_dirty = False
        # what the core holds now, so a unit registered and withdrawn between two syncs
        # is never sent at all
        self._core_units: set[str] = set()
        self._core_households: set[str] = set()
        # idempotency keys of stored commands: key -> (the command's sha256, the notification
        # id of its CommandAccepted record, 0 until the writer learns it)
        self.commands: dict[str, tuple[str, int]] = {}
        self.run_position = 0  # notification id of the last MatchRun's record (0: not known)
        # the run whose decision the core last reported (its deltas are against it); None: none
        self.reported_run: int | None = None
        self._digest: LtHash | None = None  # of the ledger's decision, while known
        # the decision and cap rows the core last reported, kept when another writer's run is
        # folded over them: the core's next delta, applied to them, gives its whole decision
        # without rendering it (see _caught_up_run)
        self._reported: tuple[dict[str, Assignment], dict[str, CapUsage]] | None = None

    # --- folding events in ------------------------------------------------------------
    def apply(self, event: Any, stored: Any = None) -> None:
        """Fold in an event read from the log (`stored`: its record, for the hash chain)."""
        if isinstance(event, AggregateCreated):
            agg: Any = event.mutate(None)
            if type(agg) is not AcceptedCommand:  # nothing refers to it again: only its key is kept
                self._by_uuid[agg.id] = agg
        else:
            agg = self._by_uuid[event.originator_id]
            if type(event.payload) is c.MatchRun:
                self._keep_reported(agg)
                digest = self._advanced(agg, event.payload)
                event.mutate(agg)
                self._note(event, agg, stored)
                self._digest = digest
                return
            event.mutate(agg)
        self._note(event, agg, stored)

    def _advanced(self, ledger: Ledger, run: c.MatchRun) -> LtHash | None:
        """The digest of the decision once `run` (another writer's) is folded in, where this
        writer knows the digest before it: at the cost of what the run changed, instead of a
        whole decision hashed again at the next run. Checked against the run's own digest."""
        if self._digest is None or not run.digest:
            return None
        d = advance(self._digest, ledger.decision, ledger.cap_rows, run)
        return d if d.hexdigest() == run.digest else None

    def _keep_reported(self, ledger: Ledger) -> None:
        """Before a run read from the log is folded over the decision the core last
        reported: keep a copy of that decision (once; later runs fold over the copy's
        successors, which the core never reported)."""
        last = ledger.last_run
        if self._reported is None and last is not None and self.reported_run == last.run:
            self._reported = (dict(ledger.decision), dict(ledger.cap_rows))

    def note_event(self, event: Any, agg: Any) -> None:
        """Book-keeping for an event a writer triggered outside a command (to be stored next)."""
        self._by_uuid[agg.id] = agg
        self._note(event, agg)

    def _note(self, event: Any, agg: Any, stored: Any = None) -> None:
        """Book-keeping after an event changed `agg` (read from the log or just triggered).
        Dispatches on exact types: this runs once per event of a rebuild."""
        self.position += 1
        p = event.payload
        kind = type(p)
        if kind is c.MatchRun:
            self._pending = []  # the next run's events_hash starts here
            self.ledger = agg
            self._digest = None  # a writer sets it again for its own runs (see _match)
            self.run_position = getattr(stored, "id", self.run_position)  # a writer sets it once saved
            return
        self._pending.append((event, stored))
        ta = type(agg)
        if ta is Unit:
            self.units[agg.unit_id] = agg
            self._dirty_units.add(agg.unit_id)
            if kind is c.UnitAcquired:
                self.spent_nok += p.price_nok
        elif ta is Household:
            hid = agg.household_id
            self.households[hid] = agg
            self._dirty_households.add(hid)
            old = self._home.pop(hid, None)
            if old is not None and self.occupant.get(old) == hid:
                del self.occupant[old]
            if agg.withdrawn:
                self._active.discard(hid)
                self._leased.discard(hid)
            else:
                self._active.add(hid)
                if agg.lease is not None:
                    self._leased.add(hid)
                else:
                    self._leased.discard(hid)
                if agg.spec.current_unit is not None:
                    self._home[hid] = agg.spec.current_unit
                    self.occupant[agg.spec.current_unit] = hid
            if agg.offers:
                self._with_offers.add(hid)
            else:
                self._with_offers.discard(hid)
        elif ta is Ledger:
            self.ledger = agg
            if kind is c.DayClosed:
                self._date_dirty = True
            elif kind is c.PolicyAdopted and p.policy != self.policy:
                self._switch_policy(p.policy)
        elif ta is AcceptedCommand:
            self.commands[p.command_id] = (p.sha256, getattr(stored, "id", 0))
        elif ta is SaleCase:
            if kind is c.PurchaseInterestRegistered:
                self.case_count[agg.unit] = self.case_count.get(agg.unit, 0) + 1
            if agg.closed:
                self.open_case.pop(agg.unit, None)
            else:
                self.open_case[agg.unit] = agg

    @property
    def pending(self) -> list[tuple[Any, Any]]:
        """(event, stored record) folded in since the last MatchRun."""
        return self._pending

    @property
    def has_pending(self) -> bool:
        """Events folded in since the last MatchRun (a snapshot is taken only without any)."""
        return bool(self._pending)

    @property
    def home(self) -> dict[str, str]:
        return self._home

    def aggregates(self) -> list[Any]:
        """Every aggregate folded in (closed sale cases too)."""
        return list(self._by_uuid.values())

    def load_state(
        self, *, aggregates: list[Any], policy: Policy, case_count: dict[str, int], spent_nok: int,
        occupant: dict[str, str], home: dict[str, str], count: int, position: int,
        commands: dict[str, tuple[str, int]],
    ) -> None:  # fmt: skip
        """Finish a Portfolio restored from a snapshot (units, households, cases and ledger set):
        the indexes, and everything marked for the Rust core, as a full rebuild leaves it."""
        self._by_uuid = {a.id: a for a in aggregates}
        self.case_count, self.spent_nok, self.occupant, self._home = case_count, spent_nok, occupant, home
        self.commands = commands
        self.run_position = position
        self.position, self.last_notification_id = count, position
        if policy != self.policy:
            self.policy = policy
            self.matcher = Matcher(policy)
        self.reported_run = None  # the core has reported nothing of this state yet
        self._reported = None
        hs = self.households
        self._active = {hid for hid, h in hs.items() if not h.withdrawn}
        self._leased = {hid for hid, h in hs.items() if not h.withdrawn and h.lease is not None}
        self._with_offers = {hid for hid, h in hs.items() if h.offers}
        self._dirty_units = set(self.units)
        self._dirty_households = set(hs)
        self._date_dirty = self.date is not None
        self._pending = []

    @property
    def events_hash(self) -> str:
        """sha256 over the events since the last MatchRun, as stored (hashed when asked: a
        rebuild only ever needs it for the tail of the log)."""
        h = hashlib.sha256()
        for event, stored in self._pending:
            if stored is None and self.encode is not None:
                stored = self.encode(event)
            h.update(record_bytes(stored) if stored is not None else event_bytes(event.payload))
        return h.hexdigest()

    def _switch_policy(self, policy: Policy) -> None:
        """A new policy: a fresh matcher, fed the whole portfolio again."""
        self.policy = policy
        if self.matcher_policy is not None:
            return  # the matcher keeps its own policy
        self.matcher = Matcher(policy)
        self.reported_run = None
        self._reported = None
        self._core_units.clear()
        self._core_households.clear()
        self._dirty_units.update(self.units)
        self._dirty_households.update(self.households)
        self._date_dirty = True

    def _adopt_if_needed(self) -> list[Any]:
        ledger = self.ledger
        if ledger is None:
            return []
        wanted = self.adopt if self.adopt is not None else (self.policy if ledger.policy is None else None)
        if wanted is None or wanted == ledger.policy:
            return []
        ledger.adopt_policy(c.PolicyAdopted(version=wanted.version, policy=wanted))
        return [ledger]

    # --- the instance the matcher sees ------------------------------------------------
    @property
    def date(self) -> dt.date | None:
        return self.ledger.date if self.ledger else None

    @property
    def pot_nok(self) -> int:
        """The reinvestment pot: sale proceeds less what UnitAcquired spent."""
        return (self.ledger.proceeds_nok if self.ledger else 0) - self.spent_nok

    def unit_row(self, u: Unit) -> schema.Unit:
        s = u.spec
        return schema.Unit(
            id=s.id, building=s.building, stairwell=s.stairwell, floor=s.floor, rooms=s.rooms,
            area_m2=s.area_m2, rent_nok_month=s.rent_nok_month, accessible=s.accessible,
            kind=s.kind, district=s.district, school_district=s.school_district,
        )  # fmt: skip

    def household_row(self, h: Household) -> schema.Household:
        s = h.spec
        return schema.Household(
            id=s.id, adults=s.adults, children=s.children, needs_accessible=s.needs_accessible,
            care_need=s.care_need, disadvantaged=s.disadvantaged,
            refugee=s.refugee_settled_on is not None, urgency=s.urgency, applied_on=s.applied_on,
            skills=list(s.skills), preferred_districts=list(s.preferred_districts),
            school_district=s.school_district, current_unit=s.current_unit,
            transfer_requested=s.transfer_requested,
        )  # fmt: skip

    def instance(self) -> schema.Instance:
        """The portfolio now, in the instance-file form (for export and `pyengine match`)."""
        assert self.date is not None
        return schema.Instance(
            as_of=self.date,
            units=[self.unit_row(u) for _, u in sorted(self.units.items()) if u.active],
            households=[self.household_row(h) for _, h in sorted(self.households.items()) if not h.withdrawn],
            caps=list(self.policy.caps),
        )

    def sync(self) -> None:
        """Send what changed to the Rust core: new units, then households, then removals."""
        m = self.matcher
        if self._date_dirty and self.date is not None:
            m.set_as_of(self.date.isoformat())
        gone_units = []
        for uid in sorted(self._dirty_units):
            u = self.units[uid]
            if u.active:
                m.upsert_unit(self.unit_row(u))
                self._core_units.add(uid)
            elif uid in self._core_units:
                gone_units.append(uid)
        for hid in sorted(self._dirty_households):
            h = self.households[hid]
            if not h.withdrawn:
                m.upsert_household(self.household_row(h))
                self._core_households.add(hid)
            elif hid in self._core_households:
                m.remove_household(hid)
                self._core_households.discard(hid)
        for uid in gone_units:
            m.remove_unit(uid)
            self._core_units.discard(uid)
        self._dirty_units.clear()
        self._dirty_households.clear()
        self._date_dirty = False

    # --- commands ---------------------------------------------------------------------
    def handle(self, cmd: c.Command, command_id: str | None = None) -> list[Any]:
        """Validate `cmd`, trigger its events, re-match; return the events to store.

        Raises InputError before anything is triggered when the command is refused. With an
        idempotency key, a CommandAccepted event comes first.
        """
        start = len(self._pending)
        try:
            events = self._apply_command(cmd)
        except OverflowError:  # a date computed from the command (calendar, timedelta) beyond year 9999
            raise InputError("date", "a date this command leads to is beyond the calendar (year 9999)") from None
        if command_id is not None:
            events.insert(0, self._accept(cmd, command_id, start))
        events.append(self._match(trigger=type(cmd).__name__))
        return events

    def _accept(self, cmd: c.Command, command_id: str, start: int) -> Any:
        """The CommandAccepted event of a command already applied (so that a refused command
        leaves nothing to undo), moved in front of its events in the hash chain's order."""
        payload = c.CommandAccepted(command_id=command_id, command=type(cmd).__name__, sha256=c.command_sha256(cmd))
        agg = AcceptedCommand.accept(payload)
        (ev,) = agg.collect_events()
        self._note(ev, agg)
        self._pending.insert(start, self._pending.pop())
        return ev

    def handle_batch(self, cmds: Sequence[c.Command], trigger: str, labels: Sequence[str] = ()) -> list[Any]:
        """Validate and apply `cmds` in order, then re-match once: the events to store, one MatchRun
        last (bulk import). Each command is checked against the portfolio as the ones before it
        left it. A refused command raises InputError with its field under `labels[i]` (where the
        command came from, e.g. `units[3]`); the commands before it have then changed the
        projection, so the caller must fold the log in again.
        """
        events: list[Any] = []
        for i, cmd in enumerate(cmds):
            try:
                events += self._apply_command(cmd)
            except InputError as e:
                label = labels[i] if i < len(labels) else ""
                raise InputError(f"{label}.{e.field}" if label else e.field, e.reason) from None
        events.append(self._match(trigger=trigger))
        return events

    def _apply_command(self, cmd: c.Command) -> list[Any]:
        """Validate `cmd`, trigger its events and fold them in (no re-match)."""
        touched: list[Any] = self._adopt_if_needed()
        decided = self._decide(cmd)
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

    def _decide(self, cmd: c.Command) -> list[Any]:
        if isinstance(cmd, c.DayClosed):
            if self.ledger is None:
                ledger = self.ledger = Ledger.open()  # known at once, so the policy can be adopted
            else:
                ledger = self.ledger
                if ledger.date is not None and cmd.date < ledger.date:
                    raise InputError("date", f"{cmd.date} is before the engine's date {ledger.date}")
            ledger.close_day(cmd)
            return [ledger, *self._deadlines(cmd.date)]
        today = self.date
        if today is None:
            raise InputError("type", "the engine has no date yet: submit DayClosed first")
        if isinstance(cmd, c.UnitRegistered):
            self._new_unit_id(cmd.id, "id")
            self._not_after(cmd.grant.granted_on if cmd.grant else None, "grant.granted_on")
            return [Unit.register(cmd)]
        if isinstance(cmd, c.UnitsMerged):
            if len(set(cmd.units)) != len(cmd.units):
                raise InputError("units", "a unit is named twice")
            sources = [self._vacant_unit(uid, f"units[{i}]") for i, uid in enumerate(cmd.units)]
            self._new_unit_id(cmd.into.id, "into.id")
            new = Unit.merge(cmd)
            for src in sources:
                src.merge_into(c.UnitMergedInto(id=src.unit_id, into=cmd.into.id))
            return [new, *sources]
        if isinstance(cmd, c.UnitRentChanged):
            u = self._unit(cmd.id, "id")
            if u.merged_into is not None:
                raise InputError("id", f"unit {cmd.id!r} was merged into {u.merged_into!r}")
            u.change_rent(cmd)
            return [u]
        if isinstance(cmd, c.UnitWithdrawn):
            u = self._vacant_unit(cmd.id, "id")
            u.withdraw(cmd)
            return [u]
        if isinstance(cmd, c.UnitReturned):
            u = self._unit(cmd.id, "id")
            if not u.withdrawn or u.merged_into is not None:
                raise InputError("id", f"unit {cmd.id!r} is not withdrawn")
            u.return_(cmd)
            return [u]
        if isinstance(cmd, c.ApplicationSubmitted):
            return [self._submit(cmd)]
        if isinstance(cmd, c.ApplicationUpdated):
            h = self._household(cmd.id, "id")
            if isinstance(cmd.refugee_settled_on, dt.date):
                self._not_after(cmd.refugee_settled_on, "refugee_settled_on")
            h.update(cmd)
            return [h]
        if isinstance(cmd, c.ApplicationWithdrawn):
            h = self._household(cmd.id, "id")
            if h.spec.current_unit is not None:
                raise InputError("id", f"household {cmd.id!r} is the sitting tenant of {h.spec.current_unit!r}")
            # open offers lapse with the application: nothing could close them afterwards
            for uid in sorted(h.offers):
                h.expire_offer(c.OfferExpired(household=cmd.id, unit=uid))
            h.withdraw(cmd)
            return [h]
        if isinstance(cmd, c.OfferMade):
            h = self._household(cmd.household, "household")
            u = self._unit(cmd.unit, "unit")
            if not u.active:
                raise InputError("unit", f"unit {cmd.unit!r} is not in the rental portfolio")
            if cmd.unit in self.occupant:
                raise InputError("unit", f"unit {cmd.unit!r} is let to {self.occupant[cmd.unit]!r}")
            if cmd.unit in h.offers:
                raise InputError("unit", f"an offer of {cmd.unit!r} to {cmd.household!r} is open")
            self._not_before(cmd.reply_by, "reply_by")
            if cmd.run is not None:
                last = self.ledger.last_run if self.ledger else None
                if last is None or cmd.run != last.run:
                    raise InputError("run", f"offers follow the latest run ({last.run if last else 'none yet'})")
                proposed = self.ledger.decision.get(cmd.household) if self.ledger else None
                if proposed is None or proposed.unit != cmd.unit:
                    raise InputError("run", f"run {cmd.run} did not propose {cmd.unit!r} to {cmd.household!r}")
            self.sync()
            why = self.matcher.ineligibility(cmd.household, cmd.unit)
            if why is not None:
                raise InputError("unit", f"not eligible for {cmd.household!r}: {why}")
            h.make_offer(cmd)
            return [h]
        if isinstance(cmd, (c.OfferAccepted, c.OfferDeclined, c.OfferExpired)):
            h = self._household(cmd.household, "household")
            if cmd.unit not in h.offers:
                raise InputError("unit", f"no open offer of {cmd.unit!r} to {cmd.household!r}")
            if isinstance(cmd, c.OfferAccepted):
                u = self._unit(cmd.unit, "unit")
                if not u.active:
                    raise InputError("unit", f"unit {cmd.unit!r} left the rental portfolio")
                if cmd.unit in self.occupant:
                    raise InputError("unit", f"unit {cmd.unit!r} is let to {self.occupant[cmd.unit]!r}")
                h.accept_offer(cmd)
                years = lease_years(self.policy, h.spec.refugee_settled_on, today)
                h.sign_lease(
                    c.LeaseSigned(
                        household=h.household_id,
                        unit=u.unit_id,
                        start=today,
                        end=lease_end(today, years),
                        rent_nok_month=u.spec.rent_nok_month,
                    )
                )
            elif isinstance(cmd, c.OfferDeclined):
                h.decline_offer(cmd)
            else:
                h.expire_offer(cmd)
            return [h]
        if isinstance(
            cmd, (c.LeaseSigned, c.AssessLeaseRenewal, c.LeaseNotRenewed, c.LeaseTerminated, c.TenantMovedOut)
        ):
            return self._lease_command(cmd)
        if isinstance(cmd, c.UnitAcquired):
            return self._acquire(cmd)
        return self._sale_command(cmd)

    # --- time -------------------------------------------------------------------------
    def _deadlines(self, today: dt.date) -> list[Any]:
        """What a new date raises: renewals due, leases ended (not while a rent-to-own case on the
        unit is open), flat offers past their reply date, purchase offers lapsed."""
        touched: list[Any] = []
        notice = self.policy.renewal_notice_months
        for hid in sorted(self._leased):  # the households not withdrawn that hold a lease
            h = self.households[hid]
            lease = h.lease
            assert lease is not None
            if lease.end < today:
                if lease.unit in self.open_case:
                    continue  # the lease runs on while the tenant's purchase is decided (as LeaseTerminated is refused)
                reason = {
                    "not_renewed": "lease ended: not renewed",
                    "purchase_recommended": "lease ended: purchase recommended instead of renewal (2011 rule)",
                }.get(lease.decision or "", "lease ended without renewal")
                h.terminate_lease(c.LeaseTerminated(household=hid, unit=lease.unit, on=today, reason=reason))
                touched.append(h)
            elif not lease.renewal_due and today >= add_months(lease.end, -notice):
                h.renewal_due(c.LeaseRenewalDue(household=hid, unit=lease.unit, end=lease.end))
                touched.append(h)
        for hid in sorted(self._with_offers):  # flat offers past their reply date lapse
            h = self.households[hid]
            late = [
                uid for uid, offer in sorted(h.offers.items()) if offer.reply_by is not None and offer.reply_by < today
            ]
            for uid in late:
                h.expire_offer(c.OfferExpired(household=hid, unit=uid))
            if late and not any(t is h for t in touched):
                touched.append(h)
        for uid, case in sorted(self.open_case.items()):
            v = case.valuation
            if case.stage == "offered" and v is not None and v.valid_until is not None and today > v.valid_until:
                case.record(SaleCase.Expired, c.PurchaseOfferExpired(unit=uid, on=today))
                touched.append(case)
        return touched

    def _dated(self, on: dt.date, field: str = "on") -> dt.date:
        assert self.date is not None
        if on < self.date:
            raise InputError(field, f"{on} is before the engine's date {self.date}")
        return on

    # --- leases -----------------------------------------------------------------------
    def _lease_command(
        self, cmd: c.LeaseSigned | c.AssessLeaseRenewal | c.LeaseNotRenewed | c.LeaseTerminated | c.TenantMovedOut
    ) -> list[Any]:
        h = self._household(cmd.household, "household")
        if isinstance(cmd, c.LeaseSigned):
            # an existing tenant's lease may have started before the engine's date (it is recorded
            # on import), but one that has already ended is no lease
            self._dated(cmd.end, "end")
            if h.spec.current_unit != cmd.unit:
                raise InputError("unit", f"{cmd.household!r} is not the sitting tenant of {cmd.unit!r}")
            if h.lease is not None:
                raise InputError("household", f"{cmd.household!r} already has a lease until {h.lease.end}")
            if cmd.end <= cmd.start:
                raise InputError("end", f"{cmd.end} is not after start {cmd.start}")
            h.sign_lease(cmd)
            return [h]
        if isinstance(cmd, c.TenantMovedOut):
            self._dated(cmd.on)
            if h.spec.current_unit is None:
                raise InputError("household", f"{cmd.household!r} is not a sitting tenant")
            if h.spec.current_unit in self.open_case:
                raise InputError("household", f"a rent-to-own case for {h.spec.current_unit!r} is open")
            h.move_out(cmd)
            return [h]
        lease = h.lease
        if lease is None:
            raise InputError("household", f"{cmd.household!r} has no lease")
        if isinstance(cmd, c.LeaseTerminated):
            self._dated(cmd.on)
            if cmd.unit != lease.unit:
                raise InputError("unit", f"the lease of {cmd.household!r} is for {lease.unit!r}")
            if lease.unit in self.open_case:
                raise InputError("household", f"a rent-to-own case for {lease.unit!r} is open")
            h.terminate_lease(cmd)
            return [h]
        on = self._dated(cmd.on)
        if lease.decision is not None:
            raise InputError("household", f"the renewal of {cmd.household!r} is already decided ({lease.decision})")
        if isinstance(cmd, c.LeaseNotRenewed):
            h.not_renew(cmd)
            return [h]
        if not lease.renewal_due:
            raise InputError("household", f"the renewal of {cmd.household!r} is not due before {lease.end}")
        if h.spec.stable_income and cmd.economic_assessment_positive:
            h.recommend_purchase(
                c.PurchaseRecommended(
                    household=cmd.household, unit=lease.unit, on=on,
                    reason="2011 rule: stable income and a positive economic assessment: buy (or rent "
                    "privately) instead of renewing",
                )
            )  # fmt: skip
        else:
            start = lease.end + dt.timedelta(days=1)
            years = lease_years(self.policy, h.spec.refugee_settled_on, on)
            h.renew_lease(c.LeaseRenewed(household=cmd.household, unit=lease.unit, on=on, end=lease_end(start, years)))
        return [h]

    # --- rent-to-own ------------------------------------------------------------------
    def _case(self, uid: str) -> SaleCase:
        case = self.open_case.get(uid)
        if case is None:
            raise InputError("unit", f"no open rent-to-own case for {uid!r}")
        return case

    @staticmethod
    def _stage(case: SaleCase, *allowed: str) -> None:
        if case.stage not in allowed:
            raise InputError(
                "type",
                f"out of order: the case for {case.unit!r} is at {case.stage!r}, expected {' or '.join(allowed)}",
            )

    def _sale_command(self, cmd: c.Command) -> list[Any]:
        p = self.policy
        if isinstance(cmd, c.PurchaseInterestRegistered):
            self._dated(cmd.on)
            h = self._household(cmd.household, "household")
            u = self._unit(cmd.unit, "unit")
            if h.spec.current_unit != cmd.unit or not u.active:
                raise InputError("household", f"only the sitting tenant of {cmd.unit!r} can register interest")
            if cmd.unit in self.open_case:
                raise InputError("unit", f"a rent-to-own case for {cmd.unit!r} is already open")
            return [SaleCase.open(cmd, self.case_count.get(cmd.unit, 0) + 1)]
        if isinstance(cmd, c.ValuationRecorded):
            case = self._case(cmd.unit)
            self._dated(cmd.valued_on, "valued_on")
            # a first valuation, or a new one before the offer (the last may have lapsed while
            # the start loan was processed: report 003, p. 25-26)
            self._stage(case, "released", "valued", "loan_applied", "loan_granted")
            valid = add_months(cmd.valued_on, p.valuation_valid_months)
            if cmd.valid_until is not None and cmd.valid_until != valid:
                raise InputError("valid_until", f"a valuation is valid {p.valuation_valid_months} months: {valid}")
            case.record(SaleCase.Valued, msgspec.structs.replace(cmd, valid_until=valid))
            return [case]
        assert isinstance(
            cmd,
            (
                c.EconomicAssessmentRecorded, c.UnitReleasedForSale, c.UnitKeptForRent, c.StartLoanApplied,
                c.StartLoanDecided, c.PurchaseOffered, c.PurchaseAccepted, c.PurchaseDeclined, c.SaleCaseClosed,
                c.SaleCompleted,
            ),
        )  # fmt: skip
        case = self._case(cmd.unit)
        on = self._dated(cmd.on)
        if isinstance(cmd, c.SaleCaseClosed):
            if cmd.reason not in p.sale_close_reasons:
                raise InputError("reason", f"{cmd.reason!r} is not one of {', '.join(p.sale_close_reasons)}")
            if case.stage == "accepted":
                raise InputError("unit", f"the purchase of {cmd.unit!r} was accepted: complete the sale")
            case.record(SaleCase.Closed, cmd)
            return [case]
        if isinstance(cmd, c.EconomicAssessmentRecorded):
            self._stage(case, "interest")
            case.record(SaleCase.Assessed, cmd)
            return [case]
        if isinstance(cmd, c.UnitKeptForRent):
            self._stage(case, "assessed")
            case.record(SaleCase.Kept, cmd)
            return [case]
        if isinstance(cmd, c.UnitReleasedForSale):
            self._stage(case, "assessed")
            u = self.units[cmd.unit]
            if u.spec.tenure not in p.sellable_tenures:
                raise InputError(
                    "unit", f"{cmd.unit!r} is {u.spec.tenure}: only {', '.join(p.sellable_tenures)} units can be sold"
                )
            if cmd.unit in p.units_needed:
                raise InputError("unit", f"the municipality needs {cmd.unit!r} (policy units_needed): keep it for rent")
            case.record(SaleCase.Released, cmd)
            return [case]
        v = case.valuation
        if isinstance(cmd, c.StartLoanApplied):
            # the loan may be applied for before the valuation (report 003, p. 11)
            self._stage(case, "released", "valued")
            case.record(SaleCase.LoanApplied, cmd)
            return [case]
        if isinstance(cmd, c.StartLoanDecided):
            self._stage(case, "loan_applied")
            case.record(SaleCase.LoanDecided, cmd)
            return [case]
        if isinstance(cmd, c.PurchaseOffered):
            self._stage(case, "loan_granted")
            if v is None or v.valid_until is None:  # the loan came first: value the unit now
                raise InputError("unit", f"no valuation of {cmd.unit!r} is recorded yet")
            if on > v.valid_until:
                raise InputError("on", f"the valuation of {cmd.unit!r} lapsed on {v.valid_until}")
            price = v.value_nok - p.purchase_discount_nok
            if price < 0:
                raise InputError(
                    "unit", f"the valuation NOK {v.value_nok} is below the discount NOK {p.purchase_discount_nok}"
                )
            if cmd.price_nok is not None and cmd.price_nok != price:
                raise InputError("price_nok", f"the price is the valuation minus the discount: {price}")
            if price > case.max_price_nok:
                raise InputError("unit", f"price NOK {price} is above the assessed maximum NOK {case.max_price_nok}")
            case.record(SaleCase.Offered, msgspec.structs.replace(cmd, price_nok=price))
            return [case]
        if isinstance(cmd, c.PurchaseDeclined):
            self._stage(case, "offered")
            case.record(SaleCase.Declined, cmd)
            return [case]
        if isinstance(cmd, c.PurchaseAccepted):
            self._stage(case, "offered")
            assert v is not None and v.valid_until is not None
            if on > v.valid_until:
                raise InputError("on", f"the valuation of {cmd.unit!r} lapsed on {v.valid_until}")
            case.record(SaleCase.Accepted, cmd)
            return [case]
        assert isinstance(cmd, c.SaleCompleted)
        self._stage(case, "accepted")
        u = self.units[cmd.unit]
        h = self.households[case.household]
        price = case.price_nok or 0
        repay = grant_repayment(u.spec.grant, on, p)
        done = msgspec.structs.replace(cmd, household=case.household, price_nok=price, grant_repayment_nok=repay)
        case.record(SaleCase.Completed, done)
        u.sell(c.UnitSold(id=cmd.unit, on=on))
        h.move_out(c.TenantMovedOut(household=case.household, on=on, reason="bought the unit"))
        assert self.ledger is not None
        amount = price - repay
        self.ledger.allocate_proceeds(
            c.ProceedsAllocated(unit=cmd.unit, amount_nok=amount, pot_nok=self.pot_nok + amount)
        )
        return [case, u, h, self.ledger]

    def _acquire(self, cmd: c.UnitAcquired) -> list[Any]:
        self._dated(cmd.on)
        self._new_unit_id(cmd.unit.id, "unit.id")
        if cmd.price_nok > self.pot_nok:
            raise InputError("price_nok", f"the pot holds NOK {self.pot_nok}, short of NOK {cmd.price_nok}")
        if cmd.unit.tenure == "cooperative":
            limit = self.policy.max_units_per_cooperative_stairwell
            there = sum(1 for u in self.units.values() if u.active and u.spec.stairwell == cmd.unit.stairwell)
            if there + 1 > limit:
                raise InputError(
                    "unit.stairwell",
                    f"{cmd.unit.stairwell!r} already has {there} municipal units; a cooperative stairwell takes at "
                    f"most {limit}",
                )
        return [Unit.acquire(cmd)]

    def _submit(self, cmd: c.ApplicationSubmitted) -> Household:
        if cmd.id in self.households:
            raise InputError("id", f"household {cmd.id!r} already exists")
        if cmd.current_unit is None and cmd.applied_on is None:
            raise InputError("applied_on", "required for a household without a current unit")
        self._not_after(cmd.applied_on, "applied_on")
        self._not_after(cmd.refugee_settled_on, "refugee_settled_on")
        if cmd.current_unit is not None:
            u = self._unit(cmd.current_unit, "current_unit")
            if not u.active:
                raise InputError("current_unit", f"unit {cmd.current_unit!r} is not in the portfolio")
            if cmd.current_unit in self.occupant:
                raise InputError(
                    "current_unit", f"unit {cmd.current_unit!r} is let to {self.occupant[cmd.current_unit]!r}"
                )
        return Household.submit(cmd)

    # --- look-ups that name the field on failure ----------------------------------------
    def _unit(self, uid: str, field: str) -> Unit:
        try:
            return self.units[uid]
        except KeyError:
            raise InputError(field, f"unknown unit {uid!r}") from None

    def _vacant_unit(self, uid: str, field: str) -> Unit:
        u = self._unit(uid, field)
        if not u.active:
            raise InputError(field, f"unit {uid!r} is not in the rental portfolio")
        if uid in self.occupant:
            raise InputError(field, f"unit {uid!r} is let to {self.occupant[uid]!r}")
        for hid in sorted(self._with_offers):
            if uid in self.households[hid].offers:
                raise InputError(field, f"unit {uid!r} has an open offer to {hid!r}")
        return u

    def _new_unit_id(self, uid: str, field: str) -> None:
        if uid in self.units:
            raise InputError(field, f"unit {uid!r} already exists")

    def _household(self, hid: str, field: str) -> Household:
        h = self.households.get(hid)
        if h is None:
            raise InputError(field, f"unknown household {hid!r}")
        if h.withdrawn:
            raise InputError(field, f"household {hid!r} has withdrawn")
        return h

    def _not_after(self, d: dt.date | None, field: str) -> None:
        if d is not None and self.date is not None and d > self.date:
            raise InputError(field, f"{d} is after the engine's date {self.date}")

    def _not_before(self, d: dt.date | None, field: str) -> None:
        if d is not None and self.date is not None and d < self.date:
            raise InputError(field, f"{d} is before the engine's date {self.date}")


def record_bytes(stored: Any) -> bytes:
    """What the hash chain covers of a stored record: topic, version and state as written, which
    never change (old payloads are upcast on read, so re-encoding them would not match)."""
    head = f"{stored.topic}\0{stored.originator_version}\0".encode()
    return head + bytes(stored.state) + b"\n"


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


def event_bytes(payload: msgspec.Struct) -> bytes:
    """What the hash chain covers of an event: its type and payload (not ids or wall time)."""
    return type(payload).__name__.encode() + b"\0" + msgspec.json.encode(payload) + b"\n"
