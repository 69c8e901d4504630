"""PostgreSQL stores: `pyengine db init` creates the tables once, services never do; the CLI's
store commands on a PostgreSQL store; URLs that are refused before anything is opened, and
passwords that never appear in a message. (The store-level suites run on both databases through
the `store_url` fixture.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.store import postgres_env, redacted, store_env
from pyengine.errors import InputError
from tests import pgserver


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyengine.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_tables_come_from_db_init_only(pg_server: pgserver.Server, tmp_path: Path) -> None:
    url = pg_server.new_database()
    p = run("demo", "--store", url, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "has no engine tables: create them once with `pyengine db init --store URL`" in p.stderr
    assert pgserver.PASSWORD not in p.stderr + p.stdout
    for _ in range(2):  # creating them again changes nothing
        init = run("db", "init", "--store", url)
        assert init.returncode == 0, init.stderr
        assert "tables ready in postgresql://pyengine:***@" in init.stderr


def test_store_commands_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    demo = run("demo", "--store", pg_url, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    ev = run("events", "--store", pg_url)
    kinds = [json.loads(line)["type"] for line in ev.stdout.splitlines()]
    assert kinds[-1] == "MatchRun" and kinds.count("UnitRegistered") >= 42
    v = run("replay", "--store", pg_url)
    assert v.returncode == 0 and "verified" in v.stdout, v.stdout + v.stderr
    snap = run("snapshot", "--store", pg_url)
    assert snap.returncode == 0, snap.stderr
    v2 = run("replay", "--store", pg_url)
    assert v2.returncode == 0 and "1 snapshot" in v2.stdout + v2.stderr, v2.stdout + v2.stderr
    last = json.loads(ev.stdout.splitlines()[-1])
    household = last["assignments"][0]["household"] if last["assignments"] else None
    if household is not None:
        ex = run("explain", "--store", pg_url, "--household", household, "--json")
        assert ex.returncode == 0 and json.loads(ex.stdout)["household"] == household, ex.stderr
    out = tmp_path / "export.json"
    assert run("export", "--store", pg_url, "--output", str(out)).returncode == 0
    assert json.loads(out.read_text())["units"]
    sales = run("report", "sales", "--store", pg_url, "--png", str(tmp_path / "s.png"))
    assert sales.returncode == 0, sales.stderr


def test_readers_on_a_standby(pg_server: pgserver.Server, pg_url: str, tmp_path: Path) -> None:
    """The scale-out path: one primary for writes, a hot standby for an auditor's reads; a write
    sent to the standby is refused (exit 2) and nothing changes."""
    assert run("demo", "--store", pg_url, cwd=tmp_path).returncode == 0
    standby = pg_server.standby()
    try:
        on_standby = standby.url_of(pg_url)
        more = tmp_path / "more.jsonl"
        more.write_text('{"type": "ApplicationSubmitted", "id": "S1", "adults": 1, "applied_on": "2021-01-01"}\n')
        assert run("submit", "--store", pg_url, str(more)).returncode == 0
        primary = run("events", "--store", pg_url).stdout
        for _ in range(100):  # streaming replication catches up
            if run("events", "--store", on_standby).stdout == primary:
                break
            time.sleep(0.1)
        assert run("events", "--store", on_standby).stdout == primary
        v = run("replay", "--store", on_standby)
        assert v.returncode == 0 and "verified" in v.stdout, v.stdout + v.stderr
        again = tmp_path / "again.jsonl"
        again.write_text('{"type": "ApplicationSubmitted", "id": "S2", "adults": 1, "applied_on": "2021-01-01"}\n')
        w = run("submit", "--store", on_standby, str(again))
        assert w.returncode == 2 and "is a standby (read-only)" in w.stderr, w.stderr
        assert run("events", "--store", pg_url).stdout == primary
    finally:
        standby.stop()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://u:secret@localhost:5432/", "no database name"),
        ("postgresql://u:secret@localhost:99999/db", "is not a number from 1 to 65535"),
        ("postgresql://u:secret@localhost/db?sslmode=disable", "take no query string"),
        ("postgresql://u:secret@/db", "no host"),
    ],
)
def test_bad_postgresql_urls_are_refused_without_their_password(url: str, why: str) -> None:
    with pytest.raises(InputError) as e:
        store_env(url)
    assert e.value.field == "--store" and why in e.value.reason
    assert "secret" not in str(e.value)


def test_urls_map_onto_the_library_keys() -> None:
    env = postgres_env("postgresql://app:p%40ss@db.example:6543/alloc", create_tables=False)
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("db.example", "6543", "alloc")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["CREATE_TABLE"]) == ("app", "p@ss", "n")
    assert store_env("postgres://app@db/alloc", write=False)["CREATE_TABLE"] == "n"
    assert redacted("postgresql://app:p%40ss@db:1/x") == "postgresql://app:***@db:1/x"
