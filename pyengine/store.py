"""The eventsourcing application: where events are stored and how payloads are encoded."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Notification, Transcoding

from . import commands as c


class DateAsISO(Transcoding):
    type = dt.date
    name = "date_iso"

    def encode(self, obj: dt.date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> dt.date:
        return dt.date.fromisoformat(data)


class StructTranscoding(Transcoding):
    """A msgspec payload travels as builtins and is decoded (validated) into its Struct."""

    def __init__(self, cls: type[msgspec.Struct]) -> None:
        self.type = cls
        self.name = f"pyengine.{cls.__name__}"
        fields, defaults = cls.__struct_fields__, cls.__struct_defaults__
        self.schema = dict(zip(fields[len(fields) - len(defaults) :], defaults, strict=True)).get("schema", 1)

    def encode(self, obj: msgspec.Struct) -> Any:
        return msgspec.to_builtins(obj)

    def decode(self, data: Any) -> msgspec.Struct:
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
    c.ApplicationWithdrawn, c.OfferMade, c.OfferAccepted, c.OfferDeclined, c.OfferExpired,
    c.LedgerOpened, c.MatchRun, c.LeaseSigned, c.LeaseRenewalDue, c.LeaseRenewed, c.PurchaseRecommended,
    c.LeaseNotRenewed, c.LeaseTerminated, c.TenantMovedOut, c.PurchaseInterestRegistered,
    c.EconomicAssessmentRecorded, c.UnitReleasedForSale, c.UnitKeptForRent, c.ValuationRecorded,
    c.StartLoanApplied, c.StartLoanDecided, c.PurchaseOffered, c.PurchaseAccepted, c.PurchaseDeclined,
    c.PurchaseOfferExpired, c.SaleCompleted, c.UnitSold, c.ProceedsAllocated, c.UnitAcquired, c.PolicyAdopted,
)  # fmt: skip


class EventLog(Application[uuid.UUID]):
    name = "pyengine"
    PAGE = 1000

    def records(self, start: int = 1, topics: Sequence[str] = ()) -> Iterator[Notification]:
        """The stored records from position `start` on, in order, a page at a time."""
        while True:
            page = self.recorder.select_notifications(start=start, limit=self.PAGE, topics=topics)
            yield from page
            if len(page) < self.PAGE:
                return
            start = page[-1].id + 1

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        for cls in PAYLOADS:
            transcoder.register(StructTranscoding(cls))
