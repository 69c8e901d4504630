"""The default policy's mix cap (30 % disadvantaged per building) at city scale (issue 15): the
core's capped search from scratch against HiGHS on the same pairs and caps, and re-matching
after mixed operations.

- city from scratch: the core (proven optimal, tie-break included), HiGHS' LP relaxation, and
  HiGHS' MIP stopped after BENCH_CAPPED_MIP_S (120) seconds, on one thread each.
- re-match, 1,000 units: BENCH_CAPPED_OPS (300) mixed operations, each followed by a proven
  re-match; p50/p95/max per kind of operation.
- re-match, city: the same operations on the city's solved state, each re-match given
  BENCH_CAPPED_CITY_NODES (1: the root of the search; 0: no limit) nodes, for as many as start
  within BENCH_CAPPED_CITY_S (120) seconds; how many were proven optimal is recorded. A capped
  city re-match takes seconds at its root, and some take tens of seconds more in a branch and
  bound among allocations that score the same (docs/performance.md): without the node budget
  a few operations can outlast the whole bench.
- with BENCH_NATIONAL=1 and BENCH_CAPPED_LARGE=1 (not by default: the 20,000-unit root alone
  outlasts 50 minutes), 20,000 units, and with BENCH_CAPPED_NATIONAL=1 too (it does not fit in
  24 GiB) national: from scratch with BENCH_CAPPED_LARGE_NODES (1: the root) nodes, beside the
  same instance's uncapped solve (issue 15's target: at most twice its time), then re-matches
  each given that node budget, as many as start within BENCH_CAPPED_LARGE_S (300) seconds.

Under --benchmark-disable (the default options) these are skipped: they take minutes.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

import msgspec
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pyengine.generate import SCALES, operations, portfolio
from pyengine.matching import Matcher
from pyengine.operations import apply_to_matcher
from pyengine.schema import Instance

from .capped import cap_model, highs
from .conftest import NATIONAL, POLICY, uncapped

MIP_S = float(os.environ.get("BENCH_CAPPED_MIP_S", "120"))
OPS = int(os.environ.get("BENCH_CAPPED_OPS", "300"))
CITY_S = float(os.environ.get("BENCH_CAPPED_CITY_S", "120"))
CITY_NODES = int(os.environ.get("BENCH_CAPPED_CITY_NODES", "1"))
LARGE_NODES = int(os.environ.get("BENCH_CAPPED_LARGE_NODES", "1"))
LARGE_S = float(os.environ.get("BENCH_CAPPED_LARGE_S", "300"))

_solved: dict[str, Matcher] = {}  # the city's solved capped state, shared by the scratch and stream benches


@pytest.fixture(autouse=True)
def _only_when_benchmarking(benchmark: BenchmarkFixture) -> None:
    if benchmark.disabled:
        pytest.skip("capped city-scale benches take minutes: runs with --benchmark-only")


@pytest.fixture(scope="module")
def capped_city() -> Instance:
    inst = portfolio(*SCALES["city"], seed=1)
    assert inst.caps is None or inst.caps, "the policy's caps apply"
    return inst


def cold(inst: Instance) -> Matcher:
    m = Matcher(POLICY)
    m.engine.load_instance(msgspec.json.encode(inst))
    return m


@pytest.mark.benchmark(group="capped-scratch")
def test_capped_city_core(benchmark: BenchmarkFixture, capped_city: Instance) -> None:
    got: dict[str, Any] = {}

    def run() -> None:
        m = cold(capped_city)
        got["summary"] = m.rematch()
        _solved["city"] = m

    benchmark.pedantic(run, rounds=1, iterations=1)
    s = got["summary"]
    assert s.optimal and s.objective == s.bound, s
    benchmark.extra_info.update(objective=s.objective, bound=s.bound, nodes=s.nodes,
                                uncapped_objective=s.uncapped_objective)  # fmt: skip


@pytest.mark.benchmark(group="capped-scratch")
def test_capped_city_highs_lp(benchmark: BenchmarkFixture, capped_city: Instance) -> None:
    model = cap_model(capped_city, POLICY)
    got = []
    benchmark.pedantic(lambda: got.append(highs(model, integral=False)), rounds=1, iterations=1)
    r = got[-1]
    assert r.status == 0, r.message
    benchmark.extra_info.update(lp_bound=r.objective, pairs=model.pairs, cap_rows=model.cap_rows)


@pytest.mark.benchmark(group="capped-scratch")
def test_capped_city_highs_mip(benchmark: BenchmarkFixture, capped_city: Instance) -> None:
    model = cap_model(capped_city, POLICY)
    got = []
    benchmark.pedantic(lambda: got.append(highs(model, integral=True, time_limit=MIP_S)), rounds=1, iterations=1)
    r = got[-1]
    benchmark.extra_info.update(time_limit_s=MIP_S, status=r.status, message=r.message, objective=r.objective,
                                bound=r.bound, proven=r.status == 0)  # fmt: skip
    if r.status == 0 and "city" in _solved:
        # the same optimum in points as the core's (the core also breaks its ties)
        assert round(r.objective or 0) == _solved["city"].rematch().objective


def latencies(m: Matcher, inst: Instance, n: int, budget_s: float | None, node_limit: int = 0) -> dict[str, Any]:
    """Re-match after each of `n` operations (stopping once `budget_s` has passed); without a
    node limit every re-match must be proven optimal, with one the proven ones are counted.
    p50/p95/max overall and per kind of operation."""
    per: dict[str, list[float]] = defaultdict(list)
    t_start = time.perf_counter()
    done = proven = 0
    for op in operations(inst, n, seed=2):
        if budget_s is not None and time.perf_counter() - t_start > budget_s:
            break
        apply_to_matcher(m, op)
        t0 = time.perf_counter()
        s = m.rematch(node_limit)
        per[str(op.__struct_config__.tag)].append((time.perf_counter() - t0) * 1000.0)
        assert s.optimal or (node_limit and s.bound >= s.objective), (op, s)
        done += 1
        proven += s.optimal

    def stats(v: list[float]) -> dict[str, float]:
        v = sorted(v)
        p95 = v[min(len(v) - 1, len(v) * 95 // 100)]
        return {"n": len(v), "p50_ms": v[len(v) // 2], "p95_ms": p95, "max_ms": v[-1]}

    every = [x for v in per.values() for x in v]
    return {"ops_requested": n, "ops": done, "proven": proven, **(stats(every) if every else {}),
            "per_kind": {k: stats(v) for k, v in sorted(per.items())}}  # fmt: skip


@pytest.mark.benchmark(group="capped-stream")
def test_capped_1000_stream(benchmark: BenchmarkFixture) -> None:
    inst = portfolio(1000, 1000 * 4000 // 4050, seed=3)
    m = cold(inst)
    assert m.rematch().optimal
    got: dict[str, Any] = {}
    benchmark.pedantic(lambda: got.update(latencies(m, inst, OPS, None)), rounds=1, iterations=1)
    benchmark.extra_info.update(units=1000, **got)


@pytest.mark.benchmark(group="capped-stream")
def test_capped_city_stream(benchmark: BenchmarkFixture, capped_city: Instance) -> None:
    m = _solved.pop("city", None)
    if m is None:  # run on its own: the from-scratch solve first, not timed
        m = cold(capped_city)
        m.rematch()
    got: dict[str, Any] = {}
    benchmark.pedantic(lambda: got.update(latencies(m, capped_city, 1000, CITY_S, CITY_NODES)), rounds=1,
                       iterations=1)  # fmt: skip
    benchmark.extra_info.update(units=len(capped_city.units), budget_s=CITY_S, node_limit=CITY_NODES, **got)


@pytest.fixture(scope="module", params=["20000", "national"])
def capped_large(request: pytest.FixtureRequest) -> Instance:
    if not NATIONAL or os.environ.get("BENCH_CAPPED_LARGE") != "1":
        # measured 2026-12-07: the root alone at 20,000 units did not finish in 50 minutes
        pytest.skip("capped 20,000 units and national run with BENCH_NATIONAL=1 BENCH_CAPPED_LARGE=1 (> 50 min)")
    if request.param == "national" and os.environ.get("BENCH_CAPPED_NATIONAL") != "1":
        # measured 2026-12-07: 11.4 GB after 10 minutes, still listing the pairs
        pytest.skip("the capped solver holds every eligible pair, ~3.4e8 at national scale: more than "
                    "this machine's 24 GiB; BENCH_CAPPED_NATIONAL=1 runs it anyway")  # fmt: skip
    n = 20_000 if request.param == "20000" else SCALES["national"][0]
    return portfolio(n, n, seed=1)


@pytest.mark.benchmark(group="capped-large")
def test_capped_large(benchmark: BenchmarkFixture, capped_large: Instance) -> None:
    """From scratch under the node budget, its uncapped twin timed the same way, then the
    re-matches: one bench, since the solved state is what the stream starts from."""
    t0 = time.perf_counter()
    free = cold(uncapped(capped_large)).rematch()
    uncapped_s = time.perf_counter() - t0
    got: dict[str, Any] = {}

    def run() -> None:
        t = time.perf_counter()
        m = cold(capped_large)
        got["summary"] = m.rematch(LARGE_NODES)
        got["matcher"], got["s"] = m, time.perf_counter() - t

    benchmark.pedantic(run, rounds=1, iterations=1)
    s = got["summary"]
    assert s.bound >= s.objective and s.uncapped_objective == free.objective, (s, free)
    scratch_s = got["s"]
    stream = latencies(got["matcher"], capped_large, 1000, LARGE_S, LARGE_NODES)
    benchmark.extra_info.update(units=len(capped_large.units), node_limit=LARGE_NODES, objective=s.objective,
                                bound=s.bound, optimal=s.optimal, nodes=s.nodes, uncapped_s=uncapped_s,
                                ratio_to_uncapped=scratch_s / uncapped_s, budget_s=LARGE_S,
                                stream=stream)  # fmt: skip
