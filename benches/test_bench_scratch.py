"""From-scratch solves: the core against scipy, lap and OR-Tools on the same eligible pairs."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from scipy.optimize import linear_sum_assignment

from pyengine.matching import Matcher
from pyengine.schema import Instance

from .conftest import POLICY, Pairs, eligible_pairs


def core_scratch(inst: Instance) -> int:
    data = msgspec.json.encode(inst)
    m = Matcher(POLICY)
    m.engine.load_instance(data)  # parse, score, build the graph...
    return m.solve().objective  # ...and solve: everything a cold start does


@pytest.mark.benchmark(group="city-scratch")
def test_city_core(benchmark: BenchmarkFixture, city: Instance, city_pairs: Pairs) -> None:
    obj = benchmark.pedantic(core_scratch, args=(city,), rounds=5, iterations=1)
    w, big = city_pairs.profit_matrix()
    r, c = linear_sum_assignment(w, maximize=True)
    assert obj == int(w[r, c].sum()) - big * int(city_pairs.sitting.sum())


@pytest.mark.benchmark(group="city-scratch")
def test_city_scipy(benchmark: BenchmarkFixture, city_pairs: Pairs) -> None:
    w, _ = city_pairs.profit_matrix()
    benchmark.pedantic(linear_sum_assignment, args=(w,), kwargs={"maximize": True}, rounds=3, iterations=1)


@pytest.mark.benchmark(group="city-scratch")
def test_city_lapx(benchmark: BenchmarkFixture, city_pairs: Pairs) -> None:
    import lap

    w, big = city_pairs.profit_matrix()
    cost = (w.max() - w).astype(np.float64)  # lap minimises
    _total, x, _ = benchmark.pedantic(lap.lapjv, args=(cost,), kwargs={"extend_cost": True}, rounds=3, iterations=1)
    got = int(w[np.arange(len(x)), x].sum()) - big * int(city_pairs.sitting.sum())
    r, c = linear_sum_assignment(w, maximize=True)
    assert got == int(w[r, c].sum()) - big * int(city_pairs.sitting.sum())


def ortools_solve(p: Pairs) -> int:
    """OR-Tools' assignment needs a perfect matching of a square graph; the standard doubling
    makes one from the same eligible pairs: rows = households + a copy of the units, columns =
    units + a copy of the households. A household takes a unit or (applicants only) its own
    copy ("unmatched"); a unit's copy takes the unit (left empty) or, through the mirror of
    an eligible pair, the copy of a household that was housed. 2·pairs + units + applicants
    arcs, and the optimum equals the matcher's."""
    from ortools.graph.python import linear_sum_assignment as ola

    n, m = p.n_rows, p.n_units
    a = ola.SimpleLinearSumAssignment()
    a.add_arcs_with_cost(p.rows, p.cols, -p.score)
    free = np.flatnonzero(~p.sitting)
    a.add_arcs_with_cost(free, m + free, np.zeros(len(free), dtype=np.int64))
    units = np.arange(m)
    a.add_arcs_with_cost(n + units, units, np.zeros(m, dtype=np.int64))
    a.add_arcs_with_cost(n + p.cols, m + p.rows, np.zeros(len(p.rows), dtype=np.int64))
    assert a.solve() == a.OPTIMAL
    return -int(a.optimal_cost())


@pytest.mark.benchmark(group="national-scratch")
def test_national_core(benchmark: BenchmarkFixture, national: Instance) -> None:
    benchmark.pedantic(core_scratch, args=(national,), rounds=1, iterations=1)


@pytest.mark.benchmark(group="national-scratch")
def test_national_ortools(benchmark: BenchmarkFixture, national: Instance) -> None:
    p = eligible_pairs(national)
    benchmark.pedantic(ortools_solve, args=(p,), rounds=1, iterations=1)
