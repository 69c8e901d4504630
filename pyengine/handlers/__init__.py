"""Command handlers: each checks a command against the portfolio, calls the aggregates' command
methods (which enforce their own rules) and returns the aggregates it touched, in trigger order.

As in the eventsourcing library's example applications (get, call, save): a handler looks the
aggregates up in the projection, calls them, and `Portfolio` stores what they recorded. Every
check runs before the first event is triggered, so a refused command leaves nothing behind.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from eventsourcing.domain import Aggregate

from .. import commands as c
from ..errors import InputError
from ..projection import Projection
from . import applications, days, leases, sales, units

Handler = Callable[[Projection, Any], list[Aggregate]]

HANDLERS: dict[type[Any], Handler] = {
    c.DayClosed: days.day_closed,
    c.UnitRegistered: units.unit_registered,
    c.UnitRentChanged: units.unit_rent_changed,
    c.UnitsMerged: units.units_merged,
    c.UnitWithdrawn: units.unit_withdrawn,
    c.UnitReturned: units.unit_returned,
    c.UnitAcquired: units.unit_acquired,
    c.ApplicationSubmitted: applications.application_submitted,
    c.ApplicationUpdated: applications.application_updated,
    c.ApplicationWithdrawn: applications.application_withdrawn,
    c.ErasureRequested: applications.erasure_requested,
    c.OfferMade: applications.offer_made,
    c.OfferAccepted: applications.offer_accepted,
    c.OfferDeclined: applications.offer_declined,
    c.OfferExpired: applications.offer_expired,
    c.LeaseSigned: leases.lease_signed,
    c.AssessLeaseRenewal: leases.assess_lease_renewal,
    c.LeaseNotRenewed: leases.lease_not_renewed,
    c.LeaseTerminated: leases.lease_terminated,
    c.TenantMovedOut: leases.tenant_moved_out,
    c.PurchaseInterestRegistered: sales.interest_registered,
    c.EconomicAssessmentRecorded: sales.assessment_recorded,
    c.UnitReleasedForSale: sales.unit_released_for_sale,
    c.UnitKeptForRent: sales.unit_kept_for_rent,
    c.ValuationRecorded: sales.valuation_recorded,
    c.StartLoanApplied: sales.start_loan_applied,
    c.StartLoanDecided: sales.start_loan_decided,
    c.PurchaseOffered: sales.purchase_offered,
    c.PurchaseAccepted: sales.purchase_accepted,
    c.PurchaseDeclined: sales.purchase_declined,
    c.SaleCaseClosed: sales.sale_case_closed,
    c.SaleCompleted: sales.sale_completed,
    c.AftercareRecorded: sales.aftercare_recorded,
}
assert set(HANDLERS) == set(typing.get_args(c.Command)), "every command has one handler"


def decide(pf: Projection, cmd: c.Command) -> list[Aggregate]:
    """Check `cmd` and trigger its events (not yet folded into `pf`): the aggregates touched."""
    if type(cmd) is not c.DayClosed and pf.date is None:
        raise InputError("type", "the engine has no date yet: submit DayClosed first")
    return HANDLERS[type(cmd)](pf, cmd)
