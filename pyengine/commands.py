"""Domain commands and event payloads (DESIGN §4), one msgspec Struct per type.

A command submitted with `pyengine submit` is one JSON object with a `type` field; once
validated, the same Struct is stored as the payload of the event it produces, so the event
catalogue and the command language are one schema. Payloads carry `schema` (their version):
old versions are upcast on read, never rewritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import typing
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from .errors import InputError, from_validation
from .policy import Policy
from .schema import (
    Adults,
    Area,
    Assignment,
    CapUsage,
    Count,
    Floor,
    Id,
    NonNeg,
    Rent,
    Rooms,
    Strict,
    check_bounds,
    unique_keys,
)

SCHEMA_VERSION = 1
CommandId = Annotated[str, Meta(min_length=1, max_length=200)]  # new: no stored record is older


class Payload(Strict, tag_field="type", frozen=True):
    schema: int = SCHEMA_VERSION


class Grant(Strict, kw_only=True, frozen=True):
    amount_nok: NonNeg
    granted_on: dt.date
    depreciation_years: Annotated[int, Meta(ge=1)] | None = None  # None: 30 from 2019, else 20


# --- time -------------------------------------------------------------------------------
class DayClosed(Payload, tag=True, kw_only=True, frozen=True):
    """Moves the engine's date; waiting time is counted to it."""

    date: dt.date


# --- units ------------------------------------------------------------------------------
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


class UnitReturned(Payload, tag=True, kw_only=True, frozen=True):
    id: Id


# --- applications -----------------------------------------------------------------------
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


class ApplicationWithdrawn(Payload, tag=True, kw_only=True, frozen=True):
    id: Id
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


class OfferExpired(Payload, tag=True, kw_only=True, frozen=True):
    household: Id
    unit: Id


# --- leases -----------------------------------------------------------------------------
class LeaseSigned(Payload, tag=True, kw_only=True, frozen=True):
    """Raised on OfferAccepted; may be submitted to record the lease of an existing tenant."""

    household: Id
    unit: Id
    start: dt.date
    end: dt.date
    rent_nok_month: NonNeg


class LeaseRenewalDue(Payload, tag=True, kw_only=True, frozen=True):
    """Raised by DayClosed `renewal_notice_months` before the lease ends."""

    household: Id
    unit: Id
    end: dt.date


class AssessLeaseRenewal(Payload, tag=True, kw_only=True, frozen=True):
    """Command: assess a due renewal by the rule of 2011. Produces LeaseRenewed or
    PurchaseRecommended; it is not stored itself."""

    household: Id
    on: dt.date
    economic_assessment_positive: bool


class LeaseRenewed(Payload, tag=True, kw_only=True, frozen=True):
    household: Id
    unit: Id
    on: dt.date
    end: dt.date  # the new end


class PurchaseRecommended(Payload, tag=True, kw_only=True, frozen=True):
    """Outcome of a renewal under the 2011 rule: buy (or rent privately) instead of renewing;
    the lease is not renewed and ends on its end date unless the tenant buys first."""

    household: Id
    unit: Id
    on: dt.date
    reason: str


class LeaseNotRenewed(Payload, tag=True, kw_only=True, frozen=True):
    household: Id
    on: dt.date
    reason: str


class LeaseTerminated(Payload, tag=True, kw_only=True, frozen=True):
    """The lease ended: the household is an applicant again, with its original application date."""

    household: Id
    unit: Id
    on: dt.date
    reason: str


class TenantMovedOut(Payload, tag=True, kw_only=True, frozen=True):
    """The household leaves its unit and the queue."""

    household: Id
    on: dt.date
    reason: str = ""


# --- rent-to-own ("fra leie til eie"), one case per unit at a time ----------------------------
class PurchaseInterestRegistered(Payload, tag=True, kw_only=True, frozen=True):
    household: Id
    unit: Id
    on: dt.date


class EconomicAssessmentRecorded(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    approved: bool
    max_price_nok: NonNeg = 0


class UnitReleasedForSale(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date


class UnitKeptForRent(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    reason: str


class ValuationRecorded(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    value_nok: Annotated[int, Meta(ge=1)]
    valued_on: dt.date
    valid_until: dt.date | None = None  # set by the engine: valued_on + valuation_valid_months


class StartLoanApplied(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    amount_nok: NonNeg


class StartLoanDecided(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    granted: bool
    amount_nok: NonNeg = 0


class PurchaseOffered(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    price_nok: int | None = None  # set by the engine: valuation - discount


class PurchaseAccepted(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date


class PurchaseDeclined(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    reason: str = ""


class PurchaseOfferExpired(Payload, tag=True, kw_only=True, frozen=True):
    """Raised by DayClosed when the valuation behind an open offer lapses."""

    unit: Id
    on: dt.date


class SaleCaseClosed(Payload, tag=True, kw_only=True, frozen=True):
    """The office closes an open rent-to-own case before a sale, with a reason from the
    policy's `sale_close_reasons` and an optional note; the tenant stays, and a new case may
    open later. No case can then be left without a way forward (a valuation that lapsed while
    the start loan was processed, a tenant who withdrew)."""

    unit: Id
    on: dt.date
    reason: Annotated[str, Meta(min_length=1, max_length=60)]
    note: Annotated[str, Meta(max_length=2000)] = ""


class SaleCompleted(Payload, tag=True, kw_only=True, frozen=True):
    unit: Id
    on: dt.date
    household: str = ""  # set by the engine
    price_nok: int = 0  # set by the engine
    grant_repayment_nok: int = 0  # set by the engine


class UnitSold(Payload, tag=True, kw_only=True, frozen=True):
    """Recorded on the unit beside SaleCompleted: it leaves the rental portfolio."""

    id: Id
    on: dt.date


class ProceedsAllocated(Payload, tag=True, kw_only=True, frozen=True):
    """Sale proceeds (price minus grant repayment) go to the reinvestment pot."""

    unit: Id
    amount_nok: int
    pot_nok: int  # the pot after this


class UnitAcquired(Payload, tag=True, kw_only=True, frozen=True):
    """A unit bought with money from the pot; joins the rental portfolio."""

    unit: UnitRegistered
    price_nok: NonNeg
    on: dt.date


# --- ledger (written by the engine, not submitted) ---------------------------------------
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


Command = (
    DayClosed
    | UnitRegistered
    | UnitRentChanged
    | UnitsMerged
    | UnitWithdrawn
    | UnitReturned
    | ApplicationSubmitted
    | ApplicationUpdated
    | ApplicationWithdrawn
    | OfferMade
    | OfferAccepted
    | OfferDeclined
    | OfferExpired
    | LeaseSigned
    | AssessLeaseRenewal
    | LeaseNotRenewed
    | LeaseTerminated
    | TenantMovedOut
    | PurchaseInterestRegistered
    | EconomicAssessmentRecorded
    | UnitReleasedForSale
    | UnitKeptForRent
    | ValuationRecorded
    | StartLoanApplied
    | StartLoanDecided
    | PurchaseOffered
    | PurchaseAccepted
    | PurchaseDeclined
    | SaleCaseClosed
    | SaleCompleted
    | UnitAcquired
)

_command_decoder: msgspec.json.Decoder[Command] = msgspec.json.Decoder(Command)


def schema_of(cls: type[msgspec.Struct]) -> int:
    """The schema version this engine writes for a payload type (its `schema` default)."""
    fields, defaults = cls.__struct_fields__, cls.__struct_defaults__
    default = dict(zip(fields[len(fields) - len(defaults) :], defaults, strict=True)).get("schema", SCHEMA_VERSION)
    assert isinstance(default, int)
    return default


def check_engine_fields(cmd: msgspec.Struct, field: str = "") -> None:
    """The schema version of a stored event is the engine's: a command may leave `schema` out
    or give the current one, never another (an old version would be upcast on read into
    something else than what was acknowledged; an unknown one could not be read at all)."""
    expected = schema_of(type(cmd))
    if getattr(cmd, "schema", expected) != expected:
        where = f"{field}.schema" if field else "schema"
        raise InputError(where, f"set by the engine ({type(cmd).__name__} is schema {expected}); leave it out")
    if isinstance(cmd, UnitsMerged):
        check_engine_fields(cmd.into, f"{field}.into" if field else "into")
    elif isinstance(cmd, UnitAcquired):
        check_engine_fields(cmd.unit, f"{field}.unit" if field else "unit")


def check_command(cmd: Command) -> Command:
    """What decoding cannot check: the engine's own fields and the date span."""
    check_engine_fields(cmd)
    check_bounds(cmd)
    return cmd


def decode_command(line: bytes) -> Command:
    try:
        cmd = _command_decoder.decode(line)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise from_validation(e) from None
    return check_command(cmd)


def validate_command(cmd: Command) -> Command:
    """A command built in Python is not validated by msgspec (only decoding validates): the
    Python API's boundary converts it once through its type, as decoding a line would."""
    if not isinstance(cmd, _COMMAND_TYPES):
        raise InputError("type", f"{type(cmd).__name__} is not a command")
    try:
        checked = msgspec.json.decode(msgspec.json.encode(cmd), type=type(cmd))
    except msgspec.ValidationError as e:
        raise from_validation(e) from None
    except UnicodeEncodeError:
        raise InputError("$", "a string is not valid Unicode (a lone surrogate)") from None
    return check_command(checked)


_COMMAND_TYPES: tuple[type[msgspec.Struct], ...] = typing.get_args(Command)


def command_sha256(cmd: Command) -> str:
    return hashlib.sha256(msgspec.json.encode(cmd)).hexdigest()


class _Keyed(msgspec.Struct):
    command_id: CommandId | None = None


def parse_command_line(line: bytes) -> tuple[Command, str | None]:
    """One line of `pyengine submit`: a command, and its idempotency key (`command_id`, not
    part of the command). A key given twice in an object is refused, naming it (JSON leaves
    that undefined; msgspec would keep the last one silently)."""
    try:
        obj = json.loads(line, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as e:
        raise InputError("$", f"malformed JSON ({e.msg} at character {e.pos})") from None
    except UnicodeDecodeError:
        raise InputError("$", "not UTF-8 text") from None
    except RecursionError:
        raise InputError("$", "nested too deeply") from None
    try:
        msgspec.json.decode(line)  # stricter than json: refuses lone surrogates and invalid UTF-8
    except msgspec.DecodeError as e:
        raise InputError("$", f"not valid JSON text ({e}): strings must be valid Unicode") from None
    if not isinstance(obj, dict):
        raise InputError("$", "expected a JSON object with a `type` field")
    key = obj.pop("command_id", None)
    try:
        if key is not None:
            key = msgspec.convert({"command_id": key}, _Keyed).command_id
        cmd = msgspec.convert(obj, Command)
    except msgspec.ValidationError as e:
        raise from_validation(e) from None
    return check_command(cmd), key
