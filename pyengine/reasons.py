"""`pyengine report reasons`: why offers are declined, applications withdrawn, leases not
renewed or ended, units kept for rent or withdrawn, purchases declined and rent-to-own cases
closed, and what after-care follow-ups of buyers found, counted per year from the codes the
office recorded (issue 19).

Each kind of event takes a code from a list of the policy in force (`REASON_LISTS` in
pyengine.policy: `offer_decline_reasons`, ...; a closed case's `reason` is its code), beside
a free-text `reason` (the note; AftercareRecorded's is `note`). The report counts, per year
of a window and over the whole window, the events of each kind by code:

- `unspecified`: an event recorded with free text only: before its policy listed codes for
  the kind, or under a policy without such a list (the policies recorded before the lists);
- `lease_expired`: a lease DayClosed ended at its end date, unrenewed (the engine's code, which
  no policy lists);
- any other code: the office's choice from the policy's list.

Only what the engine raised counts as `lease_expired`, told by where it stands in the log, not
by its code or text: a LeaseTerminated stored among a DayClosed's own events (from the
DayClosed to the first record of another topic than the ledger's and the deadlines' it raises),
dated that day, for a lease whose end (LeaseSigned, LeaseRenewed) is before it. So the
engine's terminations count there in logs written before the codes too (they hold the
engine's text alone, or nothing once the household is erased), and an office's LeaseTerminated
counts under its own code, or `unspecified` without one, whatever its text. An office's event
with a code the engine reserves (possible only under a policy recorded before it was
reserved) counts as `unspecified` too.

An event is dated by its `on` where it has one, else by the engine's date when it was
recorded. The window (`--from`, `--to`) defaults to the log's first day and the latest of the
store's date and the events' dates. The codes shown for a kind are those of the policy in
force at the window's end (`codes`, zeros too), then any other code counted in the window
(`other_codes`).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from . import commands as c
from .errors import InputError
from .event_log import EventLog
from .policy import ENGINE_CODES, LEASE_EXPIRED, REASON_LISTS, UNSPECIFIED, Policy
from .report_files import text_table, write_chart_page

KINDS: tuple[tuple[str, str], ...] = (
    ("OfferDeclined", "offers declined"),
    ("ApplicationWithdrawn", "applications withdrawn"),
    ("LeaseNotRenewed", "leases not renewed"),
    ("LeaseTerminated", "leases ended"),
    ("UnitKeptForRent", "rent-to-own units kept for rent instead of sold"),
    ("UnitWithdrawn", "units withdrawn from the rental portfolio"),
    ("PurchaseDeclined", "rent-to-own purchase offers declined"),
    ("SaleCaseClosed", "rent-to-own cases closed before a sale"),
    ("AftercareRecorded", "after-care follow-ups of buyers, by what they found"),
    ("TenantMovedOut", "tenants who moved out (a buyer's move after a completed sale: unspecified)"),
)
assert {k for k, _ in KINDS} == set(REASON_LISTS), "every kind with a reason list is reported"
NOTES: tuple[tuple[str, str], ...] = (
    (UNSPECIFIED, "recorded with a free-text reason only: before the policy listed codes for the kind, or under a "
     "policy without such a list"),
    (LEASE_EXPIRED, "a lease DayClosed ended at its end date, unrenewed (the engine's code)"),
)  # fmt: skip
FILES = ("reasons.png", "reasons.html")  # what write() makes
ALL = "all"  # the period of the whole window
_DAY = "pyengine/DayClosed"
# what the ledger records with a DayClosed and what the new date raises (handlers.days: deadlines):
# a DayClosed's own events run from it to the first record of another topic
_DAY_EVENTS = {
    f"pyengine/{k}"
    for k in (
        "LedgerOpened",
        "PolicyAdopted",
        "LeaseRenewalDue",
        "LeaseTerminated",
        "OfferExpired",
        "PurchaseOfferExpired",
    )
}
_LEASES = {"pyengine/LeaseSigned", "pyengine/LeaseRenewed"}  # each lease's end
_TOPICS = {f"pyengine/{k}" for k, _ in KINDS} | {_DAY, "pyengine/PolicyAdopted"} | _LEASES


class ReasonCount(msgspec.Struct, kw_only=True):
    """How many events of one kind had one code in one period (a year, or `all`)."""

    kind: str
    code: str
    period: str
    count: int


class ReasonKind(msgspec.Struct, kw_only=True):
    kind: str  # the event's type
    title: str
    policy_list: str  # the policy's list of codes for it
    codes: list[str]  # that list in the policy in force at the window's end (empty: none)
    other_codes: list[str]  # codes counted in the window besides: earlier policies', lease_expired, unspecified

    @property
    def shown(self) -> list[str]:
        """The codes the report shows, in its order."""
        return [*self.codes, *self.other_codes]


class ReasonNote(msgspec.Struct):
    code: str
    definition: str


class ReasonsReport(msgspec.Struct, kw_only=True):
    """The whole report, as `--json` prints it and GET /reports/reasons answers it."""

    window_from: dt.date = msgspec.field(name="from")
    window_to: dt.date = msgspec.field(name="to")
    years: list[int]
    policy_version: int  # the policy in force at the window's end, whose codes are shown
    kinds: list[ReasonKind]
    notes: list[ReasonNote]
    rows: list[ReasonCount]  # every kind, code and period shown, zeros too


# --- what the log says happened ---------------------------------------------------------------
@dataclass(frozen=True)
class Reason:
    on: dt.date
    kind: str
    code: str


@dataclass
class History:
    reasons: list[Reason] = field(default_factory=list)
    policies: list[tuple[dt.date, Policy]] = field(default_factory=list)  # adopted on (the engine's date)
    first: dt.date | None = None  # the log's first day
    last: dt.date | None = None  # the latest of the store's date and the events' dates


def code_of(p: Any, by_engine: bool = False) -> str:
    """The code an event was recorded with (UNSPECIFIED: free text only). `by_engine`: the
    engine raised it (`history` tells), so a LeaseTerminated counts as LEASE_EXPIRED, with that
    code or, written before the codes, without; the office's never does, whatever its text, and
    a code the engine reserves on the office's event counts as UNSPECIFIED."""
    if by_engine and isinstance(p, c.LeaseTerminated):
        return LEASE_EXPIRED
    code = p.reason if isinstance(p, c.SaleCaseClosed) else p.code
    if not isinstance(code, str) or code in ENGINE_CODES:
        return UNSPECIFIED
    return code


def history(app: EventLog) -> History:
    """Read the log's coded events, its dates, its policies and its leases' ends (decoding
    nothing else); which LeaseTerminated the engine raised is told by where it stands."""
    out = History()
    today: dt.date | None = None
    day: dt.date | None = None  # the date of the DayClosed whose own events are being read
    ends: dict[str, dt.date] = {}  # the end of each lease running
    for row in app.rows():
        if row.topic != _DAY and row.topic not in _DAY_EVENTS:
            day = None  # another command's event, or the run that ends the DayClosed's
        if row.topic not in _TOPICS:
            continue
        p = app.decode(row).payload
        if isinstance(p, c.DayClosed):
            today = day = p.date
            out.first = out.first or today
            out.last = max(out.last or today, today)
        elif isinstance(p, c.LeaseSigned | c.LeaseRenewed):
            ends[p.household] = p.end
        elif today is None:
            continue  # nothing is recorded before the first day
        elif isinstance(p, c.PolicyAdopted):
            out.policies.append((today, p.policy))
        else:
            by_engine = False
            if isinstance(p, c.LeaseTerminated):  # the engine's: DayClosed's, for a lease past its end
                end = ends.pop(p.household, None)
                by_engine = day is not None and p.on == day and end is not None and end < day
            on = getattr(p, "on", None) or today
            out.reasons.append(Reason(on, type(p).__name__, code_of(p, by_engine)))
            out.last = max(out.last or on, on)
    return out


# --- the figures ------------------------------------------------------------------------------
def figures(hist: History, start: dt.date | None = None, end: dt.date | None = None) -> ReasonsReport:
    """The report over [start, end] (default: the log's bounds; one bound beyond the log's
    other makes an empty window, not an error)."""
    if hist.first is None or hist.last is None:
        raise InputError("--store", "the log has no date yet (no DayClosed)")
    start = start or min(hist.first, end or hist.first)
    end = end or max(hist.last, start)
    counts: Counter[tuple[str, str, str]] = Counter()
    for r in hist.reasons:
        if start <= r.on <= end:
            counts[(r.kind, r.code, str(r.on.year))] += 1
            counts[(r.kind, r.code, ALL)] += 1
    in_force = [pol for on, pol in hist.policies if on <= end]
    policy = in_force[-1] if in_force else hist.policies[0][1] if hist.policies else Policy(version=1)
    years = list(range(start.year, end.year + 1))
    periods = [ALL, *map(str, years)]
    kinds, rows = [], []
    for kind, title in KINDS:
        listed = policy.reason_codes(kind)
        counted = {code for (k, code, period) in counts if k == kind and period == ALL}
        others = sorted(counted - set(listed) - {UNSPECIFIED})
        others += [UNSPECIFIED] if UNSPECIFIED in counted else []
        k = ReasonKind(kind=kind, title=title, policy_list=REASON_LISTS[kind], codes=listed, other_codes=others)
        kinds.append(k)
        rows += [
            ReasonCount(kind=kind, code=code, period=period, count=counts[(kind, code, period)])
            for period in periods
            for code in k.shown
        ]
    return ReasonsReport(
        window_from=start, window_to=end, years=years, policy_version=policy.version, kinds=kinds,
        notes=[ReasonNote(k, d) for k, d in NOTES], rows=rows,
    )  # fmt: skip


def reasons(app: EventLog, start: dt.date | None = None, end: dt.date | None = None) -> ReasonsReport:
    """The report of an open store's log."""
    return figures(history(app), start, end)


def report(store_url: str, start: dt.date | None, end: dt.date | None) -> ReasonsReport:
    """The report of a store, opened read-only (the command line's)."""
    from adapters.store import open_app

    app = open_app(EventLog, store_url, write=False)
    try:
        return reasons(app, start, end)
    finally:
        app.close()


# --- output -----------------------------------------------------------------------------------
def table(rep: ReasonsReport, kind: ReasonKind) -> list[list[str]]:
    """A kind's counts: a row per code and a total row; the periods (years, then `all`) as columns."""
    periods = [*map(str, rep.years), ALL]
    n = {(r.code, r.period): r.count for r in rep.rows if r.kind == kind.kind}
    rows = [[code, *(str(n[(code, p)]) for p in periods)] for code in kind.shown]
    totals = [str(sum(n[(code, p)] for code in kind.shown)) for p in periods]
    return [["code", *periods], *rows, ["total", *totals]]


def _title(rep: ReasonsReport, kind: ReasonKind) -> str:
    if kind.codes:
        return f"{kind.title} ({kind.kind}; codes: policy v{rep.policy_version}'s {kind.policy_list})"
    return f"{kind.title} ({kind.kind}; policy v{rep.policy_version} lists no codes: {kind.policy_list} is empty)"


def format_tables(rep: ReasonsReport) -> str:
    """A table per kind (codes as rows, years as columns), then the notes."""
    out = [
        f"reasons recorded, {rep.window_from} to {rep.window_to} (events per year and code; "
        f"{UNSPECIFIED}: free text only)"
    ]
    for kind in rep.kinds:
        out += ["", f"== {_title(rep, kind)}"]
        if not kind.shown:
            out.append("none recorded")
            continue
        out += text_table(table(rep, kind))
    out += ["", "notes:", *(f"  {n.code}: {n.definition}" for n in rep.notes)]
    return "\n".join(out)


def as_json(rep: ReasonsReport) -> str:
    return json.dumps(msgspec.to_builtins(rep), indent=1, ensure_ascii=False)


def write(rep: ReasonsReport, folder: Path) -> list[Path]:
    """reasons.png (the chart) and reasons.html (the tables, the chart embedded) in `folder`."""
    return write_chart_page(folder, FILES, lambda png: _plot(rep, png), lambda chart: _html(rep, chart))


def _plot(rep: ReasonsReport, png: Path) -> None:
    """Stacked bars per year, one panel per kind recorded in the window (a bar segment per code)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n = {(r.kind, r.code, r.period): r.count for r in rep.rows}
    shown = [k for k in rep.kinds if any(n[(k.kind, code, ALL)] for code in k.shown)]
    cols = 2 if len(shown) > 1 else 1
    nrows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(6.5 * cols, 3.4 * nrows), squeeze=False)
    palette = plt.get_cmap("tab20")
    colours = [palette(i) for i in range(20)]
    labels = [str(y) for y in rep.years]
    for ax, kind in zip(axes.flat, shown, strict=False):
        bottom = [0] * len(rep.years)
        for i, code in enumerate(kind.shown):
            heights = [n[(kind.kind, code, y)] for y in labels]
            if any(heights):
                colour = "#999999" if code == UNSPECIFIED else colours[i % len(colours)]
                ax.bar(labels, heights, bottom=bottom, label=code, color=colour)
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_title(kind.title, fontsize=10)
        ax.set_ylabel("events")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", labelsize=8, labelrotation=45 if len(labels) > 8 else 0)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    if not shown:
        axes[0][0].text(0.5, 0.5, "no reasons recorded in the window", ha="center", va="center")
    fig.suptitle(f"Reasons recorded per year, {rep.window_from} to {rep.window_to}", fontsize=12)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def _html(rep: ReasonsReport, png_base64: str) -> str:
    e = html.escape
    parts = []
    for kind in rep.kinds:
        parts.append(f"<h2>{e(_title(rep, kind))}</h2>")
        if not kind.shown:
            parts.append("<p>None recorded.</p>")
            continue
        head, *rows = table(rep, kind)
        parts.append(
            "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows)
            + "</table>"
        )  # fmt: skip
    notes = "<dl>" + "".join(f"<dt>{e(n.code)}</dt><dd>{e(n.definition)}</dd>" for n in rep.notes) + "</dl>"
    window = f"{rep.window_from} to {rep.window_to}"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Reasons recorded, {window}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:2px 6px;font-size:90%}} td:not(:first-child){{text-align:right}} dt{{font-weight:bold}}</style></head><body>
<h1>Reasons recorded, {window}</h1>
<p>Why offers were declined, applications withdrawn, leases not renewed or ended, units kept for rent or withdrawn,
purchases declined and rent-to-own cases closed, and what after-care follow-ups found: the events of each kind per
year, by the reason code recorded with them (the codes of policy v{rep.policy_version}, in force at the window's
end).</p>
<img src="data:image/png;base64,{png_base64}" alt="reasons recorded per year, stacked by code, one panel per kind">
{"".join(parts)}
<h2>Notes</h2>{notes}
</body></html>
"""
