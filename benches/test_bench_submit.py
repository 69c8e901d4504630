"""One command end to end through AllocationService.submit at city scale (issue 16), and the
rebuild and audit of the store that leaves.

The scenario is replays/rent_to_own_2009_2018: its city portfolio (4,050 units, 4,000
households) imported into a fresh SQLite file store (not timed), then its own commands
submitted one at a time with the service's defaults: validated, applied, re-matched by the
Rust core and stored with their MatchRun in one durable transaction each (a snapshot is taken
after every 10,000 events, inside the command that crosses the mark, as in production).

- uncapped: the scenario's policy (v1 without the mix cap), the first BENCH_SUBMIT_COMMANDS
  (1,000) commands; p50/p95/max per command and per command type in extra_info.
- capped: the same portfolio under the packaged default policy (30 % disadvantaged per
  building). A capped city-scale solve is a cold branch and bound that takes minutes
  (docs/measurements-history.md, issue 3), so this runs in a child process killed after
  BENCH_SUBMIT_CAPPED_BUDGET_S (100) seconds, for at most BENCH_SUBMIT_CAPPED (3) commands,
  and records what finished. Offers are submitted without their `run` (the capped runs
  propose other pairs). A completed capped import is cached in out/ (raise the budget once
  to build it).
- rebuild and replay: a store holding the import and the first BENCH_SUBMIT_LOG_COMMANDS
  (default: BENCH_SUBMIT_COMMANDS) commands, rebuilt without snapshots and audited by
  `pyengine.replay.replay`; events/s and runs/s.

Under --benchmark-disable (the default options) it is a smoke run: 20 commands, no capped
child process, nothing written to out/.
"""

from __future__ import annotations

import gzip
import json
import os
import queue
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pyengine import bulk_import
from pyengine import commands as c
from pyengine.commands import decode_command
from pyengine.errors import InputError
from pyengine.policy import Policy, load_policy
from pyengine.replay import replay
from pyengine.service import AllocationService

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out"
SCENARIO = ROOT / "replays" / "rent_to_own_2009_2018"
COMMANDS = int(os.environ.get("BENCH_SUBMIT_COMMANDS", "1000"))
LOG_COMMANDS = int(os.environ.get("BENCH_SUBMIT_LOG_COMMANDS", str(COMMANDS)))
CAPPED_COMMANDS = int(os.environ.get("BENCH_SUBMIT_CAPPED", "3"))
CAPPED_BUDGET_S = float(os.environ.get("BENCH_SUBMIT_CAPPED_BUDGET_S", "100"))
CAPPED_CACHE = OUT / "submit-capped-import-v1.db"  # bump v1 when the scenario or the stored format changes
SMOKE_COMMANDS = 20  # under --benchmark-disable

Sample = tuple[str, float]  # command type, milliseconds
_snapshots: list[tuple[int, str, float]] = []  # (command number, type, ms) of commands that took a snapshot


def scenario_commands(n: int) -> list[c.Command]:
    lines = gzip.decompress((SCENARIO / "commands.jsonl.gz").read_bytes()).splitlines()
    return [decode_command(line) for line in lines[:n]]


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def remove_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def copy_store(src: Path, dst: Path) -> None:
    """A consistent copy of a closed or open SQLite store (its WAL included)."""
    remove_store(dst)
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(dst)) as b:
        a.backup(b)


def import_city(url: str, policy: Policy) -> AllocationService:
    """The scenario's portfolio imported under `policy` (caps: the policy's) into the empty store
    at `url` (a PostgreSQL one needs its tables first); its writer."""
    svc = AllocationService(url, policy)
    data = bulk_import.decode(gzip.decompress((SCENARIO / "portfolio.json.gz").read_bytes()))
    bulk_import.import_portfolio(svc, msgspec.structs.replace(data, caps=None))
    return svc


def imported(path: Path, policy: Policy) -> AllocationService:
    """A fresh SQLite store at `path` holding the scenario's portfolio under `policy`."""
    remove_store(path)
    return import_city(url_of(path), policy)


def submit_each(svc: AllocationService, cmds: list[c.Command], refusals: list[str] | None = None) -> list[Sample]:
    """Submit one at a time; each command's latency. Refusals raise unless `refusals` collects them."""
    samples: list[Sample] = []
    for cmd in cmds:
        snapshot_at = svc.snapshot_at
        t0 = time.perf_counter()
        try:
            svc.submit(cmd)
        except InputError as e:
            if refusals is None:
                raise
            refusals.append(f"{type(cmd).__name__}: {e}")
            continue
        ms = (time.perf_counter() - t0) * 1000.0
        samples.append((type(cmd).__name__, ms))
        if svc.snapshot_at != snapshot_at:  # this command's write also took a snapshot
            _snapshots.append((len(samples), type(cmd).__name__, ms))
    return samples


def percentiles(ms: list[float]) -> dict[str, Any]:
    s = sorted(ms)
    return {"n": len(s), "p50_ms": s[len(s) // 2], "p95_ms": s[int(len(s) * 0.95)], "max_ms": s[-1]}


def summary(samples: list[Sample]) -> dict[str, Any]:
    if not samples:
        return {"commands": 0}
    by_type: dict[str, list[float]] = defaultdict(list)
    for kind, ms in samples:
        by_type[kind].append(ms)
    lat = sorted(ms for _, ms in samples)
    return {
        "commands": len(lat), **{k: v for k, v in percentiles(lat).items() if k != "n"}, "min_ms": lat[0],
        "mean_ms": sum(lat) / len(lat), "latencies_ms": lat,
        "by_type": {k: percentiles(v) for k, v in sorted(by_type.items(), key=lambda kv: -len(kv[1]))},
    }  # fmt: skip


def table(title: str, s: dict[str, Any]) -> str:
    rows = [title, f"  {'type':<28} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}"]
    if s.get("commands"):
        every = {"all": {"n": s["commands"], **{k: s[k] for k in ("p50_ms", "p95_ms", "max_ms")}}}
        for kind, p in {**every, **s["by_type"]}.items():
            rows.append(f"  {kind:<28} {p['n']:>5} {p['p50_ms']:>9.1f} {p['p95_ms']:>9.1f} {p['max_ms']:>9.1f}")
    return "\n".join(rows)


def show(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print("\n" + text)


_stores: dict[int, Path] = {}  # commands submitted -> a store holding the import and those commands


@pytest.mark.benchmark(group="submit")
def test_submit_uncapped(
    benchmark: BenchmarkFixture, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    n = SMOKE_COMMANDS if benchmark.disabled else COMMANDS
    cmds = scenario_commands(n)
    path = tmp_path_factory.mktemp("submit") / "uncapped.db"
    t0 = time.perf_counter()
    svc = imported(path, load_policy(SCENARIO / "policy.toml"))
    import_s = time.perf_counter() - t0
    events_before = svc.portfolio.position
    samples: list[Sample] = []
    _snapshots.clear()
    benchmark.pedantic(lambda: samples.extend(submit_each(svc, cmds)), rounds=1, iterations=1)
    s = summary(samples)
    s.update(import_s=import_s, events_before=events_before, events_after=svc.portfolio.position,
             snapshots=list(_snapshots), store_bytes=path.stat().st_size)  # fmt: skip
    svc.close()
    _stores[n] = path
    benchmark.extra_info.update(s)
    snaps = "".join(f"; command {i} ({kind}, {ms:.0f} ms) also took a snapshot" for i, kind, ms in _snapshots)
    show(capsys, table(f"submit, city scale, uncapped: {n:,} commands, one transaction each{snaps}", s))


def capped_worker(n: int, work: Path, cache: Path | None) -> None:
    """The capped run, in a child process: one JSON line per stage on stdout."""

    def emit(**kw: Any) -> None:
        print(json.dumps(kw), flush=True)

    t0 = time.perf_counter()
    if cache is not None and cache.exists():
        copy_store(cache, work)
        svc = AllocationService(url_of(work))  # the policy in force in the log: the packaged default
        emit(stage="import", cached=True, seconds=time.perf_counter() - t0, solve_ms=None)
    else:
        svc = imported(work, load_policy())
        emit(stage="import", cached=False, seconds=time.perf_counter() - t0,
             solve_ms=svc.portfolio.decision().solve_ms)  # fmt: skip
        if cache is not None:
            partial = cache.with_name(cache.name + ".partial")
            copy_store(work, partial)
            os.replace(partial, cache)  # only a complete import is ever cached
    # the capped runs propose other pairs than the recorded ones: offers do not cite a run
    cmds = [msgspec.structs.replace(x, run=None) if isinstance(x, c.OfferMade) else x for x in scenario_commands(n)]
    for cmd in cmds:
        refused: list[str] = []
        sample = submit_each(svc, [cmd], refused)
        emit(stage="command", type=type(cmd).__name__, ms=sample[0][1] if sample else None, refused=refused)
    svc.close()


def run_capped(n: int, budget_s: float, work: Path, cache: Path | None) -> dict[str, Any]:
    """Run capped_worker for at most `budget_s` seconds (then kill it); what it reported."""
    argv = [sys.executable, "-m", "benches.test_bench_submit", str(n), str(work), str(cache or "")]
    lines: queue.Queue[str | None] = queue.Queue()
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        out = proc.stdout

        def read() -> None:
            for line in out:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        records: list[dict[str, Any]] = []
        finished = False  # the child closed its output: it is done (or died)
        while (left := budget_s - (time.perf_counter() - t0)) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                finished = True
                break
            records.append(json.loads(line))
        if not finished:
            proc.kill()
        rc = proc.wait()
        reader.join(timeout=10)
        out.close()
        err.seek(0)
        if finished and rc != 0:
            raise AssertionError(f"capped worker failed ({rc}):\n{err.read()[-4000:]}")
    imp = next((r for r in records if r["stage"] == "import"), None)
    done = [r for r in records if r["stage"] == "command"]
    return {
        "budget_s": budget_s, "elapsed_s": time.perf_counter() - t0, "killed": not finished,
        "import_finished": imp is not None, "import_cached": bool(imp and imp["cached"]),
        "import_s": imp["seconds"] if imp else None, "import_solve_ms": imp["solve_ms"] if imp else None,
        "commands_requested": n, "commands_done": len(done),
        "refused": [x for r in done for x in r["refused"]],
        "samples": [(r["type"], r["ms"]) for r in done if r["ms"] is not None],
    }  # fmt: skip


@pytest.mark.benchmark(group="submit")
def test_submit_capped(
    benchmark: BenchmarkFixture, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    if benchmark.disabled:
        pytest.skip("capped city-scale solves take minutes: runs with --benchmark-only")
    OUT.mkdir(exist_ok=True)
    work = tmp_path_factory.mktemp("submit") / "capped.db"
    got: dict[str, Any] = {}
    benchmark.pedantic(lambda: got.update(run_capped(CAPPED_COMMANDS, CAPPED_BUDGET_S, work, CAPPED_CACHE)),
                       rounds=1, iterations=1)  # fmt: skip
    s = summary(got.pop("samples"))
    s.update(got)
    benchmark.extra_info.update(s)
    if not got["import_finished"]:
        status = f"the capped import did not finish within {CAPPED_BUDGET_S:.0f} s (child killed)"
    else:
        status = (f"import {got['import_s']:.1f} s{' (cached)' if got['import_cached'] else ''}; "
                  f"{got['commands_done']} of {CAPPED_COMMANDS} commands done, {len(got['refused'])} refused"
                  f"{' before the child was killed' if got['killed'] else ''}")  # fmt: skip
    show(capsys, table(f"submit, city scale, capped (30 % disadvantaged per building): {status}", s))


def log_store(n: int, folder: Path) -> Path:
    """A store holding the import and the scenario's first `n` commands, one transaction each."""
    if n not in _stores:
        path = folder / f"log-{n}.db"
        svc = imported(path, load_policy(SCENARIO / "policy.toml"))
        submit_each(svc, scenario_commands(n))
        svc.close()
        _stores[n] = path
    return _stores[n]


@pytest.mark.benchmark(group="submit")
def test_submit_rebuild(benchmark: BenchmarkFixture, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A service starting without snapshots on the scenario's store: every record folded in."""
    n = SMOKE_COMMANDS if benchmark.disabled else LOG_COMMANDS
    path = log_store(n, tmp_path_factory.mktemp("submit"))
    events = 0

    def run() -> None:
        nonlocal events
        svc = AllocationService(url_of(path), snapshots=False)
        events = svc.portfolio.position
        svc.close()

    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info.update(commands=n, events=events, store_bytes=path.stat().st_size)
    if benchmark.stats is not None:
        benchmark.extra_info["events_per_s"] = events / benchmark.stats.stats.min


@pytest.mark.benchmark(group="submit")
def test_submit_replay(benchmark: BenchmarkFixture, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`pyengine replay` on the scenario's store: every MatchRun re-run and its hashes checked."""
    n = SMOKE_COMMANDS if benchmark.disabled else LOG_COMMANDS
    path = log_store(n, tmp_path_factory.mktemp("submit"))
    reports = []
    benchmark.pedantic(lambda: reports.append(replay(url_of(path))), rounds=1, iterations=1)
    r = reports[-1]
    assert r.divergence is None and not r.snapshot_problems, (r.divergence, r.snapshot_problems)
    benchmark.extra_info.update(commands=n, events=r.events, runs=r.runs_verified,
                                snapshots_checked=r.snapshots_checked)  # fmt: skip
    if benchmark.stats is not None:
        best = benchmark.stats.stats.min
        benchmark.extra_info.update(events_per_s=r.events / best, runs_per_s=r.runs_verified / best)


if __name__ == "__main__":  # the capped child process: N WORK_DB [CACHE_DB]
    capped_worker(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if sys.argv[3] else None)
