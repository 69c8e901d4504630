"""`pyengine report worklist`: what the office has to do, and by when, read from a store.

Seven sections, each a list of rows (what is due, the date it is due by, and the household,
unit and rent-to-own case it concerns), sorted by that date. The rows are pure functions of a
folded `Portfolio`, the date the list is drawn up for (`as_of`) and the date of the last step
of each open rent-to-own case (which the aggregates do not keep: `CaseSteps` folds it from
the cases' events). Issue 19: staff chase colleagues and lose track («må purre»), tenants
say they were not told.

How each section reads the rules (DESIGN §2, and seeds/003 where DESIGN summarises it):

1. **Rent-to-own candidates (the 2011 rule).** Since 2011 applicants who can use other
   housing instruments (start loan, purchase) shall not be granted a municipal unit, so a
   renewal must consider rent-to-own first (DESIGN §2; seeds/003: «ved søknad om forlengelse
   av leiekontrakt skal andre boligvirkemidler vurderes, og de som har inntekt til å kjøpe
   bolig, anbefales dette»). The target group is tenants with stable income (job or
   permanent benefits), and only flats the municipality may sell are offered to the tenant
   (cooperative and condominium flats; other tenants get advice only). Read as: a sitting
   tenant (not withdrawn, holding a lease) with `stable_income`, whose unit is in the rental
   portfolio, in one of the policy's `sellable_tenures` and not among its `units_needed`,
   whose renewal is due (`LeaseRenewalDue` raised, or `as_of` on or after the lease's end
   less `renewal_notice_months`: the engine's own test) and whose unit has no open
   rent-to-own case. An undecided renewal asks for the assessment; one assessed as
   `PurchaseRecommended` asks for the case to be opened before the lease ends; one decided
   `LeaseNotRenewed` drops out. Due by the lease's end. The income's level and what the
   tenant can afford are the economic assessment's business, not the list's.
2. **Lease renewals due.** A lease (of a household not withdrawn) whose renewal is due by
   the same test and not yet decided (no `PurchaseRecommended` or `LeaseNotRenewed`; a
   `LeaseRenewed` moves the end on). Due by the lease's end; a lease past its end is overdue
   (it ends at the next `DayClosed`). Section 1's candidates appear here too: there the row
   says to consider rent-to-own first, here that the renewal must be decided.
3. **Stalled rent-to-own cases.** An open case whose last step (the date its latest event
   carries) is more than the policy's `stalled_case_days` before `as_of` (90 in v1: the start
   loan's processing time when prioritised, «minst 3 måneder», seeds/003, and half a
   valuation's validity). The row names the next step (or `SaleCaseClosed` with a reason);
   due by the last step + those days.
4. **Offers past their reply date, still open.** Flat offers whose `OfferMade.reply_by` is
   before `as_of` with no accept, decline or expiry recorded (an offer without `reply_by`
   has no deadline and is not listed), and purchase offers: `PurchaseOffered` has no reply
   date of its own; its price holds while the valuation does («prisen … er gyldig i 6
   måneder», which gives the tenant «en kort frist å svare ja eller nei»), so its deadline is
   the valuation's `valid_until`. `DayClosed` expires those itself, so they show only for an
   `as_of` after the store's date.
5. **Valuations expiring.** An open case holding a valuation and not yet accepted (after
   `PurchaseAccepted` the valuation has done its work) whose `valid_until` (valuation date +
   `valuation_valid_months`) is within `EXPIRY_WARNING_DAYS` (30) days of `as_of`, or past:
   no offer can be made or accepted on a lapsed valuation, so the case needs a new
   `ValuationRecorded` (or `SaleCaseClosed`); an open purchase offer lapses with it at the
   next `DayClosed`. Due by `valid_until`.
6. **After-care due.** A household that bought its flat is owed a follow-up (`AftercareDue`,
   raised with `SaleCompleted` where the policy sets `aftercare_months`: «ettervern for
   boligkjøpere», seeds/003 p. 50, where buyers otherwise «klare seg selv») until the office
   records it (`AftercareRecorded`). Listed from the sale on, as the office may follow up
   early (a buyer in trouble calls); due by `due_on`, overdue after it.

7. **Start-loan decisions awaited.** An open case whose start loan is applied for and not yet
   decided, due by the application's `decide_by` (its day plus the policy's
   `start_loan_priority_days` when prioritised, else `start_loan_decision_days`: «Primær-
   utfordringen er startlån», seeds/003 pp. 25-26); overdue after it. The row says when the
   valuation lapses first, since a late decision then needs a new valuation too. Applications
   recorded before the deadlines have none and are not listed (section 3 still finds them).

The state is the log up to `as_of`: for a date on or after the store's date, the whole log
(deadlines are then looked ahead); for an earlier date, the log up to the first event dated
after `as_of` (a `DayClosed`, or a step recorded ahead of the day it names): what the office
knew on that day.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any

from . import commands as c
from .calendar import add_months
from .domain import Household, SaleCase
from .errors import InputError
from .event_log import Row as StoredRow
from .fold import fold
from .portfolio import Portfolio

if TYPE_CHECKING:
    from .service import AllocationService

EXPIRY_WARNING_DAYS = 30  # valuations expiring within this many days are listed

SECTIONS: tuple[tuple[str, str], ...] = (
    ("purchase_candidates", "rent-to-own candidates (2011 rule)"),
    ("renewals_due", "lease renewals due"),
    ("stalled_cases", "stalled rent-to-own cases (no step for more than the policy's stalled_case_days)"),
    ("offers_past_reply_by", "offers past their reply date, still open"),
    ("valuations_expiring", f"valuations lapsed or expiring within {EXPIRY_WARNING_DAYS} days (open cases)"),
    ("aftercare_due", "after-care due (follow-ups of buyers not yet recorded)"),
    ("loan_decisions_due", "start-loan decisions awaited (open cases)"),
)

# what an open case waits for, by stage
NEXT_STEP = {
    "interest": "record the economic assessment",
    "assessed": "release the unit for sale or keep it for rent",
    "released": "record the valuation and the start-loan application",
    "valued": "the tenant applies for the start loan",
    "loan_applied": "chase the start-loan decision",
    "loan_granted": "make the purchase offer",
    "offered": "get the tenant's reply to the purchase offer",
    "accepted": "complete the sale",
}


def next_step(case: SaleCase) -> str:
    """What the case waits for (the start loan may come before the valuation)."""
    what = NEXT_STEP.get(case.stage, "move the case on, or close it")
    if case.stage == "loan_granted" and case.valuation is None:
        return "record the valuation, then make the purchase offer"
    return what


@dataclass(frozen=True)
class Row:
    due: dt.date  # by when
    days: int  # from as_of to `due` (negative: overdue)
    what: str  # what is due
    household: str | None
    unit: str | None
    case: str | None  # "unit#n": the unit's n-th rent-to-own case
    detail: str


Worklist = dict[str, list[Row]]


# --- the last step of each case, folded from the log ------------------------------------------
SALE_PAYLOADS: tuple[type[Any], ...] = (
    c.PurchaseInterestRegistered, c.EconomicAssessmentRecorded, c.UnitReleasedForSale, c.UnitKeptForRent,
    c.ValuationRecorded, c.StartLoanApplied, c.StartLoanDecided, c.PurchaseOffered, c.PurchaseAccepted,
    c.PurchaseDeclined, c.PurchaseOfferExpired, c.SaleCaseClosed, c.SaleCompleted,
)  # fmt: skip
SALE_TOPICS: tuple[str, ...] = tuple(
    cls.TOPIC
    for cls in (
        SaleCase.Opened, SaleCase.Assessed, SaleCase.Released, SaleCase.Kept, SaleCase.Valued, SaleCase.LoanApplied,
        SaleCase.LoanDecided, SaleCase.Offered, SaleCase.Accepted, SaleCase.Declined, SaleCase.Expired,
        SaleCase.Closed, SaleCase.Completed,
    )
)  # fmt: skip


class CaseSteps:
    """Unit id -> the date of the latest step of its latest rent-to-own case (a case's first
    step is `PurchaseInterestRegistered`, so a new case starts afresh)."""

    def __init__(self) -> None:
        self.last: dict[str, dt.date] = {}

    def note(self, payload: Any) -> None:
        if isinstance(payload, c.PurchaseInterestRegistered):
            self.last[payload.unit] = payload.on
        elif isinstance(payload, SALE_PAYLOADS):
            on = payload.valued_on if isinstance(payload, c.ValuationRecorded) else payload.on
            before = self.last.get(payload.unit)
            self.last[payload.unit] = on if before is None else max(before, on)

    @classmethod
    def of(cls, payloads: Iterable[Any]) -> CaseSteps:
        steps = cls()
        for p in payloads:
            steps.note(p)
        return steps


# --- the sections ---------------------------------------------------------------------------------
def renewal_in_window(pf: Portfolio, h: Household, as_of: dt.date) -> bool:
    """The lease's renewal is due: raised by DayClosed, or `as_of` within the notice window."""
    lease = h.lease
    assert lease is not None
    return lease.renewal_due or as_of >= add_months(lease.end, -pf.policy.renewal_notice_months)


def case_label(pf: Portfolio, case: SaleCase) -> str:
    return f"{case.unit}#{pf.case_count.get(case.unit, 1)}"


def _row(as_of: dt.date, due: dt.date, what: str, detail: str, *, household: str | None = None,
         unit: str | None = None, case: str | None = None) -> Row:  # fmt: skip
    return Row(due=due, days=(due - as_of).days, what=what, household=household, unit=unit, case=case, detail=detail)


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (r.due, r.household or "", r.unit or "", r.case or "", r.what))


def _leaseholders(pf: Portfolio) -> Iterable[Household]:
    for _, h in sorted(pf.households.items()):
        if not h.withdrawn and h.lease is not None:
            yield h


def purchase_candidates(pf: Portfolio, as_of: dt.date) -> list[Row]:
    policy = pf.policy
    rows = []
    for h in _leaseholders(pf):
        lease = h.lease
        assert lease is not None
        if not h.spec.stable_income or lease.decision == "not_renewed" or not renewal_in_window(pf, h, as_of):
            continue
        u = pf.units.get(lease.unit)
        if u is None or not u.active or lease.unit in pf.open_case:
            continue
        if u.spec.tenure not in policy.sellable_tenures or lease.unit in policy.units_needed:
            continue
        if lease.decision == "purchase_recommended":
            what = "purchase recommended: open the rent-to-own case before the lease ends"
        else:
            what = "renewal: assess for rent-to-own first (2011 rule)"
        income = h.spec.monthly_income_nok
        detail = f"{u.spec.tenure}; " + (f"income NOK {income:,}/month" if income else "income not recorded")
        rows.append(_row(as_of, lease.end, what, detail, household=h.household_id, unit=lease.unit))
    return _sorted(rows)


def renewals_due(pf: Portfolio, as_of: dt.date) -> list[Row]:
    notice = pf.policy.renewal_notice_months
    rows = []
    for h in _leaseholders(pf):
        lease = h.lease
        assert lease is not None
        if lease.decision is not None or not renewal_in_window(pf, h, as_of):
            continue
        what = "decide the renewal" if lease.end >= as_of else "decide the renewal: the lease has ended"
        detail = f"lease {lease.start} to {lease.end}; notice from {add_months(lease.end, -notice)}"
        if not lease.renewal_due:
            detail += " (LeaseRenewalDue not raised yet)"
        case = pf.open_case.get(lease.unit)
        if case is not None:
            detail += f"; rent-to-own case open at {case.stage!r}"
        rows.append(
            _row(as_of, lease.end, what, detail, household=h.household_id, unit=lease.unit,
                 case=case_label(pf, case) if case is not None else None)
        )  # fmt: skip
    return _sorted(rows)


def _last_step(case: SaleCase, last_step: Mapping[str, dt.date]) -> dt.date:
    """From the log when known, else the latest date the aggregate keeps (opened, valued)."""
    known = last_step.get(case.unit)
    if known is not None:
        return known
    dates = [case.opened_on] + ([case.valuation.valued_on] if case.valuation is not None else [])
    return max(dates)


def stalled_cases(pf: Portfolio, as_of: dt.date, last_step: Mapping[str, dt.date]) -> list[Row]:
    after_days = pf.policy.stalled_case_days
    rows = []
    for uid, case in sorted(pf.open_case.items()):
        last = _last_step(case, last_step)
        idle = (as_of - last).days
        if idle <= after_days:
            continue
        detail = f"at {case.stage!r} since {last} ({idle} days)"
        rows.append(
            _row(as_of, last + dt.timedelta(days=after_days), next_step(case), detail,
                 household=case.household, unit=uid, case=case_label(pf, case))
        )  # fmt: skip
    return _sorted(rows)


def _valid_until(pf: Portfolio, case: SaleCase) -> dt.date | None:
    v = case.valuation
    if v is None:
        return None
    return v.valid_until or add_months(v.valued_on, pf.policy.valuation_valid_months)


def offers_past_reply_by(pf: Portfolio, as_of: dt.date) -> list[Row]:
    rows = []
    for hid, h in sorted(pf.households.items()):
        if h.withdrawn:
            continue
        for uid, offer in sorted(h.offers.items()):
            if offer.reply_by is not None and offer.reply_by < as_of:
                rows.append(
                    _row(as_of, offer.reply_by, "flat offer: record the reply, or OfferExpired",
                         f"reply was due {offer.reply_by}", household=hid, unit=uid)
                )  # fmt: skip
    for uid, case in sorted(pf.open_case.items()):
        until = _valid_until(pf, case)
        if case.stage == "offered" and until is not None and until < as_of:
            rows.append(
                _row(as_of, until, "purchase offer: the reply was due while the valuation held",
                     f"price NOK {case.price_nok or 0:,}; valuation valid until {until}; lapses at the next DayClosed",
                     household=case.household, unit=uid, case=case_label(pf, case))
            )  # fmt: skip
    return _sorted(rows)


VALUATION_NEEDED_BY = {
    "valued": "get the start loan applied for and decided, and the offer made, before the valuation lapses",
    "loan_applied": "get the start loan decided and the offer made before the valuation lapses",
    "loan_granted": "make the purchase offer before the valuation lapses",
    "offered": "the tenant must accept before the valuation lapses",
}


def valuations_expiring(pf: Portfolio, as_of: dt.date, within_days: int = EXPIRY_WARNING_DAYS) -> list[Row]:
    horizon = as_of + dt.timedelta(days=within_days)
    rows = []
    for uid, case in sorted(pf.open_case.items()):
        until = _valid_until(pf, case)
        if until is None or case.stage not in VALUATION_NEEDED_BY or until > horizon:
            continue
        assert case.valuation is not None
        if until < as_of and case.stage == "offered":
            what = "valuation lapsed: the purchase offer expires at the next DayClosed"
        elif until < as_of:
            what = "valuation lapsed: record a new valuation before the offer, or close the case"
        else:
            what = VALUATION_NEEDED_BY[case.stage]
        detail = f"valued {case.valuation.valued_on} at NOK {case.valuation.value_nok:,}; at {case.stage!r}"
        rows.append(_row(as_of, until, what, detail, household=case.household, unit=uid, case=case_label(pf, case)))
    return _sorted(rows)


def aftercare_due(pf: Portfolio, as_of: dt.date) -> list[Row]:
    rows = []
    for hid, h in sorted(pf.households.items()):
        care = h.aftercare
        if care is None or care.recorded is not None:
            continue
        case = pf.bought.get(hid)
        sold = f" on {case.completed_on}" if case is not None and case.completed_on is not None else ""
        what = "after-care: follow up the buyer" if care.due_on >= as_of else "after-care overdue: follow up the buyer"
        detail = f"bought {care.unit}{sold} (rent-to-own); record the follow-up with AftercareRecorded"
        rows.append(_row(as_of, care.due_on, what, detail, household=hid, unit=care.unit))
    return _sorted(rows)


def loan_decisions_due(pf: Portfolio, as_of: dt.date) -> list[Row]:
    rows = []
    for uid, case in sorted(pf.open_case.items()):
        by = case.loan_decide_by
        if case.stage != "loan_applied" or by is None:
            continue
        what = (
            "chase the start-loan decision"
            if by >= as_of
            else "start-loan decision overdue: chase it, or close the case"
        )
        detail = "decision due by the policy's start-loan days"
        until = _valid_until(pf, case)
        if until is not None and until < by:
            detail += f"; the valuation lapses first, on {until}"
        rows.append(_row(as_of, by, what, detail, household=case.household, unit=uid, case=case_label(pf, case)))
    return _sorted(rows)


def worklist(pf: Portfolio, as_of: dt.date, last_step: Mapping[str, dt.date] | None = None) -> Worklist:
    """Every section, keyed as in SECTIONS. `last_step`: unit -> the date of its open case's
    latest step (CaseSteps); without it a case's last known date is its opening or valuation."""
    steps = last_step if last_step is not None else {}
    return {
        "purchase_candidates": purchase_candidates(pf, as_of),
        "renewals_due": renewals_due(pf, as_of),
        "stalled_cases": stalled_cases(pf, as_of, steps),
        "offers_past_reply_by": offers_past_reply_by(pf, as_of),
        "valuations_expiring": valuations_expiring(pf, as_of),
        "aftercare_due": aftercare_due(pf, as_of),
        "loan_decisions_due": loan_decisions_due(pf, as_of),
    }


# --- reading a store ---------------------------------------------------------------------------
def dated(payload: Any) -> dt.date | None:
    """The day an event says it happened on, if it says (the engine's date for DayClosed)."""
    if isinstance(payload, c.DayClosed):
        return payload.date
    if isinstance(payload, c.ValuationRecorded):
        return payload.valued_on
    on = getattr(payload, "on", None)
    return on if isinstance(on, dt.date) else None


def parse_as_of(text: str | None, field: str) -> dt.date | None:
    """An as-of date given as YYYY-MM-DD (None: the store's date)."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(field, f"{text!r} is not a date (YYYY-MM-DD)") from None


def observe(svc: AllocationService, as_of: dt.date | None) -> tuple[Portfolio, dict[str, dt.date], dt.date]:
    """The portfolio to draw the list from, its cases' last steps, and the as-of date (default:
    the store's date). On or after the store's date: the service's state (from its snapshot if
    any) and the sale cases' events. Before it: the log folded up to the first event dated
    after `as_of` (a DayClosed, or a step recorded ahead of its day), as the office saw it then."""
    pf = svc.portfolio
    store_date = pf.date
    if store_date is None:
        raise InputError("--store", "the log has no date yet (no DayClosed)")
    if as_of is None:
        as_of = store_date
    app = svc.app
    if as_of >= store_date:
        steps = CaseSteps.of(app.decode(n).payload for n in app.records(topics=SALE_TOPICS))
        return pf, steps.last, as_of
    past = Portfolio(None)
    steps = CaseSteps()

    def after_as_of(row: StoredRow, event: Any) -> bool:  # the first event dated after `as_of` ends the fold
        day = dated(event.payload)
        return day is not None and day > as_of

    for _, event in fold(app, past, before=after_as_of):
        steps.note(event.payload)
    if past.date is None:
        raise InputError("--as-of", f"{as_of} is before the log's first date")
    return past, steps.last, as_of


# --- output -----------------------------------------------------------------------------------
COLUMNS = ("due", "days", "household", "unit", "case", "what", "detail")


def _cells(r: Row) -> list[str]:
    return [r.due.isoformat(), str(r.days), r.household or "-", r.unit or "-", r.case or "-", r.what, r.detail]


def _table(cells: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(COLUMNS)]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if h == "days" else v.ljust(w) for v, w, h in zip(values, widths, COLUMNS, strict=True))
        return "  ".join(padded).rstrip()

    head = line(COLUMNS)
    return [head, "-" * len(head), *(line(row) for row in cells)]


def format_tables(wl: Worklist, as_of: dt.date) -> str:
    """A table per section, under its title and count."""
    out = [f"worklist as of {as_of} (days: from then to the due date; negative: overdue)"]
    for key, title in SECTIONS:
        rows = wl[key]
        out += ["", f"== {title}: {len(rows)}"]
        if rows:
            out += _table([_cells(r) for r in rows])
    return "\n".join(out)


def as_json(wl: Worklist) -> str:
    """One object: section -> list of rows (dates as YYYY-MM-DD)."""
    obj = {key: [{**asdict(r), "due": r.due.isoformat()} for r in wl[key]] for key, _ in SECTIONS}
    return json.dumps(obj, indent=1, ensure_ascii=False)


def write_csv(wl: Worklist, out: IO[str]) -> int:
    """One table with a `section` column; returns the number of rows written."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", *COLUMNS])
    n = 0
    for key, _ in SECTIONS:
        for r in wl[key]:
            w.writerow([key, r.due.isoformat(), r.days, r.household, r.unit, r.case, r.what, r.detail])  # None: ""
            n += 1
    return n
