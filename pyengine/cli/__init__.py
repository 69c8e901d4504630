"""`pyengine`: the command line of DESIGN §6.

Exit status: 0 done; 2 bad input (one line naming the field and the reason, nothing stored),
including store URLs that do not name this engine's store and outputs that cannot be
written; 3 a concurrent writer got there first, or held the store's lock too long (nothing
stored); 1 anything else (a replay that finds a divergence, or a bug).

This module assembles the parser (in one place, so `pyengine --help` lists the commands in
their usual order) and maps failures to exit statuses; the commands live in the modules
named for what they do: `instances` (match, generate, stream, export), `record` (demo,
submit, import), `audit` (events, replay, explain), `analysis` (whatif, report sales, report worklist),
`maintenance` (db init, snapshot) and `serve` (serve, token new).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from typing import NoReturn

import structlog

from ..errors import ConcurrencyConflict, InputError, StoreBusy
from ..log import configure_cli_logging
from .analysis import cmd_report_sales, cmd_report_worklist, cmd_whatif
from .audit import cmd_events, cmd_explain, cmd_replay
from .instances import cmd_export, cmd_generate, cmd_match, cmd_stream
from .maintenance import cmd_db_init, cmd_snapshot
from .record import cmd_demo, cmd_import, cmd_submit
from .serve import cmd_serve, cmd_token_new

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, `pyengine <cmd>: error: <field>: <reason>`, exit 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        required = "the following arguments are required: "
        if message.startswith(required):
            message = f"{message[len(required) :]}: required"
        self.exit(2, f"{self.prog}: error: {message.removeprefix('argument ')}\n")


def _non_negative(text: str) -> int:
    """A whole number, 0 or more."""
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
    wi.add_argument(
        "--policy", required=True, action="append", help="a policy file; give several to compare them side by side"
    )
    wi.add_argument("--out", default="whatif", help="folder for the CSV, HTML and PNG files")
    wi.add_argument(
        "--scheduler",
        default=None,
        help="a Dask scheduler (tcp://host:8786) to run the policies on; default: $DASK_SCHEDULER_ADDRESS, "
        "else local processes",
    )
    wi.set_defaults(func=cmd_whatif)

    r = sub.add_parser("report", help="reports read from a store")
    rsub = r.add_subparsers(dest="report", required=True)
    rs = rsub.add_parser("sales", help="rent-to-own per year, with a PNG chart of sales")
    rs.add_argument("--store", required=True)
    rs.add_argument("--png", default="sales-per-year.png")
    rs.set_defaults(func=cmd_report_sales)
    rw = rsub.add_parser(
        "worklist", help="what is due and by when: rent-to-own candidates, renewals, stalled cases, late offers, "
        "expiring valuations",
    )  # fmt: skip
    rw.add_argument("--store", required=True)
    rw.add_argument(
        "--as-of", default=None, metavar="DATE",
        help="the day the list is for (default: the store's date; an earlier day reads the log up to that day)",
    )  # fmt: skip
    rw.add_argument("--json", action="store_true", help="one JSON object: section -> list of rows")
    rw.add_argument("--csv", default=None, metavar="FILE", help="also write every row to FILE, with a section column")
    rw.set_defaults(func=cmd_report_worklist)

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
    ("csv", "--csv"), ("checkpoint", "--checkpoint"), ("instance", "--instance"), ("events", "--events"),
    ("policy", "--policy"), ("file", "FILE"),
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
