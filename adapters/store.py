"""Store URLs → eventsourcing persistence settings (the only place that knows them).

`store_env` also checks, before anything is opened, that a SQLite URL names this engine's store
(or, for a writer, a new one): no command may write into another application's database, a
damaged file, or a store it was only asked to read, and no read may create or change a file.
"""

from __future__ import annotations

import math
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from eventsourcing.persistence import PersistenceError

from .sqlite import LOCK_TIMEOUT, StoreFactory, busy_message, error_meaning, opening_error, sqlite_cause
from .user_errors import InputError, StoreBusy

DEFAULT_STORE = "sqlite:///pyengine.db"
# eventsourcing's SQLite tables (PRAGMA table_info: name, declared type)
COLUMNS = [("originator_id", "TEXT"), ("originator_version", "INTEGER"), ("topic", "TEXT"), ("state", "BLOB")]
TABLES = ("stored_events", "stored_snapshots")
TOPIC_PREFIX = "pyengine/"  # every topic this engine stores is explicit (pyengine.domain, .snapshot)

A = TypeVar("A")


def store_env(url: str, *, write: bool = True) -> dict[str, str]:
    """Map `sqlite:///path[?mode=ro]`, `memory:` (and later `postgresql://…`) onto eventsourcing's env.

    `sqlite:///rel/path.db` is relative to the working directory, `sqlite:////abs/path.db`
    absolute (the SQLAlchemy convention). A writer (`write=True`) may name a new store (no file,
    a zero-byte file or an SQLite database without tables); a reader only an existing one, which
    it opens without creating tables, on a connection that refuses writes. Anything else raises
    InputError naming `--store` before a byte is written; a lock held too long, StoreBusy.
    """
    if url == "memory:":
        if not write:
            raise InputError("--store", "memory: starts empty in every process: there is nothing in it to read")
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if url.startswith("sqlite:///"):
        return _sqlite_env(url, write)
    if url.startswith(("postgresql://", "postgres://")):
        return postgres_env(url, create_tables=False)
    forms = "sqlite:///FILE.db, postgresql://USER:PASSWORD@HOST:PORT/DB or memory:"
    raise InputError("--store", f"unsupported store URL {redacted(url)!r} (use {forms})")


def postgres_env(url: str, *, create_tables: bool) -> dict[str, str]:
    """`postgresql://user:password@host:port/dbname` onto eventsourcing's PostgreSQL keys. Only
    `pyengine db init` creates tables (`create_tables`): several processes creating them at once
    race in PostgreSQL's catalogue, and a standby must never try."""
    parts = urlsplit(url)
    try:
        port = parts.port or 5432
    except ValueError:
        raise InputError("--store", f"the port in {redacted(url)} is not a number from 1 to 65535") from None
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise InputError("--store", f"no database name in {redacted(url)} (postgresql://USER:PASSWORD@HOST:PORT/DB)")
    if not parts.hostname:
        raise InputError("--store", f"no host in {redacted(url)}")
    if parts.query or parts.fragment:
        raise InputError("--store", f"{redacted(url)}: PostgreSQL URLs take no query string or fragment")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        # a writer waits this long for another writer's table lock, then gives up (exit 3)
        "POSTGRES_LOCK_TIMEOUT": str(max(1, math.ceil(lock_timeout()))),
        "CREATE_TABLE": "y" if create_tables else "n",
        # large writes without pipeline mode (see the module)
        "APPLICATION_RECORDER_TOPIC": "adapters.pg_recorder:EventsRecorder",
    }


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def store_path(url: str) -> Path | None:
    """The file behind a SQLite URL (without its query string), for messages."""
    if url.startswith("sqlite:///"):
        return Path(os.path.realpath(url[len("sqlite:///") :].partition("?")[0]))
    return None


def lock_timeout() -> float:
    """Seconds a writer waits for another's lock: PYENGINE_LOCK_TIMEOUT, else LOCK_TIMEOUT."""
    raw = os.environ.get("PYENGINE_LOCK_TIMEOUT", "").strip()
    if not raw:
        return LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError("PYENGINE_LOCK_TIMEOUT", f"{raw!r} is not a number of seconds > 0")
    return value


def open_app(factory: Callable[[dict[str, str]], A], url: str, *, write: bool = True) -> A:
    """`factory(store_env(url, write=write))`, e.g. `open_app(EventLog, url, write=False)`, with
    SQLite's failures while opening raised as InputError (exit 2) or StoreBusy (exit 3)."""
    env = store_env(url, write=write)
    with store_errors(url):
        if write and env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
            _refuse_standby(env, url)
        return factory(env)


def _refuse_standby(env: dict[str, str], url: str) -> None:
    """A writer must reach the primary: on a standby every write fails, and in psycopg's
    pipeline mode the error that surfaces may be a bare "pipeline aborted"; ask first."""
    import psycopg

    with psycopg.connect(
        host=env["POSTGRES_HOST"], port=int(env["POSTGRES_PORT"]), dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"],
        connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
    ) as conn:  # fmt: skip
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    if row is not None and row[0]:
        raise InputError("--store", f"{redacted(url)} is a standby (read-only): commands that write need the primary")


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Raise the SQLite failures `store_error` knows as InputError / StoreBusy."""
    try:
        yield
    except (sqlite3.Error, PersistenceError) as e:
        mapped = store_error(e, url)
        if mapped is None:
            raise
        raise mapped from e


def store_error(exc: BaseException, url: str | None) -> InputError | StoreBusy | None:
    """What a store failure (raw or wrapped by eventsourcing) means to a user, or None if unforeseen."""
    if url is not None and url.startswith(("postgresql://", "postgres://")):
        return _postgres_meaning(exc, url)
    err = sqlite_cause(exc)
    if err is None:
        return None
    path = store_path(url) if url else None
    try:
        timeout = lock_timeout()
    except InputError:
        timeout = LOCK_TIMEOUT
    return error_meaning(err, str(path) if path else "the store", timeout, opening=False)


# --- URL and file checks ------------------------------------------------------------------------
def _sqlite_env(url: str, write: bool) -> dict[str, str]:
    raw, sep, query = url[len("sqlite:///") :].partition("?")
    read_only = _read_only(url, query) if sep else False
    if not raw or raw.endswith("/") or Path(raw).name in ("", ".", ".."):
        raise InputError("--store", f"no file name in {url!r}")
    if "\x00" in raw:
        raise InputError("--store", "the path holds a NUL character")
    _check_depth(raw)
    given_folder = os.path.dirname(raw) or "."
    if not os.path.isdir(given_folder):  # as the OS sees it: `missing/../x.db` has no folder either
        what = "is not a folder" if os.path.exists(given_folder) else "does not exist"
        raise InputError("--store", f"folder {given_folder!r} {what}")
    path = Path(os.path.realpath(raw))
    timeout = lock_timeout()
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InputError("--store", f"cannot use {path}: {e.strerror}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError("--store", f"{path} is a folder, not a store file")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError("--store", f"{path} is not a regular file")
    if write:
        if read_only:
            raise InputError("--store", f"{url} is opened read-only (mode=ro), but this command writes to the store")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            why = "a store keeps its -wal and -shm files beside it"
            raise InputError("--store", f"folder {path.parent} is not writable ({why})")
        if st is not None and not os.access(path, os.W_OK):
            raise InputError("--store", f"{path} is read-only (add ?mode=ro to the URL to read it)")
    elif st is None:
        raise InputError("--store", f"no store at {path}")
    elif st.st_size == 0:
        raise InputError("--store", f"{path} is not a pyengine store (an empty file)")
    if st is not None and st.st_size > 0:
        _probe(path, read_only, timeout, write)
    mode = "rwc" if st is None else ("ro" if read_only else "rw")  # "rw" never creates a file
    return {
        "PERSISTENCE_MODULE": f"{StoreFactory.__module__}:{StoreFactory.__qualname__}",
        "SQLITE_DBNAME": f"file:{quote(str(path))}?mode={mode}",
        "SQLITE_LOCK_TIMEOUT": repr(timeout),
        "CREATE_TABLE": "y" if write else "n",  # a read never creates tables
        StoreFactory.QUERY_ONLY: "n" if write else "y",
    }


def _read_only(url: str, query: str) -> bool:
    """The query string: only `mode=ro` is understood (never part of the file name)."""
    params = parse_qsl(query, keep_blank_values=True)
    if not params:
        raise InputError("--store", f"empty query string in {url!r} (the one parameter understood is ?mode=ro)")
    for key, value in params:
        if key != "mode":
            raise InputError("--store", f"unknown parameter {key!r} in {url!r} (the one understood is ?mode=ro)")
        if value != "ro":
            raise InputError("--store", f"mode={value!r} in {url!r}: only mode=ro (read-only) is understood")
    return True


def _check_depth(raw: str) -> None:
    """Refuse a path with more `..` than there are folders above it (the OS would quietly stop at /)."""
    depth = 0 if raw.startswith("/") else len(Path.cwd().parts) - 1
    for part in raw.split("/"):
        if part == "..":
            if depth == 0:
                raise InputError("--store", f"{raw!r} has more '..' than there are folders above it")
            depth -= 1
        elif part not in ("", "."):
            depth += 1


def _probe(path: Path, read_only: bool, timeout: float, write: bool) -> None:
    """Is the non-empty file at `path` this engine's store (or, for a writer, a database without
    tables, as one another writer is creating)? The probe never creates or changes anything: a
    "rw" URI does not create the file, query_only refuses writes, and closing a read-write
    connection removes the -wal/-shm files it made (a "ro" one leaves them behind in WAL mode)."""
    try:
        con = sqlite3.connect(
            f"file:{quote(str(path))}?mode={'ro' if read_only else 'rw'}", uri=True, timeout=timeout,
            isolation_level=None,
        )  # fmt: skip
    except sqlite3.Error as e:
        raise opening_error(e, str(path), timeout) from None
    try:
        con.execute("PRAGMA query_only=ON")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            if write:
                return  # an empty database is a new store
            raise InputError("--store", f"{path} is not a pyengine store (an SQLite database without tables)")
        if "stored_events" not in tables:
            names = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise InputError("--store", f"{path} is not a pyengine store (an SQLite database with tables {names})")
        for table in TABLES:
            if table in tables:
                cols = [(str(r[1]), str(r[2]).upper()) for r in con.execute(f"PRAGMA table_info({table})")]
                if cols != COLUMNS:
                    shown = ", ".join(f"{n} {t}" for n, t in cols)
                    raise InputError("--store", f"{path} is not a pyengine store (table {table} has columns {shown})")
        row = con.execute("SELECT topic FROM stored_events LIMIT 1").fetchone()
        if row is not None and not str(row[0]).startswith(TOPIC_PREFIX):
            raise InputError("--store", f"{path} is not a pyengine store (it holds events of topic {row[0]!r})")
    except sqlite3.Error as e:
        raise opening_error(e, str(path), timeout) from None
    finally:
        con.close()


def init_tables(url: str, *, erasable: bool = False) -> None:
    """Create the engine's tables in the store (`pyengine db init`): PostgreSQL stores get them
    only here; a SQLite file is created with them (its writers also create them on first use).
    `erasable`: also the table of household keys, so that applications stored from now on keep
    their personal fields sealed and erasable (adapters.keys)."""
    from .keys import KeyRing
    from .records import RecordLog  # it opens stores with open_app

    if url == "memory:" and erasable:
        raise InputError("--erasable", "a memory: store keeps no keys (and forgets everything when it ends)")
    if url.startswith(("postgresql://", "postgres://")):
        env = postgres_env(url, create_tables=True)
        with store_errors(url):
            app = RecordLog(env=env)
    else:
        app = open_app(RecordLog, url, write=True)
    try:
        if erasable:
            with store_errors(url):
                KeyRing(app.recorder).create_table()
    finally:
        app.close()


# psycopg's errors by class name (psycopg is only imported by eventsourcing.postgres)
_PG_NO_TABLE = {"UndefinedTable"}
_PG_BUSY = {"LockNotAvailable", "QueryCanceled"}
_PG_NO_SERVER = {"PoolTimeout", "ConnectionTimeout"}


def _postgres_meaning(exc: BaseException, url: str) -> InputError | StoreBusy | None:
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__ or e.__context__
    names = {type(x).__name__ for x in chain}
    where = redacted(url)
    if names & _PG_NO_TABLE:
        why = "has no engine tables: create them once with `pyengine db init --store URL`"
        return InputError("--store", f"{where} {why}")
    if names & _PG_BUSY:
        try:
            timeout = lock_timeout()
        except InputError:
            timeout = LOCK_TIMEOUT
        return StoreBusy(busy_message(timeout))
    if names & _PG_NO_SERVER:
        return InputError("--store", f"cannot connect to {where} (no server answered in time)")
    for x in chain:
        kind = type(x).__name__
        if kind == "InsufficientPrivilege":
            return InputError("--store", f"{where}: permission denied ({str(x).splitlines()[0]})")
        if kind == "ReadOnlySqlTransaction":
            return InputError("--store", f"{where} is read-only (a standby?): this command writes")
        psycopg_error = type(x).__module__.startswith("psycopg")
        if psycopg_error and kind in ("OperationalError", "InvalidCatalogName", "InvalidPassword"):
            return InputError("--store", f"cannot use {where}: {str(x).splitlines()[0] if str(x) else kind}")
    return None
