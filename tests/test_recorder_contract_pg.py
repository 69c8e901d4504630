"""eventsourcing's shipped recorder contract suites (aggregate, application, tracking, process),
run against the PostgreSQL recorders a `postgresql://` store URL configures, one fresh database
per test (the library's own PostgreSQL tests drop and recreate a schema instead)."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment

from adapters.store import postgres_env
from pyengine.store import EventLog
from tests import pgserver


@pytest.fixture(autouse=True)
def _server(request: pytest.FixtureRequest, pg_server: pgserver.Server) -> None:
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
