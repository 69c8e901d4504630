"""Rebuilding state from a 1,000,000-event log, from its latest snapshot, and auditing it (DESIGN §7).

The log is a genuine service log: the churn scenario (a 48-unit office over the years: days,
applications, offers, leases, renewals, rent-to-own sales, acquisitions) submitted through
AllocationService.submit_many, so every command is validated, re-matched by the Rust core
and stored with its MatchRun; the service snapshots every 10,000 events as it goes. Built
once and cached in out/ (BENCH_LOG_EVENTS=N for another size).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pyengine.replay import replay
from pyengine.scenarios.churn import Churn
from pyengine.service import AllocationService

OUT = Path(__file__).resolve().parents[1] / "out"
EVENTS = int(os.environ.get("BENCH_LOG_EVENTS", "1000000"))
LOG = OUT / f"replay-log-v4-{EVENTS}.db"  # bump v4 when the scenario or the stored format changes


def build_log(path: Path, events: int) -> float:
    """Write the log (at least `events` events) to `path`; return the seconds it took."""
    partial = path.with_name(path.name + ".partial")
    for suffix in ("", "-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)
    t0 = time.perf_counter()
    svc = AllocationService(f"sqlite:///{partial}")
    churn = Churn(seed=1, buildings=3, per_building=16, applicants=24)
    svc.submit_many(churn.setup())
    while svc.portfolio.position < events:
        svc.submit_many(churn.stream(svc.portfolio, 2000))
        done = svc.portfolio.position
        print(f"  log: {done:,}/{events:,} events ({done / (time.perf_counter() - t0):,.0f}/s)", file=sys.stderr)
    svc.close()
    os.replace(partial, path)  # only a complete log is ever cached
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def log_url() -> str:
    OUT.mkdir(exist_ok=True)
    if not LOG.exists():
        build_log(LOG, EVENTS)
    return f"sqlite:///{LOG}"


def _extra(benchmark: BenchmarkFixture, events: int, **more: object) -> None:
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(events=events, events_per_s=events / best, log_bytes=LOG.stat().st_size, **more)


@pytest.mark.benchmark(group="replay")
def test_rebuild_whole_log(benchmark: BenchmarkFixture, log_url: str) -> None:
    """A service starting without snapshots: every record read, decoded and folded in."""
    events = 0

    def run() -> None:
        nonlocal events
        svc = AllocationService(log_url, snapshots=False, snapshot_every=0)
        events = svc.portfolio.position
        svc.close()

    benchmark.pedantic(run, rounds=3, iterations=1)
    _extra(benchmark, events)


@pytest.mark.benchmark(group="replay")
def test_rebuild_from_snapshot(benchmark: BenchmarkFixture, log_url: str) -> None:
    """A service starting from the latest snapshot and folding the records after it."""
    seen: dict[str, int] = {}

    def run() -> None:
        svc = AllocationService(log_url, snapshot_every=0)
        seen.update(events=svc.portfolio.position, snapshot_at=svc.loaded_from,
                    tail=svc.portfolio.last_notification_id - svc.loaded_from)  # fmt: skip
        svc.close()

    benchmark.pedantic(run, rounds=5, iterations=1)
    assert seen["snapshot_at"] > 0
    _extra(benchmark, seen["events"], snapshot_at=seen["snapshot_at"], tail=seen["tail"])


@pytest.mark.benchmark(group="replay")
def test_verify_whole_log(benchmark: BenchmarkFixture, log_url: str) -> None:
    """`pyengine replay`: every MatchRun re-run at its position and its hashes checked, shared
    between processes as the CLI does (two on a multi-core machine)."""
    reports = []
    benchmark.pedantic(lambda: reports.append(replay(log_url, workers=None)), rounds=1, iterations=1)
    r = reports[-1]
    assert r.divergence is None and not r.snapshot_problems
    _extra(benchmark, r.events, runs=r.runs_verified, runs_per_s=r.runs_verified / benchmark.stats.stats.min,
           snapshots_checked=r.snapshots_checked)  # fmt: skip
