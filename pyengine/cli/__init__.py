"""`pyengine`: the command line of DESIGN §6.

Exit status: 0 done; 2 bad input (one line naming the field and the reason, nothing stored),
including store URLs that do not name this engine's store and outputs that cannot be
written; 3 a concurrent writer got there first, or held the store's lock too long (nothing
stored); 1 anything else (a replay that finds a divergence, or a bug).

This module assembles the parser (in one place, so `pyengine --help` lists the commands in
their usual order; the `report` sub-commands in `report_parsers`, shared help texts in
`options`) and maps failures to exit statuses; the commands live in the modules
named for what they do: `instances` (match, generate, stream, export), `record` (demo,
submit, import), `audit` (events, replay, explain), `analysis` (whatif, report sales, report
worklist, report fairness, report reasons), `maintenance` (db init, snapshot) and `serve`
(serve, token new).
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
from .analysis import cmd_whatif
from .audit import cmd_events, cmd_explain, cmd_replay
from .instances import cmd_export, cmd_generate, cmd_match, cmd_stream
from .maintenance import cmd_db_init, cmd_snapshot
from .options import NODE_LIMIT, POLICY_ADOPT, POLICY_FILE, STORE_NEW, STORE_READ, non_negative
from .record import cmd_demo, cmd_import, cmd_submit
from .report_parsers import add_report_parsers
from .serve import cmd_serve, cmd_token_new

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, `pyengine <cmd>: error: <field>: <reason>`, exit 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        required = "the following arguments are required: "
        if message.startswith(required):
            message = f"{message[len(required) :]}: required"
        self.exit(2, f"{self.prog}: error: {message.removeprefix('argument ')}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pyengine",
        description="Housing allocation engine: records a housing portfolio as events in a store, re-matches "
        "households to units after each command, and reads the history back. "
        "`pyengine COMMAND --help` describes a command.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log each step to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "demo", help="build the pilot-2 scenario in a store and match it",
        description="Submit the pilot-2 scenario (Svartlamon model, Trondheim 2021) to a store as domain "
        "commands, re-matching after each, and print the final allocation with each proposal's score breakdown, "
        "the mix caps and the shared tasks each stairwell covers. Writes the events and MatchRuns to the store.",
    )  # fmt: skip
    d.add_argument(
        "--store", default=None, metavar="URL",
        help=f"{STORE_NEW}; it must hold no events (default: sqlite:///pyengine-demo.db, deleted and rebuilt "
        "on every run)",
    )  # fmt: skip
    d.add_argument(
        "--policy", default=None, metavar="FILE",
        help=f"{POLICY_FILE} (default: the foundation's, the packaged v1 with task-coverage rules: +100 points "
        "per shared task a stairwell lacks, +50 per task a floor lacks)",
    )  # fmt: skip
    d.set_defaults(func=cmd_demo)

    m = sub.add_parser(
        "match", help="solve one portfolio snapshot from scratch",
        description="Read an instance file (a portfolio at one date), solve the allocation under the policy and "
        "write the result as JSON: every assignment with its score breakdown, the unmatched households, "
        "objective, bound and cap usage. Uses no store.",
    )  # fmt: skip
    m.add_argument(
        "--instance", required=True, metavar="FILE",
        help="instance file (JSON, not gzipped: as_of, units, households and optional caps), as generate "
        "or export writes it",
    )  # fmt: skip
    m.add_argument(
        "--policy", default=None, metavar="FILE",
        help=f"{POLICY_FILE} (default: the packaged v1); caps in the instance replace the policy's",
    )  # fmt: skip
    m.add_argument(
        "--output", default=None, metavar="FILE",
        help="write the result here and print a one-line summary (default: the result to stdout)",
    )  # fmt: skip
    m.add_argument("--node-limit", type=non_negative, default=0, metavar="N", help=NODE_LIMIT)
    m.set_defaults(func=cmd_match)

    g = sub.add_parser(
        "generate", help="write a seeded synthetic portfolio (and an operation stream)",
        description="Write a synthetic portfolio as an instance file (for match, stream or import); the same "
        "seed gives the same file. With --ops, also write a stream of operations on it for stream. Uses no store.",
    )  # fmt: skip
    g.add_argument(
        "--scale", default="city",
        help="city (4,050 units, 4,000 households), national (100,000 of each) or N (N units, N households) "
        "(default: %(default)s)",
    )  # fmt: skip
    g.add_argument(
        "--seed", type=int, default=1, help="random seed; the operations use SEED + 1 (default: %(default)s)"
    )
    g.add_argument("--output", required=True, metavar="FILE", help="instance file to write (JSON)")
    g.add_argument(
        "--sitting-share", type=float, default=0.75, metavar="SHARE",
        help="share of households that are sitting tenants, 0 to 1 (default: %(default)s)",
    )  # fmt: skip
    g.add_argument(
        "--no-caps", action="store_true",
        help='write "caps": [] (no mix cap) instead of a cap of 30%% disadvantaged households per building',
    )  # fmt: skip
    g.add_argument(
        "--ops", type=non_negative, default=0, metavar="N",
        help="also write N mixed operations (applications, withdrawals, move-outs, units withdrawn, accepted "
        "offers, new dates) to --ops-output (default: %(default)s)",
    )  # fmt: skip
    g.add_argument(
        "--ops-output", default=None, metavar="FILE",
        help="file for the operations, one JSON object a line (required with --ops)",
    )  # fmt: skip
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser(
        "stream", help="load a snapshot, apply operations one by one, re-match after each",
        description="Solve an instance file, then apply operations to it one at a time (upsert_household, "
        "remove_household, upsert_unit, remove_unit, set_as_of), re-matching incrementally after each. Writes "
        "one JSON line of figures per operation and, with --final, the last result. Uses no store.",
    )  # fmt: skip
    t.add_argument("--instance", required=True, metavar="FILE", help="instance file to start from (JSON, as for match)")
    t.add_argument(
        "--events", required=True, metavar="FILE",
        help='operations, one JSON object a line with an "op" field (as generate --ops writes them)',
    )  # fmt: skip
    t.add_argument(
        "--policy", default=None, metavar="FILE",
        help=f"{POLICY_FILE} (default: the packaged v1); caps in the instance replace the policy's",
    )  # fmt: skip
    t.add_argument(
        "--output", default=None, metavar="FILE",
        help="JSON lines, one per operation: seq, objective, bound, matched, solve_us (default: stdout)",
    )  # fmt: skip
    t.add_argument(
        "--final", default=None, metavar="FILE",
        help="also write the result after the last operation (JSON, as match writes it)",
    )  # fmt: skip
    t.add_argument("--node-limit", type=non_negative, default=0, metavar="N", help=NODE_LIMIT)
    t.set_defaults(func=cmd_stream)

    s = sub.add_parser(
        "submit", help="apply domain commands (JSON lines) and print their events",
        description="Apply domain commands (docs/events.md) to a store one at a time: each is stored with the "
        "events it raised and one MatchRun, and those events are printed as JSON lines. A refused line stops "
        "the run (exit 2, naming the line); the lines before it stay stored.",
    )  # fmt: skip
    s.add_argument("--store", required=True, metavar="URL", help=STORE_NEW)
    s.add_argument("--policy", default=None, metavar="FILE", help=POLICY_ADOPT)
    s.add_argument("file", metavar="FILE", help="domain commands, one JSON object a line (optionally gzipped)")
    s.add_argument(
        "--checkpoint", default=None, metavar="FILE",
        help="after each command, write the log's head (run, position, head) to FILE, for replay --checkpoint",
    )  # fmt: skip
    s.add_argument(
        "--resume", action="store_true",
        help="give each line without a command_id one derived from the file, so that running the file again "
        "(after a crash) stores only the lines not stored yet and prints the stored events of the others",
    )  # fmt: skip
    s.set_defaults(func=cmd_submit)

    im = sub.add_parser(
        "import", help="store a portfolio file (instance form, JSON) as events, matched once",
        description="Store a portfolio file (the instance form, as export writes it, with optional domain "
        "fields) as DayClosed, UnitRegistered, ApplicationSubmitted and LeaseSigned events and one MatchRun, in "
        "one write, and print a summary. A bad file stores nothing.",
    )  # fmt: skip
    im.add_argument("--store", required=True, metavar="URL", help=STORE_NEW)
    im.add_argument(
        "--policy", default=None, metavar="FILE", help=f"{POLICY_ADOPT}; caps in the file must be this policy's"
    )
    im.add_argument("file", metavar="FILE", help="instance-form JSON (optionally gzipped), with optional domain fields")
    im.set_defaults(func=cmd_import)

    e = sub.add_parser(
        "events", help="print the stored events as JSON lines",
        description="Print the stored events in log order, one JSON object a line (position, stream, version, "
        "recorded_at, type, schema and the payload's fields). Writes nothing to the store.",
    )  # fmt: skip
    e.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    e.add_argument(
        "--type", default=None, metavar="NAME",
        help="only events of this type, e.g. MatchRun or LeaseSigned (the types: docs/events.md)",
    )  # fmt: skip
    e.set_defaults(func=cmd_events)

    v = sub.add_parser(
        "replay", help="replay a stored log and verify every recorded MatchRun",
        description="Re-run every recorded MatchRun at its position in the log, from the first record, and "
        "check its hashes; compare each stored snapshot with the state replayed there. Prints progress on "
        "stderr, then a summary and the log's head. Exit 1 at the first divergence or a snapshot mismatch. "
        "Writes nothing to the store.",
    )  # fmt: skip
    v.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    anchor = v.add_mutually_exclusive_group()
    anchor.add_argument(
        "--expect-head", default=None, metavar="HASH",
        help="fail (exit 1) unless the log holds this head: a MatchRun's result_hash, kept outside the database",
    )  # fmt: skip
    anchor.add_argument(
        "--checkpoint", default=None, metavar="FILE",
        help="fail (exit 1) unless the log holds the head in this file (written by submit --checkpoint)",
    )  # fmt: skip
    v.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="processes that share the verification, each taking one stretch of the log (default: 2 on a "
        "machine with more than one core for a log of 200,000 records or more, else 1)",
    )  # fmt: skip
    v.set_defaults(func=cmd_replay)

    sn = sub.add_parser(
        "snapshot", help="save a snapshot of the state at the end of the log (faster starts)",
        description="Rebuild the state at the end of the log and save it as a snapshot in the same store, "
        "recorded by a SnapshotRecorded event, so later starts fold only the records after it. Nothing to do "
        "when the newest snapshot is at the last MatchRun; exit 1 when none can be taken.",
    )  # fmt: skip
    sn.add_argument(
        "--store", required=True, metavar="URL",
        help="URL of an existing store that may be written: sqlite:///FILE.db (relative; sqlite:////ABS/PATH.db "
        "absolute) or postgresql://USER:PASSWORD@HOST:PORT/DB",
    )  # fmt: skip
    sn.set_defaults(func=cmd_snapshot)

    ex = sub.add_parser(
        "explain", help="why a household got a unit (or none), or why a unit went to whom",
        description="Explain one MatchRun's decision: for a household, the unit proposed with its score "
        "breakdown and the rules that excluded other units; for a unit, who got it and the runners-up. Prints "
        "text, or JSON. Writes nothing to the store.",
    )  # fmt: skip
    ex.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    who = ex.add_mutually_exclusive_group(required=True)
    who.add_argument("--household", metavar="ID", help="the household to explain (its id)")
    who.add_argument("--unit", metavar="ID", help="the unit to explain (its id)")
    when = ex.add_mutually_exclusive_group()
    when.add_argument("--run", type=int, default=None, metavar="N", help="the run with this number (default: the last)")
    when.add_argument("--at", default=None, metavar="DATE", help="the last run on or before this date (YYYY-MM-DD)")
    ex.add_argument("--json", action="store_true", help="print the explanation as JSON instead of text")
    ex.set_defaults(func=cmd_explain)

    wi = sub.add_parser(
        "whatif", help="re-run the history under another policy and report what would change",
        description="Re-run the stored history under one or more other policies and compare with what was "
        "proposed; print a summary. Writes runs.csv, households.csv, buildings.csv, disadvantaged-share.png and "
        "whatif.html to --out; with several policies (or a scheduler), one such folder per policy (named after "
        "its file) and policies.csv, policies.png and index.html beside them. Writes nothing to the store.",
    )  # fmt: skip
    wi.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    wi.add_argument(
        "--policy", required=True, action="append", metavar="FILE",
        help=f"{POLICY_FILE}; give several to compare them side by side",
    )  # fmt: skip
    wi.add_argument(
        "--out", default="whatif", metavar="DIR",
        help="folder for the CSV, HTML and PNG files, made if missing (default: %(default)s)",
    )  # fmt: skip
    wi.add_argument(
        "--scheduler",
        default=None,
        metavar="URL",
        help="a Dask scheduler (tcp://host:8786) to run the policies on; default: $DASK_SCHEDULER_ADDRESS, "
        "else local processes",
    )
    wi.set_defaults(func=cmd_whatif)

    add_report_parsers(sub)

    db = sub.add_parser("db", help="store administration", description="Store administration.")
    dbsub = db.add_subparsers(dest="db", required=True)
    di = dbsub.add_parser(
        "init", help="create the engine's tables once (PostgreSQL stores need it before first use)",
        description="Create the engine's tables in the store (existing ones are kept). A PostgreSQL store needs "
        "this once before any other command, since no other command creates tables there; a SQLite file gets "
        "its tables from the first command that writes to it.",
    )  # fmt: skip
    di.add_argument(
        "--store", required=True, metavar="URL",
        help="store URL: postgresql://USER:PASSWORD@HOST:PORT/DB, or sqlite:///FILE.db (made if missing)",
    )  # fmt: skip
    di.add_argument(
        "--erasable", action="store_true",
        help="also keep a key per household: the personal fields of applications stored from now on are encrypted "
        "with it, and ErasureRequested deletes it (crypto-shredding; the log and its hashes stay as they are)",
    )  # fmt: skip
    di.set_defaults(func=cmd_db_init)

    sv = sub.add_parser(
        "serve", help="the HTTP service (commands, events, decision, explain, replay, reports)",
        description="Run the HTTP service on HOST:PORT until stopped: each route answers the roles the tokens "
        "file grants (README, HTTP service); the OpenAPI document is at /schema/openapi.json. Clerks' commands "
        "are written to the store.",
    )  # fmt: skip
    sv.add_argument("--store", required=True, metavar="URL", help=STORE_NEW)
    sv.add_argument(
        "--tokens", required=True, metavar="FILE", help="file of role:sha256 lines, as pyengine token new writes them"
    )
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    sv.add_argument("--port", type=int, default=8000, help="TCP port to listen on (default: %(default)s)")
    sv.set_defaults(func=cmd_serve)

    tk = sub.add_parser("token", help="HTTP access tokens", description="Access tokens for the HTTP service.")
    tksub = tk.add_subparsers(dest="token", required=True)
    tn = tksub.add_parser(
        "new", help="print a new token for a role and add its hash to the tokens file",
        description="Make a random token for a role, print it once on stdout and append role:sha256 of it to "
        "the tokens file; the token itself is kept nowhere.",
    )  # fmt: skip
    tn.add_argument(
        "--role", required=True, choices=["clerk", "auditor", "analyst"],
        help="what the token may do: clerk, auditor or analyst (the routes of each: README, HTTP service)",
    )  # fmt: skip
    tn.add_argument(
        "--tokens", required=True, metavar="FILE", help="tokens file to append the hash to (made if missing)"
    )
    tn.set_defaults(func=cmd_token_new)

    x = sub.add_parser(
        "export", help="write the current portfolio as an instance file",
        description="Write the store's portfolio at its date (active units, households not withdrawn, the caps "
        "of the policy in force) as an instance file, for match, stream or import. Writes nothing to the store.",
    )  # fmt: skip
    x.add_argument("--store", required=True, metavar="URL", help=STORE_READ)
    x.add_argument(
        "--policy", default=None, metavar="FILE",
        help=f"{POLICY_FILE}; only read and checked: the file gets the caps of the policy in force in the log",
    )  # fmt: skip
    x.add_argument("--output", required=True, metavar="FILE", help="instance file to write (JSON)")
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
