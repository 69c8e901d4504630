"""The decision's digest, kept up to date at the cost of what changed (issue 16).

A MatchRun's `result_hash` chains its decision to the events it saw and to the run before it.
Hashing the whole decision (every proposal of the portfolio) after each event costs more than
the re-match itself, so runs carry `digest`: an LtHash16 of the decision, a homomorphic
multiset hash (Bellare and Micciancio's additive hashing, in the form of Lewi et al., "Securing
update propagation with homomorphic hashing", 2019, used by Meta for its configuration
database): each element (a proposal, or a cap row) is expanded by SHAKE-256 to 1,024 16-bit
lanes, and the digest is the lane-wise sum modulo 2^16. Adding or removing an element is one
expansion and one vector addition, so a run costs what it changed. Finding two different
multisets with the same digest reduces to the short integer solution problem in dimension
1,024 modulo 2^16 (about 200 bits of security by the estimate of Lewi et al.); the stored form
is the SHA-256 of the lanes.

`result_hash` of such a run is SHA-256 over the previous run's result_hash, the events_hash,
the run's figures (as_of, policy and engine versions, objective, bound, uncapped objective,
optimal) and the digest. Runs recorded before this (their `digest` is "") keep verifying under
the whole-decision hash of `matching.result_hash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import msgspec
import numpy as np
from numpy.typing import NDArray

from . import commands as c
from .schema import Assignment, CapUsage

LANES = 1024


def _expand(element: bytes) -> NDArray[np.uint16]:
    return np.frombuffer(hashlib.shake_256(element).digest(2 * LANES), dtype="<u2")


_encode = msgspec.json.Encoder().encode


def assignment_element(a: Assignment) -> bytes:
    return b"a" + _encode(a)


def cap_element(r: CapUsage) -> bytes:
    return b"c" + _encode(r)


class LtHash:
    """A multiset digest: `add` and `remove` elements in any order; equal multisets give equal
    digests."""

    __slots__ = ("lanes",)

    def __init__(self, lanes: NDArray[np.uint16] | None = None) -> None:
        self.lanes: NDArray[np.uint16] = np.zeros(LANES, dtype="<u2") if lanes is None else lanes

    @classmethod
    def of(cls, assignments: Iterable[Assignment], caps: Iterable[CapUsage]) -> LtHash:
        d = cls()
        for a in assignments:
            d.add(assignment_element(a))
        for r in caps:
            d.add(cap_element(r))
        return d

    def copy(self) -> LtHash:
        return LtHash(self.lanes.copy())

    def add(self, element: bytes) -> None:
        self.lanes += _expand(element)  # uint16 arithmetic wraps: the sum modulo 2^16

    def remove(self, element: bytes) -> None:
        self.lanes -= _expand(element)

    def hexdigest(self) -> str:
        return hashlib.sha256(self.lanes.tobytes()).hexdigest()  # little-endian: dtype "<u2"


class _Figures(msgspec.Struct, array_like=True):
    as_of: str
    policy_version: int
    engine_version: str
    objective: int
    bound: int
    uncapped_objective: int
    optimal: bool


def run_hash(
    *, as_of: str, policy_version: int, engine_version: str, objective: int, bound: int, uncapped_objective: int,
    optimal: bool, digest: str, previous_hash: str, events_hash: str,
) -> str:  # fmt: skip
    """The result_hash of a run that carries a digest."""
    figures = _Figures(as_of, policy_version, engine_version, objective, bound, uncapped_objective, optimal)
    h = hashlib.sha256(previous_hash.encode())
    h.update(events_hash.encode())
    h.update(msgspec.json.encode(figures))
    h.update(digest.encode())
    return h.hexdigest()


def advance(
    d: LtHash | None, decision: Mapping[str, Assignment], rows: Mapping[str, CapUsage], run: c.MatchRun
) -> LtHash:
    """The digest of the decision once `run` is folded onto `decision` and `rows` (the state
    before it, whose digest is `d`, or None if not known yet: it is then computed once)."""
    if d is None:
        d = LtHash.of(decision.values(), rows.values())
    if run.full:  # a whole decision: what differs from the one before it is what changed
        now = {a.household: a for a in run.assignments}
        now_rows = {f"{r.rule}:{r.scope}": r for r in run.caps}
        run = msgspec.structs.replace(
            run, full=False, withdrawn=[h for h in decision if h not in now],
            assignments=[a for a in run.assignments if decision.get(a.household) != a],
            caps_dropped=[k for k in rows if k not in now_rows],
            caps=[r for k, r in now_rows.items() if rows.get(k) != r],
        )  # fmt: skip
    out = d.copy()
    for hid in run.withdrawn:
        if (old := decision.get(hid)) is not None:
            out.remove(assignment_element(old))
    for a in run.assignments:
        if (old := decision.get(a.household)) is not None:
            if old == a:
                continue
            out.remove(assignment_element(old))
        out.add(assignment_element(a))
    for key in run.caps_dropped:
        if (gone := rows.get(key)) is not None:
            out.remove(cap_element(gone))
    for r in run.caps:
        if (was := rows.get(f"{r.rule}:{r.scope}")) is not None:
            if was == r:
                continue
            out.remove(cap_element(was))
        out.add(cap_element(r))
    return out


def hash_of_run(run: c.MatchRun) -> str:
    """`run_hash` of a run that carries its digest."""
    return run_hash(
        as_of=run.as_of.isoformat(), policy_version=run.policy_version, engine_version=run.engine_version,
        objective=run.objective, bound=run.bound, uncapped_objective=run.uncapped_objective, optimal=run.optimal,
        digest=run.digest, previous_hash=run.previous_hash, events_hash=run.events_hash,
    )  # fmt: skip
