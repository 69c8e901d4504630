"""Raw stored records in and out (JSON lines): fixtures, and moving a log between stores
without touching a byte of what was recorded (hashes cover the records as stored)."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

from eventsourcing.persistence import StoredEvent

from pyengine.store import EventLog

from .store import open_app


def export_records(store_url: str, path: Path) -> int:
    app = open_app(EventLog, store_url, write=False)
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
    app = open_app(EventLog, store_url)
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
