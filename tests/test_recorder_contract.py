"""eventsourcing's shipped recorder contract suites, run against the recorders our store URLs configure.

Every recorder here comes from `InfrastructureFactory.construct(Environment(EventLog.name,
store_env(url, write=...)))`, the way `EventLog` builds its factory, on a fresh file store per test.
Which suites apply to SQLite and what they override follows the library's own
`tests/persistence_tests/test_sqlite.py` and `test_noninterleaving_notification_ids.py`: the
expected classes for the factory suite, the concurrency tests on a file database, 10,000 events
per stack for the non-interleaving test. The library skips none of the performance tests for
SQLite, so none is skipped here; its in-memory (`file::memory:?cache=shared`) and text
originator-id variants are left out because no store URL configures them (`memory:` is POPO,
and the store keeps UUID originator ids).

The plain functions at the end check a reader (`write=False`) on a store a writer made: it reads,
it cannot write (its connection is query_only), and building it creates no table.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    OperationalError,
    ProcessRecorder,
    StoredEvent,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.sqlite import SQLiteProcessRecorder, SQLiteTrackingRecorder
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    InfrastructureFactoryTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment

from adapters.sqlite import StoreFactory, _EventsRecorder, _SnapshotsRecorder
from adapters.store import store_env
from pyengine.errors import InputError
from pyengine.event_log import EventLog


def store_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'x.db'}"  # folder is absolute: sqlite:////tmp/...


def app_environment(url: str, *, write: bool) -> Environment:
    """The environment an EventLog opened on `url` builds its factory from (without os.environ)."""
    return Environment(name=EventLog.name, env=store_env(url, write=write))


def construct_factory(url: str, *, write: bool) -> StoreFactory:
    factory = InfrastructureFactory.construct(env=app_environment(url, write=write))
    assert isinstance(factory, StoreFactory)
    return factory


# --- the shipped suites, on a writer's store ------------------------------------------------------
class _FreshStore:
    """A new temporary folder per test; `store_env` is read once in setUp (the file does not exist
    yet, so it is a writer's new store) and every factory built on it is closed in tearDown."""

    tmp: tempfile.TemporaryDirectory[str]
    url: str
    env: Environment
    factories: list[StoreFactory]
    threads_before: set[threading.Thread]

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="recorder_contract_")
        self.url = store_url(Path(self.tmp.name))
        self.env = app_environment(self.url, write=True)
        self.factories = []
        self.threads_before = set(threading.enumerate())
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        try:
            super().tearDown()  # type: ignore[misc]
        finally:
            # The shipped concurrency tests stop their reader threads without joining them: a
            # reader still inside SQLite when its connection is closed crashes the process.
            for thread in set(threading.enumerate()) - self.threads_before:
                thread.join(timeout=30)
            for factory in self.factories:
                factory.close()
            self.tmp.cleanup()

    def writer(self) -> StoreFactory:
        factory = InfrastructureFactory.construct(env=self.env)
        assert isinstance(factory, StoreFactory)
        self.factories.append(factory)
        return factory


class TestEventsAggregateRecorder(_FreshStore, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.writer().aggregate_recorder("events")


class TestSnapshotsAggregateRecorder(_FreshStore, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.writer().aggregate_recorder("snapshots")


class TestApplicationRecorder(_FreshStore, ApplicationRecorderTestCase[ApplicationRecorder]):
    def create_recorder(self) -> ApplicationRecorder:
        return self.writer().application_recorder()


class TestTrackingRecorder(_FreshStore, TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return self.writer().tracking_recorder()


class TestProcessRecorder(_FreshStore, ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return self.writer().process_recorder()


class TestNonInterleavingNotificationIDs(_FreshStore, NonInterleavingNotificationIDsBaseCase):
    insert_num = 10_000  # as the library's TestNonInterleavingSQLiteFileDB

    def create_recorder(self) -> ApplicationRecorder:
        return self.writer().application_recorder()


class StoreTrackingRecorderSubclass(SQLiteTrackingRecorder):
    pass


class TestStoreFactory(_FreshStore, InfrastructureFactoryTestCase[StoreFactory]):
    # the suite's setUp constructs self.factory from self.env (set by _FreshStore) and its
    # tearDown closes it

    def expected_factory_class(self) -> type[StoreFactory]:
        return StoreFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return _SnapshotsRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return _EventsRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return SQLiteTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return StoreTrackingRecorderSubclass

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return SQLiteProcessRecorder


# --- a reader on a writer's store -----------------------------------------------------------------
TOPIC = "pyengine/contract:Event"  # a reader's probe accepts only this engine's topics
Written = tuple[Path, list[StoredEvent], StoredEvent]  # the store file, its events, its snapshot


def event(originator_id: UUID, version: int) -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=version, topic=TOPIC, state=b"{}")


def tables(db: Path) -> set[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


def digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


@pytest.fixture
def written(tmp_path: Path) -> Iterator[Written]:
    """A store a writer made and closed: three events of two aggregates and one snapshot."""
    writer = construct_factory(store_url(tmp_path), write=True)
    a, b = uuid4(), uuid4()
    events = [event(a, 1), event(a, 2), event(b, 1)]
    snapshot = event(a, 2)
    try:
        writer.application_recorder().insert_events(events[:2])
        writer.application_recorder().insert_events(events[2:])
        writer.aggregate_recorder("snapshots").insert_events([snapshot])
    finally:
        writer.close()
    yield tmp_path / "x.db", events, snapshot


READ_URLS = pytest.mark.parametrize("query", ["", "?mode=ro"], ids=["rw-query_only", "mode=ro"])


@READ_URLS
def test_reader_selects_events_and_notifications(written: Written, query: str) -> None:
    db, events, snapshot = written
    reader = construct_factory(store_url(db.parent) + query, write=False)
    try:
        recorder = reader.application_recorder()
        assert recorder.select_events(events[0].originator_id) == events[:2]
        assert recorder.select_events(events[2].originator_id, desc=True, limit=1) == events[2:]
        notes = recorder.select_notifications(start=None, limit=10)
        assert [(n.id, n.originator_id, n.originator_version) for n in notes] == [
            (i, e.originator_id, e.originator_version) for i, e in enumerate(events, 1)
        ]
        assert recorder.max_notification_id() == 3
        snapshots = reader.aggregate_recorder("snapshots")
        assert snapshots.select_events(snapshot.originator_id, desc=True, limit=1) == [snapshot]
    finally:
        reader.close()


@READ_URLS
def test_reader_insert_events_raises(written: Written, query: str) -> None:
    db, events, _ = written
    before = digest(db)
    reader = construct_factory(store_url(db.parent) + query, write=False)
    new = event(uuid4(), 1)
    try:
        recorders: list[AggregateRecorder] = [reader.application_recorder(), reader.aggregate_recorder("snapshots")]
        for recorder in recorders:
            with pytest.raises(OperationalError, match="readonly"):
                recorder.insert_events([new])
        with pytest.raises(OperationalError, match="readonly"):
            reader.process_recorder().insert_events([new], tracking=Tracking("upstream", 1))
        assert reader.application_recorder().max_notification_id() == len(events)
        assert reader.application_recorder().select_events(new.originator_id) == []
    finally:
        reader.close()
    assert digest(db) == before
    assert tables(db) == {"stored_events", "stored_snapshots"}


@READ_URLS
def test_reader_creates_no_tables_in_an_empty_store(tmp_path: Path, query: str) -> None:
    """A store whose writer created only the events table and stored nothing (as before the
    first snapshot): building every recorder of a reader on it adds no table and changes no byte."""
    url = store_url(tmp_path)
    writer = construct_factory(url, write=True)
    try:
        writer.application_recorder()
    finally:
        writer.close()
    db = tmp_path / "x.db"
    before = (tables(db), digest(db))
    assert before[0] == {"stored_events"}
    reader = construct_factory(url + query, write=False)
    try:
        assert reader.application_recorder().select_notifications(start=None, limit=10) == []
        assert reader.application_recorder().max_notification_id() is None
        reader.aggregate_recorder("snapshots")
        reader.tracking_recorder()
        reader.process_recorder()
    finally:
        reader.close()
    assert (tables(db), digest(db)) == before


def test_reader_refuses_a_database_without_tables(tmp_path: Path) -> None:
    """An existing SQLite file without tables is not a store to read: refused before any
    recorder (or table) is made."""
    db = tmp_path / "x.db"
    sqlite3.connect(db).execute("PRAGMA user_version = 1").connection.close()
    before = digest(db)
    with pytest.raises(InputError, match="without tables"):
        construct_factory(store_url(tmp_path), write=False)
    assert tables(db) == set()
    assert digest(db) == before


del AggregateRecorderTestCase
del ApplicationRecorderTestCase
del TrackingRecorderTestCase
del ProcessRecorderTestCase
del NonInterleavingNotificationIDsBaseCase
del InfrastructureFactoryTestCase
