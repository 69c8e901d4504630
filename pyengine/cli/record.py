"""Commands that record events in a store: `demo` (the pilot-2 scenario), `submit` (domain
commands, one JSON object a line) and `import` (a portfolio file, matched once)."""

from __future__ import annotations

import argparse
import sys

from .. import schema
from ..errors import InputError
from ._common import check_output, open_service, read_text_file


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    return run_demo(args.store, args.policy)


def cmd_submit(args: argparse.Namespace) -> int:
    import hashlib

    from .. import checkpoint
    from ..commands import parse_command_line
    from ..events_json import event_line

    raw = read_text_file(args.file, "FILE").removeprefix(schema.BOM)
    if args.checkpoint:
        check_output(args.checkpoint, "--checkpoint")
    svc = open_service(args.store, must_exist=False, policy_path=args.policy)
    out = sys.stdout.buffer
    # --resume: a line without its own command_id gets one derived from the file's lines up to
    # it, so running the same file again after a crash applies only what was not stored yet.
    chain = hashlib.sha256(b"pyengine submit")
    try:
        for n, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            chain.update(hashlib.sha256(line.strip()).digest())
            before = svc.portfolio.last_notification_id
            try:
                cmd, key = parse_command_line(line)
                if key is None and args.resume:
                    key = f"line:{chain.hexdigest()[:32]}"
                stored = svc.submit(cmd, command_id=key)
            except InputError as e:
                raise e.at_line(n) from None
            if stored and stored[-1][0] <= before:
                print(
                    f"pyengine submit: line {n}: already stored at position {stored[0][0]}; not applied again",
                    file=sys.stderr,
                )
            for pos, ev in stored:
                out.write(event_line(pos, ev) + b"\n")
            out.flush()
            head = svc.head
            if args.checkpoint and head is not None:
                checkpoint.write(args.checkpoint, checkpoint.Checkpoint(
                    run=head.run, position=head.position, head=head.hash, store=args.store))  # fmt: skip
    finally:
        svc.close()
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .. import bulk_import
    from ..commands import LeaseSigned

    data = bulk_import.decode(read_text_file(args.file, "FILE"))
    svc = open_service(args.store, must_exist=False, policy_path=args.policy)
    try:
        stored = bulk_import.import_portfolio(svc, data)
        run = svc.portfolio.decision()
    finally:
        svc.close()
    leases = sum(isinstance(ev.payload, LeaseSigned) for _, ev in stored)
    print(
        f"imported {len(data.units):,} units, {len(data.households):,} households and {leases:,} leases as "
        f"{len(stored) - 1:,} events and one MatchRun (run {run.run}: {len(run.assignments):,} matched, "
        f"objective {run.objective:,}, solve {run.solve_ms:.0f} ms) into {args.store}; head {run.result_hash}"
    )
    return 0
