"""A rent-to-own case: one sitting tenant buying one unit, step by step."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import msgspec
from eventsourcing.domain import Aggregate

from .. import commands as c
from ..calendar import add_months, grant_repayment
from ..errors import InputError
from ..policy import ENGINE_CODES, Policy
from .base import sale_case_uuid


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
            aggregate.assessment_sealed = p.household is not msgspec.UNSET

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
            by = self.payload.decide_by
            aggregate.loan_decide_by = by if isinstance(by, dt.date) else None  # None: applied before deadlines

    class LoanDecided(Event):
        TOPIC = "pyengine/StartLoanDecided"
        payload: c.StartLoanDecided

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = "loan_granted" if self.payload.granted else "loan_refused"
            aggregate.loan_nok = self.payload.amount_nok if self.payload.granted else 0
            aggregate.loan_sealed = self.payload.household is not msgspec.UNSET

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
            aggregate.completed_on = self.payload.on

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
        self.loan_decide_by: dt.date | None = None  # while a start-loan decision is awaited
        self.price_nok: int | None = None
        self.completed_on: dt.date | None = None  # the sale's date, once completed
        # whether the assessment and the loan decision held here were stored sealed under the
        # buyer's key: the engine names the buyer on the steps it seals (pyengine.sealing), not
        # on those stored in clear (before it sealed them, or in a store in clear)
        self.assessment_sealed = False
        self.loan_sealed = False

    @classmethod
    def open(cls, payload: c.PurchaseInterestRegistered, number: int) -> SaleCase:
        return cls._create(cls.Opened, id=sale_case_uuid(payload.unit, number), payload=payload)

    def forget_buyer(self) -> None:
        """The buyer was erased: its assessment and loan as they read from the log once their
        key is gone. Sealed, as not approved, not granted, no amounts (pyengine.sealing); stored
        in clear, as they were (the log still reads them, so a fold of it, a snapshot and the
        erasing writer's memory hold the same). Only a closed case's buyer can be erased, and
        the steps after these set its stage."""
        if self.assessment_sealed:
            self.approved, self.max_price_nok = False, 0
        if self.loan_sealed:
            self.loan_nok = 0

    @property
    def closed(self) -> bool:
        return self.stage in self.CLOSED

    def record(self, event_class: type[Aggregate.Event], payload: msgspec.Struct) -> None:
        self.trigger_event(event_class, payload=payload)

    # --- the steps, each refused out of order ----------------------------------------------
    def check_stage(self, *allowed: str) -> None:
        if self.stage not in allowed:
            raise InputError(
                "type",
                f"out of order: the case for {self.unit!r} is at {self.stage!r}, expected {' or '.join(allowed)}",
            )

    def valuation_on(self, on: dt.date) -> c.ValuationRecorded:
        """The valuation an offer on `on` rests on (refused when there is none, or it lapsed)."""
        v = self.valuation
        if v is None or v.valid_until is None:  # the loan came first: value the unit now
            raise InputError("unit", f"no valuation of {self.unit!r} is recorded yet")
        if on > v.valid_until:
            raise InputError("on", f"the valuation of {self.unit!r} lapsed on {v.valid_until}")
        return v

    def assess(self, payload: c.EconomicAssessmentRecorded) -> None:
        self.check_stage("interest")
        self.record(self.Assessed, payload)

    def keep(self, payload: c.UnitKeptForRent) -> None:
        self.check_stage("assessed")
        self.record(self.Kept, payload)

    def release(self, payload: c.UnitReleasedForSale, tenure: str, policy: Policy) -> None:
        """Release the unit (of `tenure`) for sale: only a sellable tenure, and not a unit the
        municipality needs."""
        self.check_stage("assessed")
        if tenure not in policy.sellable_tenures:
            raise InputError(
                "unit", f"{payload.unit!r} is {tenure}: only {', '.join(policy.sellable_tenures)} units can be sold"
            )
        if payload.unit in policy.units_needed:
            raise InputError("unit", f"the municipality needs {payload.unit!r} (policy units_needed): keep it for rent")
        self.record(self.Released, payload)

    def value(self, payload: c.ValuationRecorded, policy: Policy) -> None:
        """A first valuation, or a new one before the offer (the last may have lapsed while the
        start loan was processed: report 003, p. 25-26); valid for the policy's months."""
        self.check_stage("released", "valued", "loan_applied", "loan_granted")
        valid = add_months(payload.valued_on, policy.valuation_valid_months)
        if payload.valid_until is not None and payload.valid_until != valid:
            raise InputError("valid_until", f"a valuation is valid {policy.valuation_valid_months} months: {valid}")
        self.record(self.Valued, msgspec.structs.replace(payload, valid_until=valid))

    def apply_for_loan(self, payload: c.StartLoanApplied, policy: Policy) -> None:
        """The loan may be applied for before the valuation (report 003, p. 11); its decision is
        due by `decide_by` (the policy's days from `on` when not given)."""
        self.check_stage("released", "valued")
        by = payload.decide_by
        if isinstance(by, dt.date):
            if by < payload.on:
                raise InputError("decide_by", f"{by} is before the application's day {payload.on}")
        else:
            days = policy.start_loan_priority_days if payload.priority is True else policy.start_loan_decision_days
            by = payload.on + dt.timedelta(days=days)
        self.record(self.LoanApplied, msgspec.structs.replace(payload, decide_by=by))

    def decide_loan(self, payload: c.StartLoanDecided) -> None:
        self.check_stage("loan_applied")
        self.record(self.LoanDecided, payload)

    def offer(self, payload: c.PurchaseOffered, policy: Policy) -> None:
        """Offer the unit at the valuation less the discount, within the assessed maximum."""
        self.check_stage("loan_granted")
        v = self.valuation_on(payload.on)
        price = v.value_nok - policy.purchase_discount_nok
        if price < 0:
            raise InputError(
                "unit", f"the valuation NOK {v.value_nok} is below the discount NOK {policy.purchase_discount_nok}"
            )
        if payload.price_nok is not None and payload.price_nok != price:
            raise InputError("price_nok", f"the price is the valuation minus the discount: {price}")
        if price > self.max_price_nok:
            raise InputError("unit", f"price NOK {price} is above the assessed maximum NOK {self.max_price_nok}")
        self.record(self.Offered, msgspec.structs.replace(payload, price_nok=price))

    def decline(self, payload: c.PurchaseDeclined) -> None:
        self.check_stage("offered")
        self.record(self.Declined, payload)

    def accept(self, payload: c.PurchaseAccepted) -> None:
        """Accept the offer while its valuation holds."""
        self.check_stage("offered")
        self.valuation_on(payload.on)
        self.record(self.Accepted, payload)

    def complete(self, payload: c.SaleCompleted, grant: c.Grant | None, policy: Policy) -> c.SaleCompleted:
        """Complete an accepted purchase, repaying what is left of the unit's `grant`; the
        completed payload (buyer, price and repayment set)."""
        self.check_stage("accepted")
        repay = grant_repayment(grant, payload.on, policy)
        done = msgspec.structs.replace(
            payload, household=self.household, price_nok=self.price_nok or 0, grant_repayment_nok=repay
        )
        self.record(self.Completed, done)
        return done

    def close(self, payload: c.SaleCaseClosed, policy: Policy) -> None:
        """Close the case before a sale, for one of the policy's reasons (an accepted purchase
        is completed instead)."""
        if payload.reason in ENGINE_CODES:  # even where a policy recorded before they were reserved lists it
            raise InputError("reason", f"{payload.reason!r} is reserved: {ENGINE_CODES[payload.reason]}")
        if payload.reason not in policy.sale_close_reasons:
            raise InputError("reason", f"{payload.reason!r} is not one of {', '.join(policy.sale_close_reasons)}")
        if self.stage == "accepted":
            raise InputError("unit", f"the purchase of {payload.unit!r} was accepted: complete the sale")
        self.record(self.Closed, payload)

    def offer_lapsed(self, today: dt.date) -> bool:
        """An open offer whose valuation lapsed before `today`."""
        v = self.valuation
        return self.stage == "offered" and v is not None and v.valid_until is not None and today > v.valid_until

    def expire(self, payload: c.PurchaseOfferExpired) -> None:
        self.check_stage("offered")
        self.record(self.Expired, payload)
