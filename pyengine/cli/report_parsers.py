"""The `pyengine report ...` parsers: sales, worklist, fairness, reasons and coverage (the
commands themselves are in `analysis`)."""

from __future__ import annotations

from typing import Any

from .analysis import (
    cmd_report_coverage,
    cmd_report_fairness,
    cmd_report_reasons,
    cmd_report_sales,
    cmd_report_worklist,
)
from .options import STORE_READ, window


def add_report_parsers(sub: Any) -> None:
    """Adds `report` and its sub-commands to the parser's sub-commands `sub`."""
    r = sub.add_parser(
        "report", help="reports read from a store", description="Reports read from a store; none writes to it."
    )
    rsub = r.add_subparsers(dest="report", required=True)
    rs = rsub.add_parser(
        "sales", help="rent-to-own per year, with a PNG chart of sales",
        description="Print the rent-to-own programme per year (valuations, offers, sales, declines, expiries, "
        "average price, discounts, grant repaid, proceeds, units acquired) and draw the sales in a PNG chart "
        "(when there is a year to show). Writes nothing to the store.",
    )  # fmt: skip
    rs.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    rs.add_argument("--png", default="sales-per-year.png", metavar="FILE", help="chart to write (default: %(default)s)")
    rs.set_defaults(func=cmd_report_sales)
    rw = rsub.add_parser(
        "worklist", help="what is due and by when: rent-to-own candidates, renewals, stalled cases, late offers, "
        "expiring valuations, after-care, start-loan decisions",
        description="List what the office has to do and by when, in seven sections (rent-to-own candidates, lease "
        "renewals due, stalled rent-to-own cases, offers past their reply date, valuations lapsing, after-care of "
        "buyers due, start-loan decisions awaited), each sorted by due date. Prints a table per section, or JSON; "
        "--csv also writes the rows to a file. Writes nothing to the store.",
    )  # fmt: skip
    rw.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    rw.add_argument(
        "--as-of", default=None, metavar="DATE",
        help="the day the list is for, YYYY-MM-DD (default: the store's date; an earlier day reads the log up to "
        "that day)",
    )  # fmt: skip
    rw.add_argument("--json", action="store_true", help="print one JSON object instead: section -> list of rows")
    rw.add_argument("--csv", default=None, metavar="FILE", help="also write every row to FILE, with a section column")
    rw.set_defaults(func=cmd_report_worklist)
    rf = rsub.add_parser(
        "fairness", help="allocation across groups of households per year: applications, offers, lets, waits, "
        "size fit, transfers",
        description="Read the stored history and report, per group of households (disadvantaged, refugee, "
        "families with children, singles, care need, district preference, and all) and per year of the window "
        "(and over the whole window): applications and how many were housed, offers made, declined and expired, "
        "lets (accepted offers), the wait from application to let (median and p90, days), lets over- or "
        "under-occupied by the policy's rooms needed, and transfers of sitting tenants. Prints a table per "
        "period with the group and measure definitions, or JSON; --out also writes a chart and an HTML page. "
        "Writes nothing to the store.",
    )  # fmt: skip
    rf.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    window(rf, "the earliest date in the log, an application date or its first day", "the store's date")
    rf.add_argument(
        "--json", action="store_true",
        help="print one JSON object instead: the window, the group and measure definitions and a row per group "
        "and period",
    )  # fmt: skip
    rf.add_argument(
        "--out", default=None, metavar="DIR",
        help="also write fairness.png (median wait per group per year, let rate per group) and fairness.html "
        "(the tables with the chart embedded) to this folder, made if missing",
    )  # fmt: skip
    rf.set_defaults(func=cmd_report_fairness)
    rr = rsub.add_parser(
        "reasons", help="why offers are declined, units kept for rent, leases not renewed, ...: reason codes per year",
        description="Read the stored history and count, per year of the window (and over the whole window), the "
        "events of each kind that take a reason code (offers declined, applications withdrawn, leases not "
        "renewed or ended, units kept for rent or withdrawn, purchases declined, rent-to-own cases closed) by "
        "the code recorded; events with free text only count as `unspecified`. Prints a table per kind, or "
        "JSON; --out also writes a chart and an HTML page. Writes nothing to the store.",
    )  # fmt: skip
    rr.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    window(rr, "the log's first day", "the store's date, or the latest event date after it")
    rr.add_argument(
        "--json", action="store_true",
        help="print one JSON object instead: the window, the kinds with their codes, and a count per kind, code "
        "and period (each year, and all)",
    )  # fmt: skip
    rr.add_argument(
        "--out", default=None, metavar="DIR",
        help="also write reasons.png (stacked bars per year, one panel per kind) and reasons.html (the tables "
        "with the chart embedded) to this folder, made if missing (default: no files)",
    )  # fmt: skip
    rr.set_defaults(func=cmd_report_reasons)
    rc = rsub.add_parser(
        "coverage", help="which shared tasks the residents of each stairwell, floor or building cover",
        description="Read the store and show, per scope of each task-coverage rule of the policy in force (or of "
        "--tasks and --scope), which shared tasks a sitting tenant covers now (x), which only a household the last "
        "decision places there brings (+), and which are missing (-). Prints a table per rule, or JSON; --out also "
        "writes a chart and an HTML page. Writes nothing to the store.",
    )  # fmt: skip
    rc.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    rc.add_argument(
        "--tasks", default=None, metavar="T1,T2",
        help="tasks (skill names) to look for, comma-separated (default: the policy's coverage rules)",
    )  # fmt: skip
    rc.add_argument(
        "--scope", default=None, choices=("building", "stairwell", "floor"),
        help="with --tasks: where to look (default: stairwell)",
    )  # fmt: skip
    rc.add_argument("--json", action="store_true", help="print one JSON object instead: the rules and each scope")
    rc.add_argument(
        "--out", default=None, metavar="DIR",
        help="also write coverage.png (a grid of scopes by tasks per rule) and coverage.html (the tables with the "
        "chart embedded) to this folder, made if missing (default: no files)",
    )  # fmt: skip
    rc.set_defaults(func=cmd_report_coverage)
