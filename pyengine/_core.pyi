"""Typed stub for the Rust extension `pyengine._core` (engine_core crate, feature "python")."""

from typing import Final, final

import numpy as np
import numpy.typing as npt

__all__ = ["ENGINE_VERSION", "LEGACY_ENGINE_VERSION", "Engine"]

ENGINE_VERSION: Final[str]
LEGACY_ENGINE_VERSION: Final[str]

@final
class Engine:
    """Portfolio state plus the exact matcher; JSON in (str or UTF-8 bytes), JSON bytes out.

    Every method raises ValueError("field: reason") on bad input and changes nothing then.
    """

    def __new__(cls, policy: str | bytes) -> Engine: ...
    def load_instance(self, instance: str | bytes) -> None: ...
    def upsert_unit(self, unit: str | bytes) -> None: ...
    def remove_unit(self, id: str) -> None: ...
    def upsert_household(self, household: str | bytes) -> None: ...
    def remove_household(self, id: str) -> None: ...
    def set_as_of(self, as_of: str) -> None: ...
    def set_caps(self, caps: str | bytes) -> None: ...
    def use_kept_caps(self, kept: bool) -> None:
        """Capped re-matches by the kept price search (True, the default) or as engine 0.1.0
        did (False: replaying the runs it recorded)."""
    def engine_version(self) -> str:
        """The engine version decisions are made as (LEGACY_ENGINE_VERSION after
        use_kept_caps(False))."""
    def solve(self, node_limit: int = 0) -> bytes:
        """Result file as JSON bytes; releases the GIL. node_limit 0 means no limit.

        Re-matches incrementally from the previous call's matching and duals; the bytes
        depend only on the current snapshot, not on the history of operations."""
    def rematch(self, node_limit: int = 0) -> dict[str, int | bool]:
        """Re-matches like solve() but returns only objective, bound, uncapped_objective,
        optimal, nodes and matched (households housed); releases the GIL. Nothing changed
        since the last call: the same figures at once."""
    def result(self) -> bytes:
        """Result file of the last re-match; ValueError if an operation came after it."""
    def eligible_units(self, household: str) -> list[tuple[str, int]]:
        """(unit id, score) of every unit the household is eligible for, in unit id order."""
    def eligible_households(self, unit: str) -> list[tuple[str, int]]:
        """(household id, score) of every household eligible for the unit, in id order."""
    def delta(self) -> bytes:
        """What the last re-match changed since the decision was last reported, as JSON."""
    def mark_reported(self, clear: bool = False) -> None:
        """Take the last re-match's decision as reported (or, with `clear`, forget it)."""
    def pairs(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(household index, unit index, score) of every eligible pair; indices into
        household_ids() and unit_ids()."""
    def points_lacking(self, household: str) -> dict[str, str | int | bool | None]:
        """Points an unhoused applicant lacks to be proposed a unit in the last re-match.

        Keys: status ("proposed", "lacking", "no_unit", "sitting_tenant", "not_computed"),
        points (the fewest extra points that may do), exact (False: `points` is a lower bound
        the mix caps may raise), at_most (points that surely do, None if unknown) and unit
        (the unit it would then be proposed). Exact from the optimal duals when uncapped."""
    def household_ids(self) -> list[str]: ...
    def unit_ids(self) -> list[str]: ...
    def score_breakdown(self, household: str, unit: str) -> dict[str, int] | None: ...
    def ineligibility_reason(self, household: str, unit: str) -> str | None: ...
