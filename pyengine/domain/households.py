"""A household: its application, its flat offers, its lease, and the after-care owed once it
has bought its flat."""

from __future__ import annotations

import datetime as dt
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate

from .. import commands as c
from ..calendar import lease_end, lease_years
from ..errors import InputError
from ..policy import Policy
from .base import household_uuid, replace_spec


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
            aggregate.spec = replace_spec(aggregate.spec, **changes)

    class Withdrawn(Event):
        TOPIC = "pyengine/ApplicationWithdrawn"
        payload: c.ApplicationWithdrawn

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn = True
            aggregate.left_on = self.payload.on

    class Erased(Event):
        TOPIC = "pyengine/ErasureRequested"
        payload: c.ErasureRequested

        def apply(self, aggregate: Any) -> None:
            # what this process still holds in memory goes too (the key goes once it is stored)
            aggregate.spec = c.ApplicationSubmitted(
                id=aggregate.spec.id, adults=1, current_unit=aggregate.spec.current_unit, sealed="erased"
            )

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
            aggregate.spec = replace_spec(aggregate.spec, current_unit=self.payload.unit, transfer_requested=False)

    class OfferDeclined(Event):
        TOPIC = "pyengine/OfferDeclined"
        payload: c.OfferDeclined

        def apply(self, aggregate: Any) -> None:
            aggregate.offers.pop(self.payload.unit, None)
            if isinstance(self.payload.on, dt.date):  # declines stored before it carry no day
                aggregate.declined[self.payload.unit] = self.payload.on

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
            aggregate.spec = replace_spec(
                aggregate.spec, current_unit=None, transfer_requested=False, applied_on=applied
            )

    class MovedOut(Event):
        TOPIC = "pyengine/TenantMovedOut"
        payload: c.TenantMovedOut

        def apply(self, aggregate: Any) -> None:
            aggregate.lease = None
            aggregate.withdrawn = True
            aggregate.left_on = self.payload.on
            aggregate.spec = replace_spec(aggregate.spec, current_unit=None, transfer_requested=False)

    class AftercareDue(Event):
        TOPIC = "pyengine/AftercareDue"
        payload: c.AftercareDue

        def apply(self, aggregate: Any) -> None:
            aggregate.aftercare = Aftercare(unit=self.payload.unit, due_on=self.payload.due_on)

    class AftercareRecorded(Event):
        TOPIC = "pyengine/AftercareRecorded"
        payload: c.AftercareRecorded

        def apply(self, aggregate: Any) -> None:
            aggregate.aftercare.recorded = self.payload

    def __init__(self, payload: c.ApplicationSubmitted) -> None:
        self.spec = payload
        self.withdrawn = False
        self.left_on: dt.date | None = None  # the day it left (withdrawn, moved out), where recorded
        self.offers: dict[str, c.OfferMade] = {}
        self.declined: dict[str, dt.date] = {}  # unit id -> the day of the household's last decline of it
        self.lease: Lease | None = None
        self.aftercare: Aftercare | None = None  # the follow-up owed after the household bought its flat

    @classmethod
    def submit(cls, payload: c.ApplicationSubmitted) -> Household:
        return cls._create(cls.Submitted, id=household_uuid(payload.id), payload=payload)

    @property
    def household_id(self) -> str:
        return self.spec.id

    def update(self, payload: c.ApplicationUpdated) -> None:
        self.trigger_event(self.Updated, payload=payload)

    @property
    def erased(self) -> bool:
        return self.spec.sealed is not msgspec.UNSET

    def erase(self, payload: c.ErasureRequested) -> None:
        """Its personal data erased: only once it has left (no application, no tenancy, no open offer)."""
        if self.erased:
            raise InputError("id", f"household {self.household_id!r} is already erased")
        if not self.withdrawn or self.lease is not None or self.spec.current_unit is not None:
            raise InputError(
                "id", f"household {self.household_id!r} has not left (an application or a tenancy is open)"
            )
        if self.offers:
            raise InputError("id", f"household {self.household_id!r} has an open offer of {min(self.offers)!r}")
        self.trigger_event(self.Erased, payload=payload)

    def withdraw(self, payload: c.ApplicationWithdrawn) -> None:
        """Withdraw the application (not a sitting tenant's); its open offers lapse with it, as
        nothing could close them afterwards."""
        if self.spec.current_unit is not None:
            raise InputError(
                "id", f"household {self.household_id!r} is the sitting tenant of {self.spec.current_unit!r}"
            )
        for uid in sorted(self.offers):
            self.expire_offer(c.OfferExpired(household=payload.id, unit=uid))
        self.trigger_event(self.Withdrawn, payload=payload)

    # --- flat offers: one open offer of a unit at a time ---------------------------------
    def check_no_offer_of(self, unit: str) -> None:
        if unit in self.offers:
            raise InputError("unit", f"an offer of {unit!r} to {self.household_id!r} is open")

    def check_offer_of(self, unit: str) -> None:
        if unit not in self.offers:
            raise InputError("unit", f"no open offer of {unit!r} to {self.household_id!r}")

    def make_offer(self, payload: c.OfferMade) -> None:
        self.check_no_offer_of(payload.unit)
        self.trigger_event(self.OfferMade, payload=payload)

    def accept_offer(self, payload: c.OfferAccepted, *, on: dt.date, rent_nok_month: int, policy: Policy) -> None:
        """Accept an open offer: the household becomes the unit's sitting tenant, on a new lease
        from `on` (a transfer's lease of its old unit gives way to it)."""
        self.check_offer_of(payload.unit)
        self.trigger_event(self.OfferAccepted, payload=payload)
        years = lease_years(policy, self.spec.refugee_settled_on, on)
        end = lease_end(on, years)
        lease = c.LeaseSigned(
            household=self.household_id, unit=payload.unit, start=on, end=end, rent_nok_month=rent_nok_month
        )
        self.trigger_event(self.LeaseSigned, payload=lease)

    def decline_offer(self, payload: c.OfferDeclined) -> None:
        self.check_offer_of(payload.unit)
        self.trigger_event(self.OfferDeclined, payload=payload)

    def declined_units(self, today: dt.date, holdoff_days: int) -> list[str]:
        """Units whose offer it declined less than `holdoff_days` before `today` (sorted)."""
        if not holdoff_days:
            return []
        return sorted(u for u, on in self.declined.items() if (today - on).days < holdoff_days)

    def expire_offer(self, payload: c.OfferExpired) -> None:
        self.check_offer_of(payload.unit)
        self.trigger_event(self.OfferExpired, payload=payload)

    # --- the lease ------------------------------------------------------------------------
    def sign_lease(self, payload: c.LeaseSigned) -> None:
        """Record the lease of the sitting tenant (an existing tenancy): one lease at a time."""
        if self.spec.current_unit != payload.unit:
            raise InputError("unit", f"{self.household_id!r} is not the sitting tenant of {payload.unit!r}")
        if self.lease is not None:
            raise InputError("household", f"{self.household_id!r} already has a lease until {self.lease.end}")
        if payload.end <= payload.start:
            raise InputError("end", f"{payload.end} is not after start {payload.start}")
        self.trigger_event(self.LeaseSigned, payload=payload)

    def leased(self) -> Lease:
        """The lease (refused without one)."""
        if self.lease is None:
            raise InputError("household", f"{self.household_id!r} has no lease")
        return self.lease

    def _undecided(self) -> Lease:
        lease = self.leased()
        if lease.decision is not None:
            raise InputError("household", f"the renewal of {self.household_id!r} is already decided ({lease.decision})")
        return lease

    def renewal_due(self, payload: c.LeaseRenewalDue) -> None:
        self.trigger_event(self.LeaseRenewalDue, payload=payload)

    def assess_renewal(self, payload: c.AssessLeaseRenewal, policy: Policy) -> None:
        """Decide a due renewal by the rule of 2011: a tenant with a stable income and a positive
        economic assessment is recommended to buy; any other lease is renewed."""
        lease = self._undecided()
        if not lease.renewal_due:
            raise InputError("household", f"the renewal of {self.household_id!r} is not due before {lease.end}")
        on = payload.on
        if self.spec.stable_income and payload.economic_assessment_positive:
            self.recommend_purchase(
                c.PurchaseRecommended(
                    household=payload.household, unit=lease.unit, on=on,
                    reason="2011 rule: stable income and a positive economic assessment: buy (or rent "
                    "privately) instead of renewing",
                )
            )  # fmt: skip
        else:
            start = lease.end + dt.timedelta(days=1)
            years = lease_years(policy, self.spec.refugee_settled_on, on)
            self.renew_lease(
                c.LeaseRenewed(household=payload.household, unit=lease.unit, on=on, end=lease_end(start, years))
            )

    def renew_lease(self, payload: c.LeaseRenewed) -> None:
        self.trigger_event(self.LeaseRenewed, payload=payload)

    def recommend_purchase(self, payload: c.PurchaseRecommended) -> None:
        self.trigger_event(self.PurchaseRecommended, payload=payload)

    def not_renew(self, payload: c.LeaseNotRenewed) -> None:
        self._undecided()
        self.trigger_event(self.LeaseNotRenewed, payload=payload)

    def terminate_lease(self, payload: c.LeaseTerminated, on_sale: Container[str] = ()) -> None:
        """End the lease of `payload.unit`; not while a rent-to-own case on it is open (`on_sale`:
        the units with one): the tenant may be buying it."""
        lease = self.leased()
        if payload.unit != lease.unit:
            raise InputError("unit", f"the lease of {self.household_id!r} is for {lease.unit!r}")
        if lease.unit in on_sale:
            raise InputError("household", f"a rent-to-own case for {lease.unit!r} is open")
        self.trigger_event(self.LeaseTerminated, payload=payload)

    def move_out(self, payload: c.TenantMovedOut, on_sale: Container[str] = ()) -> None:
        """The sitting tenant leaves the unit and the queue; not while a rent-to-own case on the
        unit is open (`on_sale`: the units with one)."""
        unit = self.spec.current_unit
        if unit is None:
            raise InputError("household", f"{self.household_id!r} is not a sitting tenant")
        if unit in on_sale:
            raise InputError("household", f"a rent-to-own case for {unit!r} is open")
        self.trigger_event(self.MovedOut, payload=payload)

    def move_out_bought(self, payload: c.TenantMovedOut) -> None:
        """The buyer of a completed sale leaves the rental portfolio and the queue (no check: the
        sale completes the case the sitting tenant opened)."""
        self.trigger_event(self.MovedOut, payload=payload)

    # --- after-care: one follow-up of a buyer, once its sale completed ----------------------
    def aftercare_due(self, payload: c.AftercareDue) -> None:
        """A follow-up is owed by `payload.due_on` (raised with the sale, at most once: a buyer
        leaves the queue, so no household buys twice)."""
        self.trigger_event(self.AftercareDue, payload=payload)

    def pending_aftercare(self) -> Aftercare:
        """The follow-up due and not yet recorded (refused when there is none)."""
        care = self.aftercare
        if care is None:
            raise InputError("household", f"no after-care follow-up is due for {self.household_id!r}")
        if care.recorded is not None:
            raise InputError(
                "household", f"the after-care follow-up of {self.household_id!r} was recorded on {care.recorded.on}"
            )
        return care

    def record_aftercare(self, payload: c.AftercareRecorded) -> None:
        self.pending_aftercare()
        self.trigger_event(self.AftercareRecorded, payload=payload)


@dataclass
class Lease:
    unit: str
    start: dt.date
    end: dt.date
    rent_nok_month: int
    renewal_due: bool = False
    decision: str | None = None  # None, "not_renewed" or "purchase_recommended"


@dataclass
class Aftercare:
    """The follow-up owed to a household that bought its flat (AftercareDue), and, once done,
    what the office recorded (AftercareRecorded)."""

    unit: str  # the unit bought
    due_on: dt.date
    recorded: c.AftercareRecorded | None = None
