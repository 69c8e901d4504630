"""Folding the log into a projection, in one place: the stored records from where the projection
stands, read in order, each decoded and applied, the projection's position kept. A writer catching
up, replay, explain, whatif and the reports all read the log through `fold`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .event_log import EventLog, Row
from .projection import Projection

# called with each decoded event before it is applied; a true return ends the fold there
Before = Callable[[Row, Any], bool | None]


class BadRecord(Exception):
    """A stored record that does not decode, or does not apply to the projection (a record edited,
    deleted or moved): `row` is the record, `applying` says which, the error itself is the cause."""

    def __init__(self, row: Row, applying: bool) -> None:
        super().__init__(f"the record at position {row.id} does not {'apply' if applying else 'decode'}")
        self.row = row
        self.applying = applying


def fold(
    app: EventLog, pf: Projection, *, stop: int | None = None, before: Before | None = None, name_bad: bool = False
) -> Iterator[tuple[Row, Any]]:
    """Fold into `pf` the records after its `last_notification_id`, up to position `stop` (None:
    the log's end), yielding each (row, event) once it is applied and the position kept.

    `before(row, event)` sees each event with the projection as it was just before it (a run
    verified or re-run against the state it saw); a true return ends the fold, that record not
    applied. `name_bad`: a record that does not decode or apply raises BadRecord naming it;
    otherwise the decoder's or the aggregate's own error is raised as it is.
    """
    decode, apply = app.decode, pf.apply
    for row in app.rows(pf.last_notification_id + 1):
        if stop is not None and row.id > stop:
            return
        try:
            event = decode(row)
        except Exception as e:
            if not name_bad:
                raise
            raise BadRecord(row, applying=False) from e
        if before is not None and before(row, event):
            return
        try:
            apply(event, row)
        except Exception as e:
            if not name_bad:
                raise
            raise BadRecord(row, applying=True) from e
        pf.last_notification_id = row.id
        yield row, event


def fold_all(app: EventLog, pf: Projection, *, stop: int | None = None, before: Before | None = None) -> int:
    """`fold` to the end (or `stop`, or until `before` says so); the number of records applied."""
    n = 0
    for _ in fold(app, pf, stop=stop, before=before):
        n += 1
    return n
