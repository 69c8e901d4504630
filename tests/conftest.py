"""Fixtures shared by the suites: a throwaway PostgreSQL server for the session, and `store_url`,
which runs a store-level test once on a SQLite file and once on a fresh PostgreSQL database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.store import init_tables
from tests import pgserver


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.Server]:
    server = pgserver.start()
    if server is None:
        if os.environ.get("PYENGINE_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is not installed (make test installs Debian's postgresql package)")
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql package)")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: pgserver.Server) -> str:
    """A fresh PostgreSQL store with the engine's tables (as `pyengine db init` makes them)."""
    url = pg_server.new_database()
    init_tables(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
