"""Applications, and the flat offers made to them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ..schema import Adults, Count, Id, NonNeg, Tag
from .base import Code, Payload


class ApplicationSubmitted(Payload, tag=True, kw_only=True, frozen=True):
    id: Id
    applied_on: dt.date | None = None  # may be null for a sitting tenant
    adults: Adults
    children: Count = 0
    needs_accessible: bool = False
    care_need: bool = False
    monthly_income_nok: NonNeg = 0
    stable_income: bool = False
    disadvantaged: bool = False
    refugee_settled_on: dt.date | None = None
    skills: list[str] = []
    preferred_districts: list[str] = []
    school_district: str | None = None
    urgency: Annotated[int, Meta(ge=0, le=3)] = 0
    current_unit: str | None = None
    transfer_requested: bool = False
    # The office's labels, e.g. "young", which a mix cap may count; left out when none.
    tags: list[Tag] | msgspec.UnsetType = msgspec.UNSET
    # A former buyer applying again: the household id under which it bought its flat (its
    # rent-to-own case ended in SaleCompleted); left out when none.
    former_household: Id | msgspec.UnsetType = msgspec.UNSET
    # Set by the store, never by a command: the personal fields above are sealed in the stored
    # record (pyengine.sealing); "erased" when they were read after the household's erasure.
    sealed: str | msgspec.UnsetType = msgspec.UNSET


class ApplicationUpdated(Payload, tag=True, kw_only=True, frozen=True):
    """Changes the given fields of an application; fields left out stay as they are."""

    id: Id
    adults: Adults | msgspec.UnsetType = msgspec.UNSET
    children: Count | msgspec.UnsetType = msgspec.UNSET
    needs_accessible: bool | msgspec.UnsetType = msgspec.UNSET
    care_need: bool | msgspec.UnsetType = msgspec.UNSET
    monthly_income_nok: NonNeg | msgspec.UnsetType = msgspec.UNSET
    stable_income: bool | msgspec.UnsetType = msgspec.UNSET
    disadvantaged: bool | msgspec.UnsetType = msgspec.UNSET
    refugee_settled_on: dt.date | msgspec.UnsetType | None = msgspec.UNSET
    skills: list[str] | msgspec.UnsetType = msgspec.UNSET
    preferred_districts: list[str] | msgspec.UnsetType = msgspec.UNSET
    school_district: str | msgspec.UnsetType | None = msgspec.UNSET
    urgency: Annotated[int, Meta(ge=0, le=3)] | msgspec.UnsetType = msgspec.UNSET
    transfer_requested: bool | msgspec.UnsetType = msgspec.UNSET
    tags: list[Tag] | msgspec.UnsetType = msgspec.UNSET
    sealed: str | msgspec.UnsetType = msgspec.UNSET  # as ApplicationSubmitted.sealed


class ApplicationWithdrawn(Payload, tag=True, kw_only=True, frozen=True):
    """`on`: the day (the engine's date if not given; stored with it, as the day the household
    left, from which its retention period runs)."""

    id: Id
    reason: str = ""
    code: Code | msgspec.UnsetType = msgspec.UNSET  # the policy's application_withdrawal_reasons; `reason`: the note
    on: dt.date | None = None


class ErasureRequested(Payload, tag=True, kw_only=True, frozen=True):
    """Erase a household's personal data once its retention period has passed: in a store made
    with `pyengine db init --erasable`, its key is deleted as soon as this is stored, and the
    fields sealed under it (its applications, its notes, its finances in a rent-to-own case)
    cannot be read again (the records, their hashes and the chain stay). Only for a household
    that has left: its application withdrawn or its tenancy ended, no open offer, no open
    rent-to-own case, no after-care owed. `on`: the day (the engine's date if not given). Where
    the policy sets `erasure_retention_days`, not before that many days after the day the
    household left."""

    id: Id
    on: dt.date | None = None
    reason: str = ""


# --- allocation -------------------------------------------------------------------------
class OfferMade(Payload, tag=True, kw_only=True, frozen=True):
    """Schema 2: `expires_on` became `reply_by`, and `run` names the MatchRun whose proposal the
    offer follows (checked when given). Stored schema-1 offers are upcast on read."""

    schema: int = 2
    household: Id
    unit: Id
    reply_by: dt.date | None = None
    run: Annotated[int, Meta(ge=1)] | None = None

    @staticmethod
    def upcast_v1_v2(data: dict[str, Any]) -> None:
        data["reply_by"] = data.pop("expires_on", None)
        data["run"] = None


class OfferAccepted(Payload, tag=True, kw_only=True, frozen=True):
    """The household becomes the sitting tenant of the unit (its previous unit is vacated)."""

    household: Id
    unit: Id


class OfferDeclined(Payload, tag=True, kw_only=True, frozen=True):
    household: Id
    unit: Id
    reason: str = ""
    code: Code | msgspec.UnsetType = msgspec.UNSET  # the policy's offer_decline_reasons; `reason`: the note
    # The day of the decline: the engine's date when not given (stored so), never after it.
    # The policy's decline_holdoff_days run from it. Declines stored before it carry none.
    on: dt.date | msgspec.UnsetType = msgspec.UNSET


class OfferExpired(Payload, tag=True, kw_only=True, frozen=True):
    household: Id
    unit: Id
