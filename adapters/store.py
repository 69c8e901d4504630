"""Store URLs → eventsourcing persistence settings (the only place that knows them)."""

from __future__ import annotations

from pathlib import Path

from pyengine.errors import InputError

DEFAULT_STORE = "sqlite:///pyengine.db"


def store_env(url: str) -> dict[str, str]:
    """Map `sqlite:///path`, `memory:` (and later `postgresql://…`) onto eventsourcing's env.

    `sqlite:///rel/path.db` is relative to the working directory, `sqlite:////abs/path.db`
    absolute (the SQLAlchemy convention).
    """
    if url == "memory:":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.name:
            raise InputError("--store", f"no file name in {url!r}")
        if not path.parent.is_dir() and str(path.parent) != "":
            raise InputError("--store", f"folder {str(path.parent)!r} does not exist")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    if url.startswith(("postgresql://", "postgres://")):
        raise InputError("--store", "the PostgreSQL adapter is not available in this version")
    raise InputError("--store", f"unsupported store URL {url!r} (use sqlite:///FILE.db or memory:)")


def store_path(url: str) -> Path | None:
    """The file behind a SQLite URL, for messages."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :]).resolve()
    return None
