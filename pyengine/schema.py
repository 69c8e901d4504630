"""The file contracts of DESIGN §6: instance, operations and result, as msgspec Structs.

Decoding through these Structs is the validation boundary: unknown fields, wrong types and
out-of-range numbers are refused with the path of the field. Cross-field rules (unique ids,
existing current units, dates) are checked in `validate_instance`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .errors import InputError, from_validation

# The ranges every input is held to: what the domain needs and the Rust core can carry (it
# refuses counts and money beyond 10^9 and floors beyond ±1000), so that no field can pass
# here and fail later.
MAX_COUNT = 1000  # adults, children, rooms
MAX_NOK = 1_000_000_000  # any amount of money, in whole NOK
MAX_FLOOR = 1000
MAX_AREA_M2 = 100_000.0
MAX_ID_LENGTH = 200
DATE_SPAN = (dt.date(1900, 1, 1), dt.date(9899, 12, 31))  # + a 100-year term < year 10000

MAX_TEXT = 10_000  # any other string (reasons, districts, skills)

# Types of stored payloads decode old records too, so they hold only what was always enforced
# (here, or by the core before anything was stored: the counts, floors and rents it is sent).
# The rest of the ranges are checked where input enters, by `check_bounds`.
NonNeg = Annotated[int, Meta(ge=0)]
Rent = Annotated[int, Meta(ge=0, le=MAX_NOK)]
Count = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
Rooms = Annotated[int, Meta(ge=1, le=MAX_COUNT)]
Adults = Annotated[int, Meta(ge=1, le=MAX_COUNT)]
Floor = Annotated[int, Meta(ge=-MAX_FLOOR, le=MAX_FLOOR)]
Area = Annotated[float, Meta(gt=0)]
Id = Annotated[str, Meta(min_length=1)]
Share = Annotated[float, Meta(ge=0.0, le=1.0)]
# An office's own label on a household ("young", "student", "age:18-29"): mix caps may count it.
Tag = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_:.\-]*$", max_length=40)]
# What a mix cap counts: a built-in attribute, or households carrying that tag.
BUILTIN_FLAGS = ("disadvantaged", "refugee", "care_need")
ID_FIELDS = frozenset(
    ("id", "household", "unit", "building", "stairwell", "into", "current_unit", "units", "former_household")
)


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class Unit(Strict, frozen=True):
    id: Id
    building: Id
    stairwell: Id
    floor: Floor
    rooms: Rooms
    area_m2: Area
    rent_nok_month: Rent
    accessible: bool
    kind: Literal["ordinary", "care"]
    district: str
    school_district: str | None = None


class Household(Strict, frozen=True):
    id: Id
    adults: Adults
    children: Count
    needs_accessible: bool
    care_need: bool
    disadvantaged: bool
    refugee: bool
    urgency: Annotated[int, Meta(ge=0, le=3)]
    applied_on: dt.date | None
    skills: list[str]
    preferred_districts: list[str]
    school_district: str | None = None
    current_unit: str | None = None
    transfer_requested: bool = False
    # Left out when there are none, so that files written before tags existed read back the same.
    tags: list[Tag] | msgspec.UnsetType = msgspec.UNSET
    # A vacant unit an open offer holds for this applicant (policies with offers_hold_units).
    held_unit: str | msgspec.UnsetType = msgspec.UNSET
    # Units whose offer it declined within the policy's decline_holdoff_days: not proposed to
    # it again until then (left out when there are none).
    declined_units: list[Id] | msgspec.UnsetType = msgspec.UNSET


def flags_of(h: Household) -> list[str]:
    """What mix caps may count this household by: its built-in flags, then its tags."""
    tags = h.tags if isinstance(h.tags, list) else []
    return [f for f in BUILTIN_FLAGS if getattr(h, f)] + sorted(set(tags))


class Cap(Strict, frozen=True):
    flag: Tag  # "disadvantaged", "refugee", "care_need", or a tag the office gives households
    scope: Literal["building", "stairwell"]
    max_share: Share | None = None
    max_count: Annotated[int, Meta(ge=0, le=MAX_NOK)] | None = None
    # The buildings whose scopes it caps (a building's own participation model); left out:
    # every building, as in every cap written before it.
    buildings: list[Id] | msgspec.UnsetType = msgspec.UNSET


class Instance(Strict, frozen=True):
    as_of: dt.date
    units: list[Unit]
    households: list[Household]
    caps: list[Cap] | None = None  # absent: the policy's caps apply; [] means none


class Breakdown(Strict, frozen=True):
    size_fit: int
    waiting: int
    urgency: int
    tenure_stability: int
    preference: int
    resource_mix: int


class Assignment(Strict, frozen=True):
    household: str
    unit: str
    score: int
    breakdown: Breakdown


class CapUsage(Strict, frozen=True):
    rule: int
    flag: str
    scope: str
    count: int
    cap: int
    units: int


class Result(Strict, frozen=True):
    assignments: list[Assignment]
    unmatched: list[str]
    objective: int
    bound: int
    uncapped_objective: int
    optimal: bool
    nodes: int
    caps: list[CapUsage]
    policy_version: int
    engine_version: str
    solve_ms: float = 0.0


class Delta(Strict, frozen=True):
    """What a re-match changed in the decision since the core last reported it."""

    assignments: list[Assignment]
    withdrawn: list[str]
    caps: list[CapUsage]
    caps_dropped: list[str]


class Summary(Strict, frozen=True):
    """A re-match's figures without its assignments (a `stream` output line's source)."""

    objective: int
    bound: int
    uncapped_objective: int
    optimal: bool
    nodes: int
    matched: int
    solve_ms: float = 0.0


# Delta operations of `pyengine stream`.
class UpsertHousehold(Strict, tag="upsert_household", tag_field="op", frozen=True):
    household: Household


class RemoveHousehold(Strict, tag="remove_household", tag_field="op", frozen=True):
    id: Id


class UpsertUnit(Strict, tag="upsert_unit", tag_field="op", frozen=True):
    unit: Unit


class RemoveUnit(Strict, tag="remove_unit", tag_field="op", frozen=True):
    id: Id


class SetAsOf(Strict, tag="set_as_of", tag_field="op", frozen=True):
    as_of: dt.date


Operation = UpsertHousehold | RemoveHousehold | UpsertUnit | RemoveUnit | SetAsOf


def check_bounds(obj: object, field: str = "") -> None:
    """The ranges decoding does not check (see the types above), in `obj` (a Struct, or a list of
    them), naming the field: dates within DATE_SPAN (a date the calendar code cannot move by a
    lease term, such as year 9999, must never be stored), money up to MAX_NOK, areas finite and
    up to MAX_AREA_M2, ids up to MAX_ID_LENGTH characters and other text up to MAX_TEXT."""
    if isinstance(obj, msgspec.Struct):
        for name in obj.__struct_fields__:
            _check_value(name, getattr(obj, name), f"{field}.{name}" if field else name)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            check_bounds(item, f"{field}[{i}]")
    else:
        _check_value(field.rsplit(".", 1)[-1], obj, field)


def _check_value(name: str, value: object, field: str) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, dt.date):
        lo, hi = DATE_SPAN
        if not lo <= value <= hi:
            raise InputError(field, f"{value.isoformat()} is outside the span {lo} to {hi}")
    elif isinstance(value, int):
        if (name.endswith("_nok") or name.endswith("_nok_month")) and not -MAX_NOK <= value <= MAX_NOK:
            raise InputError(field, f"{value} is beyond NOK {MAX_NOK:,}")
    elif isinstance(value, float):
        if not (math.isfinite(value) and abs(value) <= MAX_AREA_M2):
            raise InputError(field, f"{value} is not a number up to {MAX_AREA_M2:,.0f}")
    elif isinstance(value, str):
        limit = MAX_ID_LENGTH if name in ID_FIELDS else MAX_TEXT
        if len(value) > limit:
            raise InputError(field, f"longer than {limit} characters")
    elif isinstance(value, (msgspec.Struct, list)):
        if isinstance(value, list) and value and not isinstance(value[0], msgspec.Struct):
            for i, item in enumerate(value):
                _check_value(name, item, f"{field}[{i}]")
        else:
            check_bounds(value, field)


def check_cap(cap: Cap, field: str) -> None:
    if (cap.max_share is None) == (cap.max_count is None):
        raise InputError(field, "give exactly one of max_share and max_count")


def validate_instance(inst: Instance) -> None:
    """Cross-field checks that a schema cannot express."""
    check_bounds(inst)
    unit_ids: dict[str, int] = {}
    for i, u in enumerate(inst.units):
        if u.id in unit_ids:
            raise InputError(f"units[{i}].id", f"duplicate id {u.id!r}")
        unit_ids[u.id] = i
    seen: set[str] = set()
    occupied: dict[str, str] = {}
    for i, h in enumerate(inst.households):
        validate_household(h, f"households[{i}]", inst.as_of, unit_ids)
        if h.id in seen:
            raise InputError(f"households[{i}].id", f"duplicate id {h.id!r}")
        seen.add(h.id)
        if h.current_unit is not None:
            if h.current_unit in occupied:
                raise InputError(
                    f"households[{i}].current_unit",
                    f"unit {h.current_unit!r} is already the current unit of {occupied[h.current_unit]!r}",
                )
            occupied[h.current_unit] = h.id
    for i, c in enumerate(inst.caps or []):
        check_cap(c, f"caps[{i}]")


def validate_household(h: Household, field: str, as_of: dt.date | None, unit_ids: dict[str, int] | set[str]) -> None:
    if h.current_unit is not None and h.current_unit not in unit_ids:
        raise InputError(f"{field}.current_unit", f"unknown unit {h.current_unit!r}")
    if h.current_unit is None and h.applied_on is None:
        raise InputError(f"{field}.applied_on", "required for a household without a current unit")
    if as_of is not None and h.applied_on is not None and h.applied_on > as_of:
        raise InputError(f"{field}.applied_on", f"{h.applied_on} is after the run's date {as_of}")


_instance_decoder = msgspec.json.Decoder(Instance)
BOM = b"\xef\xbb\xbf"  # spreadsheet tools start UTF-8 files with it


def unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """`json.loads`' object_pairs_hook: an object, unless it gives a key twice (InputError)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise InputError(k, "given twice in one object")
            seen.add(k)
    return out


def checked_json(data: bytes) -> bytes:
    """`data` without a UTF-8 byte-order mark, once no object in it repeats a key (JSON leaves
    that undefined and msgspec keeps the last one silently): an InputError names the key."""
    data = data.removeprefix(BOM)
    try:
        json.loads(data, object_pairs_hook=unique_keys)
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass  # the typed decoder reports where and why
    except RecursionError:
        raise InputError("$", "nested too deeply") from None
    return data


def decode_instance(data: bytes) -> Instance:
    data = checked_json(data)
    try:
        inst = _instance_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise from_validation(e) from None
    validate_instance(inst)
    return inst


_result_decoder = msgspec.json.Decoder(Result)


def decode_result(data: bytes) -> Result:
    return _result_decoder.decode(data)
