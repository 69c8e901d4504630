"""What only the engine writes: the ledger's runs, policies, snapshots and accepted commands."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from msgspec import Meta

from ..policy import Policy
from ..schema import Assignment, CapUsage
from .base import CommandId, Payload


class LedgerOpened(Payload, tag=True, kw_only=True, frozen=True):
    pass


class CommandAccepted(Payload, tag=True, kw_only=True, frozen=True):
    """The first event of a command given an idempotency key (`command_id`, the client's): a
    command with the same key is never stored again; it is answered with the events stored
    here (this one up to the next MatchRun). `sha256` fingerprints the command, so a key
    reused for another command is refused. Its own stream (`command/<id>`): the store's
    uniqueness of a stream's first event keeps two writers from storing the same key."""

    command_id: CommandId
    command: str  # the command's type
    sha256: str


class SnapshotRecorded(Payload, tag=True, kw_only=True, frozen=True):
    """A snapshot of the state was saved at log position `run_position` (a MatchRun's record);
    `sha256` is that of the snapshot record as stored. Readers trust a snapshot only when its
    record hashes to what the log says here."""

    run_position: Annotated[int, Meta(ge=1)]
    sha256: str


class PolicyAdopted(Payload, tag=True, kw_only=True, frozen=True):
    """The allocation policy in force from here on, with every parameter."""

    version: int
    policy: Policy


class MatchRun(Payload, tag=True, kw_only=True, frozen=True):
    """One re-match of the whole portfolio, as the engine saw the log at `log_position`.

    Schema 2: a run records either the whole decision (`full`: the first run and every
    CHECKPOINT-th) or only what changed since the previous run: new or changed proposals in
    `assignments`, households no longer proposed in `withdrawn`, changed cap rows in `caps`
    and cap rows gone in `caps_dropped` ("rule:scope"). The Ledger folds them into the
    current decision; `result_hash` always covers the whole decision. Schema-1 runs (always
    whole) are upcast as full.
    """

    schema: int = 2
    run: int  # 1, 2, ... in log order
    as_of: dt.date
    log_position: int  # number of events in the log before this run
    trigger: str  # type of the event that made the engine re-match
    policy_version: int
    engine_version: str
    full: bool = True
    assignments: list[Assignment]
    withdrawn: list[str] = []
    unmatched: list[str] | None = None  # full runs only; otherwise the households not assigned
    objective: int
    bound: int
    uncapped_objective: int
    optimal: bool
    nodes: int
    caps: list[CapUsage]
    caps_dropped: list[str] = []
    events_hash: str  # sha256 over the events since the previous run (their stored records)
    previous_hash: str  # the previous run's result_hash ("" for the first run)
    result_hash: str  # sha256 of previous_hash, events_hash and the decision (digest.run_hash)
    solve_ms: float  # measured, not part of the hash
    # LtHash16 of the decision (pyengine.digest); "" in runs recorded before it, whose
    # result_hash covers the whole decision (matching.result_hash)
    digest: str = ""

    @staticmethod
    def upcast_v1_v2(data: dict[str, Any]) -> None:
        data["full"] = True


CHECKPOINT = 100  # a whole decision every 100 runs keeps any run cheap to materialise
