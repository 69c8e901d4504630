"""Per-household data keys beside the event store, for erasure by crypto-shredding (issue 20).

A store made with `pyengine db init --erasable` holds a table of keys, one per household: the
personal fields of its applications are stored encrypted with it (`pyengine.sealing`), and
erasing the household deletes the key. The stored records, their hashes and the chain stay
as they were; what they held of the household can no longer be read.

The table lives in the event store's own database (SQLite file or PostgreSQL), read and written
through the recorder's datastore; a store without the table stores applications in clear.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from typing import Any

TABLE = "pyengine_household_keys"
KEY_BYTES = 32  # AES-256


class Erased(Exception):
    """The household's key was deleted: its personal data cannot be read any more."""

    def __init__(self, household: str, on: dt.date | None) -> None:
        when = f" on {on.isoformat()}" if on else ""
        super().__init__(f"household {household!r} was erased{when}: its personal data cannot be read")
        self.household = household
        self.on = on


class KeyRing:
    """The keys of one store. `enabled` says whether the store seals personal data at all."""

    def __init__(self, recorder: Any) -> None:
        self._datastore = getattr(recorder, "datastore", None)
        self._pg = type(self._datastore).__module__.startswith("eventsourcing.postgres")
        self._keys: dict[str, bytes | None] = {}  # household id -> key (None: erased)
        self._erased_on: dict[str, dt.date | None] = {}
        self._enabled: bool | None = None
        self._all_read = False

    # --- the table ----------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        if self._enabled is None:
            self._enabled = self._datastore is not None and self._table_exists()
        return self._enabled

    def look_again(self) -> bool:
        """`enabled`, read again where the store had no key table when last read: another process
        may have added it since (`pyengine db init --erasable` on a store in use). One query while
        the store has none, none once it has (the engine never drops the table)."""
        if self._enabled is False and self._datastore is not None and self._table_exists():
            self._enabled = True
            self._all_read = False  # no key was read while there was no table
        return self.enabled

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._pg else sql

    def _run(self, sql: str, params: tuple[Any, ...] = (), *, commit: bool = False) -> list[tuple[Any, ...]]:
        assert self._datastore is not None
        with self._datastore.transaction(commit=commit) as cur:
            raw = cur if self._pg else cur.sqlite_cursor
            if not self._pg:
                raw.row_factory = None
            raw.execute(self._sql(sql), params)
            rows = raw.fetchall() if raw.description is not None else []
        return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]

    def _table_exists(self) -> bool:
        if self._pg:
            rows = self._run("SELECT to_regclass(?) IS NOT NULL", (TABLE,))
            return bool(rows and rows[0][0])
        rows = self._run("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,))
        return bool(rows)

    def create_table(self) -> None:
        if self._datastore is None:
            raise ValueError("a memory: store keeps no keys")
        blob = "BYTEA" if self._pg else "BLOB"
        self._run(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (household_id TEXT PRIMARY KEY, key {blob}, erased_on TEXT)",
            commit=True,
        )
        self._enabled = True

    # --- keys ---------------------------------------------------------------------------
    def load_all(self) -> None:
        """Every key at once (a rebuild reads many households' records)."""
        self._all_read = True
        if not self.enabled:
            return
        for hid, key, on in self._run(f"SELECT household_id, key, erased_on FROM {TABLE}"):
            self._keep(str(hid), key, on)

    def _keep(self, hid: str, key: Any, on: Any) -> None:
        self._keys[hid] = None if key is None else bytes(key)
        self._erased_on[hid] = dt.date.fromisoformat(on) if on else None

    def key(self, household: str, *, create: bool = False) -> bytes:
        """The household's key (made and stored first when `create` and it has none yet).
        Raises Erased when it was deleted, KeyError when it has none."""
        if household not in self._keys and not self._all_read:
            self.load_all()  # one read for a rebuild's many households
        if household not in self._keys:
            rows = self._run(f"SELECT key, erased_on FROM {TABLE} WHERE household_id = ?", (household,))
            if not rows and create:
                # stored (committed) before any record sealed with it; two writers making the
                # same household's key at once: the first one's is kept, and both read it back
                new = os.urandom(KEY_BYTES)
                conflict = "ON CONFLICT (household_id) DO NOTHING"
                self._run(f"INSERT INTO {TABLE} (household_id, key) VALUES (?, ?) {conflict}", (household, new),
                          commit=True)  # fmt: skip
                rows = self._run(f"SELECT key, erased_on FROM {TABLE} WHERE household_id = ?", (household,))
            if not rows:
                raise KeyError(household)
            self._keep(household, *rows[0])
        key = self._keys[household]
        if key is None:
            raise Erased(household, self._erased_on.get(household))
        return key

    def erased(self, household: str) -> bool:
        try:
            self.key(household)
        except Erased:
            return True
        except KeyError:
            return False
        return False

    def shred(self, household: str, on: dt.date) -> None:
        """Delete the household's key (kept as a row that says when)."""
        assert self._datastore is not None
        with self._datastore.transaction(commit=True) as cur:
            raw = cur if self._pg else cur.sqlite_cursor
            if not self._pg:  # the freed bytes are overwritten, not just unlinked
                raw.execute("PRAGMA secure_delete = ON")
            raw.execute(
                self._sql(f"INSERT INTO {TABLE} (household_id, key, erased_on) VALUES (?, NULL, ?) "
                          "ON CONFLICT (household_id) DO UPDATE SET key = NULL, erased_on = excluded.erased_on"),
                (household, on.isoformat()),
            )  # fmt: skip
        self._keys[household] = None
        self._erased_on[household] = on
        if self._pg:
            self._vacuum()
        else:
            self._checkpoint()

    def _vacuum(self) -> None:
        # the old row version, key and all, stays in the table's pages until a VACUUM
        assert self._datastore is not None
        with self._datastore.get_connection() as conn:
            conn.autocommit = True
            try:
                conn.execute(f"VACUUM {TABLE}")
            finally:
                conn.autocommit = False

    def _checkpoint(self) -> None:
        # the WAL still holds the page with the key until it is copied back into the file
        assert self._datastore is not None
        with self._datastore.transaction(commit=False) as cur:
            con = cur.sqlite_cursor.connection
        # a reader holding the WAL keeps it: SQLite copies it back at its next checkpoint
        with contextlib.suppress(sqlite3.Error):
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
