"""eventsourcing's PostgreSQL application recorder, writing large batches without pipeline mode.

The library sends a write's statements (table lock, notify, insert) in one psycopg pipeline.
With thousands of events in one write (`pyengine import` stores a whole portfolio at once),
that pipeline sometimes never returns: the client waits in `sync()` while the server waits for
input (seen with psycopg 3.3.9, about one import in eight). A large batch is therefore sent as
plain statements in one transaction: the same lock, so notification ids still commit in
order, and the same single insert, at the cost of two more round trips that a large write
does not notice. Small writes, every command's, keep the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import InterfaceError, OperationalError

PIPELINED_AT_MOST = 64  # events per write sent in one pipeline


class EventsRecorder(PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if len(stored_events) <= PIPELINED_AT_MOST or self.datastore.enable_db_functions:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            self._insert_stored_events(curs, stored_events, **kwargs)  # lock, notify, insert
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
