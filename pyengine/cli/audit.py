"""Reading the log back: `events` prints it, `replay` verifies every recorded MatchRun,
`explain` says why a household got a unit (or none). None of them writes to the store."""

from __future__ import annotations

import argparse
import sys

import msgspec

from ..errors import InputError
from ._common import open_service, require_store


def cmd_events(args: argparse.Namespace) -> int:
    from ..events_json import check_event_type, event_line

    check_event_type(args.type)
    svc = open_service(args.store, must_exist=True)
    out = sys.stdout.buffer
    try:
        for pos, ev in svc.stored_events():
            if args.type and type(ev.payload).__name__ != args.type:
                continue
            out.write(event_line(pos, ev) + b"\n")
    finally:
        svc.close()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .. import checkpoint
    from ..replay import Anchor, print_progress, replay

    require_store(args.store)
    expect = None
    if args.expect_head:
        expect = Anchor(args.expect_head.strip().lower())
    elif args.checkpoint:
        expect = checkpoint.read(args.checkpoint)
    if args.workers is not None and args.workers < 1:
        raise InputError("--workers", f"must be 1 or more, not {args.workers}")
    report = replay(args.store, progress=print_progress, expect=expect, workers=args.workers)
    secs = max(report.seconds, 1e-9)
    speed = (
        f"in {report.seconds:.1f} s ({report.events / secs:,.0f} events/s, {report.runs_verified / secs:,.0f} runs/s)"
    )
    for note in report.snapshot_notes:
        print(note)
    for problem in report.snapshot_problems:
        print(problem)
    if report.divergence is not None:
        print(f"verified {report.runs_verified} runs, then: {report.divergence.message()}")
        return 1
    print(
        f"verified {report.runs_verified} of {report.runs_verified} MatchRuns over {report.events} events: all match "
        f"{speed}; {report.snapshots_checked} snapshot(s) checked"
    )
    if report.head is not None:
        print(f"head: run {report.head.run} at position {report.head.position}: {report.head.hash}")
    if report.not_resolved:
        print(f"{len(report.not_resolved)} run(s) verified in the chain only, not solved again (personal data erased):")
        for line in report.not_resolved:
            print(f"  {line}")
    if expect is not None and report.head is not None and report.anchor_run is not None:
        after = report.head.run - report.anchor_run if report.head.run is not None else 0
        print(f"the expected head is run {report.anchor_run}" + (f"; {after} run(s) after it" if after else ""))
    return 1 if report.snapshot_problems else 0


def cmd_explain(args: argparse.Namespace) -> int:
    import datetime as dt

    from ..explain import explain_household, explain_unit, household_text, state_at, unit_text

    require_store(args.store)
    at = None
    if args.at:
        try:
            at = dt.date.fromisoformat(args.at)
        except ValueError:
            raise InputError("--at", f"{args.at!r} is not a date (YYYY-MM-DD)") from None
    pf, run = state_at(args.store, args.run, at)
    if args.household:
        x = explain_household(pf, run, args.household)
        text = household_text(x)
    else:
        x = explain_unit(pf, run, args.unit)
        text = unit_text(x)
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(x), indent=1) + b"\n")
    else:
        print(text)
    return 0
