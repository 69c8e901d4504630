"""Thin Python face of the Rust matcher: instance in, validated Result out."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

import msgspec

from . import _core
from .errors import InputError
from .policy import Policy
from .schema import Cap, Delta, Household, Instance, Result, Summary, Unit, decode_result

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

ENGINE_VERSION: str = _core.ENGINE_VERSION
LEGACY_ENGINE_VERSION: str = _core.LEGACY_ENGINE_VERSION


def core_error(e: ValueError) -> InputError:
    """The core reports 'field: reason'; keep that shape."""
    field, sep, reason = str(e).partition(": ")
    return InputError(field, reason) if sep else InputError("$", str(e))


class Matcher:
    """Holds one portfolio in the Rust core and re-solves it on demand."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.engine = _core.Engine(policy.match_params_json())
        self.set_caps(policy.caps)

    def load(self, inst: Instance) -> None:
        caps = self.policy.caps if inst.caps is None else inst.caps
        data = msgspec.json.encode(msgspec.structs.replace(inst, caps=caps))
        try:
            self.engine.load_instance(data)
        except ValueError as e:
            raise core_error(e) from None

    def set_caps(self, caps: list[Cap]) -> None:
        self.engine.set_caps(msgspec.json.encode(caps))

    def follow(self, engine_version: str) -> None:
        """Decide as the engine that recorded a run did: runs of LEGACY_ENGINE_VERSION are
        replayed by its capped search, any other by this engine's."""
        self.engine.use_kept_caps(engine_version != LEGACY_ENGINE_VERSION)

    @property
    def engine_version(self) -> str:
        """The version the next decision is made as (ENGINE_VERSION unless following an
        older run)."""
        return self.engine.engine_version()

    def set_as_of(self, as_of: str) -> None:
        self.engine.set_as_of(as_of)

    def upsert_unit(self, unit: Unit) -> None:
        self.engine.upsert_unit(msgspec.json.encode(unit))

    def remove_unit(self, unit_id: str) -> None:
        self.engine.remove_unit(unit_id)

    def upsert_household(self, household: Household) -> None:
        self.engine.upsert_household(msgspec.json.encode(household))

    def remove_household(self, household_id: str) -> None:
        self.engine.remove_household(household_id)

    def ineligibility(self, household_id: str, unit_id: str) -> str | None:
        """None if the pair is eligible, else the rule that excludes it."""
        reason: str | None = self.engine.ineligibility_reason(household_id, unit_id)
        return reason

    def pairs(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        return self.engine.pairs()

    def solve(self, node_limit: int = 0) -> Result:
        t0 = time.perf_counter()
        try:
            raw = self.engine.solve(node_limit)
        except ValueError as e:
            raise core_error(e) from None
        ms = (time.perf_counter() - t0) * 1000.0
        return msgspec.structs.replace(decode_result(raw), solve_ms=round(ms, 3))

    def rematch(self, node_limit: int = 0) -> Summary:
        """Re-match without rendering the assignments; `result()` renders them when needed."""
        t0 = time.perf_counter()
        try:
            figures = self.engine.rematch(node_limit)
        except ValueError as e:
            raise core_error(e) from None
        ms = (time.perf_counter() - t0) * 1000.0
        return Summary(**figures, solve_ms=round(ms, 3))  # type: ignore[arg-type]  # the core's own figures

    def delta(self) -> Delta:
        """What the last re-match changed since the decision was last reported (by this call or
        `mark_reported`); the core then takes it as reported."""
        try:
            raw = self.engine.delta()
        except ValueError as e:
            raise core_error(e) from None
        return _delta_decoder.decode(raw)

    def mark_reported(self, clear: bool = False) -> None:
        """The caller has the last decision whole (from `solve`/`result`): the next `delta` is
        against it. `clear`: the next `delta` reports everything."""
        self.engine.mark_reported(clear)

    def result(self, solve_ms: float = 0.0) -> Result:
        """The result file of the last re-match (InputError if an operation came after it)."""
        try:
            raw = self.engine.result()
        except ValueError as e:
            raise core_error(e) from None
        return msgspec.structs.replace(decode_result(raw), solve_ms=solve_ms)


_delta_decoder = msgspec.json.Decoder(Delta)


def solve_instance(inst: Instance, policy: Policy, node_limit: int = 0) -> Result:
    m = Matcher(policy)
    m.load(inst)
    return m.solve(node_limit)


class _Hashed(msgspec.Struct, array_like=True):
    """The part of a result that defines the decision; solve time is left out."""

    as_of: str
    policy_version: int
    engine_version: str
    assignments: list[object]
    unmatched: list[str]
    objective: int
    bound: int
    uncapped_objective: int
    optimal: bool
    caps: list[object]


def result_hash(result: Result, as_of: str, previous_hash: str = "", events_hash: str = "") -> str:
    """Chains the decision to the events it saw and to the run before it, so that editing or
    deleting a stored event breaks every later run's hash."""
    canon = _Hashed(
        as_of=as_of,
        policy_version=result.policy_version,
        engine_version=result.engine_version,
        assignments=list(result.assignments),
        unmatched=list(result.unmatched),
        objective=result.objective,
        bound=result.bound,
        uncapped_objective=result.uncapped_objective,
        optimal=result.optimal,
        caps=list(result.caps),
    )
    h = hashlib.sha256(previous_hash.encode())
    h.update(events_hash.encode())
    h.update(msgspec.json.encode(canon))
    return h.hexdigest()
