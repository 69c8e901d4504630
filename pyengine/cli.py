"""`pyengine`: the command line of DESIGN §6.

Exit status: 0 done; 2 bad input (one line naming the field and the reason, nothing stored),
including store URLs that do not name this engine's store and outputs that cannot be
written; 3 a concurrent writer got there first, or held the store's lock too long (nothing
stored); 1 anything else (a replay that finds a divergence, or a bug).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import msgspec
import structlog

from . import schema
from .errors import ConcurrencyConflict, InputError, StoreBusy, from_validation
from .log import configure_cli_logging


def _read(path: str, field: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise InputError(field, f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _check_output(path: str, field: str) -> None:
    """Refuse an output file that cannot be written before the work, not after it."""
    import os

    p = Path(path)
    if p.is_dir():
        raise InputError(field, f"{path} is a folder")
    folder = p.parent
    if not os.path.isdir(folder):
        raise InputError(field, f"folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(field, f"folder {folder} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(field, f"{path} is read-only")


def _check_output_folder(path: str, field: str, names: Sequence[str]) -> None:
    """Refuse an output folder that cannot be made or written, before the work."""
    import os

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(field, f"{path} is a file, not a folder")
    up = p
    while not os.path.lexists(up) and up != up.parent:  # the folders below it will be made
        up = up.parent
    if not os.path.isdir(up):
        raise InputError(field, f"{up} is not a folder")
    if not os.access(up, os.W_OK | os.X_OK):
        raise InputError(field, f"folder {up} is not writable")
    try:  # permissions do not tell everything (read-only mounts, /proc): make it now
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(field, f"cannot make folder {path}: {e.strerror}") from None
    for name in names:
        _check_output(str(p / name), field)


def _read_text_file(path: str, field: str) -> bytes:
    """A commands or portfolio file; gzipped ones (by their magic bytes) are unpacked."""
    data = _read(path, field)
    if data[:2] == b"\x1f\x8b":
        import gzip
        import zlib

        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(field, f"{path} is not a readable gzip file: {e}") from None
    return data


def cmd_match(args: argparse.Namespace) -> int:
    from .matching import solve_instance
    from .policy import load_policy
    from .schema import decode_instance

    if args.output:
        _check_output(args.output, "--output")
    policy = load_policy(args.policy)
    inst = decode_instance(_read(args.instance, "--instance"))
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


def _require_store(store: str, *, writes: bool = False) -> None:
    """A command that needs an existing store: it must be this engine's (checked read-only, so
    nothing is created where none was and nothing is written into a file that is not a store).
    `writes`: the command also writes (a snapshot), so a URL that opens read-only is refused
    first, before the probe opens anything."""
    from adapters.store import store_env

    if writes and store.startswith("sqlite:///") and "?" in store:
        store_env(store, write=True)  # refuses ?mode=ro (and any other query) without opening
    store_env(store, write=False)


def _open(store: str, must_exist: bool, policy_path: str | None = None) -> object:
    from .policy import load_policy
    from .service import AllocationService

    if must_exist:
        _require_store(store)
    # no --policy: the policy in force in the log stays; a new log gets the packaged v1.
    # A command that needs an existing store only reads it: it opens it read-only.
    return AllocationService(store, load_policy(policy_path) if policy_path else None, write=not must_exist)


def cmd_submit(args: argparse.Namespace) -> int:
    import hashlib

    from . import checkpoint
    from .commands import parse_command_line
    from .events_json import event_line
    from .service import AllocationService

    raw = _read_text_file(args.file, "FILE").removeprefix(schema.BOM)
    if args.checkpoint:
        _check_output(args.checkpoint, "--checkpoint")
    svc = _open(args.store, must_exist=False, policy_path=args.policy)
    assert isinstance(svc, AllocationService)
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
    from adapters import bulk

    from .commands import LeaseSigned
    from .service import AllocationService

    data = bulk.decode(_read_text_file(args.file, "FILE"))
    svc = _open(args.store, must_exist=False, policy_path=args.policy)
    assert isinstance(svc, AllocationService)
    try:
        stored = bulk.import_portfolio(svc, data)
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


def cmd_events(args: argparse.Namespace) -> int:
    from .events_json import check_event_type, event_line
    from .service import AllocationService

    check_event_type(args.type)
    svc = _open(args.store, must_exist=True)
    assert isinstance(svc, AllocationService)
    out = sys.stdout.buffer
    try:
        for pos, ev in svc.stored_events():
            if args.type and type(ev.payload).__name__ != args.type:
                continue
            out.write(event_line(pos, ev) + b"\n")
    finally:
        svc.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .service import AllocationService

    _check_output(args.output, "--output")
    svc = _open(args.store, must_exist=True, policy_path=args.policy)
    assert isinstance(svc, AllocationService)
    try:
        if svc.portfolio.date is None:
            raise InputError("--store", "the log has no DayClosed yet, so no portfolio date")
        data = msgspec.json.format(msgspec.json.encode(svc.portfolio.instance()), indent=1)
    finally:
        svc.close()
    Path(args.output).write_bytes(data + b"\n")
    print(f"wrote {args.output}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .generate import operations, parse_scale, portfolio

    try:
        n_units, n_households = parse_scale(args.scale)
    except ValueError:
        raise InputError("--scale", f"{args.scale!r}: use city, national or a positive number of units") from None
    if not 0.0 <= args.sitting_share <= 1.0:
        raise InputError("--sitting-share", f"{args.sitting_share} is not a share between 0 and 1")
    if args.ops and not args.ops_output:
        raise InputError("--ops-output", "required with --ops")
    _check_output(args.output, "--output")
    if args.ops:
        _check_output(args.ops_output, "--ops-output")
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
    from .matching import Matcher
    from .operations import apply_to_matcher
    from .policy import load_policy
    from .schema import Operation, checked_json, decode_instance

    for path, field in ((args.output, "--output"), (args.final, "--final")):
        if path:
            _check_output(path, field)
    policy = load_policy(args.policy)
    inst = decode_instance(_read(args.instance, "--instance"))
    raw_ops = _read(args.events, "--events").removeprefix(schema.BOM)
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


def cmd_replay(args: argparse.Namespace) -> int:
    from . import checkpoint
    from .replay import Anchor, print_progress, replay

    _require_store(args.store)
    expect = None
    if args.expect_head:
        expect = Anchor(args.expect_head.strip().lower())
    elif args.checkpoint:
        expect = checkpoint.read(args.checkpoint)
    report = replay(args.store, progress=print_progress, expect=expect)
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
    if expect is not None and report.head is not None and report.anchor_run is not None:
        after = report.head.run - report.anchor_run if report.head.run is not None else 0
        print(f"the expected head is run {report.anchor_run}" + (f"; {after} run(s) after it" if after else ""))
    return 1 if report.snapshot_problems else 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    import time

    from .service import AllocationService

    if args.store == "memory:":
        raise InputError("--store", "a memory: store starts empty in every process: there is nothing to snapshot")
    _require_store(args.store, writes=True)
    t0 = time.perf_counter()
    svc = AllocationService(args.store, snapshot_every=0)
    try:
        pf = svc.portfolio
        loaded = time.perf_counter() - t0
        start = f"snapshot at position {svc.loaded_from} + " if svc.loaded_from else ""
        print(f"state rebuilt from {start}{pf.position - svc.snapshot_at if svc.loaded_from else pf.position} "
              f"records in {loaded:.2f} s")  # fmt: skip
        if svc.loaded_from and svc.loaded_from == pf.run_position:
            print(f"the newest snapshot is at the last MatchRun (position {svc.loaded_from}): nothing to do")
            return 0
        state = svc.snapshot()
        if state is None:
            print(
                "no snapshot taken: a snapshot is taken at a MatchRun, and the log has none or has only a record "
                "of an untrusted snapshot after its last one (the next command makes one)"
            )
            return 1
        print(f"snapshot at position {state.position} (run {state.run}, {state.count} events) saved")
        return 0
    finally:
        svc.close()


def cmd_explain(args: argparse.Namespace) -> int:
    import datetime as dt

    from .explain import explain_household, explain_unit, household_text, state_at, unit_text

    _require_store(args.store)
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


def cmd_whatif(args: argparse.Namespace) -> int:
    from .policy import load_policy
    from .whatif import FILES, compare, write

    _require_store(args.store)
    policy = load_policy(args.policy)
    _check_output_folder(args.out, "--out", FILES)  # before re-running the whole history
    out = compare(args.store, policy, progress=True)
    files = write(out, Path(args.out), policy)
    changed = [r for r in out.household_rows.values() if r["unit_actual"] != r["unit_whatif"]]
    print(
        f"{out.runs} runs re-run under policy v{policy.version}: {out.runs_changed} would have proposed "
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
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def cmd_report_sales(args: argparse.Namespace) -> int:
    from .reports import format_table, plot_sales, sales_by_year
    from .service import AllocationService

    _check_output(args.png, "--png")
    svc = _open(args.store, must_exist=True)
    assert isinstance(svc, AllocationService)
    try:
        years = sales_by_year(ev.payload for _, ev in svc.stored_events())
    finally:
        svc.close()
    print(format_table(years))
    if years:
        plot_sales(years, args.png)
        print(f"chart: {args.png}")
    return 0


def cmd_db_init(args: argparse.Namespace) -> int:
    from adapters.store import init_tables, redacted

    init_tables(args.store)
    print(f"tables ready in {redacted(args.store)}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .http import load_tokens, serve

    load_tokens(args.tokens)  # a bad tokens file is bad input before the server starts
    serve(args.store, args.tokens, args.host, args.port)
    return 0


def cmd_token_new(args: argparse.Namespace) -> int:
    from .http import new_token

    print(new_token(args.role, args.tokens))
    print(f"the token's hash was added to {args.tokens}; the token itself is not kept", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.store, args.policy)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, `pyengine <cmd>: error: <field>: <reason>`, exit 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        required = "the following arguments are required: "
        if message.startswith(required):
            message = f"{message[len(required) :]}: required"
        self.exit(2, f"{self.prog}: error: {message.removeprefix('argument ')}\n")


def _non_negative(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is below 0: give 0 or more")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pyengine", description="Housing allocation engine")
    p.add_argument("-v", "--verbose", action="store_true", help="log each step to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="build the pilot-2 scenario in an embedded store and match it")
    d.add_argument("--store", default=None, help="store URL (default: sqlite:///pyengine-demo.db)")
    d.add_argument("--policy", default=None, help="policy file (default: packaged v1)")
    d.set_defaults(func=cmd_demo)

    m = sub.add_parser("match", help="solve one portfolio snapshot from scratch")
    m.add_argument("--instance", required=True)
    m.add_argument("--policy", default=None)
    m.add_argument("--output", default=None)
    m.add_argument("--node-limit", type=_non_negative, default=0, help="branch-and-bound node budget (0: none)")
    m.set_defaults(func=cmd_match)

    g = sub.add_parser("generate", help="write a seeded synthetic portfolio (and an operation stream)")
    g.add_argument("--scale", default="city", help="city, national or a number of units")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--output", required=True)
    g.add_argument("--sitting-share", type=float, default=0.75, help="share of households that are sitting tenants")
    g.add_argument("--no-caps", action="store_true", help="write the instance without mix caps")
    g.add_argument("--ops", type=_non_negative, default=0, help="also write this many mixed operations")
    g.add_argument("--ops-output", default=None)
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser("stream", help="load a snapshot, apply operations one by one, re-match after each")
    t.add_argument("--instance", required=True)
    t.add_argument("--events", required=True, help="operations, one JSON object a line")
    t.add_argument("--policy", default=None)
    t.add_argument("--output", default=None, help="JSON lines, one per operation (default: stdout)")
    t.add_argument("--final", default=None, help="write the last result as a result file")
    t.add_argument("--node-limit", type=_non_negative, default=0)
    t.set_defaults(func=cmd_stream)

    s = sub.add_parser("submit", help="apply domain commands (JSON lines) and print their events")
    s.add_argument("--store", required=True)
    s.add_argument("--policy", default=None)
    s.add_argument("file", metavar="FILE", help="JSON lines (optionally gzipped)")
    s.add_argument("--checkpoint", default=None, help="after each command, write the log's head to this file")
    s.add_argument(
        "--resume", action="store_true",
        help="give each line without a command_id one derived from the file, so that running the file again "
        "(after a crash) stores only the lines not stored yet and prints the stored events of the others",
    )  # fmt: skip
    s.set_defaults(func=cmd_submit)

    im = sub.add_parser("import", help="store a portfolio file (instance form, JSON) as events, matched once")
    im.add_argument("--store", required=True)
    im.add_argument("--policy", default=None)
    im.add_argument("file", metavar="FILE", help="instance-form JSON (optionally gzipped), with optional domain fields")
    im.set_defaults(func=cmd_import)

    e = sub.add_parser("events", help="print the stored events as JSON lines")
    e.add_argument("--store", required=True)
    e.add_argument("--type", default=None)
    e.set_defaults(func=cmd_events)

    v = sub.add_parser("replay", help="replay a stored log and verify every recorded MatchRun")
    v.add_argument("--store", required=True)
    anchor = v.add_mutually_exclusive_group()
    anchor.add_argument("--expect-head", default=None, metavar="HASH", help="fail unless the log holds this head")
    anchor.add_argument("--checkpoint", default=None, help="fail unless the log holds the head in this file")
    v.set_defaults(func=cmd_replay)

    sn = sub.add_parser("snapshot", help="save a snapshot of the state at the end of the log (faster starts)")
    sn.add_argument("--store", required=True)
    sn.set_defaults(func=cmd_snapshot)

    ex = sub.add_parser("explain", help="why a household got a unit (or none), or why a unit went to whom")
    ex.add_argument("--store", required=True)
    who = ex.add_mutually_exclusive_group(required=True)
    who.add_argument("--household")
    who.add_argument("--unit")
    when = ex.add_mutually_exclusive_group()
    when.add_argument("--run", type=int, default=None)
    when.add_argument("--at", default=None, help="the last run on or before this date")
    ex.add_argument("--json", action="store_true", help="the explanation as JSON")
    ex.set_defaults(func=cmd_explain)

    wi = sub.add_parser("whatif", help="re-run the history under another policy and report what would change")
    wi.add_argument("--store", required=True)
    wi.add_argument("--policy", required=True)
    wi.add_argument("--out", default="whatif", help="folder for the CSV, HTML and PNG files")
    wi.set_defaults(func=cmd_whatif)

    r = sub.add_parser("report", help="reports read from a store")
    rsub = r.add_subparsers(dest="report", required=True)
    rs = rsub.add_parser("sales", help="rent-to-own per year, with a PNG chart of sales")
    rs.add_argument("--store", required=True)
    rs.add_argument("--png", default="sales-per-year.png")
    rs.set_defaults(func=cmd_report_sales)

    db = sub.add_parser("db", help="store administration")
    dbsub = db.add_subparsers(dest="db", required=True)
    di = dbsub.add_parser("init", help="create the engine's tables once (PostgreSQL stores need it before first use)")
    di.add_argument("--store", required=True)
    di.set_defaults(func=cmd_db_init)

    sv = sub.add_parser("serve", help="the HTTP service (commands, events, decision, explain, replay, reports)")
    sv.add_argument("--store", required=True)
    sv.add_argument("--tokens", required=True, help="file of role:sha256 lines (pyengine token new)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.set_defaults(func=cmd_serve)

    tk = sub.add_parser("token", help="HTTP access tokens")
    tksub = tk.add_subparsers(dest="token", required=True)
    tn = tksub.add_parser("new", help="print a new token for a role and add its hash to the tokens file")
    tn.add_argument("--role", required=True, choices=["clerk", "auditor", "analyst"])
    tn.add_argument("--tokens", required=True)
    tn.set_defaults(func=cmd_token_new)

    x = sub.add_parser("export", help="write the current portfolio as an instance file")
    x.add_argument("--store", required=True)
    x.add_argument("--policy", default=None)
    x.add_argument("--output", required=True)
    x.set_defaults(func=cmd_export)
    return p


# options naming files, for an OSError that names one (output options first)
_PATH_OPTIONS = (
    ("output", "--output"), ("final", "--final"), ("ops_output", "--ops-output"), ("out", "--out"), ("png", "--png"),
    ("checkpoint", "--checkpoint"), ("instance", "--instance"), ("events", "--events"), ("policy", "--policy"),
    ("file", "FILE"),
)  # fmt: skip
# where a command's input is decoded: a RecursionError there is a file nested too deeply
_NESTED = {"match": "--instance", "stream": "--instance/--events", "submit": "FILE", "import": "FILE"}


def _path_error(e: OSError, args: argparse.Namespace) -> InputError | None:
    """An OSError about a file named on the command line, as bad input naming its option."""
    import os

    if not isinstance(e.filename, str | bytes):
        return None
    name = os.fsdecode(e.filename)
    failed = os.path.abspath(name)
    for dest, flag in _PATH_OPTIONS:
        value = getattr(args, dest, None)
        if isinstance(value, str) and value:
            given = os.path.abspath(value)
            if failed == given or failed.startswith(given.rstrip("/") + "/"):  # a file in an --out folder
                return InputError(flag, f"{name}: {e.strerror or e}")
    return None


def _store_failure(e: Exception, args: argparse.Namespace) -> InputError | StoreBusy | None:
    """A SQLite failure (busy, damaged, full, ...) as the error a user sees, if it is one."""
    if "adapters.store" not in sys.modules:  # no store was opened
        return None
    from adapters.store import store_error

    return store_error(e, getattr(args, "store", None))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_cli_logging(args.verbose)
    structlog.contextvars.bind_contextvars(cli_run=uuid.uuid4().hex[:12], command=args.command)
    try:
        try:
            return int(args.func(args))
        except (InputError, ConcurrencyConflict, BrokenPipeError):
            raise
        except RecursionError:  # a decoder met a document nested deeper than Python's stack
            raise InputError(_NESTED.get(args.command, "input"), "nested too deeply to read") from None
        except OSError as e:  # an output path that turned unwritable after the checks
            mapped = _path_error(e, args)
            if mapped is None:
                raise
            raise mapped from None
        except Exception as e:
            failure = _store_failure(e, args)
            if failure is None:
                raise
            raise failure from e
    except InputError as e:
        print(f"pyengine {args.command}: error: {e.message()}", file=sys.stderr)
        return 2
    except StoreBusy as e:
        print(f"pyengine {args.command}: {e}", file=sys.stderr)
        return 3
    except ConcurrencyConflict as e:
        print(f"pyengine {args.command}: conflict: {e}", file=sys.stderr)
        return 3
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
