"""The published lottery of policies with a `lottery_seed` (policy v2; docs/policy.md, "Lottery").

Anyone can recompute a household's lottery number from the seed the office announced and the
household id; this module is the reference the Rust core (`warm::RowKey`, `warm::tie`) is
tested against.
"""

from __future__ import annotations

import hashlib

MASK = (1 << 64) - 1
TIE_BITS = 40
LOTTERY_BITS = 16
PAIR_BITS = TIE_BITS - LOTTERY_BITS


def lottery_key(seed: str, household: str) -> int:
    """First 8 bytes, big-endian, of SHA-256 of the seed, a newline and the household id."""
    return int.from_bytes(hashlib.sha256(f"{seed}\n{household}".encode()).digest()[:8], "big")


def lottery_number(seed: str, household: str) -> int:
    """The household's lottery number: the top 16 bits of its key (0 to 65,535); higher wins."""
    return lottery_key(seed, household) >> (64 - LOTTERY_BITS)


def _mix(x: int) -> int:
    """splitmix64's finaliser, as the core's `warm::mix`."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def unit_key(unit: str) -> int:
    """FNV-1a of the unit id, mixed (the core's `warm::hash_str`)."""
    h = 0xCBF29CE484222325
    for b in unit.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return _mix(h)


def tie(seed: str, household: str, unit: str | None) -> int:
    """The tie-break of housing `household` in `unit` (None: not housed, worth 0): its lottery
    number above 24 bits of a hash of the pair. Among allocations of equal points the engine
    takes the one with the largest sum of these over the households it houses."""
    if unit is None:
        return 0
    key = lottery_key(seed, household)
    pair = _mix(((key * 0x2545F4914F6CDD1D) & MASK) ^ unit_key(unit))
    return ((key >> (64 - LOTTERY_BITS)) << PAIR_BITS) | (pair >> (64 - PAIR_BITS))
