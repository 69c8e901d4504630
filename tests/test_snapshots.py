"""Snapshots and the fast rebuild path never change results; a snapshot that no longer fits
its log is never trusted; batched submits write the log single submits would."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eventsourcing.domain
import msgspec
import pytest
from eventsourcing.domain import OriginatorVersionError

from adapters.records import import_records
from adapters.store import store_env
from pyengine import commands as c
from pyengine import snapshot
from pyengine.errors import ConcurrencyConflict, InputError
from pyengine.event_log import EventLog
from pyengine.portfolio import Portfolio
from pyengine.replay import replay
from pyengine.scenarios.churn import Churn
from pyengine.service import AllocationService

FIXTURE = Path(__file__).resolve().parents[1] / "replays" / "fixtures" / "schema-v1-offers.jsonl"


def build(url: str, commands: int, every: int, seed: int = 7) -> Churn:
    svc = AllocationService(url, snapshot_every=every)
    churn = Churn(seed=seed, buildings=3, per_building=12, applicants=15)
    svc.submit_many(churn.setup())
    svc.submit_many(churn.stream(svc.portfolio, commands), batch=97)
    svc.close()
    return churn


@pytest.fixture(scope="module")
def churn_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Churn]:
    url = f"sqlite:///{tmp_path_factory.mktemp('churn') / 'log.db'}"
    churn = build(url, 1500, every=1000)
    return url, churn


def copy_store(url: str, tmp_path: Path, name: str = "copy.db") -> str:
    dst = tmp_path / name
    with sqlite3.connect(url[len("sqlite:///") :]) as src, sqlite3.connect(dst) as out:
        src.backup(out)
    return f"sqlite:///{dst}"


def db(url: str) -> sqlite3.Connection:
    return sqlite3.connect(url[len("sqlite:///") :])


def same_state(a: Portfolio, b: Portfolio) -> None:
    key = lambda x: str(x.id)  # noqa: E731
    assert sorted(a.aggregates(), key=key) == sorted(b.aggregates(), key=key)  # Aggregate.__eq__: type and __dict__
    for name in ("units", "households", "open_case", "case_count", "spent_nok", "occupant", "home", "position",
                 "last_notification_id", "policy", "ledger", "date", "pot_nok", "events_hash"):  # fmt: skip
        assert getattr(a, name) == getattr(b, name), name
    assert a.instance() == b.instance()


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """New events get one timestamp, so two services handling the same command store equal bytes."""
    at = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", lambda: at)


def next_runs(a: AllocationService, b: AllocationService, churn: Churn, n: int) -> Iterator[tuple[Any, Any]]:
    for _ in range(n):
        cmd = churn.next(a.portfolio)
        ra, rb = a.portfolio.handle(cmd)[-1].payload, b.portfolio.handle(cmd)[-1].payload
        yield msgspec.structs.replace(ra, solve_ms=0.0), msgspec.structs.replace(rb, solve_ms=0.0)


def test_snapshot_and_tail_rebuild_the_same_state_as_the_whole_log(
    churn_log: tuple[str, Churn], tmp_path: Path, fixed_clock: None
) -> None:
    url, churn = churn_log
    whole = AllocationService(url, snapshots=False, snapshot_every=0)
    fast = AllocationService(url, snapshot_every=0)
    assert fast.loaded_from > 0 and fast.portfolio.last_notification_id > fast.loaded_from  # a snapshot and a tail
    same_state(whole.portfolio, fast.portfolio)
    # the same next MatchRuns, hashes included, on both (commands chosen against one of them)
    runs = list(next_runs(whole, fast, churn, 25))
    assert all(x == y for x, y in runs) and len({x.result_hash for x, _ in runs}) == 25
    assert whole.portfolio.instance() == fast.portfolio.instance()  # (runs differ in solve_ms only)
    whole.close()
    fast.close()


def test_writer_takes_snapshots_and_replay_checks_them(churn_log: tuple[str, Churn]) -> None:
    url, _ = churn_log
    svc = AllocationService(url, snapshot_every=0)
    positions = [p for p, _ in snapshot.stored(svc.app)]
    assert len(positions) == snapshot.KEEP and positions == sorted(positions, reverse=True)  # older ones pruned
    svc.close()
    report = replay(url)
    assert report.divergence is None and report.snapshots_checked == snapshot.KEEP and not report.snapshot_problems


def test_the_library_reads_a_snapshot_as_a_domain_event(churn_log: tuple[str, Churn]) -> None:
    url, _ = churn_log
    app = EventLog(env=store_env(url))
    assert app.snapshots is not None
    (event,) = app.snapshots.get(snapshot.PORTFOLIO_SNAPSHOT_ID, desc=True, limit=1)
    assert isinstance(event, snapshot.PortfolioSnapshot)
    position, data = snapshot.stored(app, limit=1)[0]
    assert event.originator_version == position and event.state == snapshot.decode(data)
    app.close()


def test_a_snapshot_whose_head_no_longer_matches_is_ignored(churn_log: tuple[str, Churn], tmp_path: Path) -> None:
    url = copy_store(churn_log[0], tmp_path)
    newest = AllocationService(url, snapshot_every=0)
    at = newest.loaded_from
    newest.close()
    with db(url) as con:  # edit the MatchRun the newest snapshot was taken at
        (state,) = con.execute("select state from stored_events where rowid = ?", (at,)).fetchone()
        edited = state.replace(b'"bound":', b'"bound": ')
        con.execute("update stored_events set state = ? where rowid = ?", (edited, at))
    svc = AllocationService(url, snapshot_every=0)
    assert 0 < svc.loaded_from < at  # the next older snapshot that still fits
    found = snapshot.latest(svc.app)
    assert found.skipped == [(at, f"the record at position {at} is not the one it was taken at")]
    svc.close()


def test_a_snapshot_is_ignored_when_records_before_it_were_deleted(
    churn_log: tuple[str, Churn], tmp_path: Path
) -> None:
    url = copy_store(churn_log[0], tmp_path)
    with db(url) as con:
        con.execute("delete from stored_events where rowid = 60")
    app = EventLog(env=store_env(url))
    found = snapshot.latest(app)
    app.close()
    assert found.state is None and len(found.skipped) == snapshot.KEEP
    assert all("records up to position" in why for _, why in found.skipped)
    with pytest.raises(OriginatorVersionError):  # so the whole log is folded, and it no longer folds
        AllocationService(url, snapshot_every=0)


def test_a_snapshot_from_another_log_is_ignored(churn_log: tuple[str, Churn], tmp_path: Path) -> None:
    url = copy_store(churn_log[0], tmp_path)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    build(other, 1500, every=1000, seed=8)
    with db(url) as con, db(other) as dst:
        dst.execute("delete from stored_snapshots")
        dst.executemany("insert into stored_snapshots values (?, ?, ?, ?)",
                        con.execute("select * from stored_snapshots").fetchall())  # fmt: skip
    svc = AllocationService(other, snapshot_every=0)
    assert svc.loaded_from == 0 and len(snapshot.latest(svc.app).skipped) == snapshot.KEEP
    whole = AllocationService(other, snapshots=False, snapshot_every=0)
    same_state(whole.portfolio, svc.portfolio)
    svc.close()
    whole.close()
    # the audit says so too
    report = replay(other)
    assert report.divergence is None and len(report.snapshot_problems) == snapshot.KEEP


def test_replay_reports_an_edited_snapshot(churn_log: tuple[str, Churn], tmp_path: Path) -> None:
    url = copy_store(churn_log[0], tmp_path)
    with db(url) as con:
        version, state = con.execute(
            "select originator_version, state from stored_snapshots order by originator_version desc limit 1"
        ).fetchone()
        edited = state.replace(b'"spent_nok":', b'"spent_nok":1', 1)
        assert edited != state
        con.execute("update stored_snapshots set state = ? where originator_version = ?", (edited, version))
    report = replay(url)
    assert report.divergence is None
    assert report.snapshot_problems == [
        f"snapshot at position {version}: differs from the state replayed from the log "
        "(it is not used when its head no longer matches)"
    ]
    p = subprocess.run([sys.executable, "-m", "pyengine.cli", "replay", "--store", url], capture_output=True, text=True)
    assert p.returncode == 1 and f"snapshot at position {version}" in p.stdout


def test_snapshot_command(churn_log: tuple[str, Churn], tmp_path: Path) -> None:
    url = copy_store(churn_log[0], tmp_path)
    cmd = [sys.executable, "-m", "pyengine.cli", "snapshot", "--store", url]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    svc = AllocationService(url, snapshot_every=0)
    # the snapshot is at the last MatchRun, and the log's last record vouches for it
    assert svc.loaded_from == svc.portfolio.run_position == svc.portfolio.last_notification_id - 1
    assert f"snapshot at position {svc.loaded_from}" in p.stdout
    svc.close()


# --- the fast reader ---------------------------------------------------------------------
def decoded_both_ways(url: str) -> tuple[list[Any], list[Any]]:
    app = EventLog(env=store_env(url))
    fast = [app.decode(r) for r in app.rows()]
    slow = [app.mapper.to_domain_event(n) for n in app.records()]
    app.close()
    return fast, slow


@pytest.mark.parametrize("source", ["churn", "schema-v1"])
def test_fast_decoding_gives_the_mappers_events(source: str, churn_log: tuple[str, Churn], tmp_path: Path) -> None:
    if source == "churn":
        url = churn_log[0]
    else:
        url = f"sqlite:///{tmp_path / 'v1.db'}"
        import_records(FIXTURE, url)
    fast, slow = decoded_both_ways(url)
    assert len(fast) == len(slow) > 150
    for a, b in zip(fast, slow, strict=True):
        assert type(a) is type(b) and vars(a) == vars(b) and list(vars(a)) == list(vars(b))
    if source == "schema-v1":  # old offers were upcast by the library path
        offers = [e.payload for e in fast if isinstance(e.payload, c.OfferMade)]
        assert offers and all(o.schema == 2 and o.run is None for o in offers)


def test_fast_path_falls_back_on_records_it_does_not_know(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v1.db'}"
    import_records(FIXTURE, url)
    with db(url) as con:  # a field the typed envelope does not know: the library keeps it on the event
        rowid, state = con.execute(
            "select rowid, state from stored_events where topic = 'pyengine/DayClosed' limit 1"
        ).fetchone()
        con.execute("update stored_events set state = ? where rowid = ?",
                    (state.replace(b'"timestamp":', b'"extra":1,"timestamp":'), rowid))  # fmt: skip
    app = EventLog(env=store_env(url))
    row = next(r for r in app.rows() if r.id == rowid)
    assert vars(app.decode(row)) == vars(app.mapper.to_domain_event(row))  # type: ignore[arg-type]
    assert vars(app.decode(row))["extra"] == 1
    app.close()


# --- batched submits ---------------------------------------------------------------------
def test_a_refused_command_in_a_batch_keeps_the_ones_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    svc = AllocationService(url)
    svc.submit(c.DayClosed(date=dt.date(2021, 5, 1)))
    ok = [c.UnitRegistered(id=f"U{i}", building="B", stairwell="B-1", floor=1, rooms=2, area_m2=50.0,
                           rent_nok_month=6000, accessible=True, kind="ordinary", district="Lademoen")
          for i in range(3)]  # fmt: skip
    with pytest.raises(InputError, match="already exists"):
        svc.submit_many([ok[0], ok[1], ok[0], ok[2]])
    kinds = [type(e.payload).__name__ for _, e in svc.stored_events()]
    assert kinds[-4:] == ["UnitRegistered", "MatchRun", "UnitRegistered", "MatchRun"]
    assert "U2" not in svc.portfolio.units
    fresh = AllocationService(url, snapshots=False)
    same_state(fresh.portfolio, svc.portfolio)
    svc.close()
    fresh.close()
    assert replay(url).divergence is None


def test_a_stale_batch_is_a_conflict_and_stores_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    a, b = AllocationService(url), AllocationService(url)
    a.submit(c.DayClosed(date=dt.date(2021, 5, 1)))
    before = a.app.recorder.max_notification_id()
    b.catch_up = lambda: 0  # type: ignore[method-assign]  # b does not look before writing
    with pytest.raises(ConcurrencyConflict):
        b.submit_many([c.DayClosed(date=dt.date(2021, 5, 2)), c.DayClosed(date=dt.date(2021, 5, 3))])
    assert a.app.recorder.max_notification_id() == before
    a.close()
    b.close()
