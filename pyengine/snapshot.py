"""Snapshots of the projection, so that starting on a long log does not fold it all again.

A snapshot is the whole Portfolio (every aggregate, the policy in force, the indexes) right
after a MatchRun, at log position `position` (the notification id of that run's record),
encoded with msgspec. It lives in the same store, in the eventsourcing snapshot store (table
`stored_snapshots` on SQLite), as the record of one `PortfolioSnapshot` event: originator
PORTFOLIO_SNAPSHOT_ID, originator_version = `position`. The record is written in the
JSONTranscoder's own shape, so the library's mapper reads it too (`EventLog.snapshots.get`).

A snapshot is trusted only when the log vouches for it and while it still fits the log: a
SnapshotRecorded event in the log (written right after the snapshot is saved) must carry the
sha256 of the snapshot's record as stored, the record at `position` must hash to
the snapshot's `head` (that record is a MatchRun whose result_hash chains every record before
it), the log must hold exactly `count` records up to there (SQLite), and its `format` must be
this code's. Otherwise it is skipped with a warning and the next older one is tried, down to
folding the whole log. Rebuilding from a snapshot never replaces the audit: `pyengine replay`
verifies from the first record, and checks every snapshot it passes against the state it
replayed.

Bump FORMAT whenever the aggregates or the way events fold into the portfolio change: old
snapshots are then ignored (and rebuilt from the log), never misread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteApplicationRecorder
from eventsourcing.utils import register_topic

from . import commands as c
from .domain import NAMESPACE, Aftercare, Household, Lease, Ledger, SaleCase, Unit
from .log import get_logger
from .policy import Policy
from .portfolio import Portfolio, record_bytes
from .schema import Assignment, CapUsage

# 3: a household's after-care, a sale case's completion date; 4: its declines, a case's loan deadline;
# 5: whether a case's assessment and loan decision were stored sealed (what an erasure forgets)
FORMAT = 5
PORTFOLIO_SNAPSHOT_ID = uuid.uuid5(NAMESPACE, "portfolio-snapshot")
TOPIC = "pyengine/PortfolioSnapshot"
KEEP = 3  # snapshots kept per store (the newest); older ones are derived data and are pruned

log = get_logger("pyengine.snapshot")


class _Agg(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What eventsourcing keeps on every aggregate (`_pending_events` is always empty here)."""

    id: uuid.UUID
    version: int
    created_on: dt.datetime
    modified_on: dt.datetime


class UnitState(_Agg, kw_only=True, forbid_unknown_fields=True):
    spec: c.UnitRegistered
    withdrawn: bool
    sold: bool
    merged_into: str | None


class HouseholdState(_Agg, kw_only=True, forbid_unknown_fields=True):
    spec: c.ApplicationSubmitted
    withdrawn: bool
    offers: dict[str, c.OfferMade]
    lease: Lease | None
    aftercare: Aftercare | None
    declined: dict[str, dt.date]
    left_on: dt.date | None = None  # absent from snapshots taken before it was kept


class SaleCaseState(_Agg, kw_only=True, forbid_unknown_fields=True):
    household: str
    unit: str
    opened_on: dt.date
    stage: str
    approved: bool
    max_price_nok: int
    valuation: c.ValuationRecorded | None
    loan_nok: int
    price_nok: int | None
    completed_on: dt.date | None
    loan_decide_by: dt.date | None
    assessment_sealed: bool
    loan_sealed: bool


class LedgerState(_Agg, kw_only=True, forbid_unknown_fields=True):
    date: dt.date | None
    last_run: c.MatchRun | None
    proceeds_nok: int
    policy: Policy | None
    decision: dict[str, Assignment]
    cap_rows: dict[str, CapUsage]


class PortfolioState(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: int
    position: int  # notification id of the last record folded in (a MatchRun)
    count: int  # records folded in (Portfolio.position)
    head: str  # sha256 of the record at `position`, as stored
    run: int  # the last MatchRun's number
    policy: Policy  # in force
    units: list[UnitState]
    households: list[HouseholdState]
    cases: list[SaleCaseState]  # every rent-to-own case, open or closed
    ledger: LedgerState
    case_count: dict[str, int]
    spent_nok: int
    occupant: dict[str, str]
    home: dict[str, str]
    commands: dict[str, tuple[str, int]] = {}  # idempotency keys (Portfolio.commands)


class PortfolioSnapshot(DomainEvent):
    """The library's view of a stored snapshot (read with `EventLog.snapshots.get`)."""

    state: PortfolioState


register_topic(TOPIC, PortfolioSnapshot)


class _Stamp(msgspec.Struct):
    type_: str = msgspec.field(name="_type_")
    data: str = msgspec.field(name="_data_")


class _WrappedState(msgspec.Struct):
    type_: str = msgspec.field(name="_type_")
    data: PortfolioState = msgspec.field(name="_data_")


class _Record(msgspec.Struct, forbid_unknown_fields=True):
    """The JSONTranscoder's shape of a PortfolioSnapshot's state."""

    timestamp: _Stamp
    state: _WrappedState


_decoder = msgspec.json.Decoder(_Record)
_encoder = msgspec.json.Encoder()
STATE_NAME = "pyengine.PortfolioState"


def _base(agg: Any) -> dict[str, Any]:
    return {"id": agg.id, "version": agg.version, "created_on": agg.created_on, "modified_on": agg.modified_on}


def _check_fields(agg: Any, state: msgspec.Struct) -> None:
    """A snapshot must hold every attribute of an aggregate: one that does not is a bug here."""
    have = {k for k in vars(agg) if not k.startswith("_")}
    want = set(type(state).__struct_fields__) - set(_Agg.__struct_fields__)
    if have != want:
        raise ValueError(f"{type(agg).__name__} has attributes {sorted(have ^ want)} the snapshot does not cover")


def capture(pf: Portfolio, head: str) -> PortfolioState:
    """The state of `pf`, which must have just folded in a MatchRun (`head`: its record's hash)."""
    ledger = pf.ledger
    if ledger is None or ledger.last_run is None or pf.has_pending:
        raise ValueError("a snapshot is taken right after a MatchRun")
    units = [
        UnitState(**_base(u), spec=u.spec, withdrawn=u.withdrawn, sold=u.sold, merged_into=u.merged_into)
        for u in pf.units.values()
    ]
    households = [
        HouseholdState(
            **_base(h),
            spec=h.spec,
            withdrawn=h.withdrawn,
            offers=dict(h.offers),
            lease=h.lease,
            aftercare=h.aftercare,
            declined=dict(h.declined),
            left_on=h.left_on,
        )
        for h in pf.households.values()
    ]
    sale_cases = [a for a in pf.aggregates() if isinstance(a, SaleCase)]
    cases = [
        SaleCaseState(
            **_base(a),
            household=a.household,
            unit=a.unit,
            opened_on=a.opened_on,
            stage=a.stage,
            approved=a.approved,
            max_price_nok=a.max_price_nok,
            valuation=a.valuation,
            loan_nok=a.loan_nok,
            price_nok=a.price_nok,
            completed_on=a.completed_on,
            loan_decide_by=a.loan_decide_by,
            assessment_sealed=a.assessment_sealed,
            loan_sealed=a.loan_sealed,
        )
        for a in sale_cases
    ]
    lstate = LedgerState(
        **_base(ledger), date=ledger.date, last_run=ledger.last_run, proceeds_nok=ledger.proceeds_nok,
        policy=ledger.policy, decision=dict(ledger.decision), cap_rows=dict(ledger.cap_rows),
    )  # fmt: skip
    pairs: list[tuple[Any, msgspec.Struct]] = [(ledger, lstate)]
    pairs += zip(pf.units.values(), units, strict=True)
    pairs += zip(pf.households.values(), households, strict=True)
    pairs += zip(sale_cases, cases, strict=True)
    for agg, st in pairs:
        _check_fields(agg, st)
    return PortfolioState(
        format=FORMAT, position=pf.last_notification_id, count=pf.position, head=head, run=ledger.last_run.run,
        policy=pf.policy, units=units, households=households, cases=cases, ledger=lstate,
        case_count=dict(pf.case_count), spent_nok=pf.spent_nok, occupant=dict(pf.occupant), home=dict(pf.home),
        commands=dict(pf.commands),
    )  # fmt: skip


def _aggregate(cls: type[Any], state: _Agg, **attrs: Any) -> Any:
    agg = object.__new__(cls)
    agg.__dict__.update(
        _id=state.id, _version=state.version, _created_on=state.created_on, _modified_on=state.modified_on,
        _pending_events=[], **attrs,
    )  # fmt: skip
    return agg


def restore(state: PortfolioState, policy: Policy | None, encode: Callable[[Any], Any] | None) -> Portfolio:
    """A Portfolio as folding the log up to `state.position` gives it (the Rust core is fed at
    the next sync, as after a full rebuild)."""
    pf = Portfolio(policy, encode=encode)
    aggs: list[Any] = []
    for u in state.units:
        pf.units[u.spec.id] = _aggregate(Unit, u, spec=u.spec, withdrawn=u.withdrawn, sold=u.sold,
                                          merged_into=u.merged_into)  # fmt: skip
        aggs.append(pf.units[u.spec.id])
    for h in state.households:
        pf.households[h.spec.id] = _aggregate(Household, h, spec=h.spec, withdrawn=h.withdrawn, offers=dict(h.offers),
                                              lease=h.lease, aftercare=h.aftercare,
                                              declined=dict(h.declined), left_on=h.left_on)  # fmt: skip
        aggs.append(pf.households[h.spec.id])
    for s in state.cases:
        case = _aggregate(
            SaleCase, s, household=s.household, unit=s.unit, opened_on=s.opened_on, stage=s.stage, approved=s.approved,
            max_price_nok=s.max_price_nok, valuation=s.valuation, loan_nok=s.loan_nok, price_nok=s.price_nok,
            completed_on=s.completed_on, loan_decide_by=s.loan_decide_by, assessment_sealed=s.assessment_sealed,
            loan_sealed=s.loan_sealed,
        )  # fmt: skip
        aggs.append(case)
        if not case.closed:
            pf.open_case[case.unit] = case
    lg = state.ledger
    pf.ledger = _aggregate(Ledger, lg, date=lg.date, last_run=lg.last_run, proceeds_nok=lg.proceeds_nok,
                           policy=lg.policy, decision=dict(lg.decision), cap_rows=dict(lg.cap_rows))  # fmt: skip
    aggs.append(pf.ledger)
    pf.load_state(
        aggregates=aggs, policy=state.policy, case_count=dict(state.case_count), spent_nok=state.spent_nok,
        occupant=dict(state.occupant), home=dict(state.home), count=state.count, position=state.position,
        commands=dict(state.commands),
    )  # fmt: skip
    return pf


def encode(state: PortfolioState, when: dt.datetime | None = None) -> bytes:
    """The stored form: what the library's JSONTranscoder would write for a PortfolioSnapshot."""
    stamp = (when or dt.datetime.now(dt.UTC)).isoformat()
    return _encoder.encode(
        _Record(timestamp=_Stamp(type_="datetime_iso", data=stamp), state=_WrappedState(type_=STATE_NAME, data=state))
    )


def decode(data: bytes) -> PortfolioState:
    rec = _decoder.decode(data)
    if rec.state.type_ != STATE_NAME or rec.timestamp.type_ != "datetime_iso":
        raise ValueError(f"not a portfolio snapshot ({rec.state.type_})")
    return rec.state.data


# --- in the store ------------------------------------------------------------------------
def _snapshot_recorder(app: Any) -> Any:
    if app.snapshots is None:
        raise RuntimeError("the store has no snapshot table (EventLog enables snapshotting)")
    return app.snapshots.recorder


def record_head(app: Any, position: int) -> tuple[str, int] | None:
    """(sha256 of the record at `position`, records up to it) or None if there is none there.
    The count is None-free on SQLite (one indexed COUNT); elsewhere it is -1 (not checked)."""
    notes = app.recorder.select_notifications(start=position, limit=1)
    if not notes or notes[0].id != position:
        return None
    head = hashlib.sha256(record_bytes(notes[0])).hexdigest()
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as cur:
            cur.execute(f"SELECT COUNT(*) FROM {recorder.events_table_name} WHERE rowid <= ?", (position,))
            count = int(cur.fetchone()[0])
        return head, count
    return head, -1


def save(app: Any, pf: Portfolio, keep: int = KEEP) -> tuple[PortfolioState, str] | None:
    """Snapshot `pf` into the store (it must be at a MatchRun it read from or wrote to the store);
    returns the state and the sha256 of its record, which the caller records in the log
    (SnapshotRecorded) so that readers can trust it. Returns None when another process saved
    one at the same position first."""
    t0 = time.perf_counter()
    found = record_head(app, pf.last_notification_id)
    if found is None:
        raise ValueError(f"no record at position {pf.last_notification_id}")
    state = capture(pf, found[0])
    data = encode(state)
    recorder = _snapshot_recorder(app)
    record = StoredEvent(
        originator_id=PORTFOLIO_SNAPSHOT_ID, originator_version=state.position, topic=TOPIC, state=data
    )
    try:
        recorder.insert_events([record])
    except IntegrityError:
        return None
    if isinstance(recorder, SQLiteAggregateRecorder) and keep > 0:
        with recorder.datastore.transaction(commit=True) as cur:
            cur.execute(
                f"DELETE FROM {recorder.events_table_name} WHERE originator_id = ? AND originator_version < ("
                f"SELECT MIN(originator_version) FROM (SELECT originator_version FROM {recorder.events_table_name} "
                "WHERE originator_id = ? ORDER BY originator_version DESC LIMIT ?))",
                (PORTFOLIO_SNAPSHOT_ID.hex, PORTFOLIO_SNAPSHOT_ID.hex, keep),
            )
    log.info(
        "snapshot_saved", position=state.position, run=state.run, bytes=len(data),
        ms=round((time.perf_counter() - t0) * 1000, 1),
    )  # fmt: skip
    return state, hashlib.sha256(data).hexdigest()


RECORDED_TOPIC = "pyengine/SnapshotRecorded"


def recorded_digest(app: Any, position: int) -> str | None:
    """The sha256 the log vouches for, for the snapshot at `position`: the first SnapshotRecorded
    after that position that names it (written right after the snapshot is saved)."""
    start = position + 1
    while True:
        notes = app.recorder.select_notifications(start=start, limit=100, topics=[RECORDED_TOPIC])
        for note in notes:
            payload = app.decode(note).payload
            if payload.run_position == position:
                return str(payload.sha256)
        if len(notes) < 100:
            return None
        start = notes[-1].id + 1


def drop_all(app: Any) -> int:
    """Delete every stored snapshot (they hold households' data in clear; erasure, issue 20).
    The log's SnapshotRecorded records stay: a reader finds nothing to trust and folds the log."""
    recorder = _snapshot_recorder(app)
    table = recorder.events_table_name
    with recorder.datastore.transaction(commit=True) as cur:
        raw = getattr(cur, "sqlite_cursor", cur)
        if raw is not cur:
            raw.execute("PRAGMA secure_delete = ON")
        raw.execute(f"DELETE FROM {table}")
        return int(raw.rowcount or 0)


@dataclass
class Loaded:
    state: PortfolioState | None
    skipped: list[tuple[int, str]]  # (position, why) of snapshots not trusted


def stored(app: Any, limit: int = 10) -> list[tuple[int, bytes]]:
    """The stored snapshots, newest first: (position, record state)."""
    try:
        rows = _snapshot_recorder(app).select_events(PORTFOLIO_SNAPSHOT_ID, desc=True, limit=limit)
    except (sqlite3.OperationalError, OperationalError) as e:
        if "no such table" in str(e):  # a store written before snapshots existed
            return []
        raise
    return [(r.originator_version, bytes(r.state)) for r in rows]


def check(app: Any, position: int, data: bytes) -> tuple[PortfolioState | None, str]:
    """The snapshot if the log vouches for its record and it still fits the log, else None and
    why not."""
    digest = recorded_digest(app, position)
    if digest is None:
        return None, "the log records no snapshot at this position"
    if digest != hashlib.sha256(data).hexdigest():
        return None, "its record is not the one the log recorded (edited or replaced)"
    try:
        state = decode(data)
    except (msgspec.MsgspecError, ValueError) as e:
        return None, f"does not decode ({e})"
    if state.format != FORMAT:
        return None, f"format {state.format}, this engine reads {FORMAT}"
    if state.position != position:
        return None, f"says position {state.position} but is stored at {position}"
    found = record_head(app, position)
    if found is None:
        return None, f"the log has no record at position {position}"
    head, count = found
    if head != state.head:
        return None, f"the record at position {position} is not the one it was taken at"
    if count not in (-1, state.count):
        return None, f"the log holds {count} records up to position {position}, the snapshot {state.count}"
    return state, ""


def latest(app: Any) -> Loaded:
    """The newest snapshot that still fits the log."""
    skipped: list[tuple[int, str]] = []
    for position, data in stored(app):
        state, why = check(app, position, data)
        if state is not None:
            return Loaded(state, skipped)
        log.warning("snapshot_ignored", position=position, reason=why)
        skipped.append((position, why))
    return Loaded(None, skipped)
