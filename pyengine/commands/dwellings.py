"""Units: registered, changed, merged, withdrawn and returned."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from ..schema import Area, Floor, Id, NonNeg, Rent, Rooms, Strict
from .base import Code, Payload


class Grant(Strict, kw_only=True, frozen=True):
    amount_nok: NonNeg
    granted_on: dt.date
    depreciation_years: Annotated[int, Meta(ge=1)] | None = None  # None: 30 from 2019, else 20


class UnitRegistered(Payload, tag=True, kw_only=True, frozen=True):
    id: Id
    building: Id
    stairwell: Id
    floor: Floor
    rooms: Rooms
    area_m2: Area
    rent_nok_month: Rent
    accessible: bool
    kind: Literal["ordinary", "care"]
    owner: Literal["municipality", "foundation", "private_foundation"] = "municipality"
    tenure: Literal["wholly_owned", "cooperative", "condominium"] = "wholly_owned"
    district: str
    school_district: str | None = None
    grant: Grant | None = None
    # The housing co-operative (borettslag) a cooperative-tenure unit belongs to: the
    # municipality's share of its units is limited (borettslagsloven §§ 4-2, 4-3).
    cooperative: Id | msgspec.UnsetType = msgspec.UNSET


class UnitRentChanged(Payload, tag=True, kw_only=True, frozen=True):
    id: Id
    rent_nok_month: Rent


class UnitsMerged(Payload, tag=True, kw_only=True, frozen=True):
    """Two or more vacant units become one new unit (e.g. two two-room flats, one family flat)."""

    units: Annotated[list[Id], Meta(min_length=2)]
    into: UnitRegistered


class UnitMergedInto(Payload, tag=True, kw_only=True, frozen=True):
    """Recorded on each source unit of a merge, beside UnitsMerged on the new unit."""

    id: Id
    into: Id


class UnitWithdrawn(Payload, tag=True, kw_only=True, frozen=True):
    id: Id
    reason: str = ""
    code: Code | msgspec.UnsetType = msgspec.UNSET  # the policy's unit_withdrawal_reasons; `reason`: the note


class UnitReturned(Payload, tag=True, kw_only=True, frozen=True):
    id: Id
