"""The portfolio as folded from the log: the aggregates, their indexes, and the Rust core's copy.

`Projection.apply` folds a stored event in (or `note_event` one just triggered); `sync` sends
the Rust matcher only what the events touched. Commands and runs are `Portfolio`'s
(pyengine.portfolio).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from eventsourcing.domain import AggregateCreated

from . import commands as c
from . import schema
from .digest import LtHash, advance
from .domain import AcceptedCommand, Household, Ledger, SaleCase, Unit, sale_case_uuid
from .matching import Matcher
from .policy import Policy, load_policy
from .schema import Assignment, CapUsage


class Projection:
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
        self.bought: dict[str, SaleCase] = {}  # household id -> the case in which it bought its flat
        # the store seals personal data (pyengine.sealing): the engine names the buyer on the
        # case events whose fields are sealed under its key (set by the service that writes)
        self.seals = False
        self.spent_nok = 0  # spent from the pot on UnitAcquired
        self._by_uuid: dict[uuid.UUID, Any] = {}
        self.occupant: dict[str, str] = {}  # unit id -> household id (sitting tenant)
        self._home: dict[str, str] = {}  # household id -> unit id
        self.position = 0  # events folded in so far = log position of the next event
        self.last_notification_id = 0
        self.matcher = Matcher(matcher_policy or self.policy)
        self._pending: list[tuple[Any, Any]] = []  # (event, stored record) since the last MatchRun
        self._active: set[str] = set()  # households not withdrawn
        self.erased: set[str] = set()  # households whose personal data was erased (pyengine.sealing)
        self._leased: set[str] = set()  # households not withdrawn holding a lease
        self._with_offers: set[str] = set()  # households with an open offer
        self._declining: set[str] = set()  # households that may hold a declined unit off (rule 8)
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
            if self.policy.offers_hold_units:  # a unit an offer holds: its holder is sent again
                self._dirty_households.update(h for h in self._with_offers if agg.unit_id in self.households[h].offers)
            if kind is c.UnitAcquired:
                self.spent_nok += p.price_nok
        elif ta is Household:
            hid = agg.household_id
            self.households[hid] = agg
            if agg.erased:
                self.erased.add(hid)
                if kind is c.ErasureRequested:
                    self._forget_buyer(hid)
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
            if kind is c.OfferDeclined and self.policy.decline_holdoff_days:
                self._declining.add(hid)
        elif ta is Ledger:
            self.ledger = agg
            if kind is c.DayClosed:
                self._date_dirty = True
                self._lapse_declines()
            elif kind is c.PolicyAdopted and p.policy != self.policy:
                self._switch_policy(p.policy)
        elif ta is AcceptedCommand:
            self.commands[p.command_id] = (p.sha256, getattr(stored, "id", 0))
        elif ta is SaleCase:
            if kind is c.PurchaseInterestRegistered:
                self.case_count[agg.unit] = self.case_count.get(agg.unit, 0) + 1
            elif kind is c.SaleCompleted:
                self.bought[agg.household] = agg
            if agg.closed:
                self.open_case.pop(agg.unit, None)
            else:
                self.open_case[agg.unit] = agg

    def _forget_buyer(self, household: str) -> None:
        """The erased household's rent-to-own cases hold nothing of what was sealed under its
        key, as they fold from the log without it (a snapshot taken next stores them so); what
        the log holds of them in clear stays (SaleCase.forget_buyer)."""
        for agg in self._by_uuid.values():
            if type(agg) is SaleCase and agg.household == household:
                agg.forget_buyer()

    def latest_case(self, unit: str) -> SaleCase | None:
        """The unit's open rent-to-own case, else its last one (None: none was ever opened)."""
        case = self.open_case.get(unit)
        if case is None and unit in self.case_count:
            case = self._by_uuid.get(sale_case_uuid(unit, self.case_count[unit]))
        return case

    def _lapse_declines(self) -> None:
        """A new date: households whose declined units may have come off hold are sent again;
        those with none left on hold stop being watched."""
        if not self._declining or self.date is None:
            return
        self._dirty_households.update(self._declining)
        hold = self.policy.decline_holdoff_days
        self._declining = {h for h in self._declining if self.households[h].declined_units(self.date, hold)}

    def erased_in_play(self) -> list[str]:
        """Erased households the matcher would weigh now (applying or housed): a run on this
        state cannot be solved again, as their data is gone."""
        return sorted(self.erased & self._active) if self.erased else []

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

    @property
    def leased(self) -> set[str]:
        """Households not withdrawn that hold a lease."""
        return self._leased

    @property
    def with_offers(self) -> set[str]:
        """Households with an open offer."""
        return self._with_offers

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
        self.bought = {a.household: a for a in aggregates if type(a) is SaleCase and a.stage == "completed"}
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
        self.erased = {hid for hid, h in hs.items() if h.erased}
        self._leased = {hid for hid, h in hs.items() if not h.withdrawn and h.lease is not None}
        self._with_offers = {hid for hid, h in hs.items() if h.offers}
        self._declining = {hid for hid, h in hs.items() if h.declined} if policy.decline_holdoff_days else set()
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
        hold = policy.decline_holdoff_days
        self._declining = {hid for hid, h in self.households.items() if h.declined} if hold else set()
        self._dirty_households.update(self._declining)
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

    def held_unit(self, h: Household) -> str | msgspec.UnsetType:
        """The unit an open offer holds for applicant `h`, where the policy says offers hold
        units (the first by id if several are open)."""
        if not self.policy.offers_hold_units or h.spec.current_unit is not None:
            return msgspec.UNSET
        held = [uid for uid in sorted(h.offers) if uid in self.units and self.units[uid].active]
        return held[0] if held else msgspec.UNSET

    def declined_units(self, h: Household) -> list[str] | msgspec.UnsetType:
        """The units `h` declined within the policy's decline_holdoff_days (rule 8)."""
        if not h.declined or self.date is None:
            return msgspec.UNSET
        return h.declined_units(self.date, self.policy.decline_holdoff_days) or msgspec.UNSET

    def household_row(self, h: Household) -> schema.Household:
        s = h.spec
        return schema.Household(
            id=s.id, adults=s.adults, children=s.children, needs_accessible=s.needs_accessible,
            care_need=s.care_need, disadvantaged=s.disadvantaged,
            refugee=s.refugee_settled_on is not None, urgency=s.urgency, applied_on=s.applied_on,
            skills=list(s.skills), preferred_districts=list(s.preferred_districts),
            school_district=s.school_district, current_unit=s.current_unit,
            transfer_requested=s.transfer_requested, tags=s.tags or msgspec.UNSET,
            held_unit=self.held_unit(h), declined_units=self.declined_units(h),
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


def record_bytes(stored: Any) -> bytes:
    """What the hash chain covers of a stored record: topic, version and state as written, which
    never change (old payloads are upcast on read, so re-encoding them would not match)."""
    head = f"{stored.topic}\0{stored.originator_version}\0".encode()
    return head + bytes(stored.state) + b"\n"


def event_bytes(payload: msgspec.Struct) -> bytes:
    """What the hash chain covers of an event: its type and payload (not ids or wall time)."""
    return type(payload).__name__.encode() + b"\0" + msgspec.json.encode(payload) + b"\n"
