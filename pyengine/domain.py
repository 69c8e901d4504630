"""Aggregates and their explicit events (eventsourcing style).

Every event carries one msgspec payload (pyengine.commands). Topics are explicit and stable
("pyengine/UnitRegistered"), so moving code never orphans stored events. Validation against
the whole portfolio happens in `portfolio.py` before any event is triggered; the aggregates
only record and apply.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate

from . import commands as c

NAMESPACE = uuid.UUID("6f1d3c1e-8c0b-4b8e-9a55-3b1f2a7d5e10")


def unit_uuid(unit_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"unit/{unit_id}")


def household_uuid(household_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"household/{household_id}")


LEDGER_ID = uuid.uuid5(NAMESPACE, "allocation-ledger")


class Unit(Aggregate):
    TOPIC = "pyengine/Unit"

    class Event(Aggregate.Event):
        TOPIC = "pyengine/Unit.Event"

    class Registered(Aggregate.Created):
        TOPIC = "pyengine/UnitRegistered"
        payload: c.UnitRegistered

    class Merged(Aggregate.Created):
        """The unit came into being by merging others (payload UnitsMerged)."""

        TOPIC = "pyengine/UnitsMerged"
        payload: c.UnitsMerged

    class RentChanged(Event):
        TOPIC = "pyengine/UnitRentChanged"
        payload: c.UnitRentChanged

        def apply(self, aggregate: Any) -> None:
            aggregate.spec = _replace(aggregate.spec, rent_nok_month=self.payload.rent_nok_month)

    class MergedInto(Event):
        TOPIC = "pyengine/UnitMergedInto"
        payload: c.UnitMergedInto

        def apply(self, aggregate: Any) -> None:
            aggregate.merged_into = self.payload.into

    class Withdrawn(Event):
        TOPIC = "pyengine/UnitWithdrawn"
        payload: c.UnitWithdrawn

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn = True

    class Returned(Event):
        TOPIC = "pyengine/UnitReturned"
        payload: c.UnitReturned

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn = False

    def __init__(self, payload: c.UnitRegistered | c.UnitsMerged) -> None:
        self.spec: c.UnitRegistered = payload.into if isinstance(payload, c.UnitsMerged) else payload
        self.withdrawn = False
        self.merged_into: str | None = None

    @classmethod
    def register(cls, payload: c.UnitRegistered) -> Unit:
        return cls._create(cls.Registered, id=unit_uuid(payload.id), payload=payload)

    @classmethod
    def merge(cls, payload: c.UnitsMerged) -> Unit:
        return cls._create(cls.Merged, id=unit_uuid(payload.into.id), payload=payload)

    @property
    def unit_id(self) -> str:
        return self.spec.id

    @property
    def active(self) -> bool:
        """Part of the rental portfolio (not withdrawn, not merged away)."""
        return not self.withdrawn and self.merged_into is None

    def change_rent(self, payload: c.UnitRentChanged) -> None:
        self.trigger_event(self.RentChanged, payload=payload)

    def merge_into(self, payload: c.UnitMergedInto) -> None:
        self.trigger_event(self.MergedInto, payload=payload)

    def withdraw(self, payload: c.UnitWithdrawn) -> None:
        self.trigger_event(self.Withdrawn, payload=payload)

    def return_(self, payload: c.UnitReturned) -> None:
        self.trigger_event(self.Returned, payload=payload)


class Household(Aggregate):
    """An application, and the household's tenancy once it holds a unit."""

    TOPIC = "pyengine/Household"

    class Event(Aggregate.Event):
        TOPIC = "pyengine/Household.Event"

    class Submitted(Aggregate.Created):
        TOPIC = "pyengine/ApplicationSubmitted"
        payload: c.ApplicationSubmitted

    class Updated(Event):
        TOPIC = "pyengine/ApplicationUpdated"
        payload: c.ApplicationUpdated

        def apply(self, aggregate: Any) -> None:
            changes = {
                f: getattr(self.payload, f)
                for f in self.payload.__struct_fields__
                if f not in ("schema", "id") and getattr(self.payload, f) is not msgspec.UNSET
            }
            aggregate.spec = _replace(aggregate.spec, **changes)

    class Withdrawn(Event):
        TOPIC = "pyengine/ApplicationWithdrawn"
        payload: c.ApplicationWithdrawn

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn = True

    class OfferMade(Event):
        TOPIC = "pyengine/OfferMade"
        payload: c.OfferMade

        def apply(self, aggregate: Any) -> None:
            aggregate.offers[self.payload.unit] = self.payload

    class OfferAccepted(Event):
        TOPIC = "pyengine/OfferAccepted"
        payload: c.OfferAccepted

        def apply(self, aggregate: Any) -> None:
            aggregate.offers.clear()
            aggregate.spec = _replace(aggregate.spec, current_unit=self.payload.unit, transfer_requested=False)

    class OfferDeclined(Event):
        TOPIC = "pyengine/OfferDeclined"
        payload: c.OfferDeclined

        def apply(self, aggregate: Any) -> None:
            aggregate.offers.pop(self.payload.unit, None)

    class OfferExpired(Event):
        TOPIC = "pyengine/OfferExpired"
        payload: c.OfferExpired

        def apply(self, aggregate: Any) -> None:
            aggregate.offers.pop(self.payload.unit, None)

    def __init__(self, payload: c.ApplicationSubmitted) -> None:
        self.spec = payload
        self.withdrawn = False
        self.offers: dict[str, c.OfferMade] = {}

    @classmethod
    def submit(cls, payload: c.ApplicationSubmitted) -> Household:
        return cls._create(cls.Submitted, id=household_uuid(payload.id), payload=payload)

    @property
    def household_id(self) -> str:
        return self.spec.id

    def update(self, payload: c.ApplicationUpdated) -> None:
        self.trigger_event(self.Updated, payload=payload)

    def withdraw(self, payload: c.ApplicationWithdrawn) -> None:
        self.trigger_event(self.Withdrawn, payload=payload)

    def make_offer(self, payload: c.OfferMade) -> None:
        self.trigger_event(self.OfferMade, payload=payload)

    def accept_offer(self, payload: c.OfferAccepted) -> None:
        self.trigger_event(self.OfferAccepted, payload=payload)

    def decline_offer(self, payload: c.OfferDeclined) -> None:
        self.trigger_event(self.OfferDeclined, payload=payload)

    def expire_offer(self, payload: c.OfferExpired) -> None:
        self.trigger_event(self.OfferExpired, payload=payload)


class Ledger(Aggregate):
    """The allocation ledger: the engine's date and every MatchRun.

    Every write to the log also appends here, so its version orders all writers: a second
    process that appends from a stale view gets a version conflict instead of a silent merge.
    """

    TOPIC = "pyengine/Ledger"

    class Event(Aggregate.Event):
        TOPIC = "pyengine/Ledger.Event"

    class Opened(Aggregate.Created):
        TOPIC = "pyengine/LedgerOpened"
        payload: c.LedgerOpened

    class DayClosed(Event):
        TOPIC = "pyengine/DayClosed"
        payload: c.DayClosed

        def apply(self, aggregate: Any) -> None:
            aggregate.date = self.payload.date

    class MatchRun(Event):
        TOPIC = "pyengine/MatchRun"
        payload: c.MatchRun

        def apply(self, aggregate: Any) -> None:
            aggregate.last_run = self.payload

    def __init__(self, payload: c.LedgerOpened) -> None:
        self.date: dt.date | None = None
        self.last_run: c.MatchRun | None = None

    @classmethod
    def open(cls) -> Ledger:
        return cls._create(cls.Opened, id=LEDGER_ID, payload=c.LedgerOpened())

    def close_day(self, payload: c.DayClosed) -> None:
        self.trigger_event(self.DayClosed, payload=payload)

    def record_run(self, payload: c.MatchRun) -> None:
        self.trigger_event(self.MatchRun, payload=payload)


def _replace(spec: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(spec, **changes)


EVENT_CLASSES: tuple[type[Aggregate.Event], ...] = (
    Unit.Registered,
    Unit.Merged,
    Unit.RentChanged,
    Unit.MergedInto,
    Unit.Withdrawn,
    Unit.Returned,
    Household.Submitted,
    Household.Updated,
    Household.Withdrawn,
    Household.OfferMade,
    Household.OfferAccepted,
    Household.OfferDeclined,
    Household.OfferExpired,
    Ledger.Opened,
    Ledger.DayClosed,
    Ledger.MatchRun,
)
