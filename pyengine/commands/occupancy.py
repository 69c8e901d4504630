"""Leases: signed, renewed or not, terminated; tenants moving out."""

from __future__ import annotations

import datetime as dt

import msgspec

from ..schema import Id, NonNeg
from .base import Code, Payload


class LeaseSigned(Payload, tag=True, kw_only=True, frozen=True):
    """Raised on OfferAccepted; may be submitted to record the lease of an existing tenant."""

    household: Id
    unit: Id
    start: dt.date
    end: dt.date
    rent_nok_month: NonNeg


class LeaseRenewalDue(Payload, tag=True, kw_only=True, frozen=True):
    """Raised by DayClosed `renewal_notice_months` before the lease ends."""

    household: Id
    unit: Id
    end: dt.date


class AssessLeaseRenewal(Payload, tag=True, kw_only=True, frozen=True):
    """Command: assess a due renewal by the rule of 2011. Produces LeaseRenewed or
    PurchaseRecommended; it is not stored itself."""

    household: Id
    on: dt.date
    economic_assessment_positive: bool


class LeaseRenewed(Payload, tag=True, kw_only=True, frozen=True):
    household: Id
    unit: Id
    on: dt.date
    end: dt.date  # the new end


class PurchaseRecommended(Payload, tag=True, kw_only=True, frozen=True):
    """Outcome of a renewal under the 2011 rule: buy (or rent privately) instead of renewing;
    the lease is not renewed and ends on its end date unless the tenant buys first."""

    household: Id
    unit: Id
    on: dt.date
    reason: str


class LeaseNotRenewed(Payload, tag=True, kw_only=True, frozen=True):
    household: Id
    on: dt.date
    reason: str = ""
    code: Code | msgspec.UnsetType = msgspec.UNSET  # the policy's non_renewal_reasons; `reason`: the note


class LeaseTerminated(Payload, tag=True, kw_only=True, frozen=True):
    """The lease ended: the household is an applicant again, with its original application date.
    DayClosed raises it when a lease passes its end unrenewed, with code `lease_expired`."""

    household: Id
    unit: Id
    on: dt.date
    reason: str = ""
    code: Code | msgspec.UnsetType = msgspec.UNSET  # the policy's lease_termination_reasons; `reason`: the note


class TenantMovedOut(Payload, tag=True, kw_only=True, frozen=True):
    """The household leaves its unit and the queue."""

    household: Id
    on: dt.date
    reason: str = ""
    code: Code | msgspec.UnsetType = msgspec.UNSET  # the policy's move_out_reasons; `reason`: the note
