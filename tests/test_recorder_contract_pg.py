"""eventsourcing's shipped recorder contract suites (aggregate, application, tracking, process),
run against the PostgreSQL recorders a `postgresql://` store URL configures, one fresh database
per test (the library's own PostgreSQL tests drop and recreate a schema instead)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    ProcessRecorder,
    StoredEvent,
    TrackingRecorder,
)
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment

from adapters import pg_recorder
from adapters.store import postgres_env
from pyengine.event_log import EventLog
from tests import pgserver


@pytest.fixture(autouse=True)
def _server(request: pytest.FixtureRequest, pg_server: pgserver.Server) -> None:
    if request.instance is not None:  # the contract's test cases read it from self
        request.instance.server = pg_server


class _FreshDatabase:
    server: pgserver.Server
    factories: list[InfrastructureFactory]  # type: ignore[type-arg]

    def setUp(self) -> None:
        url = self.server.new_database()
        self.env = Environment(name=EventLog.name, env=postgres_env(url, create_tables=True))
        self.factories = []
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        try:
            super().tearDown()  # type: ignore[misc]
        finally:
            for factory in self.factories:
                factory.close()

    def factory(self) -> InfrastructureFactory:  # type: ignore[type-arg]
        f = InfrastructureFactory.construct(env=self.env)
        self.factories.append(f)
        return f


class TestPostgresEventsRecorder(_FreshDatabase, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.factory().aggregate_recorder("events")


class TestPostgresSnapshotsRecorder(_FreshDatabase, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.factory().aggregate_recorder("snapshots")


class TestPostgresApplicationRecorder(_FreshDatabase, ApplicationRecorderTestCase[ApplicationRecorder]):
    def create_recorder(self) -> ApplicationRecorder:
        return self.factory().application_recorder()


class TestPostgresTrackingRecorder(_FreshDatabase, TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return self.factory().tracking_recorder()


class TestPostgresProcessRecorder(_FreshDatabase, ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return self.factory().process_recorder()


class TestPostgresApplicationRecorderUnpipelined(TestPostgresApplicationRecorder):
    """The same contract with every write sent as large ones are (plain statements in one
    transaction, not a pipeline: `adapters.pg_recorder`)."""

    def setUp(self) -> None:
        self._at_most = pg_recorder.PIPELINED_AT_MOST
        pg_recorder.PIPELINED_AT_MOST = 0
        super().setUp()

    def tearDown(self) -> None:
        try:
            super().tearDown()
        finally:
            pg_recorder.PIPELINED_AT_MOST = self._at_most


def test_a_large_write_is_one_ordered_transaction(pg_server: pgserver.Server) -> None:
    """Above the pipeline's size a write is still all or nothing, and its notification ids
    follow its order."""
    env = Environment(name=EventLog.name, env=postgres_env(pg_server.new_database(), create_tables=True))
    factory = InfrastructureFactory.construct(env=env)
    try:
        rec = factory.application_recorder()
        assert isinstance(rec, pg_recorder.EventsRecorder)
        n = 3 * pg_recorder.PIPELINED_AT_MOST
        events = [StoredEvent(uuid4(), 1, "t", str(i).encode()) for i in range(n)]
        ids = rec.insert_events(events)
        assert ids is not None and list(ids) == list(range(1, n + 1))
        clash = [StoredEvent(uuid4(), 1, "t", b"new") for _ in range(n)] + [events[5]]
        with pytest.raises(IntegrityError):
            rec.insert_events(clash)
        assert rec.max_notification_id() == n  # nothing of the refused write is stored
        notes = rec.select_notifications(start=1, limit=n + 1)
        assert [x.state for x in notes] == [e.state for e in events]
    finally:
        factory.close()
