"""Capped re-matches under a policy, one operation at a time, printed as they go (policy v2 with
the mix cap takes seconds to minutes per re-match beyond small portfolios, so this is a script,
not part of `make bench`): `python -m benches.v2_capped default-v2 --units 1000 --ops 300
--budget-s 300`. Each line: operation number, milliseconds, search nodes, operation."""

from __future__ import annotations

import argparse
import time

import msgspec

from benches.test_bench_v2 import stats
from pyengine.generate import operations, portfolio
from pyengine.matching import Matcher
from pyengine.operations import apply_to_matcher
from pyengine.policy import load_policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("policy", help="packaged policy name or file, e.g. default-v2")
    ap.add_argument("--units", type=int, default=1000)
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--budget-s", type=float, default=300.0, help="no operation starts after this")
    a = ap.parse_args()
    inst = portfolio(a.units, a.units * 4000 // 4050, seed=3)  # the capped 1,000-unit bench's portfolio
    m = Matcher(load_policy(a.policy))
    m.engine.load_instance(msgspec.json.encode(inst))
    t0 = time.perf_counter()
    s = m.rematch()
    print(f"from scratch {time.perf_counter() - t0:.2f} s, proven {s.optimal}, {s.nodes} nodes", flush=True)
    lat: list[float] = []
    start = time.perf_counter()
    for op in operations(inst, a.ops, seed=2):
        if time.perf_counter() - start > a.budget_s:
            break
        apply_to_matcher(m, op)
        t0 = time.perf_counter()
        s = m.rematch(0)
        lat.append((time.perf_counter() - t0) * 1000.0)
        print(len(lat), f"{lat[-1]:.0f} ms", s.nodes, op.__struct_config__.tag, flush=True)
    if lat:
        st = stats(lat)
        print(f"{st['n']} re-matches: p50 {st['p50_ms']:.1f} ms, p95 {st['p95_ms']:.1f} ms, max {st['max_ms']:.0f} ms")


if __name__ == "__main__":
    main()
