"""Issue 14, "no input can damage the log": store URLs, output paths, arguments and policies the
CLI refuses with exit 2 (one line naming the field) or 3 (busy store), creating or changing
nothing; and reads that write nothing."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import multiprocessing.queues
import multiprocessing.synchronize
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters import records
from adapters.sqlite import _retrying, busy_message
from adapters.store import open_app, store_env
from pyengine.cli import main
from pyengine.errors import InputError, StoreBusy
from pyengine.event_log import EventLog
from pyengine.events_json import check_event_type

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ROOT / "replays" / "pilot2" / "commands.jsonl"
INSTANCE = ROOT / "replays" / "pilot2" / "instance.json"
POLICY = ROOT / "pyengine" / "policies" / "default-v1.toml"
DAY = b'{"type":"DayClosed","schema":1,"date":"2021-05-02"}\n'  # a valid next command for the pilot-2 store
DEEP = 100_000


def url(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path: sqlite:////...


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The pilot-2 store (built once) and its export, a valid `import` file."""
    d = tmp_path_factory.mktemp("built")
    store = d / "pilot2.db"
    for args in (["submit", "--store", url(store), str(COMMANDS)],
                 ["export", "--store", url(store), "--output", str(d / "export.json")]):  # fmt: skip
        p = subprocess.run([sys.executable, "-m", "pyengine.cli", *args], capture_output=True, timeout=300)
        assert p.returncode == 0, p.stderr
    return store, d / "export.json"


@pytest.fixture
def store(built: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the pilot-2 store in its own folder."""
    d = tmp_path / "stores"
    d.mkdir()
    shutil.copy2(built[0], d / "s.db")
    return d / "s.db"


@pytest.fixture
def day(tmp_path: Path) -> Path:
    f = tmp_path / "day.jsonl"
    f.write_bytes(DAY)
    return f


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def state(folder: Path) -> dict[str, tuple[int, int, str] | str]:
    """Every file under `folder` with its size, mtime and content hash."""
    out: dict[str, tuple[int, int, str] | str] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        else:
            out[str(p.relative_to(folder))] = "folder"
    return out


def refused(err: str, command: str, field: str, reason: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"pyengine {command}: error: {field}: "), err
    assert reason in lines[0], err


# --- files that are not this engine's store ---------------------------------------------------
def _sqlite(path: Path, *sql: str) -> None:
    con = sqlite3.connect(path)
    for s in sql:
        con.execute(s)
    con.commit()
    con.close()


ES_TABLE = "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"  # noqa: E501


def text_file(d: Path, good: Path) -> str:
    (d / "notes.txt").write_text("not a database\n")
    return url(d / "notes.txt")


def other_app(d: Path, good: Path) -> str:
    _sqlite(d / "crm.db", "CREATE TABLE people (name TEXT)", "INSERT INTO people VALUES ('Kari')")
    return url(d / "crm.db")


def truncated(d: Path, good: Path) -> str:
    (d / "cut.db").write_bytes(good.read_bytes()[:5000])
    return url(d / "cut.db")


def bad_header(d: Path, good: Path) -> str:
    data = bytearray(good.read_bytes())
    data[:16] = b"\0" * 16
    (d / "hdr.db").write_bytes(bytes(data))
    return url(d / "hdr.db")


def wrong_columns(d: Path, good: Path) -> str:
    _sqlite(d / "cols.db", "CREATE TABLE stored_events (id INTEGER, body TEXT)")
    return url(d / "cols.db")


def foreign_topics(d: Path, good: Path) -> str:
    _sqlite(d / "bank.db", ES_TABLE, "INSERT INTO stored_events VALUES ('a', 1, 'bank.domain:Account.Opened', x'7b7d')")
    return url(d / "bank.db")


def a_folder(d: Path, good: Path) -> str:
    (d / "store.db").mkdir()
    return url(d / "store.db")


def above_root(d: Path, good: Path) -> str:
    return "sqlite:////../../x.db"


def no_folder(d: Path, good: Path) -> str:
    return url(d / "nope" / "x.db")


def file_as_folder(d: Path, good: Path) -> str:
    (d / "notes.txt").write_text("x")
    return url(d / "notes.txt" / "x.db")


def no_file_name(d: Path, good: Path) -> str:
    return url(d) + "/"


def other_parameter(d: Path, good: Path) -> str:
    return url(good) + "?cache=shared"


def other_mode(d: Path, good: Path) -> str:
    return url(good) + "?mode=rwc"


def empty_query(d: Path, good: Path) -> str:
    return url(good) + "?"


def postgres_without_database(d: Path, good: Path) -> str:
    return "postgresql://app:secret@localhost:5432/"


def unknown_scheme(d: Path, good: Path) -> str:
    return "mysql://localhost/pyengine"


BOTH: list[tuple[Callable[[Path, Path], str], str]] = [
    (text_file, "is not a pyengine store (file is not a database)"),
    (other_app, "is not a pyengine store (an SQLite database with tables people)"),
    (truncated, "is not a pyengine store (database disk image is malformed)"),
    (bad_header, "is not a pyengine store (file is not a database)"),
    (wrong_columns, "table stored_events has columns id INTEGER, body TEXT"),
    (foreign_topics, "holds events of topic 'bank.domain:Account.Opened'"),
    (a_folder, "is a folder, not a store file"),
    (above_root, "has more '..' than there are folders above it"),
    (no_folder, "does not exist"),
    (file_as_folder, "is not a folder"),
    (no_file_name, "no file name"),
    (other_parameter, "unknown parameter 'cache'"),
    (other_mode, "mode='rwc'"),
    (empty_query, "empty query string"),
    (postgres_without_database, "no database name in postgresql://app:***@localhost:5432/"),
    (unknown_scheme, "unsupported store URL"),
]


def missing(d: Path, good: Path) -> str:
    return url(d / "none.db")


def empty_file(d: Path, good: Path) -> str:
    (d / "empty.db").touch()
    return url(d / "empty.db")


def empty_database(d: Path, good: Path) -> str:
    _sqlite(d / "blank.db", "PRAGMA user_version = 1")
    return url(d / "blank.db")


def memory(d: Path, good: Path) -> str:
    return "memory:"


def missing_read_only(d: Path, good: Path) -> str:
    return url(d / "q.db") + "?mode=ro"


READERS_ONLY: list[tuple[Callable[[Path, Path], str], str]] = [
    (missing, "no store at"),
    (empty_file, "is not a pyengine store (an empty file)"),
    (empty_database, "is not a pyengine store (an SQLite database without tables)"),
    (memory, "memory: starts empty in every process"),
    (missing_read_only, "no store at"),
]


def read_only_store(d: Path, good: Path) -> str:
    return url(good) + "?mode=ro"


def read_only_new(d: Path, good: Path) -> str:
    return url(d / "q.db") + "?mode=ro"


WRITERS_ONLY: list[tuple[Callable[[Path, Path], str], str]] = [
    (read_only_store, "is opened read-only (mode=ro), but this command writes"),
    (read_only_new, "is opened read-only (mode=ro), but this command writes"),
]


def reader_args(name: str, store_url: str, out: Path) -> list[str]:
    return {
        "events": ["events", "--store", store_url],
        "export": ["export", "--store", store_url, "--output", str(out / "x.json")],
        "replay": ["replay", "--store", store_url],
        "explain": ["explain", "--store", store_url, "--household", "S019"],
        "report": ["report", "sales", "--store", store_url, "--png", str(out / "s.png")],
        "whatif": ["whatif", "--store", store_url, "--policy", str(POLICY), "--out", str(out / "wi")],
        "snapshot": ["snapshot", "--store", store_url],
    }[name]


READERS = ["events", "export", "replay", "explain", "report", "whatif", "snapshot"]


def writer_args(name: str, store_url: str, day: Path, export: Path) -> list[str]:
    return {
        "submit": ["submit", "--store", store_url, str(day)],
        "import": ["import", "--store", store_url, str(export)],
        "demo": ["demo", "--store", store_url],
    }[name]


def _ids(cases: list[tuple[Callable[[Path, Path], str], str]]) -> list[str]:
    return [f.__name__ for f, _ in cases]


@pytest.mark.parametrize(("make", "reason"), BOTH + READERS_ONLY, ids=_ids(BOTH + READERS_ONLY))
def test_a_reader_refuses(
    capsys: pytest.CaptureFixture[str], store: Path, tmp_path: Path, make: Callable[[Path, Path], str], reason: str
) -> None:
    d = store.parent
    store_url = make(d, store)
    out = tmp_path / "out"
    out.mkdir()
    before = state(d)
    code, _, err = cli(capsys, *reader_args("events", store_url, out))
    assert code == 2, err
    refused(err, "events", "--store", reason)
    assert state(d) == before
    assert not list(out.iterdir())


@pytest.mark.parametrize(("make", "reason"), BOTH + WRITERS_ONLY, ids=_ids(BOTH + WRITERS_ONLY))
def test_a_writer_refuses(
    capsys: pytest.CaptureFixture[str], store: Path, day: Path, make: Callable[[Path, Path], str], reason: str
) -> None:
    d = store.parent
    store_url = make(d, store)
    before = state(d)
    code, out, err = cli(capsys, *writer_args("submit", store_url, day, day))
    assert code == 2, err
    refused(err, "submit", "--store", reason)
    assert out == ""
    assert state(d) == before  # in particular no q.db, and no file named "q.db?mode=ro"


@pytest.mark.parametrize("command", READERS)
@pytest.mark.parametrize(("make", "reason"), [BOTH[0], BOTH[1], READERS_ONLY[0], READERS_ONLY[3]],
                         ids=["text_file", "other_app", "missing", "memory"])  # fmt: skip
def test_every_reader_refuses(
    capsys: pytest.CaptureFixture[str], store: Path, tmp_path: Path, command: str,
    make: Callable[[Path, Path], str], reason: str,
) -> None:  # fmt: skip
    d = store.parent
    store_url = make(d, store)
    out = tmp_path / "out"
    out.mkdir()
    before = state(d)
    code, _, err = cli(capsys, *reader_args(command, store_url, out))
    assert code == 2, err
    if command == "snapshot" and store_url == "memory:":
        reason = "nothing to snapshot"
    refused(err, command, "--store", reason)
    assert state(d) == before
    assert not list(out.iterdir())


@pytest.mark.parametrize("command", ["submit", "import", "demo"])
@pytest.mark.parametrize(("make", "reason"), [BOTH[0], BOTH[1], BOTH[2], WRITERS_ONLY[1]],
                         ids=["text_file", "other_app", "truncated", "read_only_new"])  # fmt: skip
def test_every_writer_refuses(
    capsys: pytest.CaptureFixture[str], built: tuple[Path, Path], store: Path, day: Path, command: str,
    make: Callable[[Path, Path], str], reason: str,
) -> None:  # fmt: skip
    d = store.parent
    store_url = make(d, store)
    before = state(d)
    code, _, err = cli(capsys, *writer_args(command, store_url, day, built[1]))
    assert code == 2, err
    refused(err, command, "--store", reason)
    assert state(d) == before


def test_a_writer_may_start_a_new_store_in_an_empty_file_or_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, day: Path
) -> None:
    for make in (empty_file, empty_database, missing):
        store_url = make(tmp_path, tmp_path)
        code, _, err = cli(capsys, "submit", "--store", store_url, str(day))
        assert code == 0, err
        code, out, err = cli(capsys, "events", "--store", store_url)
        assert code == 0 and '"type":"DayClosed"' in out, err


def _deny_write(monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
    real = os.access

    def access(path: str | os.PathLike[str] | int, mode: int, **kw: object) -> bool:
        if not isinstance(path, int) and Path(os.fsdecode(path)) == target and mode & os.W_OK:
            return False
        return real(path, mode)

    monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_writer_refuses_a_read_only_file_or_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path, day: Path, what: str
) -> None:
    target = store if what == "file" else store.parent
    _deny_write(monkeypatch, target)  # root ignores permission bits, so the check itself is stubbed
    before = state(store.parent)
    code, _, err = cli(capsys, "submit", "--store", url(store), str(day))
    assert code == 2, err
    refused(err, "submit", "--store", "is read-only" if what == "file" else "is not writable")
    assert state(store.parent) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permission bits")
def test_a_writer_refuses_a_chmod_read_only_store(capsys: pytest.CaptureFixture[str], store: Path, day: Path) -> None:
    store.chmod(0o444)
    before = state(store.parent)
    code, _, err = cli(capsys, "submit", "--store", url(store), str(day))
    assert code == 2, err
    refused(err, "submit", "--store", "is read-only")
    assert state(store.parent) == before


def test_a_path_with_too_many_dotdots_relative_to_the_working_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, day: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    store_url = "sqlite:///" + "../" * len(tmp_path.parts) + "x.db"
    code, _, err = cli(capsys, "submit", "--store", store_url, str(day))
    assert code == 2, err
    refused(err, "submit", "--store", "more '..'")
    assert not list(tmp_path.glob("x.db*")) and not Path("/x.db").exists()


def test_a_bad_lock_timeout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path, day: Path
) -> None:
    monkeypatch.setenv("PYENGINE_LOCK_TIMEOUT", "soon")
    code, _, err = cli(capsys, "submit", "--store", url(store), str(day))
    assert code == 2, err
    refused(err, "submit", "PYENGINE_LOCK_TIMEOUT", "'soon' is not a number of seconds")


# --- reads write nothing -----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["events", "export", "replay", "explain", "report", "whatif"])
def test_a_read_changes_nothing(capsys: pytest.CaptureFixture[str], store: Path, tmp_path: Path, command: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    before = state(store.parent)
    code, _, err = cli(capsys, *reader_args(command, url(store), out))
    assert code == 0, err
    assert state(store.parent) == before  # no byte, no mtime, no -wal/-shm left behind


def test_a_reader_creates_no_tables(store: Path) -> None:
    _sqlite(store, "DROP TABLE stored_snapshots")  # a store from before snapshots
    before = state(store.parent)
    app = open_app(EventLog, url(store), write=False)
    try:
        assert app.recorder.max_notification_id() == 354
    finally:
        app.close()
    assert state(store.parent) == before
    env = store_env(url(store), write=False)
    assert env["CREATE_TABLE"] == "n" and env["SQLITE_QUERY_ONLY"] == "y"


def test_a_reader_cannot_write(store: Path) -> None:
    app = open_app(EventLog, url(store), write=False)
    try:
        with pytest.raises(Exception, match="readonly"), app.recorder.datastore.transaction(commit=True) as cur:  # type: ignore[attr-defined]
            cur.execute("DELETE FROM stored_events")
    finally:
        app.close()
    app = open_app(EventLog, url(store), write=False)
    assert app.recorder.max_notification_id() == 354
    app.close()


@pytest.mark.parametrize(
    "command",
    [
        "replay", "explain", "whatif",
        "events",
        "export",
        "report",
    ],
)  # fmt: skip
def test_mode_ro_reads(capsys: pytest.CaptureFixture[str], store: Path, tmp_path: Path, command: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    data, mtime = store.read_bytes(), store.stat().st_mtime_ns
    code, _, err = cli(capsys, *reader_args(command, url(store) + "?mode=ro", out))
    assert code == 0, err
    assert store.read_bytes() == data and store.stat().st_mtime_ns == mtime
    # SQLite's read-only connections leave the WAL index files (empty log) they could not remove
    assert {p.name for p in store.parent.iterdir()} <= {"s.db", "s.db-wal", "s.db-shm"}
    wal = store.parent / "s.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_records_export_reads_and_import_writes(store: Path, tmp_path: Path) -> None:
    before = state(store.parent)
    lines = tmp_path / "records.jsonl"
    assert records.export_records(url(store), lines) == 354
    assert state(store.parent) == before
    assert records.import_records(lines, url(tmp_path / "copy.db")) == 354


# --- a busy store --------------------------------------------------------------------------------
class Holder:
    """Another writer holding the store's write lock (BEGIN EXCLUSIVE) until released."""

    def __init__(self, path: Path) -> None:
        self.con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.con.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.con.execute("ROLLBACK")
        self.con.close()


@pytest.mark.parametrize("command", ["submit", "snapshot"])
def test_a_writer_waiting_longer_than_the_lock_timeout_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path, day: Path, command: str
) -> None:
    monkeypatch.setenv("PYENGINE_LOCK_TIMEOUT", "0.5")
    before = state(store.parent)
    holder = Holder(store)
    try:
        t0 = time.monotonic()
        args = ["submit", str(day)] if command == "submit" else ["snapshot"]
        args[1:1] = ["--store", url(store)]
        code, _, err = cli(capsys, *args)
        waited = time.monotonic() - t0
    finally:
        holder.release()
    assert code == 3, err
    assert "Traceback" not in err
    busy = "store busy: another writer held the lock for more than 0.5 s; nothing was stored"
    assert err.strip().splitlines()[-1] == f"pyengine {command}: {busy}"
    assert 0.5 <= waited < 30
    assert state(store.parent) == before


def test_a_reader_is_not_held_up_by_a_writer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path
) -> None:
    monkeypatch.setenv("PYENGINE_LOCK_TIMEOUT", "0.5")
    holder = Holder(store)
    try:
        code, out, err = cli(capsys, "replay", "--store", url(store))
    finally:
        holder.release()
    assert code == 0, err
    assert "all match" in out


def test_the_retry_is_bounded() -> None:
    calls: list[float] = []

    def locked() -> None:
        calls.append(time.monotonic())
        raise sqlite3.OperationalError("database is locked")

    t0 = time.monotonic()
    with pytest.raises(StoreBusy, match=r"more than 0\.3 s"):
        _retrying(locked, 0.3)
    assert 0.2 <= time.monotonic() - t0 < 1.0 and len(calls) >= 3

    left = [1, 2]

    def twice_then_free() -> None:
        if left:
            left.pop()
            raise sqlite3.OperationalError("database is locked")

    _retrying(twice_then_free, 5.0)
    assert not left

    def broken() -> None:
        raise sqlite3.OperationalError("no such table: x")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _retrying(broken, 5.0)  # only "locked" is waited out


def test_the_switch_to_wal_waits_for_another_connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    _sqlite(path, "PRAGMA user_version = 1")  # a database in rollback mode, no tables yet
    holder = Holder(path)
    threading.Timer(0.3, holder.release).start()
    monkeypatch.setenv("PYENGINE_LOCK_TIMEOUT", "5")
    app = open_app(EventLog, url(path))
    try:
        assert app.recorder.max_notification_id() in (None, 0)
    finally:
        app.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def _open_new(
    store_url: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.queues.Queue[str]
) -> None:
    barrier.wait()
    try:
        open_app(EventLog, store_url).close()
        results.put("ok")
    except BaseException as e:
        results.put(f"{type(e).__name__}: {e}")


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_two_writers_creating_one_store_at_once(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    outcomes: list[str] = []
    for i in range(12):
        barrier = ctx.Barrier(2)
        results: multiprocessing.queues.Queue[str] = ctx.Queue()
        procs = [ctx.Process(target=_open_new, args=(url(tmp_path / f"r{i}.db"), barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcomes += [results.get(timeout=5) for _ in procs]
    assert outcomes == ["ok"] * len(outcomes)


def test_busy_message() -> None:
    assert busy_message(10.0) == "store busy: another writer held the lock for more than 10 s; nothing was stored"


# --- output paths, checked before the work ----------------------------------------------------
def test_output_paths_that_cannot_be_written(capsys: pytest.CaptureFixture[str], store: Path, tmp_path: Path) -> None:
    nowhere = tmp_path / "no" / "such"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    ops = tmp_path / "ops.jsonl"
    ops.write_text("")
    cases: list[tuple[list[str], str, str]] = [
        (["export", "--store", url(store), "--output", str(nowhere / "x.json")], "export", "--output"),
        (["export", "--store", url(store), "--output", str(tmp_path)], "export", "--output"),
        (["match", "--instance", str(INSTANCE), "--output", str(nowhere / "r.json")], "match", "--output"),
        (["stream", "--instance", str(INSTANCE), "--events", str(ops), "--output", str(nowhere / "o.jsonl")],
         "stream", "--output"),
        (["stream", "--instance", str(INSTANCE), "--events", str(ops), "--final", str(nowhere / "f.json")],
         "stream", "--final"),
        (["generate", "--scale", "10", "--output", str(nowhere / "g.json")], "generate", "--output"),
        (["generate", "--scale", "10", "--output", str(tmp_path / "g.json"), "--ops", "5", "--ops-output",
          str(nowhere / "o.jsonl")], "generate", "--ops-output"),
        (["generate", "--scale", "10", "--output", str(tmp_path / "g.json"), "--ops", "5"], "generate", "--ops-output"),
        (["whatif", "--store", url(store), "--policy", str(POLICY), "--out", str(a_file)], "whatif", "--out"),
        (["whatif", "--store", url(store), "--policy", str(POLICY), "--out", str(a_file / "sub")], "whatif", "--out"),
        (["report", "sales", "--store", url(store), "--png", str(nowhere / "s.png")], "report", "--png"),
    ]  # fmt: skip
    for args, command, field in cases:
        before = state(tmp_path)
        code, _, err = cli(capsys, *args)
        assert code == 2, (args, err)
        refused(err, command, field, "")
        assert state(tmp_path) == before, args  # not even the first of two outputs


def test_whatif_checks_its_folder_before_rerunning_history(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path, tmp_path: Path
) -> None:
    import pyengine.whatif

    def never(*a: object, **k: object) -> None:
        raise AssertionError("compare ran before the output folder was checked")

    monkeypatch.setattr(pyengine.whatif, "compare", never)
    blocker = tmp_path / "f"
    blocker.write_text("x")
    code, _, err = cli(capsys, "whatif", "--store", url(store), "--policy", str(POLICY), "--out", str(blocker / "o"))
    assert code == 2
    refused(err, "whatif", "--out", "is not a folder")


def test_whatif_makes_a_new_nested_folder(capsys: pytest.CaptureFixture[str], store: Path, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    code, _, err = cli(capsys, "whatif", "--store", url(store), "--policy", str(POLICY), "--out", str(out))
    assert code == 0, err
    assert (out / "whatif.html").exists()


# --- arguments, policies, nesting -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "command", "field"),
    [
        (["match", "--instance", str(INSTANCE), "--node-limit", "-1"], "match", "--node-limit"),
        (["stream", "--instance", str(INSTANCE), "--events", "x", "--node-limit", "-5"], "stream", "--node-limit"),
        (["match", "--instance", str(INSTANCE), "--node-limit", "lots"], "match", "--node-limit"),
        (["generate", "--output", "g.json", "--ops", "-1"], "generate", "--ops"),
        (["events"], "events", "--store"),
    ],
)
def test_bad_arguments_one_line(capsys: pytest.CaptureFixture[str], args: list[str], command: str, field: str) -> None:
    code, _, err = cli(capsys, *args)
    assert code == 2
    refused(err, command, field, "")


def _deep_toml(path: Path) -> None:
    path.write_text("version = 1\nx = " + "[" * DEEP + "]" * DEEP + "\n")


def _deep_json(path: Path) -> None:
    path.write_text('{"version": 1, "x": ' + "[" * DEEP + "]" * DEEP + "}")


@pytest.mark.parametrize(
    ("name", "make", "field", "reason"),
    [
        ("deep.toml", _deep_toml, "deep.toml", "nested too deeply"),
        ("deep.json", _deep_json, "deep.json", "nested too deeply"),
        ("latin1.toml", lambda p: p.write_bytes("name = 'Kjøpsrett'\n".encode("latin-1")), "latin1.toml", "not UTF-8"),
        ("folder.toml", lambda p: p.mkdir(), "--policy", "cannot read"),
    ],
)
def test_unreadable_policies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, make: Callable[[Path], object], field: str,
    reason: str,
) -> None:  # fmt: skip
    policy = tmp_path / name
    make(policy)
    code, _, err = cli(capsys, "match", "--instance", str(INSTANCE), "--policy", str(policy))
    assert code == 2, err
    refused(err, "match", field, reason)


def test_an_instance_nested_too_deeply(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    inst = tmp_path / "deep.json"
    inst.write_text('{"as_of": ' + "[" * DEEP + "]" * DEEP + "}")
    code, _, err = cli(capsys, "match", "--instance", str(inst))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "nested too deeply" in err, err


def test_a_recursion_error_is_bad_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pyengine.schema

    def deep(data: bytes) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(pyengine.schema, "decode_instance", deep)  # a decoder that does not catch it
    code, _, err = cli(capsys, "match", "--instance", str(INSTANCE))
    assert code == 2, err
    refused(err, "match", "--instance", "nested too deeply to read")


def test_check_event_type() -> None:
    check_event_type(None)
    check_event_type("MatchRun")
    with pytest.raises(InputError) as e:
        check_event_type("Matchrun")
    assert e.value.field == "--type"
    assert "did you mean MatchRun?" in e.value.reason and "DayClosed" in e.value.reason


def test_events_with_an_unknown_type(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, out, err = cli(capsys, "events", "--store", url(store), "--type", "NoSuchType")
    assert code == 2 and out == ""
    refused(err, "events", "--type", "MatchRun")


def test_json_events_still_print(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, out, _ = cli(capsys, "events", "--store", url(store), "--type", "DayClosed")
    assert code == 0 and json.loads(out.splitlines()[0])["type"] == "DayClosed"


def test_an_output_that_fails_after_the_checks_names_its_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path, tmp_path: Path
) -> None:
    import pyengine.cli.instances

    # as if the folder vanished since the check (patched in the module `export` lives in)
    monkeypatch.setattr(pyengine.cli.instances, "check_output", lambda path, field: None)
    target = tmp_path / "gone" / "x.json"
    code, _, err = cli(capsys, "export", "--store", url(store), "--output", str(target))
    assert code == 2, err
    refused(err, "export", "--output", f"{target}: No such file or directory")
