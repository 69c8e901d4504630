"""A unit of the rental portfolio."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from .. import commands as c
from ..errors import InputError
from .base import replace_spec, unit_uuid


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

    class Acquired(Aggregate.Created):
        """Bought with money from the reinvestment pot (payload UnitAcquired)."""

        TOPIC = "pyengine/UnitAcquired"
        payload: c.UnitAcquired

    class Sold(Event):
        TOPIC = "pyengine/UnitSold"
        payload: c.UnitSold

        def apply(self, aggregate: Any) -> None:
            aggregate.sold = True

    class RentChanged(Event):
        TOPIC = "pyengine/UnitRentChanged"
        payload: c.UnitRentChanged

        def apply(self, aggregate: Any) -> None:
            aggregate.spec = replace_spec(aggregate.spec, rent_nok_month=self.payload.rent_nok_month)

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

    def __init__(self, payload: c.UnitRegistered | c.UnitsMerged | c.UnitAcquired) -> None:
        if isinstance(payload, c.UnitsMerged):
            self.spec: c.UnitRegistered = payload.into
        elif isinstance(payload, c.UnitAcquired):
            self.spec = payload.unit
        else:
            self.spec = payload
        self.withdrawn = False
        self.sold = False
        self.merged_into: str | None = None

    @classmethod
    def register(cls, payload: c.UnitRegistered) -> Unit:
        return cls._create(cls.Registered, id=unit_uuid(payload.id), payload=payload)

    @classmethod
    def merge(cls, payload: c.UnitsMerged) -> Unit:
        return cls._create(cls.Merged, id=unit_uuid(payload.into.id), payload=payload)

    @classmethod
    def acquire(cls, payload: c.UnitAcquired) -> Unit:
        return cls._create(cls.Acquired, id=unit_uuid(payload.unit.id), payload=payload)

    @property
    def unit_id(self) -> str:
        return self.spec.id

    @property
    def active(self) -> bool:
        """Part of the rental portfolio (not withdrawn, merged away or sold)."""
        return not self.withdrawn and self.merged_into is None and not self.sold

    def sell(self, payload: c.UnitSold) -> None:
        self.trigger_event(self.Sold, payload=payload)

    def change_rent(self, payload: c.UnitRentChanged) -> None:
        if self.merged_into is not None:
            raise InputError("id", f"unit {self.unit_id!r} was merged into {self.merged_into!r}")
        self.trigger_event(self.RentChanged, payload=payload)

    def merge_into(self, payload: c.UnitMergedInto) -> None:
        self.trigger_event(self.MergedInto, payload=payload)

    def withdraw(self, payload: c.UnitWithdrawn) -> None:
        self.trigger_event(self.Withdrawn, payload=payload)

    def return_(self, payload: c.UnitReturned) -> None:
        """Back into the rental portfolio: only a unit withdrawn (not merged away)."""
        if not self.withdrawn or self.merged_into is not None:
            raise InputError("id", f"unit {self.unit_id!r} is not withdrawn")
        self.trigger_event(self.Returned, payload=payload)
