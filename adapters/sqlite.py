"""SQLite under eventsourcing, adjusted (`StoreFactory`: a float lock timeout, readers on
query-only connections, retries where two writers creating one store collide), and what
SQLite's failures mean to a user (exit 2 naming --store, or exit 3). `adapters.store` selects
this persistence for `sqlite:///` URLs and checks the file before it is opened."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import unquote

from eventsourcing.persistence import InfrastructureFactory, InterfaceError, PersistenceError
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)
from eventsourcing.utils import Environment, EnvType, strtobool

from .user_errors import InputError, StoreBusy

LOCK_TIMEOUT = 10.0  # seconds a writer waits for another writer's lock; PYENGINE_LOCK_TIMEOUT overrides
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def busy_message(timeout: float) -> str:
    return f"store busy: another writer held the lock for more than {timeout:g} s; nothing was stored"


# --- what SQLite's failures mean ---------------------------------------------------------------
def sqlite_cause(exc: BaseException | None) -> sqlite3.Error | None:
    """The sqlite3 error behind `exc` (eventsourcing wraps them: `raise OperationalError(e) from e`)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, sqlite3.Error):
            return exc
        exc, seen = exc.__cause__, seen + 1
    return None


def _is_busy(exc: BaseException) -> bool:
    err = sqlite_cause(exc)
    if err is None:
        return False
    code = getattr(err, "sqlite_errorcode", None)
    return (code & 0xFF) in _BUSY if isinstance(code, int) else "locked" in str(err)


def error_meaning(err: sqlite3.Error, where: str, timeout: float, *, opening: bool) -> InputError | StoreBusy | None:
    """An sqlite3 error as the error a user sees (exit 2 naming --store, or exit 3); None for one
    not foreseen after the store was opened (a bug: it keeps its traceback)."""
    if _is_busy(err):
        return StoreBusy(busy_message(timeout))
    code = getattr(err, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        if opening:
            return InputError("--store", f"{where} is not a pyengine store ({err})")
        return InputError("--store", f"{where} is damaged ({err}); nothing was stored")
    if code == sqlite3.SQLITE_CANTOPEN:
        return InputError("--store", f"cannot open {where} ({err})")
    if code == sqlite3.SQLITE_READONLY:
        return InputError("--store", f"{where} cannot be written ({err}); nothing was stored")
    if code == sqlite3.SQLITE_FULL:
        return InputError("--store", f"{where}: {err}; nothing was stored")
    if code == sqlite3.SQLITE_IOERR:
        return InputError("--store", f"cannot read or write {where} ({err}); nothing was stored")
    if "no such table: stored_snapshots" in str(err):
        return InputError("--store", f"{where} predates snapshots: `pyengine snapshot --store URL` adds their table")
    return InputError("--store", f"cannot open {where} ({err})") if opening else None


def opening_error(err: sqlite3.Error, where: str, timeout: float) -> InputError | StoreBusy:
    mapped = error_meaning(err, where, timeout, opening=True)
    assert mapped is not None
    return mapped


def _retrying(step: Callable[[], None], timeout: float) -> None:
    """Run an idempotent `step` again after a short pause while SQLite reports the store locked at
    once, without its own busy wait (two writers creating one store: the switch to WAL, or a
    CREATE TABLE whose read snapshot went stale), for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            step()
            return
        except (sqlite3.Error, PersistenceError, StoreBusy) as e:
            if not _is_busy(e) and not isinstance(e, StoreBusy):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreBusy(busy_message(timeout)) from e
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.2)


# --- eventsourcing's SQLite persistence, adjusted ----------------------------------------------
class _Connection(SQLiteConnection):
    def __init__(self, sqlite_conn: sqlite3.Connection, max_age: float | None, timeout: float) -> None:
        super().__init__(sqlite_conn, max_age)
        self.timeout = timeout

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[SQLiteCursor]:
        # SQLite gives up after the busy timeout with "database is locked" (wrapped by eventsourcing)
        try:
            with super().transaction(commit=commit) as curs:
                yield curs
        except (sqlite3.Error, PersistenceError) as e:
            if _is_busy(e):
                raise StoreBusy(busy_message(self.timeout)) from e
            raise


class _Pool(SQLiteConnectionPool):
    def __init__(self, *, db_name: str, timeout: float, query_only: bool) -> None:
        super().__init__(db_name=db_name)
        self.timeout = timeout
        self.query_only = query_only
        self.where = unquote(db_name.removeprefix("file:").partition("?")[0])

    def _create_connection(self) -> SQLiteConnection:
        # as eventsourcing's, but: a float timeout; a reader's connection refuses writes and never
        # switches the journal mode; a writer's switch to WAL is retried while locked
        try:
            c = sqlite3.connect(
                database=self.db_name, uri=True, check_same_thread=False, isolation_level=None,
                cached_statements=True, timeout=self.timeout,
            )  # fmt: skip
        except sqlite3.Error as e:
            raise opening_error(e, self.where, self.timeout) from e
        try:
            if self.query_only:
                c.execute("PRAGMA query_only=ON")
            elif not self.is_journal_mode_wal:
                _retrying(lambda: _to_wal(c), self.timeout)
                self.is_journal_mode_wal = True
        except BaseException as e:
            c.close()
            if isinstance(e, sqlite3.Error):
                raise opening_error(e, self.where, self.timeout) from e
            raise
        c.row_factory = sqlite3.Row
        return _Connection(c, self.max_age, self.timeout)


def _to_wal(c: sqlite3.Connection) -> None:
    if str(c.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        c.execute("PRAGMA journal_mode=WAL")


class _Datastore(SQLiteDatastore):
    def __init__(self, db_name: str, *, timeout: float, query_only: bool) -> None:
        # not SQLiteDatastore.__init__, which would build the library's pool
        self.pool = _Pool(db_name=db_name, timeout=timeout, query_only=query_only)
        self.single_row_tracking = True
        self.originator_id_type = "uuid"


class _EventsRecorder(SQLiteApplicationRecorder):
    def create_table(self) -> None:
        assert isinstance(self.datastore.pool, _Pool)
        _retrying(super().create_table, self.datastore.pool.timeout)


class _SnapshotsRecorder(SQLiteAggregateRecorder):
    def create_table(self) -> None:
        assert isinstance(self.datastore.pool, _Pool)
        _retrying(super().create_table, self.datastore.pool.timeout)


class StoreFactory(SQLiteFactory):
    """eventsourcing's SQLite persistence with a float lock timeout, readers on query-only
    connections, retries where two writers creating one store collide, and SQLite's "database
    is locked" raised as StoreBusy. `store_env` selects it; its keys are SQLiteFactory's plus
    SQLITE_QUERY_ONLY."""

    QUERY_ONLY = "SQLITE_QUERY_ONLY"
    aggregate_recorder_class = _SnapshotsRecorder
    application_recorder_class = _EventsRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        InfrastructureFactory.__init__(self, env)  # not SQLiteFactory's: it reads whole seconds only
        db_name = self.env.get(self.SQLITE_DBNAME)
        if not db_name:
            raise InterfaceError(f"no {self.SQLITE_DBNAME} in the environment")
        timeout = float(self.env.get(self.SQLITE_LOCK_TIMEOUT) or LOCK_TIMEOUT)
        query_only = bool(strtobool(self.env.get(self.QUERY_ONLY) or "n"))
        self.datastore = _Datastore(db_name, timeout=timeout, query_only=query_only)
