"""Raw stored records: the application they are stored through (its name, hence its tables,
and the snapshot store), read a page at a time without decoding them; and records in and out as
JSON lines (fixtures, and moving a log between stores without touching a byte of what was
recorded: hashes cover the records as stored)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, StoredEvent

from .store import open_app


class RecordLog(Application[uuid.UUID]):
    """The engine's log as stored records. Its name selects the tables (and the PYENGINE_*
    settings); the application's subclass adds how records decode into events."""

    name = "pyengine"
    # the library's snapshot store (table stored_snapshots) holds the portfolio snapshots
    # (pyengine.snapshot); aggregates are not snapshotted one by one (no snapshotting_intervals)
    is_snapshotting_enabled = True
    PAGE = 1000

    def records(self, start: int = 1, topics: Sequence[str] = ()) -> Iterator[Notification]:
        """The stored records from position `start` on, in order, a page at a time."""
        while True:
            page = self.recorder.select_notifications(start=start, limit=self.PAGE, topics=topics)
            yield from page
            if len(page) < self.PAGE:
                return
            start = page[-1].id + 1


def export_records(store_url: str, path: Path) -> int:
    app = open_app(RecordLog, store_url, write=False)
    n = 0
    with path.open("w") as f:
        for note in app.records():
            f.write(json.dumps({
                "originator_id": str(note.originator_id), "originator_version": note.originator_version,
                "topic": note.topic, "state": base64.b64encode(bytes(note.state)).decode(),
            }) + "\n")  # fmt: skip
            n += 1
    app.close()
    return n


def import_records(path: Path, store_url: str) -> int:
    """Append the records, in order, to an empty store."""
    app = open_app(RecordLog, store_url)
    try:
        if app.recorder.max_notification_id():
            raise ValueError(f"{store_url} is not empty")
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        app.recorder.insert_events([
            StoredEvent(
                originator_id=uuid.UUID(r["originator_id"]), originator_version=r["originator_version"],
                topic=r["topic"], state=base64.b64decode(r["state"]),
            )
            for r in records
        ])  # fmt: skip
        return len(records)
    finally:
        app.close()
