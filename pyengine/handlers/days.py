"""DayClosed, and the deadlines a new date raises."""

from __future__ import annotations

import datetime as dt

from eventsourcing.domain import Aggregate

from .. import commands as c
from ..calendar import add_months
from ..domain import Ledger
from ..policy import LEASE_EXPIRED
from ..projection import Projection

# A LeaseTerminated raised here (a lease past its end) takes the code LEASE_EXPIRED, which no
# policy lists, and a reason by the renewal decision taken (none: ""). Logs written before the
# codes hold these texts alone; `pyengine report reasons` tells the engine's terminations from
# the office's by where they stand in the log (among a DayClosed's events), not by the text.
LEASE_END_REASONS: dict[str, str] = {
    "not_renewed": "lease ended: not renewed",
    "purchase_recommended": "lease ended: purchase recommended instead of renewal (2011 rule)",
    "": "lease ended without renewal",
}


def day_closed(pf: Projection, cmd: c.DayClosed) -> list[Aggregate]:
    if pf.ledger is None:
        pf.ledger = Ledger.open()  # known at once, so the policy can be adopted
    ledger = pf.ledger
    ledger.close_day(cmd)
    return [ledger, *deadlines(pf, cmd.date)]


def deadlines(pf: Projection, today: dt.date) -> list[Aggregate]:
    """What a new date raises: renewals due, leases ended (not while a rent-to-own case on the
    unit is open), flat offers past their reply date, purchase offers lapsed."""
    touched: list[Aggregate] = []
    notice = pf.policy.renewal_notice_months
    for hid in sorted(pf.leased):  # the households not withdrawn that hold a lease
        h = pf.households[hid]
        lease = h.lease
        assert lease is not None
        if lease.end < today:
            if lease.unit in pf.open_case:
                continue  # the lease runs on while the tenant's purchase is decided (as LeaseTerminated is refused)
            reason = LEASE_END_REASONS.get(lease.decision or "", LEASE_END_REASONS[""])
            ended = c.LeaseTerminated(household=hid, unit=lease.unit, on=today, reason=reason, code=LEASE_EXPIRED)
            h.terminate_lease(ended)
            touched.append(h)
        elif not lease.renewal_due and today >= add_months(lease.end, -notice):
            h.renewal_due(c.LeaseRenewalDue(household=hid, unit=lease.unit, end=lease.end))
            touched.append(h)
    for hid in sorted(pf.with_offers):  # flat offers past their reply date lapse
        h = pf.households[hid]
        late = [uid for uid, offer in sorted(h.offers.items()) if offer.reply_by is not None and offer.reply_by < today]
        for uid in late:
            h.expire_offer(c.OfferExpired(household=hid, unit=uid))
        if late and not any(t is h for t in touched):
            touched.append(h)
    for uid, case in sorted(pf.open_case.items()):
        if case.offer_lapsed(today):
            case.expire(c.PurchaseOfferExpired(unit=uid, on=today))
            touched.append(case)
    return touched
