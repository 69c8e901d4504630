"""One instance file, solved from scratch by the core and by scipy on the same eligible pairs
(no caps), with both objectives checked equal. Usage: python -m benches.vs_scipy FILE.json"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import msgspec
from scipy.optimize import linear_sum_assignment

from pyengine.matching import Matcher
from pyengine.schema import decode_instance

from .conftest import POLICY, eligible_pairs


def main(path: str) -> None:
    inst = msgspec.structs.replace(decode_instance(Path(path).read_bytes()), caps=[])
    m = Matcher(POLICY)
    t = time.perf_counter()
    m.load(inst)
    res = m.solve()
    core_ms = (time.perf_counter() - t) * 1000
    pairs = eligible_pairs(inst)
    w, big = pairs.profit_matrix()
    t = time.perf_counter()
    rows, cols = linear_sum_assignment(w, maximize=True)
    scipy_ms = (time.perf_counter() - t) * 1000
    obj = int(w[rows, cols].sum()) - big * int(pairs.sitting.sum())
    print(
        f"{path}: {len(pairs.score)} eligible pairs; core load+solve {core_ms:.0f} ms (solve {res.solve_ms:.0f} ms), "
        f"objective {res.objective}; scipy on the same pairs {scipy_ms:.0f} ms, objective {obj}; "
        f"{'equal' if obj == res.objective else 'DIFFERENT'}"
    )


if __name__ == "__main__":
    main(sys.argv[1])
