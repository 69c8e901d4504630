"""The Command union, and how a command is decoded and checked where it enters."""

from __future__ import annotations

import hashlib
import json
import typing

import msgspec

from ..errors import InputError, from_validation
from ..schema import check_bounds, unique_keys
from .base import SCHEMA_VERSION, CommandId
from .days import DayClosed
from .dwellings import UnitRegistered, UnitRentChanged, UnitReturned, UnitsMerged, UnitWithdrawn
from .lettings import (
    ApplicationSubmitted,
    ApplicationUpdated,
    ApplicationWithdrawn,
    ErasureRequested,
    OfferAccepted,
    OfferDeclined,
    OfferExpired,
    OfferMade,
)
from .occupancy import AssessLeaseRenewal, LeaseNotRenewed, LeaseSigned, LeaseTerminated, TenantMovedOut
from .purchases import (
    AftercareRecorded,
    EconomicAssessmentRecorded,
    PurchaseAccepted,
    PurchaseDeclined,
    PurchaseInterestRegistered,
    PurchaseOffered,
    SaleCaseClosed,
    SaleCompleted,
    StartLoanApplied,
    StartLoanDecided,
    UnitAcquired,
    UnitKeptForRent,
    UnitReleasedForSale,
    ValuationRecorded,
)

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
    | ErasureRequested
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
    | AftercareRecorded
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
