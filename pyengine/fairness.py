"""`pyengine report fairness`: is allocation fair across groups of households over time?

Read from the stored history, per group and per year of a window (and over the whole window):
how many applied and how many of them were housed, how many offers were made, declined, let
lapse and accepted, how long the households let a unit had waited, how well the units let
fit the households' size, and how many of the lets moved sitting tenants to another unit.
Compare a group's row with the `all` row of the same period to see whether it fares worse.

Groups (a household belongs to several, or to none but `all`; each is judged on the
household as the log describes it at the event counted: at its application, offer or let, so
an `ApplicationUpdated` moves it between groups from then on). The fields are
`ApplicationSubmitted`'s:

- `all`: every household;
- `disadvantaged`: `disadvantaged` is set (the flag the policy's mix caps count);
- `refugee`: `refugee_settled_on` is given (settled as a refugee, in any year: the matcher's
  `refugee` flag);
- `families`: `children` is 1 or more;
- `singles`: one adult without children (`adults` 1, `children` 0: the policy's single
  adult, who needs `single_adult_rooms`);
- `care_need`: `care_need` is set (eligible for care units only);
- `district_preference`: `preferred_districts` names at least one district.

A household whose personal data was erased (`ErasureRequested`) counts in `all` only: which
other groups it belonged to can no longer be read.

Measures (dated by the engine's date when the event was recorded, except applications):

- `applications`: a household starts seeking a unit: an `ApplicationSubmitted` without a
  current unit, or a sitting tenant's transfer request (`transfer_requested` on submission,
  or set later by `ApplicationUpdated`); dated by `applied_on` (else the engine's date);
- `housed`: of those applications, the ones answered by a let on or before the window's end
  (counted in the application's year and groups); `let_rate` = housed / applications;
- `offers_made`, `offers_declined`, `offers_expired` (`OfferExpired`: past `reply_by`, or
  lapsed with a withdrawn application);
- `lets`: offers accepted. `OfferAccepted` makes the household the unit's sitting tenant and
  signs its lease in the same command, so every accepted offer is a let (lease signed,
  allocation taken) and there is no other: a `LeaseSigned` submitted on its own records an
  existing tenant's lease, not an allocation;
- `wait_median_days`, `wait_p90_days` over `waits` lets: days from the household's
  application date (`applied_on` as the engine counts waiting points: a tenant whose lease
  ended keeps the original date) to the let, for lets to households that were not sitting
  tenants (a transfer's wait has no start the log records). The median of an even number is
  the mean of the middle two; p90 is the nearest rank: the smallest wait with at least 90%
  of the waits at or below it;
- `over_occupied`, `under_occupied`: lets whose unit has fewer, or more, rooms than the
  household needs under the policy in force at the let (`default-v1.toml`: a single adult
  needs `single_adult_rooms`; otherwise bedrooms = 1 + max(0, adults - 2) + ceil(children /
  2) and rooms = bedrooms + 1, as the core's size fit and eligibility rule 2 count them;
  an offer is only made for a unit large enough, so an over-occupied let means the
  household grew between the offer and the acceptance);
- `transfers`: lets to a household that was the sitting tenant of another unit.

The window (`--from`, `--to`) defaults to the earliest date the log holds (its first day or
an earlier application date) and the store's date; each year it touches gets a row.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from . import commands as c
from .errors import InputError
from .event_log import EventLog, Row
from .fold import fold
from .policy import Policy
from .portfolio import Portfolio
from .report_files import text_table, write_chart_page
from .worklist import parse_as_of

GROUPS: tuple[tuple[str, str], ...] = (
    ("all", "every household"),
    ("disadvantaged", "disadvantaged is set"),
    ("refugee", "refugee_settled_on is given (settled as a refugee, any year)"),
    ("families", "children is 1 or more"),
    ("singles", "one adult without children (adults 1, children 0)"),
    ("care_need", "care_need is set"),
    ("district_preference", "preferred_districts names at least one district"),
)
MEASURES: tuple[tuple[str, str], ...] = (
    ("applications", "households that started seeking a unit (new applications and sitting tenants' transfer "
     "requests), dated by applied_on (else the engine's date)"),
    ("housed", "of those applications, the ones answered by a let on or before the window's end"),
    ("let_rate", "housed / applications"),
    ("offers_made", "OfferMade"),
    ("offers_declined", "OfferDeclined"),
    ("offers_expired", "OfferExpired (past reply_by, or lapsed with a withdrawn application)"),
    ("lets", "offers accepted: OfferAccepted signs the lease in the same command, so each is a let"),
    ("wait_median_days", "median days from applied_on to the let, over lets to households that were not "
     "sitting tenants (even count: mean of the middle two)"),
    ("wait_p90_days", "90th percentile of the same waits (nearest rank)"),
    ("waits", "lets the waits are taken over"),
    ("over_occupied", "lets of a unit with fewer rooms than the household needs (policy size fit)"),
    ("under_occupied", "lets of a unit with more rooms than the household needs (policy size fit)"),
    ("transfers", "lets to a sitting tenant of another unit"),
)  # fmt: skip
FILES = ("fairness.png", "fairness.html")  # what write() makes
ALL = "all"  # the period of the whole window


class FairnessRow(msgspec.Struct, kw_only=True):
    """One group's figures in one period (a year, or `all`: the whole window)."""

    group: str
    period: str
    applications: int
    housed: int
    let_rate: float | None  # None: no applications
    offers_made: int
    offers_declined: int
    offers_expired: int
    lets: int
    wait_median_days: float | None  # None: no waits
    wait_p90_days: int | None
    waits: int
    over_occupied: int
    under_occupied: int
    transfers: int


class FairnessDefinition(msgspec.Struct):
    key: str
    definition: str


class FairnessReport(msgspec.Struct, kw_only=True):
    """The whole report, as `--json` prints it and GET /reports/fairness answers it."""

    window_from: dt.date = msgspec.field(name="from")
    window_to: dt.date = msgspec.field(name="to")
    years: list[int]
    groups: list[FairnessDefinition]
    measures: list[FairnessDefinition]
    rows: list[FairnessRow]


# --- what the log says happened ---------------------------------------------------------------
@dataclass(frozen=True)
class Fact:
    """One counted event: what, when, and the groups the household was in then."""

    on: dt.date
    what: str  # application, offer, declined, expired, let
    groups: tuple[str, ...]
    wait: int | None = None  # let: days from the application date
    fit: int = 0  # let: unit rooms - rooms needed
    transfer: bool = False  # let: to a sitting tenant of another unit
    answers: Fact | None = None  # let: the application it houses, if the log holds one


def rooms_needed(spec: c.ApplicationSubmitted, policy: Policy) -> int:
    """The policy's rooms needed for the household an application describes."""
    return policy.rooms_needed(spec.adults, spec.children)


def groups_of(spec: c.ApplicationSubmitted) -> tuple[str, ...]:
    if spec.sealed is not msgspec.UNSET:  # erased: counted in `all` only, its groups are unknown
        return ("all",)
    flags = {
        "all": True,
        "disadvantaged": spec.disadvantaged,
        "refugee": spec.refugee_settled_on is not None,
        "families": spec.children >= 1,
        "singles": spec.adults == 1 and spec.children == 0,
        "care_need": spec.care_need,
        "district_preference": bool(spec.preferred_districts),
    }
    return tuple(key for key, _ in GROUPS if flags[key])


@dataclass
class History:
    facts: list[Fact] = field(default_factory=list)
    first: dt.date | None = None  # the earliest date the log holds
    last: dt.date | None = None  # the store's date


def history(app: EventLog) -> History:
    """Fold the whole log, noting each counted event with the state just before it."""
    pf = Portfolio(None)
    out = History()
    seeking: dict[str, Fact] = {}  # household -> its open application
    transfers: list[tuple[str, dt.date]] = []  # a sitting tenant's transfer request, counted once folded in

    def count(row: Row, event: Any) -> None:  # with the state just before the event
        p = event.payload
        today = pf.date
        if isinstance(p, c.DayClosed):
            out.first = out.first or p.date
        elif today is None:
            pass  # nothing is counted before the first day
        elif isinstance(p, c.ApplicationSubmitted):
            if p.current_unit is None or p.transfer_requested:
                on = p.applied_on or today
                seeking[p.id] = fact = Fact(on, "application", groups_of(p))
                out.facts.append(fact)
                out.first = min(out.first or on, on)
        elif isinstance(p, c.ApplicationUpdated):
            spec = pf.households[p.id].spec
            if p.transfer_requested is True and spec.current_unit is not None and not spec.transfer_requested:
                transfers.append((p.id, today))
        elif isinstance(p, c.ApplicationWithdrawn):
            seeking.pop(p.id, None)
        elif isinstance(p, c.OfferMade | c.OfferDeclined | c.OfferExpired):
            what = {c.OfferMade: "offer", c.OfferDeclined: "declined", c.OfferExpired: "expired"}[type(p)]
            out.facts.append(Fact(today, what, groups_of(pf.households[p.household].spec)))
        elif isinstance(p, c.OfferAccepted):
            out.facts.append(_let(pf, p, today, seeking.pop(p.household, None)))

    for _ in fold(app, pf, before=count):
        while transfers:
            hid, on = transfers.pop()
            seeking[hid] = fact = Fact(on, "application", groups_of(pf.households[hid].spec))
            out.facts.append(fact)
    out.last = pf.date
    return out


def _let(pf: Portfolio, p: c.OfferAccepted, today: dt.date, answers: Fact | None) -> Fact:
    spec = pf.households[p.household].spec
    transfer = spec.current_unit is not None
    wait = None if transfer or spec.applied_on is None else (today - spec.applied_on).days
    fit = pf.units[p.unit].spec.rooms - rooms_needed(spec, pf.policy)
    return Fact(today, "let", groups_of(spec), wait=wait, fit=fit, transfer=transfer, answers=answers)


# --- the figures ------------------------------------------------------------------------------
@dataclass
class Tally:
    applications: int = 0
    housed: int = 0
    offer: int = 0
    declined: int = 0
    expired: int = 0
    lets: int = 0
    waits: list[int] = field(default_factory=list)
    over: int = 0
    under: int = 0
    transfers: int = 0


def p90(values: Sequence[int]) -> int | None:
    """Nearest rank: the smallest value with at least 90% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-9 * len(ordered) // 10)  # ceil(0.9 n), in integers
    return ordered[rank - 1]


def median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def parse_window(start: str | None, end: str | None, names: tuple[str, str]) -> tuple[dt.date | None, dt.date | None]:
    """The window's dates (YYYY-MM-DD; None: the log's own bounds), `names` the options or
    fields they came from, which an error names."""
    first, last = parse_as_of(start, names[0]), parse_as_of(end, names[1])
    if first is not None and last is not None and first > last:
        raise InputError(names[0], f"{first} is after {names[1]} {last}")
    return first, last


def figures(hist: History, start: dt.date | None = None, end: dt.date | None = None) -> FairnessReport:
    """The report over [start, end] (default: the log's bounds; one bound beyond the log's
    other makes an empty window, not an error)."""
    if hist.first is None or hist.last is None:
        raise InputError("--store", "the log has no date yet (no DayClosed)")
    start = start or min(hist.first, end or hist.first)
    end = end or max(hist.last, start)
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)

    def add(f: Fact, when: dt.date | None = None) -> Iterable[Tally]:
        day = when or f.on
        for g in f.groups:
            yield tallies[(g, str(day.year))]
            yield tallies[(g, ALL)]

    for f in hist.facts:
        if f.what == "let" and f.answers is not None and f.on <= end and start <= f.answers.on <= end:
            for t in add(f.answers):
                t.housed += 1
        if not start <= f.on <= end:
            continue
        for t in add(f):
            if f.what == "application":
                t.applications += 1
            elif f.what in ("offer", "declined", "expired"):
                setattr(t, f.what, getattr(t, f.what) + 1)
            else:
                t.lets += 1
                t.waits += [f.wait] if f.wait is not None else []
                t.over += f.fit < 0
                t.under += f.fit > 0
                t.transfers += f.transfer
    years = list(range(start.year, end.year + 1))
    rows = [_row(g, period, tallies[(g, period)]) for period in (ALL, *map(str, years)) for g, _ in GROUPS]
    return FairnessReport(
        window_from=start, window_to=end, years=years, groups=[FairnessDefinition(k, d) for k, d in GROUPS],
        measures=[FairnessDefinition(k, d) for k, d in MEASURES], rows=rows,
    )  # fmt: skip


def _row(group: str, period: str, t: Tally) -> FairnessRow:
    return FairnessRow(
        group=group, period=period, applications=t.applications, housed=t.housed,
        let_rate=round(t.housed / t.applications, 4) if t.applications else None, offers_made=t.offer,
        offers_declined=t.declined, offers_expired=t.expired, lets=t.lets, wait_median_days=median(t.waits),
        wait_p90_days=p90(t.waits), waits=len(t.waits), over_occupied=t.over, under_occupied=t.under,
        transfers=t.transfers,
    )  # fmt: skip


def fairness(app: EventLog, start: dt.date | None = None, end: dt.date | None = None) -> FairnessReport:
    """The report of an open store's log."""
    return figures(history(app), start, end)


def report(store_url: str, start: dt.date | None, end: dt.date | None) -> FairnessReport:
    """The report of a store, opened read-only (the command line's)."""
    from adapters.store import open_app

    app = open_app(EventLog, store_url, write=False)
    try:
        return fairness(app, start, end)
    finally:
        app.close()


# --- output -----------------------------------------------------------------------------------
COLUMNS: tuple[tuple[str, str], ...] = (
    ("group", "group"), ("applications", "applied"), ("housed", "housed"), ("let_rate", "let rate"),
    ("offers_made", "offers"), ("offers_declined", "declined"), ("offers_expired", "expired"), ("lets", "lets"),
    ("wait_median_days", "wait median"), ("wait_p90_days", "wait p90"), ("waits", "waits"),
    ("over_occupied", "over"), ("under_occupied", "under"), ("transfers", "transfers"),
)  # fmt: skip


def _cell(key: str, value: object) -> str:
    if value is None:
        return "-"
    if key == "let_rate" and isinstance(value, float):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _periods(rep: FairnessReport) -> list[tuple[str, str, list[FairnessRow]]]:
    """(period, title, its rows): the whole window first, then each year."""
    whole = f"{rep.window_from} to {rep.window_to} (the whole window)"
    titles = [(ALL, whole), *((str(y), str(y)) for y in rep.years)]
    return [(p, title, [r for r in rep.rows if r.period == p]) for p, title in titles]


def format_tables(rep: FairnessReport) -> str:
    """A table per period (groups as rows), then the definitions."""
    out = [f"fairness of allocation, {rep.window_from} to {rep.window_to} (waits in days; groups as at each event)"]
    for _, title, rows in _periods(rep):
        cells = [[_cell(k, getattr(r, k)) for k, _ in COLUMNS] for r in rows]
        out += ["", f"== {title}", *text_table([[h for _, h in COLUMNS], *cells])]
    out += ["", "groups:", *(f"  {d.key}: {d.definition}" for d in rep.groups)]
    out += ["measures:", *(f"  {d.key}: {d.definition}" for d in rep.measures)]
    return "\n".join(out)


def as_json(rep: FairnessReport) -> str:
    return json.dumps(msgspec.to_builtins(rep), indent=1, ensure_ascii=False)


def write(rep: FairnessReport, folder: Path) -> list[Path]:
    """fairness.png (the chart) and fairness.html (the tables, the chart embedded) in `folder`."""
    return write_chart_page(folder, FILES, lambda png: _plot(rep, png), lambda chart: _html(rep, chart))


def _plot(rep: FairnessReport, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    keys = [g.key for g in rep.groups]
    by = {(r.group, r.period): r for r in rep.rows}
    for g in keys:
        waits = [by[(g, str(y))].wait_median_days for y in rep.years]
        left.plot(rep.years, [w if w is not None else float("nan") for w in waits], marker="o", label=g)
    left.set_xticks(rep.years)
    left.set_xlabel("year of the let")
    left.set_ylabel("median wait, days")
    left.set_title("Median wait from application to let, per group")
    left.legend(fontsize=8)
    rates = [by[(g, ALL)].let_rate for g in keys]
    right.barh(keys, [100 * r if r is not None else 0 for r in rates], color="#4477aa")
    for i, r in enumerate(rates):
        right.annotate("-" if r is None else f"{r:.0%}", (100 * (r or 0), i), va="center", fontsize=8)
    right.invert_yaxis()
    right.set_xlim(0, 110)
    right.set_xlabel("% of applicants housed")
    right.set_title(f"Let rate per group, {rep.window_from} to {rep.window_to}")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def _html(rep: FairnessReport, png_base64: str) -> str:
    e = html.escape
    parts = []
    for _, title, rows in _periods(rep):
        head = "".join(f"<th>{e(h)}</th>" for _, h in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{e(_cell(k, getattr(r, k)))}</td>" for k, _ in COLUMNS) + "</tr>" for r in rows
        )
        parts.append(f"<h2>{e(title)}</h2><table><tr>{head}</tr>{body}</table>")

    def listing(defs: list[FairnessDefinition]) -> str:
        return "<dl>" + "".join(f"<dt>{e(d.key)}</dt><dd>{e(d.definition)}</dd>" for d in defs) + "</dl>"

    window = f"{rep.window_from} to {rep.window_to}"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Fairness of allocation, {window}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:2px 6px;font-size:90%}} td:not(:first-child){{text-align:right}} dt{{font-weight:bold}}</style></head><body>
<h1>Fairness of allocation, {window}</h1>
<p>Per group of households and per year: applications and how many were housed, offers, lets, waiting time from
application to let (days), over- and under-occupancy of the lets and transfers. Groups as at each event.</p>
<img src="data:image/png;base64,{png_base64}" alt="median wait per group per year, and let rate per group">
{"".join(parts)}
<h2>Groups</h2>{listing(rep.groups)}<h2>Measures</h2>{listing(rep.measures)}
</body></html>
"""
