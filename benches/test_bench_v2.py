"""Issue 20's costs: re-matching under policy v2's published lottery against v1 at city scale
(mix cap off, 1,000 mixed operations; with BENCH_NATIONAL=1 also national, 100), and commands
in an erasable store (`db init --erasable`: a key per household, personal fields sealed)
against one in clear."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from adapters.store import init_tables
from pyengine.generate import operations
from pyengine.matching import Matcher
from pyengine.operations import apply_to_matcher
from pyengine.policy import load_policy
from pyengine.scenarios import pilot2
from pyengine.schema import Instance
from pyengine.service import AllocationService


def stats(ms: list[float]) -> dict[str, float]:
    v = sorted(ms)
    return {"n": len(v), "p50_ms": v[len(v) // 2], "p95_ms": v[len(v) * 95 // 100], "max_ms": v[-1]}


def stream_by_policy(benchmark: BenchmarkFixture, inst: Instance, policy: str, n_ops: int) -> None:
    ops = list(operations(inst, n_ops, seed=2))
    got: dict[str, object] = {}

    def run() -> None:
        m = Matcher(load_policy(policy))
        m.load(inst)
        t0 = time.perf_counter()
        m.solve()
        scratch = time.perf_counter() - t0
        lat = []
        for op in ops:
            apply_to_matcher(m, op)
            t0 = time.perf_counter()
            m.engine.rematch(0)
            lat.append((time.perf_counter() - t0) * 1000.0)
        got.update(scratch_s=scratch, **stats(lat))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(policy=policy, **got)


@pytest.mark.benchmark(group="v2")
@pytest.mark.parametrize("policy", ["default-v1", "default-v2"])
def test_city_stream_by_policy(benchmark: BenchmarkFixture, city: Instance, policy: str) -> None:
    stream_by_policy(benchmark, city, policy, 1000)


@pytest.mark.benchmark(group="v2")
@pytest.mark.parametrize("policy", ["default-v1", "default-v2"])
def test_national_stream_by_policy(benchmark: BenchmarkFixture, national: Instance, policy: str) -> None:
    """With BENCH_NATIONAL=1: 100,000 units, from scratch and 100 operations (minutes each)."""
    stream_by_policy(benchmark, national, policy, 100)


@pytest.mark.benchmark(group="v2")
@pytest.mark.parametrize("erasable", [False, True], ids=["clear", "erasable"])
def test_submit_erasable(benchmark: BenchmarkFixture, erasable: bool) -> None:
    cmds = pilot2.commands()
    got: dict[str, object] = {}

    def run() -> None:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'store.db'}"
        if erasable:
            init_tables(url, erasable=True)
        svc = AllocationService(url)
        lat = []
        for cmd in cmds:
            t0 = time.perf_counter()
            svc.submit(cmd)
            lat.append((time.perf_counter() - t0) * 1000.0)
        svc.close()
        t0 = time.perf_counter()
        AllocationService(url, snapshots=False).close()
        got.update(rebuild_s=time.perf_counter() - t0, **stats(lat))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(erasable=erasable, commands=len(cmds), **got)
