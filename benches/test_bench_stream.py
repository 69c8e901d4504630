"""Re-matching after each of 1,000 mixed operations at city scale, and the scaling curve."""

from __future__ import annotations

import time

import msgspec
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pyengine.generate import operations, portfolio
from pyengine.matching import Matcher
from pyengine.operations import apply_to_matcher
from pyengine.schema import Instance

from .conftest import NATIONAL, POLICY, uncapped

N_OPS = 1000
N_NATIONAL_OPS = 100


@pytest.mark.benchmark(group="stream")
def test_city_stream_latency(benchmark: BenchmarkFixture, city: Instance) -> None:
    ops = list(operations(city, N_OPS, seed=2))
    latencies: list[float] = []

    def run() -> None:
        m = Matcher(POLICY)
        m.load(city)
        m.solve()
        for op in ops:
            apply_to_matcher(m, op)
            t0 = time.perf_counter()
            m.engine.rematch(0)
            latencies.append((time.perf_counter() - t0) * 1000.0)

    benchmark.pedantic(run, rounds=1, iterations=1)
    lat = sorted(latencies)
    benchmark.extra_info.update(
        ops=len(lat), latencies_ms=lat, p50_ms=lat[len(lat) // 2], p95_ms=lat[int(len(lat) * 0.95)],
        min_ms=lat[0], max_ms=lat[-1],
    )  # fmt: skip


@pytest.mark.benchmark(group="stream")
def test_national_stream_latency(benchmark: BenchmarkFixture, national: Instance) -> None:
    ops = list(operations(national, N_NATIONAL_OPS, seed=2))
    latencies: list[float] = []
    m = Matcher(POLICY)
    m.load(national)
    m.solve()

    def run() -> None:
        for op in ops:
            apply_to_matcher(m, op)
            t0 = time.perf_counter()
            m.engine.rematch(0)
            latencies.append((time.perf_counter() - t0) * 1000.0)

    benchmark.pedantic(run, rounds=1, iterations=1)
    lat = sorted(latencies)
    benchmark.extra_info.update(
        ops=len(lat), latencies_ms=lat, p50_ms=lat[len(lat) // 2], p95_ms=lat[int(len(lat) * 0.95)],
        min_ms=lat[0], max_ms=lat[-1],
    )  # fmt: skip


SIZES = [1000, 2000, 4050, 8000] + ([16000, 32000, 100_000] if NATIONAL else [])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="scaling")
def test_scaling(benchmark: BenchmarkFixture, n: int) -> None:
    inst = uncapped(portfolio(n, n, seed=1))
    data = msgspec.json.encode(inst)

    def scratch() -> None:
        m = Matcher(POLICY)
        m.engine.load_instance(data)
        m.solve()

    benchmark.pedantic(scratch, rounds=1 if n > 4050 else 3, iterations=1)
    benchmark.extra_info["units"] = n
