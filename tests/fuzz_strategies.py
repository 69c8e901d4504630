"""Inputs for the fuzz suite (`tests/test_fuzz.py`, issue 14) and an in-process CLI runner.

Valid inputs for the pilot-2 store (domain commands, instance and portfolio files, stream
operations, a policy) and hypothesis strategies that spoil them: wrong types, out-of-range and
huge integers, far dates, unknown and missing fields, a client-set `schema`, duplicated JSON
keys, a UTF-8 BOM, deep nesting, non-UTF-8 bytes, empty lines, truncation, gzip.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
import logging
import signal
import sqlite3
import sys
import tomllib
import traceback
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

from hypothesis import strategies as st

from pyengine.cli import main
from tests.test_cli import good_instance

ROOT = Path(__file__).resolve().parents[1]
PILOT2_COMMANDS = ROOT / "replays" / "pilot2" / "commands.jsonl"
# every pilot-2 command is stored with one MatchRun, so the last run's number is the line count
PILOT2_RUNS = sum(1 for line in PILOT2_COMMANDS.read_bytes().splitlines() if line.strip())
TODAY = "2021-05-01"  # the pilot-2 store's date
NEXT_DAY = "2021-05-02"
EXPLAIN_HOUSEHOLD = "S001"  # an applicant of pilot 2 that no fuzzed command names

Json = Any


# --- running the CLI in-process ----------------------------------------------------------------
CALL_TIMEOUT_S = 120


class CallTimeout(Exception):
    """Raised by SIGALRM in a CLI call that hangs (reported like any escaping exception)."""


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    code: int
    out: bytes
    err: str
    crash: str | None  # the traceback of an exception that escaped `main` (the CLI's exit 1)

    def last_line(self) -> str:
        """The traceback's last line, else stderr's, else stdout's."""
        for text in (self.crash or "", self.err, self.out.decode("utf-8", "replace")):
            lines = text.strip().splitlines()
            if lines:
                return lines[-1]
        return ""

    def describe(self) -> str:
        argv = " ".join(a if len(a) < 200 else a[:200] + "..." for a in self.argv)
        return f"pyengine {argv} -> exit {self.code}: {self.last_line()[:500]}"


def run_cli(*argv: str, timeout: int = CALL_TIMEOUT_S) -> Outcome:
    """`pyengine ARGV` in this process: exit code, stdout bytes, stderr text, escaped traceback."""
    out, err = io.BytesIO(), io.BytesIO()
    out_t = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    err_t = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    logger = logging.getLogger("pyengine")
    handlers, level = list(logger.handlers), logger.level
    crash: str | None = None
    code = 1

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise CallTimeout(f"no answer within {timeout} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(timeout)
    try:
        with contextlib.redirect_stdout(out_t), contextlib.redirect_stderr(err_t):
            try:
                code = main(list(argv))
            except SystemExit as e:  # argparse: usage errors exit 2
                if isinstance(e.code, int):
                    code = e.code
                elif e.code is None:
                    code = 0
                else:
                    print(e.code, file=sys.stderr)
                    code = 1
            except KeyboardInterrupt:
                raise
            except BaseException:
                crash = traceback.format_exc()
                code = 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        logger.handlers[:] = handlers  # main() adds a stderr handler on every call
        logger.setLevel(level)
        out_t.flush()
        err_t.flush()
        out_t.detach()
        err_t.detach()
    return Outcome(tuple(argv), code, out.getvalue(), err.getvalue().decode("utf-8", "backslashreplace"), crash)


def tree_state(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under `root`, by relative path."""
    state: dict[str, bytes | None] = {}
    if not root.exists():
        return state
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        state[rel] = p.read_bytes() if p.is_file() else None
    return state


def tree_diff(before: dict[str, bytes | None], after: dict[str, bytes | None]) -> str:
    """What changed between two `tree_state`s, for a message."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added {added}, removed {removed}, changed {changed}"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path gives sqlite:////...


# --- valid inputs ------------------------------------------------------------------------------
def unit_cmd(uid: str, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "UnitRegistered", "id": uid, "building": "Blokk-Z", "stairwell": "Z9", "floor": 1,
        "rooms": 3, "area_m2": 71.5, "rent_nok_month": 8400, "accessible": True, "kind": "ordinary",
        "owner": "foundation", "tenure": "wholly_owned", "district": "Lademoen", "school_district": "Lademoen",
        "grant": None,
    }  # fmt: skip
    doc.update(kw)
    return doc


def application_cmd(hid: str, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "ApplicationSubmitted", "id": hid, "applied_on": "2020-03-14", "adults": 2, "children": 1,
        "needs_accessible": False, "care_need": False, "monthly_income_nok": 28000, "stable_income": False,
        "disadvantaged": True, "refugee_settled_on": "2019-06-01", "skills": ["gardening", "music"],
        "preferred_districts": ["Lademoen"], "school_district": "Lademoen", "urgency": 1, "current_unit": None,
        "transfer_requested": False,
    }  # fmt: skip
    doc.update(kw)
    return doc


def offer_cmd(**kw: Any) -> dict[str, Any]:
    """The offer the bug report names: S003 is proposed B3-4a by pilot 2's last run."""
    doc: dict[str, Any] = {"type": "OfferMade", "household": "S003", "unit": "B3-4a"}
    doc.update(kw)
    return doc


# commands each valid on the pilot-2 store as it is
BASE_COMMANDS: list[dict[str, Any]] = [
    {"type": "DayClosed", "date": NEXT_DAY},
    unit_cmd("Z9-1a"),
    unit_cmd("Z9-1b", grant={"amount_nok": 250000, "granted_on": "2018-02-01", "depreciation_years": 20}),
    {"type": "UnitRentChanged", "id": "A1-1a", "rent_nok_month": 7100},
    {"type": "UnitWithdrawn", "id": "A1-1b", "reason": "renovation", "code": "renovation"},
    {"type": "UnitsMerged", "units": ["A2-4a", "A2-4b"], "into": unit_cmd("A2-4F", building="Blokk-A",
                                                                          stairwell="A2", floor=4, rooms=4)},
    application_cmd("F001"),
    {"type": "ApplicationUpdated", "id": "S010", "urgency": 2, "children": 1, "skills": ["cooking"]},
    {"type": "ApplicationWithdrawn", "id": "S010", "reason": "moved away", "code": "moved_away"},
    offer_cmd(reply_by="2021-05-15", run=PILOT2_RUNS),
    {"type": "LeaseSigned", "household": "T02", "unit": "A1-4a", "start": "2019-01-01", "end": "2022-01-01",
     "rent_nok_month": 6800},
    {"type": "TenantMovedOut", "household": "T03", "on": TODAY, "reason": "moved to Oslo"},
    {"type": "UnitAcquired", "unit": unit_cmd("Z9-2a", tenure="cooperative"), "price_nok": 0, "on": TODAY},
]  # fmt: skip

# what turns the pilot-2 store into the "rich" store: an open offer, a lease due for renewal,
# an open rent-to-own case, a withdrawn unit
RICH_SETUP: list[dict[str, Any]] = [
    offer_cmd(reply_by="2021-05-20"),
    {"type": "LeaseSigned", "household": "T02", "unit": "A1-4a", "start": "2018-10-01", "end": "2021-10-01",
     "rent_nok_month": 6800},
    unit_cmd("C1-1a", building="Coop-C", stairwell="C1", owner="municipality", tenure="cooperative",
             grant={"amount_nok": 200000, "granted_on": "2015-03-01", "depreciation_years": None}),
    application_cmd("C01", applied_on=None, current_unit="C1-1a", stable_income=True, refugee_settled_on=None,
                    disadvantaged=False, monthly_income_nok=45000),
    {"type": "PurchaseInterestRegistered", "household": "C01", "unit": "C1-1a", "on": TODAY},
    {"type": "UnitWithdrawn", "id": "A2-4b", "reason": "water damage", "code": "damage"},
    {"type": "DayClosed", "date": NEXT_DAY},  # raises LeaseRenewalDue for T02
]  # fmt: skip

# commands each valid on the rich store
RICH_COMMANDS: list[dict[str, Any]] = [
    {"type": "OfferAccepted", "household": "S003", "unit": "B3-4a"},
    {"type": "OfferDeclined", "household": "S003", "unit": "B3-4a", "reason": "too far", "code": "wrong_district"},
    {"type": "OfferExpired", "household": "S003", "unit": "B3-4a"},
    {"type": "AssessLeaseRenewal", "household": "T02", "on": NEXT_DAY, "economic_assessment_positive": True},
    {"type": "AssessLeaseRenewal", "household": "T02", "on": NEXT_DAY, "economic_assessment_positive": False},
    {"type": "LeaseNotRenewed", "household": "T02", "on": NEXT_DAY, "reason": "arrears", "code": "rent_arrears"},
    {"type": "LeaseTerminated", "household": "T02", "unit": "A1-4a", "on": NEXT_DAY, "reason": "ended",
     "code": "tenant_gave_notice"},
    {"type": "TenantMovedOut", "household": "T03", "on": NEXT_DAY},
    {"type": "EconomicAssessmentRecorded", "unit": "C1-1a", "on": NEXT_DAY, "approved": True,
     "max_price_nok": 3000000},
    {"type": "UnitReturned", "id": "A2-4b"},
    {"type": "DayClosed", "date": "2021-05-03"},
]  # fmt: skip

STORE_COMMANDS: list[tuple[str, dict[str, Any]]] = [("base", c) for c in BASE_COMMANDS] + [
    ("rich", c) for c in RICH_COMMANDS
]


def instance_doc() -> dict[str, Any]:
    """The instance of tests/test_cli.py: two units, an applicant and a sitting tenant."""
    return good_instance()


def import_doc() -> dict[str, Any]:
    """A portfolio file for `import` into the pilot-2 store (new ids, the store's caps left out)."""
    doc = instance_doc()
    del doc["caps"]
    doc["as_of"] = NEXT_DAY
    u1, u2 = doc["units"]
    u1.update(id="IMP-U1", owner="municipality", tenure="condominium",
              grant={"amount_nok": 150000, "granted_on": "2012-05-01", "depreciation_years": 20})  # fmt: skip
    u2.update(id="IMP-U2", tenure="cooperative")
    h1, h2 = doc["households"]
    h1.update(id="IMP-H1", monthly_income_nok=21000, refugee=True, refugee_settled_on="2019-09-01")
    h2.update(id="IMP-H2", current_unit="IMP-U2", stable_income=True, monthly_income_nok=39000,
              lease={"start": "2019-06-01", "end": "2022-06-01", "rent_nok_month": 6500})  # fmt: skip
    return doc


def stream_ops() -> list[dict[str, Any]]:
    """Valid `stream` operations on `instance_doc()`."""
    hh = dict(instance_doc()["households"][0], id="H3", adults=2, children=2, urgency=2)
    unit = dict(instance_doc()["units"][0], id="U3", rooms=4, floor=1)
    return [
        {"op": "upsert_household", "household": hh},
        {"op": "remove_household", "id": "H1"},
        {"op": "upsert_unit", "unit": unit},
        {"op": "remove_unit", "id": "U1"},
        {"op": "set_as_of", "as_of": "2021-06-01"},
    ]


def policy_doc() -> dict[str, Any]:
    """The packaged v1 policy as a table, as version 2."""
    text = resources.files("pyengine").joinpath("policies/default-v1.toml").read_text("utf-8")
    doc = tomllib.loads(text)
    doc["version"] = 2
    doc["name"] = "fuzzed"
    return doc


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string (a lone surrogate's escape is invalid TOML)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    raise TypeError(type(v))


def toml_doc(doc: dict[str, Any]) -> str:
    """A table as TOML (None has no TOML form: such keys are left out)."""
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in doc.items() if v is not None)


def other_app_db(path: Path) -> None:
    """An SQLite file of another application."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    con.execute("INSERT INTO contacts (name) VALUES ('Kari Nordmann')")
    con.commit()
    con.close()


# --- spoiling ----------------------------------------------------------------------------------
EXTREME_INTS: list[int] = [
    0, -1, 1, 3, 4, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1,
    10**30, -(10**30),
]  # fmt: skip
FAR_DATES: list[str] = [
    "9999-12-31", "0001-01-01", "1899-12-31", "1900-01-01", "9899-12-31", "9900-01-01", "2021-02-29",
    "2021-13-01", "10000-01-01", "2021-05-02T00:00:00", "2021-5-2", "", "2020-02-29",
]  # fmt: skip
WEIRD_STRINGS: list[str] = [
    "", " ", "S003", "B3-4a", "T02", "A1-4a", "NoSuchId", "x" * 5000, "\u0000", "é", "\ud800", "\U0001f600",
    "'; DROP TABLE stored_events; --", "../../etc/passwd", "ordinary", "care", "cooperative",
]  # fmt: skip
SCHEMAS: list[Any] = [0, -1, 1, 2, 3, 99, 2**63, -(2**63) - 1, "1", None, 1.0, True]
TYPES: list[Any] = [
    *sorted({c["type"] for _, c in STORE_COMMANDS}), "NoSuchType", "", "dayclosed", 1, None, ["DayClosed"],
    "MatchRun", "PolicyAdopted", "LedgerOpened", "UnitSold", "LeaseRenewalDue", "ProceedsAllocated", "UnitMergedInto",
    "PurchaseOfferExpired", "LeaseRenewed", "PurchaseRecommended",
]  # fmt: skip

weird_values: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(EXTREME_INTS),
    st.sampled_from(FAR_DATES),
    st.sampled_from(WEIRD_STRINGS),
    st.sampled_from([None, True, False, 0.5, -0.0, 1e308, 1.5, 48.0, [], {}, [1], ["S003"], {"a": 1}]),
    st.integers(),
    st.text(max_size=12),
    st.floats(allow_nan=False, allow_infinity=False),
)


def node_paths(doc: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every node below the root."""
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        out.append((*prefix, k))
        out += node_paths(v, (*prefix, k))
    return out


def container_paths(doc: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every object (the root too)."""
    out: list[tuple[Any, ...]] = [prefix] if isinstance(doc, dict) else []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        out += container_paths(v, (*prefix, k))
    return out


def get_at(doc: Json, path: tuple[Any, ...]) -> Json:
    for k in path:
        doc = doc[k]
    return doc


def set_at(doc: Json, path: tuple[Any, ...], value: Json) -> None:
    get_at(doc, path[:-1])[path[-1]] = value


def delete_at(doc: Json, path: tuple[Any, ...]) -> None:
    del get_at(doc, path[:-1])[path[-1]]


MUTATIONS = ["replace", "delete", "add", "int", "date", "schema", "type"]


@st.composite
def spoiled(draw: st.DrawFn, base: dict[str, Any], kinds: tuple[str, ...] = tuple(MUTATIONS)) -> dict[str, Any]:
    """`base` after 0-3 mutations: a field replaced by a weird value, an extreme integer or a far
    date; a field deleted; an unknown field added; `schema` or `type` set by the client."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(kinds))
        paths = node_paths(doc)
        if kind == "schema":
            doc["schema"] = draw(st.sampled_from(SCHEMAS))
        elif kind == "type":
            doc["type"] = draw(st.sampled_from(TYPES))
        elif kind == "add":
            where = draw(st.sampled_from(container_paths(doc)))
            name = draw(st.sampled_from(["zzz", "expires_on", "full", "position", "_type_", "Type", "id", "schema"]))
            get_at(doc, where)[name] = draw(weird_values)
        elif not paths:
            continue
        elif kind == "delete":
            path = draw(st.sampled_from(paths))
            delete_at(doc, path)
        else:
            path = draw(st.sampled_from(paths))
            values = {"int": st.sampled_from(EXTREME_INTS), "date": st.sampled_from(FAR_DATES)}.get(kind, weird_values)
            set_at(doc, path, draw(values))
    return doc


SENTINEL = "\u2063fuzz-deep\u2063"


def nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@st.composite
def as_json(draw: st.DrawFn, doc: dict[str, Any]) -> bytes:
    """`doc` as JSON text: plain, with a key given twice, or with a value nested very deep."""
    mode = draw(st.sampled_from(["plain", "plain", "plain", "duplicate_key", "deep"]))
    if mode == "duplicate_key" and doc:
        pairs = list(doc.items())
        key, value = pairs[draw(st.integers(0, len(pairs) - 1))]
        other = draw(st.one_of(st.just(value), weird_values))
        pairs.insert(draw(st.integers(0, len(pairs))), (key, other))
        return ("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}").encode()
    if mode == "deep":
        d = copy.deepcopy(doc)
        set_at(d, draw(st.sampled_from(node_paths(d) or [("zzz",)])), SENTINEL)
        depth = draw(st.sampled_from([64, 1000, 100_000]))
        text = json.dumps(d).replace(json.dumps(SENTINEL), nested(depth, draw(st.sampled_from(["array", "object"]))))
        return text.encode()
    return json.dumps(doc).encode()


BAD_BYTES = [b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\x80", b"\x00", b"\xfe\xff", b"\xef\xbb\xbf"]
BLANKS = [b"\n", b"\r\n", b"   \n", b"\t\n", b"\n\n\n", b"\x0b\n"]


@st.composite
def spoiled_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """0-2 of: a UTF-8 BOM, a byte that is not UTF-8, truncation, CRLF, empty lines, gzip."""
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["bom", "bad_byte", "truncate", "crlf", "blanks", "gzip", "fake_gzip"]))
        if op == "bom":
            data = b"\xef\xbb\xbf" + data
        elif op == "bad_byte":
            i = draw(st.integers(0, len(data)))
            data = data[:i] + draw(st.sampled_from(BAD_BYTES)) + data[i:]
        elif op == "truncate":
            data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
        elif op == "crlf":
            data = data.replace(b"\n", b"\r\n") + b"\r\n"
        elif op == "blanks":
            data = draw(st.sampled_from([b"", *BLANKS])) + data + draw(st.sampled_from([b"", *BLANKS]))
        elif op == "gzip":
            data = gzip.compress(data, mtime=0)
        else:
            data = b"\x1f\x8b" + data
    return data


def _short(data: bytes) -> str:
    return repr(data[:300]) + (f"... ({len(data)} bytes)" if len(data) > 300 else "")


@dataclass(frozen=True)
class FileCase:
    """A spoiled input file, and for `submit` the store it goes to."""

    store: str
    data: bytes

    def __repr__(self) -> str:
        return f"FileCase(store={self.store!r}, data={_short(self.data)})"


@st.composite
def command_files(draw: st.DrawFn) -> FileCase:
    """A commands file of one (spoiled) command, for the pilot-2 store or the rich one."""
    store, base = draw(st.sampled_from(STORE_COMMANDS))
    doc = draw(spoiled(base))
    line = draw(as_json(doc))
    data = draw(spoiled_bytes(line + b"\n"))
    return FileCase(store, data)


@st.composite
def instance_files(draw: st.DrawFn) -> FileCase:
    doc = draw(spoiled(instance_doc(), ("replace", "delete", "add", "int", "date")))
    return FileCase("", draw(spoiled_bytes(draw(as_json(doc)))))


@st.composite
def import_files(draw: st.DrawFn) -> FileCase:
    doc = draw(spoiled(import_doc(), ("replace", "delete", "add", "int", "date")))
    return FileCase("base", draw(spoiled_bytes(draw(as_json(doc)))))


@st.composite
def operation_files(draw: st.DrawFn) -> FileCase:
    """1-4 stream operations, each perhaps spoiled, one a line."""
    ops = draw(st.lists(st.sampled_from(stream_ops()), min_size=1, max_size=4))
    lines = []
    for op in ops:
        kinds = ("replace", "delete", "add", "int", "date")
        lines.append(draw(as_json(draw(spoiled(op, kinds)))))
    return FileCase("", draw(spoiled_bytes(b"\n".join(lines) + b"\n")))


@dataclass(frozen=True)
class PolicyCase:
    suffix: str  # ".toml" or ".json"
    data: bytes

    def __repr__(self) -> str:
        return f"PolicyCase(suffix={self.suffix!r}, data={_short(self.data)})"


@st.composite
def policy_files(draw: st.DrawFn) -> PolicyCase:
    """A policy (TOML or JSON) with 0-3 mutations and perhaps a key twice, deep nesting or bad bytes."""
    doc = draw(spoiled(policy_doc(), ("replace", "delete", "add", "int", "date")))
    if draw(st.booleans()):
        return PolicyCase(".json", draw(spoiled_bytes(draw(as_json(doc)))))
    text = toml_doc(doc)
    extra = draw(st.sampled_from(["", "", "duplicate_key", "deep_array", "deep_table", "table_header"]))
    if extra == "duplicate_key":
        key = draw(st.sampled_from(sorted(doc)))
        text += f"{json.dumps(key)} = {toml_value(draw(st.sampled_from(EXTREME_INTS)))}\n"
    elif extra == "deep_array":
        text += "deep = " + nested(draw(st.sampled_from([64, 1000, 100_000])), "array") + "\n"
    elif extra == "deep_table":
        depth = draw(st.sampled_from([64, 1000, 100_000]))
        text += "deep = " + "{a = " * depth + "1" + "}" * depth + "\n"
    elif extra == "table_header":
        text += "[extra]\nversion = 3\n"
    data = text.encode("utf-8", "surrogatepass")
    return PolicyCase(".toml", draw(spoiled_bytes(data)))
