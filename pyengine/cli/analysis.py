"""Analyses of a stored history: `whatif` (the same history under another policy),
`report sales` (rent-to-own per year), `report worklist` (what the office has to do, and
by when), `report fairness` (allocation across groups of households over time), `report
reasons` (the reason codes recorded, per year) and `report coverage` (the shared tasks each
scope covers). They only read the store."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..whatif import Comparison

from ._common import check_output, check_output_folder, open_service, require_store


def cmd_whatif(args: argparse.Namespace) -> int:
    from ..fanout import scheduler_address
    from ..policy import load_policy
    from ..whatif import FILES, SUMMARY_FILES, compare, compare_many, labels_for, write, write_many

    require_store(args.store)
    policies = [load_policy(p) for p in args.policy]
    scheduler = scheduler_address(args.scheduler)
    if len(policies) == 1 and scheduler is None:
        check_output_folder(args.out, "--out", FILES)  # before re-running the whole history
        out = compare(args.store, policies[0], progress=True)
        files = write(out, Path(args.out), policies[0])
        summarize(out, policies[0].version)
        print("wrote " + ", ".join(str(f) for f in files))
        return 0
    labels = labels_for(args.policy)
    check_output_folder(args.out, "--out", SUMMARY_FILES)
    for label in labels:
        check_output_folder(str(Path(args.out) / label), "--out", FILES)
    results = compare_many(args.store, policies, scheduler, progress=True)
    paths = write_many(results, labels, policies, Path(args.out))
    for label, policy, out in zip(labels, policies, results, strict=True):
        print(f"== {label}")
        summarize(out, policy.version)
    print(f"wrote {len(paths)} files; the comparison: {Path(args.out) / 'index.html'}")
    return 0


def summarize(out: Comparison, version: int) -> None:
    changed = [r for r in out.household_rows.values() if r["unit_actual"] != r["unit_whatif"]]
    print(
        f"{out.runs} runs re-run under policy v{version}: {out.runs_changed} would have proposed "
        f"something else; {len(out.run_rows)} proposals differ in all"
    )
    print(
        f"at the last run {len(changed)} household(s) would get another unit (or none); objective "
        f"{out.objective_actual} actual vs {out.objective_whatif} what-if"
    )
    for r in changed[:10]:
        print(
            f"  {r['household']}: {r['unit_actual'] or '-'} ({r['score_actual']}) -> "
            f"{r['unit_whatif'] or '-'} ({r['score_whatif']})"
        )


def cmd_report_sales(args: argparse.Namespace) -> int:
    from ..reports import format_table, plot_sales, sales_by_year

    check_output(args.png, "--png")
    svc = open_service(args.store, must_exist=True)
    try:
        years = sales_by_year(ev.payload for _, ev in svc.stored_events())
    finally:
        svc.close()
    print(format_table(years))
    if years:
        plot_sales(years, args.png)
        print(f"chart: {args.png}")
    return 0


def cmd_report_worklist(args: argparse.Namespace) -> int:
    from ..worklist import as_json, format_tables, observe, parse_as_of, worklist, write_csv

    as_of = parse_as_of(args.as_of or None, "--as-of")
    if args.csv:
        check_output(args.csv, "--csv")
    svc = open_service(args.store, must_exist=True)
    try:
        pf, last_step, as_of = observe(svc, as_of)
        wl = worklist(pf, as_of, last_step)
    finally:
        svc.close()
    print(as_json(wl) if args.json else format_tables(wl, as_of))
    if args.csv:
        with open(args.csv, "w", encoding="utf-8", newline="") as f:
            n = write_csv(wl, f)
        if not args.json:  # stdout stays one JSON document
            print(f"csv: {args.csv} ({n} rows)")
    return 0


def cmd_report_fairness(args: argparse.Namespace) -> int:
    from .. import fairness

    return _chart_report(args, fairness)


def cmd_report_reasons(args: argparse.Namespace) -> int:
    from .. import reasons

    return _chart_report(args, reasons)


def cmd_report_coverage(args: argparse.Namespace) -> int:
    from .. import coverage

    return _report_files(args, coverage, lambda: coverage.report(args.store, args.tasks, args.scope))


def _chart_report(args: argparse.Namespace, kind: Any) -> int:
    """A report over a window of the log (`kind`: the report's module, fairness or reasons)."""
    from ..fairness import parse_window

    start, end = parse_window(args.from_date, args.to_date, ("--from", "--to"))
    return _report_files(args, kind, lambda: kind.report(args.store, start, end))


def _report_files(args: argparse.Namespace, kind: Any, make: Callable[[], Any]) -> int:
    """A report read from the store by `make`: tables or JSON on stdout, and with --out its
    chart and HTML page (`kind`: the report's module, with FILES, as_json, format_tables and
    write)."""
    require_store(args.store)
    if args.out:
        check_output_folder(args.out, "--out", kind.FILES)
    rep = make()
    print(kind.as_json(rep) if args.json else kind.format_tables(rep))
    if args.out:
        files = kind.write(rep, Path(args.out))
        if not args.json:  # stdout stays one JSON document
            print("wrote " + ", ".join(str(f) for f in files))
    return 0
