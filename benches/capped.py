"""The capped matching problem as HiGHS sees it: the core's eligible pairs, scores in points,
and one row per household, unit and cap scope (`scipy.optimize.milp`, which runs HiGHS on
one thread). Built with numpy from the core's own pairs, so that both solve the same problem."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix

from pyengine.matching import Matcher
from pyengine.policy import Policy
from pyengine.schema import Instance, flags_of

from .conftest import eligible_pairs


@dataclass
class Model:
    c: NDArray[np.float64]  # minimised: minus the pair's score
    a: csr_matrix
    lb: NDArray[np.float64]
    ub: NDArray[np.float64]
    pairs: int
    cap_rows: int


def cap_model(inst: Instance, policy: Policy) -> Model:
    """Rows: each household (sitting tenants must be housed), each unit, each cap's scope with
    its effective cap (the share's floor, never below the flagged tenants already there)."""
    p = eligible_pairs(inst)
    n_pairs = len(p.score)
    caps = policy.caps if inst.caps is None else inst.caps
    hh = {h.id: h for h in inst.households}
    units = {u.id: u for u in inst.units}
    m = Matcher(policy)  # the core's row and column order, as eligible_pairs lists them
    m.load(inst)
    hids, uids = m.engine.household_ids(), m.engine.unit_ids()
    ri, ci, lb, ub = [np.arange(n_pairs), np.arange(n_pairs)], [p.rows, p.n_rows + p.cols], [], []
    lb += [1.0 if s else 0.0 for s in p.sitting]
    ub += [1.0] * p.n_rows + [1.0] * p.n_units
    lb += [0.0] * p.n_units
    base = p.n_rows + p.n_units
    row_flags = [set(flags_of(hh[h])) for h in hids]
    for cap in caps:
        scope_of = [units[u].building if cap.scope == "building" else units[u].stairwell for u in uids]
        keys = sorted(set(scope_of))
        index = {k: i for i, k in enumerate(keys)}
        col_scope = np.array([index[k] for k in scope_of], dtype=np.int64)
        flagged = np.array([cap.flag in f for f in row_flags], dtype=bool)
        size = np.bincount(col_scope, minlength=len(keys))
        sitting = np.zeros(len(keys), dtype=np.int64)
        col_of = {u: j for j, u in enumerate(uids)}
        for i, h in enumerate(hids):
            home = hh[h].current_unit
            if flagged[i] and home in col_of:
                sitting[col_scope[col_of[home]]] += 1
        for k in range(len(keys)):
            value = cap.max_count if cap.max_count is not None else math.floor((cap.max_share or 0) * size[k] + 1e-9)
            ub.append(float(max(value, sitting[k])))
            lb.append(0.0)
        sel = np.flatnonzero(flagged[p.rows])
        ri.append(sel)
        ci.append(base + col_scope[p.cols[sel]])
        base += len(keys)
    cols = np.concatenate(ci)
    a = coo_matrix((np.ones(len(cols)), (cols, np.concatenate(ri))), shape=(base, n_pairs)).tocsr()
    return Model(-p.score.astype(np.float64), a, np.array(lb), np.array(ub), n_pairs, base - p.n_rows - p.n_units)


@dataclass
class Highs:
    seconds: float
    status: int
    message: str
    objective: float | None  # points
    bound: float | None  # points (the MIP's dual bound)


def highs(model: Model, *, integral: bool, time_limit: float | None = None) -> Highs:
    """The LP relaxation (`integral=False`) or the MIP, in points, maximised."""
    options = {} if time_limit is None else {"time_limit": time_limit}
    t0 = time.perf_counter()
    res = milp(
        model.c, constraints=LinearConstraint(model.a, model.lb, model.ub),
        integrality=np.full(model.pairs, 1 if integral else 0), bounds=Bounds(0, 1), options=options,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    obj = None if res.fun is None else -float(res.fun)
    bound = getattr(res, "mip_dual_bound", None)
    return Highs(seconds, res.status, str(res.message), obj, None if bound is None else -float(bound))
