"""Instance files (DESIGN §6): `match` and `stream` solve one, `generate` writes a synthetic
one, `export` writes a store's current portfolio as one. Only `export` touches a store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from .. import schema
from ..errors import InputError, from_validation
from ._common import check_output, open_service, read_input


def cmd_match(args: argparse.Namespace) -> int:
    from ..matching import solve_instance
    from ..policy import load_policy
    from ..schema import decode_instance

    if args.output:
        check_output(args.output, "--output")
    policy = load_policy(args.policy)
    inst = decode_instance(read_input(args.instance, "--instance"))
    result = solve_instance(inst, policy, node_limit=args.node_limit)
    data = msgspec.json.format(msgspec.json.encode(result), indent=1)
    if args.output:
        Path(args.output).write_bytes(data + b"\n")
        gap = "" if result.optimal else f" gap={result.bound - result.objective}"
        print(
            f"matched {len(result.assignments)} of {len(inst.households)} households to "
            f"{len(inst.units)} units: objective={result.objective} bound={result.bound}{gap} "
            f"solve_ms={result.solve_ms} -> {args.output}"
        )
    else:
        sys.stdout.buffer.write(data + b"\n")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from ..generate import operations, parse_scale, portfolio

    try:
        n_units, n_households = parse_scale(args.scale)
    except ValueError:
        raise InputError("--scale", f"{args.scale!r}: use city, national or a positive number of units") from None
    if not 0.0 <= args.sitting_share <= 1.0:
        raise InputError("--sitting-share", f"{args.sitting_share} is not a share between 0 and 1")
    if args.ops and not args.ops_output:
        raise InputError("--ops-output", "required with --ops")
    check_output(args.output, "--output")
    if args.ops:
        check_output(args.ops_output, "--ops-output")
    inst = portfolio(n_units, n_households, seed=args.seed, sitting_share=args.sitting_share)
    if args.no_caps:
        inst = msgspec.structs.replace(inst, caps=[])
    Path(args.output).write_bytes(msgspec.json.encode(inst) + b"\n")
    print(f"wrote {args.output}: {len(inst.units)} units, {len(inst.households)} households (seed {args.seed})")
    if args.ops:
        enc = msgspec.json.Encoder()
        with open(args.ops_output, "wb") as f:
            for op in operations(inst, args.ops, seed=args.seed + 1):
                f.write(enc.encode(op) + b"\n")
        print(f"wrote {args.ops_output}: {args.ops} operations")
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    from ..matching import Matcher
    from ..operations import apply_to_matcher
    from ..policy import load_policy
    from ..schema import Operation, checked_json, decode_instance

    for path, field in ((args.output, "--output"), (args.final, "--final")):
        if path:
            check_output(path, field)
    policy = load_policy(args.policy)
    inst = decode_instance(read_input(args.instance, "--instance"))
    raw_ops = read_input(args.events, "--events").removeprefix(schema.BOM)
    m = Matcher(policy)
    m.load(inst)
    summary = m.rematch(args.node_limit)  # the snapshot; operations then re-match from here
    decoder: msgspec.json.Decoder[Operation] = msgspec.json.Decoder(Operation)
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    enc = msgspec.json.Encoder()
    try:
        seq = 0
        for n, line in enumerate(raw_ops.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                try:
                    op = decoder.decode(checked_json(line))
                except (msgspec.ValidationError, msgspec.DecodeError) as e:
                    raise from_validation(e) from None
                apply_to_matcher(m, op)
                # Only the figures per operation: rendering every assignment would cost more
                # than the re-match itself at scale; the assignments go to --final.
                summary = m.rematch(args.node_limit)
            except InputError as e:
                raise e.at_line(n) from None
            seq += 1
            row = {
                "seq": seq, "objective": summary.objective, "bound": summary.bound,
                "matched": summary.matched, "solve_us": round(summary.solve_ms * 1000),
            }  # fmt: skip
            out.write(enc.encode(row) + b"\n")
    finally:
        if args.output:
            out.close()
    if args.final:
        result = m.result(summary.solve_ms)
        Path(args.final).write_bytes(msgspec.json.format(msgspec.json.encode(result), indent=1) + b"\n")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    check_output(args.output, "--output")
    svc = open_service(args.store, must_exist=True, policy_path=args.policy)
    try:
        if svc.portfolio.date is None:
            raise InputError("--store", "the log has no DayClosed yet, so no portfolio date")
        data = msgspec.json.format(msgspec.json.encode(svc.portfolio.instance()), indent=1)
    finally:
        svc.close()
    Path(args.output).write_bytes(data + b"\n")
    print(f"wrote {args.output}")
    return 0
