"""Rent-to-own ("fra leie til eie"), one case per unit at a time, and units bought with the proceeds."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from ..schema import Id, NonNeg
from .base import Code, Payload
from .dwellings import UnitRegistered


class PurchaseInterestRegistered(Payload, tag=True, kw_only=True, frozen=True):
    """The sitting tenant asks to buy its flat: a rent-to-own case opens. Where the policy
    checks suitability and the flat may not suit the household, the office must acknowledge
    what the check found (`acknowledged`), which the event then records (`suitability`)."""

    household: Id
    unit: Id
    on: dt.date
    acknowledged: bool | msgspec.UnsetType = msgspec.UNSET
    # Set by the engine (never by a command): what the suitability check found, where the office
    # acknowledged it; left out when it found nothing or the policy does not check.
    suitability: list[Literal["too_small", "transfer_requested"]] | msgspec.UnsetType = msgspec.UNSET


class EconomicAssessmentRecorded(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    approved: bool
    max_price_nok: NonNeg = 0
    # Set by the engine in an erasable store (never by a command): the buyer, under whose key
    # `approved` and `max_price_nok` are sealed (pyengine.sealing).
    household: Id | msgspec.UnsetType = msgspec.UNSET


class UnitReleasedForSale(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date


class UnitKeptForRent(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    reason: str = ""
    code: Code | msgspec.UnsetType = msgspec.UNSET  # the policy's kept_for_rent_reasons; `reason`: the note
    # Set by the engine in an erasable store (never by a command): the buyer, under whose key
    # `reason` is sealed (pyengine.sealing).
    household: Id | msgspec.UnsetType = msgspec.UNSET


class ValuationRecorded(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    value_nok: Annotated[int, Meta(ge=1)]
    valued_on: dt.date
    valid_until: dt.date | None = None  # set by the engine: valued_on + valuation_valid_months


class StartLoanApplied(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    amount_nok: NonNeg
    # Processed with priority (report 003, pp. 25-26: at least 3 months even then, 6 in 2019).
    priority: bool | msgspec.UnsetType = msgspec.UNSET
    # The day the office needs the decision by: set by the engine when not given, `on` plus
    # the policy's start_loan_priority_days or start_loan_decision_days; never before `on`.
    decide_by: dt.date | msgspec.UnsetType = msgspec.UNSET
    # Set by the engine in an erasable store (never by a command): the buyer, under whose key
    # `amount_nok` is sealed (pyengine.sealing).
    household: Id | msgspec.UnsetType = msgspec.UNSET


class StartLoanDecided(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    granted: bool
    amount_nok: NonNeg = 0
    # Set by the engine in an erasable store (never by a command): the buyer, under whose key
    # `granted` and `amount_nok` are sealed (pyengine.sealing).
    household: Id | msgspec.UnsetType = msgspec.UNSET


class PurchaseOffered(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    price_nok: int | None = None  # set by the engine: valuation - discount


class PurchaseAccepted(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date


class PurchaseDeclined(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    reason: str = ""
    code: Code | msgspec.UnsetType = msgspec.UNSET  # the policy's purchase_decline_reasons; `reason`: the note
    # Set by the engine in an erasable store (never by a command): the buyer, under whose key
    # `reason` is sealed (pyengine.sealing).
    household: Id | msgspec.UnsetType = msgspec.UNSET


class PurchaseOfferExpired(Payload, tag=True, kw_only=True, frozen=True):
    """Raised by DayClosed when the valuation behind an open offer lapses."""

    unit: Id
    on: dt.date


class SaleCaseClosed(Payload, tag=True, kw_only=True, frozen=True):
    """The office closes an open rent-to-own case before a sale, with a reason from the
    policy's `sale_close_reasons` and an optional note; the tenant stays, and a new case may
    open later. No case can then be left without a way forward (a valuation that lapsed while
    the start loan was processed, a tenant who withdrew)."""

    unit: Id
    on: dt.date
    reason: Annotated[str, Meta(min_length=1, max_length=60)]
    note: Annotated[str, Meta(max_length=2000)] = ""
    # Set by the engine in an erasable store (never by a command): the buyer, under whose key
    # `note` is sealed (pyengine.sealing).
    household: Id | msgspec.UnsetType = msgspec.UNSET


class SaleCompleted(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    household: str = ""  # set by the engine
    price_nok: int = 0  # set by the engine
    grant_repayment_nok: int = 0  # set by the engine


class UnitSold(Payload, tag=True, kw_only=True, frozen=True):
    """Recorded on the unit beside SaleCompleted: it leaves the rental portfolio."""

    id: Id
    on: dt.date


class ProceedsAllocated(Payload, tag=True, kw_only=True, frozen=True):
    """Sale proceeds (price minus grant repayment) go to the reinvestment pot."""

    unit: Id
    amount_nok: int
    pot_nok: int  # the pot after this


class AftercareDue(Payload, tag=True, kw_only=True, frozen=True):
    """Raised with SaleCompleted where the policy sets `aftercare_months`: the office owes the
    buyer a follow-up by `due_on` (the sale's date plus those months), recorded on the buyer's
    household («ettervern for boligkjøpere», report 003, p. 50)."""

    household: Id
    unit: Id  # the unit bought
    due_on: dt.date


class AftercareRecorded(Payload, tag=True, kw_only=True, frozen=True):
    """The office followed up a former buyer whose follow-up is due (AftercareDue), once: on
    which day, what it found and a note. Refused for a household with no follow-up due."""

    household: Id
    on: dt.date
    note: Annotated[str, Meta(max_length=2000)] = ""
    code: Code | msgspec.UnsetType = msgspec.UNSET  # the policy's aftercare_outcomes; `note`: the free text


class UnitAcquired(Payload, tag=True, kw_only=True, frozen=True):
    """A unit bought with money from the pot; joins the rental portfolio."""

    unit: UnitRegistered
    price_nok: NonNeg
    on: dt.date
    # For a unit in a named co-operative: how many units the co-operative has, and whether its
    # statutes let the municipality own up to the higher share (policy: 10 %, or 20 %).
    cooperative_units: Annotated[int, Meta(ge=1)] | msgspec.UnsetType = msgspec.UNSET
    statutes_allow_higher_share: bool | msgspec.UnsetType = msgspec.UNSET
