"""Aggregates and their explicit events (eventsourcing style).

Every event carries one msgspec payload (pyengine.commands). Topics are explicit and stable
("pyengine/UnitRegistered"), so moving code never orphans stored events. Validation against
the whole portfolio happens in `portfolio.py` before any event is triggered; the aggregates
only record and apply.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec
from eventsourcing.domain import Aggregate

from . import commands as c
from .policy import Policy
from .schema import Assignment, CapUsage

NAMESPACE = uuid.UUID("6f1d3c1e-8c0b-4b8e-9a55-3b1f2a7d5e10")


def unit_uuid(unit_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"unit/{unit_id}")


def household_uuid(household_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"household/{household_id}")


def cap_key(row: CapUsage) -> str:
    return f"{row.rule}:{row.scope}"


def sale_case_uuid(unit_id: str, number: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"sale/{unit_id}/{number}")


def command_uuid(command_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"command/{command_id}")


LEDGER_ID = uuid.uuid5(NAMESPACE, "allocation-ledger")


class Unit(Aggregate):
    TOPIC = "pyengine/Unit"

    class Event(Aggregate.Event):
        TOPIC = "pyengine/Unit.Event"

    class Registered(Aggregate.Created):
        TOPIC = "pyengine/UnitRegistered"
        payload: c.UnitRegistered

    class Merged(Aggregate.Created):
        """The unit came into being by merging others (payload UnitsMerged)."""

        TOPIC = "pyengine/UnitsMerged"
        payload: c.UnitsMerged

    class Acquired(Aggregate.Created):
        """Bought with money from the reinvestment pot (payload UnitAcquired)."""

        TOPIC = "pyengine/UnitAcquired"
        payload: c.UnitAcquired

    class Sold(Event):
        TOPIC = "pyengine/UnitSold"
        payload: c.UnitSold

        def apply(self, aggregate: Any) -> None:
            aggregate.sold = True

    class RentChanged(Event):
        TOPIC = "pyengine/UnitRentChanged"
        payload: c.UnitRentChanged

        def apply(self, aggregate: Any) -> None:
            aggregate.spec = _replace(aggregate.spec, rent_nok_month=self.payload.rent_nok_month)

    class MergedInto(Event):
        TOPIC = "pyengine/UnitMergedInto"
        payload: c.UnitMergedInto

        def apply(self, aggregate: Any) -> None:
            aggregate.merged_into = self.payload.into

    class Withdrawn(Event):
        TOPIC = "pyengine/UnitWithdrawn"
        payload: c.UnitWithdrawn

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn = True

    class Returned(Event):
        TOPIC = "pyengine/UnitReturned"
        payload: c.UnitReturned

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn = False

    def __init__(self, payload: c.UnitRegistered | c.UnitsMerged | c.UnitAcquired) -> None:
        if isinstance(payload, c.UnitsMerged):
            self.spec: c.UnitRegistered = payload.into
        elif isinstance(payload, c.UnitAcquired):
            self.spec = payload.unit
        else:
            self.spec = payload
        self.withdrawn = False
        self.sold = False
        self.merged_into: str | None = None

    @classmethod
    def register(cls, payload: c.UnitRegistered) -> Unit:
        return cls._create(cls.Registered, id=unit_uuid(payload.id), payload=payload)

    @classmethod
    def merge(cls, payload: c.UnitsMerged) -> Unit:
        return cls._create(cls.Merged, id=unit_uuid(payload.into.id), payload=payload)

    @classmethod
    def acquire(cls, payload: c.UnitAcquired) -> Unit:
        return cls._create(cls.Acquired, id=unit_uuid(payload.unit.id), payload=payload)

    @property
    def unit_id(self) -> str:
        return self.spec.id

    @property
    def active(self) -> bool:
        """Part of the rental portfolio (not withdrawn, merged away or sold)."""
        return not self.withdrawn and self.merged_into is None and not self.sold

    def sell(self, payload: c.UnitSold) -> None:
        self.trigger_event(self.Sold, payload=payload)

    def change_rent(self, payload: c.UnitRentChanged) -> None:
        self.trigger_event(self.RentChanged, payload=payload)

    def merge_into(self, payload: c.UnitMergedInto) -> None:
        self.trigger_event(self.MergedInto, payload=payload)

    def withdraw(self, payload: c.UnitWithdrawn) -> None:
        self.trigger_event(self.Withdrawn, payload=payload)

    def return_(self, payload: c.UnitReturned) -> None:
        self.trigger_event(self.Returned, payload=payload)


class Household(Aggregate):
    """An application, and the household's tenancy once it holds a unit."""

    TOPIC = "pyengine/Household"

    class Event(Aggregate.Event):
        TOPIC = "pyengine/Household.Event"

    class Submitted(Aggregate.Created):
        TOPIC = "pyengine/ApplicationSubmitted"
        payload: c.ApplicationSubmitted

    class Updated(Event):
        TOPIC = "pyengine/ApplicationUpdated"
        payload: c.ApplicationUpdated

        def apply(self, aggregate: Any) -> None:
            changes = {
                f: getattr(self.payload, f)
                for f in self.payload.__struct_fields__
                if f not in ("schema", "id") and getattr(self.payload, f) is not msgspec.UNSET
            }
            aggregate.spec = _replace(aggregate.spec, **changes)

    class Withdrawn(Event):
        TOPIC = "pyengine/ApplicationWithdrawn"
        payload: c.ApplicationWithdrawn

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn = True

    class OfferMade(Event):
        TOPIC = "pyengine/OfferMade"
        payload: c.OfferMade

        def apply(self, aggregate: Any) -> None:
            aggregate.offers[self.payload.unit] = self.payload

    class OfferAccepted(Event):
        TOPIC = "pyengine/OfferAccepted"
        payload: c.OfferAccepted

        def apply(self, aggregate: Any) -> None:
            aggregate.offers.clear()
            aggregate.spec = _replace(aggregate.spec, current_unit=self.payload.unit, transfer_requested=False)

    class OfferDeclined(Event):
        TOPIC = "pyengine/OfferDeclined"
        payload: c.OfferDeclined

        def apply(self, aggregate: Any) -> None:
            aggregate.offers.pop(self.payload.unit, None)

    class OfferExpired(Event):
        TOPIC = "pyengine/OfferExpired"
        payload: c.OfferExpired

        def apply(self, aggregate: Any) -> None:
            aggregate.offers.pop(self.payload.unit, None)

    class LeaseSigned(Event):
        TOPIC = "pyengine/LeaseSigned"
        payload: c.LeaseSigned

        def apply(self, aggregate: Any) -> None:
            p = self.payload
            aggregate.lease = Lease(unit=p.unit, start=p.start, end=p.end, rent_nok_month=p.rent_nok_month)

    class LeaseRenewalDue(Event):
        TOPIC = "pyengine/LeaseRenewalDue"
        payload: c.LeaseRenewalDue

        def apply(self, aggregate: Any) -> None:
            aggregate.lease.renewal_due = True

    class LeaseRenewed(Event):
        TOPIC = "pyengine/LeaseRenewed"
        payload: c.LeaseRenewed

        def apply(self, aggregate: Any) -> None:
            lease = aggregate.lease
            lease.end, lease.renewal_due, lease.decision = self.payload.end, False, None

    class PurchaseRecommended(Event):
        TOPIC = "pyengine/PurchaseRecommended"
        payload: c.PurchaseRecommended

        def apply(self, aggregate: Any) -> None:
            aggregate.lease.decision = "purchase_recommended"

    class LeaseNotRenewed(Event):
        TOPIC = "pyengine/LeaseNotRenewed"
        payload: c.LeaseNotRenewed

        def apply(self, aggregate: Any) -> None:
            aggregate.lease.decision = "not_renewed"

    class LeaseTerminated(Event):
        TOPIC = "pyengine/LeaseTerminated"
        payload: c.LeaseTerminated

        def apply(self, aggregate: Any) -> None:
            # an applicant again, keeping the original application date
            applied = aggregate.spec.applied_on or aggregate.lease.start
            aggregate.lease = None
            aggregate.spec = _replace(aggregate.spec, current_unit=None, transfer_requested=False, applied_on=applied)

    class MovedOut(Event):
        TOPIC = "pyengine/TenantMovedOut"
        payload: c.TenantMovedOut

        def apply(self, aggregate: Any) -> None:
            aggregate.lease = None
            aggregate.withdrawn = True
            aggregate.spec = _replace(aggregate.spec, current_unit=None, transfer_requested=False)

    def __init__(self, payload: c.ApplicationSubmitted) -> None:
        self.spec = payload
        self.withdrawn = False
        self.offers: dict[str, c.OfferMade] = {}
        self.lease: Lease | None = None

    @classmethod
    def submit(cls, payload: c.ApplicationSubmitted) -> Household:
        return cls._create(cls.Submitted, id=household_uuid(payload.id), payload=payload)

    @property
    def household_id(self) -> str:
        return self.spec.id

    def update(self, payload: c.ApplicationUpdated) -> None:
        self.trigger_event(self.Updated, payload=payload)

    def withdraw(self, payload: c.ApplicationWithdrawn) -> None:
        self.trigger_event(self.Withdrawn, payload=payload)

    def make_offer(self, payload: c.OfferMade) -> None:
        self.trigger_event(self.OfferMade, payload=payload)

    def accept_offer(self, payload: c.OfferAccepted) -> None:
        self.trigger_event(self.OfferAccepted, payload=payload)

    def decline_offer(self, payload: c.OfferDeclined) -> None:
        self.trigger_event(self.OfferDeclined, payload=payload)

    def expire_offer(self, payload: c.OfferExpired) -> None:
        self.trigger_event(self.OfferExpired, payload=payload)

    def sign_lease(self, payload: c.LeaseSigned) -> None:
        self.trigger_event(self.LeaseSigned, payload=payload)

    def renewal_due(self, payload: c.LeaseRenewalDue) -> None:
        self.trigger_event(self.LeaseRenewalDue, payload=payload)

    def renew_lease(self, payload: c.LeaseRenewed) -> None:
        self.trigger_event(self.LeaseRenewed, payload=payload)

    def recommend_purchase(self, payload: c.PurchaseRecommended) -> None:
        self.trigger_event(self.PurchaseRecommended, payload=payload)

    def not_renew(self, payload: c.LeaseNotRenewed) -> None:
        self.trigger_event(self.LeaseNotRenewed, payload=payload)

    def terminate_lease(self, payload: c.LeaseTerminated) -> None:
        self.trigger_event(self.LeaseTerminated, payload=payload)

    def move_out(self, payload: c.TenantMovedOut) -> None:
        self.trigger_event(self.MovedOut, payload=payload)


@dataclass
class Lease:
    unit: str
    start: dt.date
    end: dt.date
    rent_nok_month: int
    renewal_due: bool = False
    decision: str | None = None  # None, "not_renewed" or "purchase_recommended"


class SaleCase(Aggregate):
    """One rent-to-own case: a sitting tenant buying the unit they rent."""

    TOPIC = "pyengine/SaleCase"

    class Event(Aggregate.Event):
        TOPIC = "pyengine/SaleCase.Event"

    class Opened(Aggregate.Created):
        TOPIC = "pyengine/PurchaseInterestRegistered"
        payload: c.PurchaseInterestRegistered

    class Assessed(Event):
        TOPIC = "pyengine/EconomicAssessmentRecorded"
        payload: c.EconomicAssessmentRecorded

        def apply(self, aggregate: Any) -> None:
            p = self.payload
            aggregate.stage = "assessed" if p.approved else "not_approved"
            aggregate.approved, aggregate.max_price_nok = p.approved, p.max_price_nok

    class Released(Event):
        TOPIC = "pyengine/UnitReleasedForSale"
        payload: c.UnitReleasedForSale

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "released"

    class Kept(Event):
        TOPIC = "pyengine/UnitKeptForRent"
        payload: c.UnitKeptForRent

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "kept"

    class Valued(Event):
        TOPIC = "pyengine/ValuationRecorded"
        payload: c.ValuationRecorded

        def apply(self, aggregate: Any) -> None:
            # a re-valuation keeps the case where it is (a start loan applied for or granted)
            if aggregate.stage == "released":
                aggregate.stage = "valued"
            aggregate.valuation = self.payload

    class LoanApplied(Event):
        TOPIC = "pyengine/StartLoanApplied"
        payload: c.StartLoanApplied

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "loan_applied"

    class LoanDecided(Event):
        TOPIC = "pyengine/StartLoanDecided"
        payload: c.StartLoanDecided

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "loan_granted" if self.payload.granted else "loan_refused"
            aggregate.loan_nok = self.payload.amount_nok if self.payload.granted else 0

    class Offered(Event):
        TOPIC = "pyengine/PurchaseOffered"
        payload: c.PurchaseOffered

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "offered"
            aggregate.price_nok = self.payload.price_nok

    class Accepted(Event):
        TOPIC = "pyengine/PurchaseAccepted"
        payload: c.PurchaseAccepted

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "accepted"

    class Declined(Event):
        TOPIC = "pyengine/PurchaseDeclined"
        payload: c.PurchaseDeclined

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "declined"

    class Expired(Event):
        TOPIC = "pyengine/PurchaseOfferExpired"
        payload: c.PurchaseOfferExpired

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "expired"

    class Completed(Event):
        TOPIC = "pyengine/SaleCompleted"
        payload: c.SaleCompleted

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "completed"

    class Closed(Event):
        TOPIC = "pyengine/SaleCaseClosed"
        payload: c.SaleCaseClosed

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "closed"

    CLOSED: ClassVar[frozenset[str]] = frozenset(
        {"not_approved", "kept", "loan_refused", "declined", "expired", "completed", "closed"}
    )

    def __init__(self, payload: c.PurchaseInterestRegistered) -> None:
        self.household = payload.household
        self.unit = payload.unit
        self.opened_on = payload.on
        self.stage = "interest"
        self.approved = False
        self.max_price_nok = 0
        self.valuation: c.ValuationRecorded | None = None
        self.loan_nok = 0
        self.price_nok: int | None = None

    @classmethod
    def open(cls, payload: c.PurchaseInterestRegistered, number: int) -> SaleCase:
        return cls._create(cls.Opened, id=sale_case_uuid(payload.unit, number), payload=payload)

    @property
    def closed(self) -> bool:
        return self.stage in self.CLOSED

    def record(self, event_class: type[Aggregate.Event], payload: msgspec.Struct) -> None:
        self.trigger_event(event_class, payload=payload)


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


def _replace(spec: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(spec, **changes)
