"""Month arithmetic and the Husbanken grant repayment (DESIGN §2; issue 4)."""

from __future__ import annotations

import calendar
import datetime as dt

from .commands import Grant
from .policy import Policy

GRANT_RULE_CHANGE = dt.date(2019, 1, 1)


def add_months(d: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise OverflowError(f"{d} + {months} months is beyond the calendar")  # as date arithmetic does
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def whole_months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from `start` to `end` (0 if end is not after start)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return max(0, months)


def lease_end(start: dt.date, years: int) -> dt.date:
    """The last day of a lease of `years` starting on `start`."""
    return add_months(start, 12 * years) - dt.timedelta(days=1)


def lease_years(policy: Policy, refugee_settled_on: dt.date | None, on: dt.date) -> int:
    """5 years for a household settled as refugees within the last 5 years, else 3 (policy)."""
    if refugee_settled_on is not None and refugee_settled_on >= add_months(on, -12 * policy.refugee_recent_years):
        return policy.refugee_lease_years
    return policy.lease_years


def depreciation_years(grant: Grant, policy: Policy) -> int:
    if grant.depreciation_years is not None:  # the unit's registration says otherwise
        return grant.depreciation_years
    if grant.granted_on >= GRANT_RULE_CHANGE:
        return policy.grant_depreciation_years
    return policy.grant_depreciation_years_before_2019


def grant_repayment(grant: Grant | None, sold_on: dt.date, policy: Policy) -> int:
    """grant × remaining whole months ÷ (depreciation years × 12), rounded down to whole NOK."""
    if grant is None:
        return 0
    period = depreciation_years(grant, policy) * 12
    remaining = max(0, period - whole_months_between(grant.granted_on, sold_on))
    return grant.amount_nok * remaining // period
