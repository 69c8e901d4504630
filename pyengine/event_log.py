"""The log as events: the eventsourcing application `EventLog` (how payloads are encoded, how
stored rows are read in pages and decoded for a rebuild); where and how records are stored is
`adapters`' business (`adapters.records.RecordLog`, `adapters.store`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec
from eventsourcing.domain import Aggregate, AggregateCreated
from eventsourcing.persistence import JSONTranscoder, Mapper, Notification, StoredEvent, Transcoding
from eventsourcing.sqlite import SQLiteApplicationRecorder

from adapters.keys import KeyRing
from adapters.records import RecordLog

from . import commands as c
from .domain.base import household_uuid
from .sealing import SEALED_PAYLOADS, Sealer, stored_sealed


class DateAsISO(Transcoding):
    type = dt.date
    name = "date_iso"

    def encode(self, obj: dt.date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> dt.date:
        return dt.date.fromisoformat(data)


class StructTranscoding(Transcoding):
    """A msgspec payload travels as builtins and is decoded (validated) into its Struct; the
    personal fields of an application are sealed in stores that keep keys (`sealer`)."""

    def __init__(self, cls: type[msgspec.Struct], sealer: Sealer | None = None) -> None:
        self.type = cls
        self.sealer = sealer
        self.name = f"pyengine.{cls.__name__}"
        fields, defaults = cls.__struct_fields__, cls.__struct_defaults__
        self.schema = dict(zip(fields[len(fields) - len(defaults) :], defaults, strict=True)).get("schema", 1)

    def encode(self, obj: msgspec.Struct) -> Any:
        data = msgspec.to_builtins(obj)
        return data if self.sealer is None else self.sealer.encode(data)

    def decode(self, data: Any) -> msgspec.Struct:
        if self.sealer is not None and isinstance(data, dict):
            data = self.sealer.decode(data)
        # older schema versions are upcast step by step (upcast_v1_v2, ...), never rewritten
        target: int = self.schema
        version = data.get("schema", 1) if isinstance(data, dict) else target
        while version < target:
            getattr(self.type, f"upcast_v{version}_v{version + 1}")(data)
            version += 1
            data["schema"] = version
        return msgspec.convert(data, self.type)


PAYLOADS: tuple[type[msgspec.Struct], ...] = (
    c.DayClosed, c.UnitRegistered, c.UnitRentChanged, c.UnitsMerged, c.UnitMergedInto,
    c.UnitWithdrawn, c.UnitReturned, c.ApplicationSubmitted, c.ApplicationUpdated,
    c.ApplicationWithdrawn, c.ErasureRequested, c.OfferMade, c.OfferAccepted, c.OfferDeclined, c.OfferExpired,
    c.LedgerOpened, c.MatchRun, c.LeaseSigned, c.LeaseRenewalDue, c.LeaseRenewed, c.PurchaseRecommended,
    c.LeaseNotRenewed, c.LeaseTerminated, c.TenantMovedOut, c.PurchaseInterestRegistered,
    c.EconomicAssessmentRecorded, c.UnitReleasedForSale, c.UnitKeptForRent, c.ValuationRecorded,
    c.StartLoanApplied, c.StartLoanDecided, c.PurchaseOffered, c.PurchaseAccepted, c.PurchaseDeclined,
    c.PurchaseOfferExpired, c.SaleCaseClosed, c.SaleCompleted, c.UnitSold, c.ProceedsAllocated, c.UnitAcquired,
    c.AftercareDue, c.AftercareRecorded, c.PolicyAdopted,
    c.CommandAccepted, c.SnapshotRecorded,
)  # fmt: skip


class Row(NamedTuple):
    """One stored record as read for a rebuild (the fields of a Notification, cheaper to make)."""

    id: int
    originator_id: Any  # the stored form: a UUID, or its hex text from SQLite
    originator_version: int
    topic: str
    state: bytes


P = TypeVar("P")


class _Stamp(msgspec.Struct, forbid_unknown_fields=True):
    type_: str = msgspec.field(name="_type_")
    data: dt.datetime = msgspec.field(name="_data_")


class _Wrapped(msgspec.Struct, Generic[P], forbid_unknown_fields=True):
    type_: str = msgspec.field(name="_type_")
    data: P = msgspec.field(name="_data_")


class _Envelope(msgspec.Struct, Generic[P], forbid_unknown_fields=True):
    """A stored event as the JSONTranscoder wrote it: {"timestamp": .., ["originator_topic": ..,]
    "payload": {"_type_": "pyengine.X", "_data_": {..}}}; anything else goes the library's way."""

    timestamp: _Stamp
    payload: _Wrapped[P]
    originator_topic: str | None = None


class _TopicReader:
    """How the records of one topic are decoded: straight into the event class and its payload
    Struct with one typed msgspec decoder."""

    def __init__(self, cls: type[Any], payload: type[msgspec.Struct]) -> None:
        self.cls = cls
        self.created = issubclass(cls, AggregateCreated)
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(_Envelope[payload])  # type: ignore[valid-type]
        self.name = f"pyengine.{payload.__name__}"
        schema = StructTranscoding(payload).schema
        # A payload stored under an older schema is upcast by StructTranscoding; a typed decode
        # would fill the new fields from their defaults instead, so only records that say they
        # are of the current schema take this path.
        head = f'"_data_":{{"type":"{payload.__struct_config__.tag}","schema":{schema}'.encode()
        self.current = (head + b",", head + b"}") if schema > 1 else None
        # a sealed application is opened by its transcoding (the library's path)
        self.sealable = payload in SEALED_PAYLOADS


def _event_classes() -> dict[str, tuple[type[Any], type[msgspec.Struct]]]:
    """Event classes and their payload Structs by stored topic (explicit, stable topics)."""
    from . import domain

    payloads = {p.__name__: p for p in PAYLOADS}
    out: dict[str, tuple[type[Any], type[msgspec.Struct]]] = {}
    for agg in (domain.Unit, domain.Household, domain.SaleCase, domain.Ledger, domain.AcceptedCommand):
        for value in vars(agg).values():
            if isinstance(value, type) and issubclass(value, Aggregate.Event) and dataclasses.is_dataclass(value):
                hint = {f.name: f.type for f in dataclasses.fields(value)}.get("payload")
                name = hint.rsplit(".", 1)[-1] if isinstance(hint, str) else getattr(hint, "__name__", None)
                if name in payloads:
                    out[getattr(value, "TOPIC")] = (value, payloads[name])  # noqa: B009
    return out


class RecordingMapper(Mapper[uuid.UUID]):
    """The portfolio encodes each new event to hash it before it is saved, and saving encodes it
    again; this mapper hands back, once, the record it already made for the same (frozen) event
    object, so every new event is encoded once."""

    def __init__(self, base: Mapper[uuid.UUID]) -> None:
        super().__init__(base.transcoder, base.compressor, base.cipher)
        self._made: dict[int, tuple[Any, StoredEvent]] = {}

    def encode_for_hash(self, event: Any) -> StoredEvent:
        stored = super().to_stored_event(event)
        self._made[id(event)] = (event, stored)  # the reference keeps id(event) from being reused
        return stored

    def record_of(self, event: Any) -> StoredEvent:
        """The record `event` will be stored as (made once, kept for the save)."""
        hit = self._made.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1]
        return self.encode_for_hash(event)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        hit = self._made.pop(id(domain_event), None)
        if hit is not None and hit[0] is domain_event:
            return hit[1]
        return super().to_stored_event(domain_event)

    def forget(self) -> None:
        self._made.clear()


class EventLog(RecordLog):
    """The log as domain events: the stored records (`RecordLog`: tables, snapshot store, raw
    pages) decoded into the aggregates' events, and new events encoded."""

    name = RecordLog.name  # eventsourcing names a subclass after itself unless told
    ROWS_PAGE = 20_000  # rows per read on the rebuild path: few round trips, bounded memory

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sealer = Sealer()  # its key ring once the recorder exists
        super().__init__(*args, **kwargs)
        self.keys = self.sealer.ring = KeyRing(self.recorder)
        self._readers: dict[str, _TopicReader | None] = {}
        self._ids: dict[Any, uuid.UUID] = {}
        self._classes = _event_classes()

    def construct_mapper(self) -> Mapper[uuid.UUID]:
        return RecordingMapper(super().construct_mapper())

    def rows(self, start: int = 1) -> Iterator[Row]:
        """The stored records from position `start` on, in order, read in large pages (plain SQL on
        SQLite, the recorder's pager elsewhere)."""
        recorder = self.recorder
        if not isinstance(recorder, SQLiteApplicationRecorder):
            for n in self.records(start):
                yield Row(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            return
        sql = (
            "SELECT rowid, originator_id, originator_version, topic, state FROM "
            f"{recorder.events_table_name} WHERE rowid >= ? ORDER BY rowid LIMIT ?"
        )
        while True:
            with recorder.datastore.transaction(commit=False) as cur:
                raw = cur.sqlite_cursor
                raw.row_factory = None  # plain tuples
                raw.execute(sql, (start, self.ROWS_PAGE))
                page = raw.fetchall()
            for t in page:
                yield Row(*t)
            if len(page) < self.ROWS_PAGE:
                return
            start = page[-1][0] + 1

    def decode(self, row: Row | Notification) -> Any:
        """The domain event of a stored record: the same object `mapper.to_domain_event` gives,
        decoded with msgspec in one pass when the record is in today's form; older schemas and
        anything unexpected go through the library's mapper (which upcasts, or raises)."""
        topic = row.topic
        try:
            reader = self._readers[topic]
        except KeyError:
            known = self._classes.get(topic)
            reader = self._readers[topic] = _TopicReader(*known) if known is not None else None
        state = row.state
        if reader is None or (reader.current is not None and not any(h in state for h in reader.current)):
            return self.mapper.to_domain_event(row)  # type: ignore[arg-type]
        if reader.sealable and b'"sealed"' in state:
            return self.mapper.to_domain_event(row)  # type: ignore[arg-type]
        try:
            env = reader.decoder.decode(state)
        except msgspec.MsgspecError:
            return self.mapper.to_domain_event(row)  # type: ignore[arg-type]
        if env.payload.type_ != reader.name or env.timestamp.type_ != "datetime_iso":
            return self.mapper.to_domain_event(row)  # type: ignore[arg-type]
        if reader.created != (env.originator_topic is not None):
            return self.mapper.to_domain_event(row)  # type: ignore[arg-type]
        oid = row.originator_id
        uid = self._ids.get(oid)
        if uid is None:
            uid = self._ids[oid] = oid if isinstance(oid, uuid.UUID) else uuid.UUID(oid)
        # the mapper's attribute order: the stored state's, then the originator's id and version
        if env.originator_topic is None:
            fields: dict[str, Any] = {"timestamp": env.timestamp.data, "payload": env.payload.data}
        else:
            fields = {"timestamp": env.timestamp.data, "originator_topic": env.originator_topic,
                      "payload": env.payload.data}  # fmt: skip
        fields["originator_id"] = uid
        fields["originator_version"] = row.originator_version
        event = object.__new__(reader.cls)
        object.__setattr__(event, "__dict__", fields)
        return event

    def application_sealed(self, household: str) -> bool | None:
        """Whether the household's application (the first record of its stream) is stored sealed:
        False for one stored in clear, before the store kept keys, even where the household was
        given a key later (a sealed note, a fingerprint); None for a household not stored (yet:
        one that applies in a write not saved, as a batch's)."""
        first = self.recorder.select_events(household_uuid(household), lte=1)
        return stored_sealed(first[0].state) if first else None

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        for cls in PAYLOADS:
            transcoder.register(StructTranscoding(cls, self.sealer if cls in SEALED_PAYLOADS else None))
        from .snapshot import PortfolioState

        transcoder.register(StructTranscoding(PortfolioState))
