"""Shared snapshots for the benches: generated portfolios and their eligible pairs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import msgspec
import numpy as np
import pytest
from numpy.typing import NDArray

from pyengine.generate import SCALES, portfolio
from pyengine.matching import Matcher
from pyengine.policy import load_policy
from pyengine.schema import Instance

POLICY = load_policy()
NATIONAL = os.environ.get("BENCH_NATIONAL") == "1"


def uncapped(inst: Instance) -> Instance:
    """Assignment benches compare like with like: no caps (scipy, lap and OR-Tools have none)."""
    return msgspec.structs.replace(inst, caps=[])


@dataclass
class Pairs:
    n_rows: int
    n_units: int
    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    score: NDArray[np.int64]
    sitting: NDArray[np.bool_]

    def profit_matrix(self) -> tuple[NDArray[np.int64], int]:
        """Dense profits for scipy/lap: unit columns, then a private zero "unmatched" column per
        applicant; sitting tenants get a bonus `big` on their pairs so they are always matched."""
        big = int(np.abs(self.score).sum()) + 1
        w = np.full((self.n_rows, self.n_units + self.n_rows), -10 * big, dtype=np.int64)
        w[self.rows, self.cols] = self.score + np.where(self.sitting[self.rows], big, 0)
        free = np.flatnonzero(~self.sitting)
        w[free, self.n_units + free] = 0
        return w, big


def eligible_pairs(inst: Instance) -> Pairs:
    m = Matcher(POLICY)
    m.load(inst)
    rows, cols, score = m.pairs()
    hids = m.engine.household_ids()
    sitting = {h.id for h in inst.households if h.current_unit}
    mask = np.array([h in sitting for h in hids])
    # applicants' non-positive pairs are never better than staying unmatched (same as the core)
    keep = mask[rows] | (score > 0)
    return Pairs(len(hids), len(m.engine.unit_ids()), rows[keep], cols[keep], score[keep], mask)


@pytest.fixture(scope="session")
def city() -> Instance:
    return uncapped(portfolio(*SCALES["city"], seed=1))


@pytest.fixture(scope="session")
def city_pairs(city: Instance) -> Pairs:
    return eligible_pairs(city)


@pytest.fixture(scope="session")
def national() -> Instance:
    if not NATIONAL:
        pytest.skip("national scale runs with BENCH_NATIONAL=1")
    return uncapped(portfolio(*SCALES["national"], seed=1))
