"""Bulk import (DESIGN §6 `pyengine import`): a portfolio file in, domain events out.

The file is the instance form of DESIGN §6 (so `pyengine export` output imports as it is),
with optional fields for what an instance has no room for but a store does: a unit's owner,
tenure and Husbanken grant; a household's income, stable income, refugee settlement date and
an existing tenant's lease. It becomes the commands an office would have submitted —
DayClosed (when the file's date is later than the engine's), UnitRegistered,
ApplicationSubmitted, LeaseSigned — applied in one write with ONE MatchRun at the end, not
one per unit or household. All or nothing, like every write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from . import commands as c
from . import schema
from .errors import InputError, from_validation
from .schema import Cap, NonNeg, Strict
from .service import AllocationService

TRIGGER = "Import"  # the MatchRun's trigger: the whole batch, not one command


class ImportLease(Strict, frozen=True):
    start: dt.date
    end: dt.date
    rent_nok_month: NonNeg | None = None  # None: the unit's rent


class ImportUnit(schema.Unit, frozen=True):
    owner: Literal["municipality", "foundation", "private_foundation"] = "municipality"
    tenure: Literal["wholly_owned", "cooperative", "condominium"] = "wholly_owned"
    grant: c.Grant | None = None


class ImportHousehold(schema.Household, frozen=True):
    monthly_income_nok: NonNeg = 0
    stable_income: bool = False
    # the instance form has only the flag; the lease term needs the date (null: see commands())
    refugee_settled_on: dt.date | None = None
    lease: ImportLease | None = None


class ImportFile(Strict, frozen=True):
    as_of: dt.date
    units: list[ImportUnit]
    households: list[ImportHousehold]
    caps: list[Cap] | None = None  # absent: the policy's; given: must be the policy's


_decoder = msgspec.json.Decoder(ImportFile)


def decode(data: bytes) -> ImportFile:
    """Decode a portfolio file, naming the field on failure."""
    data = schema.checked_json(data)
    try:
        f = _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise from_validation(e) from None
    schema.check_bounds(f)
    return f


Batch = tuple[list[c.Command], list[str]]  # commands and, for each, where in the file it came from


def commands(
    f: ImportFile, engine_date: dt.date | None, caps: list[Cap], rent_of: Callable[[str], int | None]
) -> Batch:
    """The commands that store `f`, with labels naming their place in the file.

    `engine_date`: the store's date (None for an empty store); `caps`: those of the policy in
    force, which the file may repeat but not change (caps are policy: adopt one with --policy);
    `rent_of`: a unit's rent in the store, for a lease that does not state its rent.
    A refugee flag without `refugee_settled_on` is recorded as settled on the application date
    (the import date for a tenant without one): the flag is kept and the lease term follows
    the best date the file gives.
    """
    if engine_date is not None and f.as_of < engine_date:
        raise InputError("as_of", f"{f.as_of} is before the engine's date {engine_date}")
    if f.caps is not None and f.caps != caps:
        raise InputError("caps", "differ from the caps of the policy in force; give that policy with --policy")
    cmds: list[c.Command] = []
    labels: list[str] = []
    if engine_date is None or f.as_of > engine_date:
        cmds.append(c.DayClosed(date=f.as_of))
        labels.append("as_of")
    rents: dict[str, int] = {}
    for i, u in enumerate(f.units):
        cmds.append(
            c.UnitRegistered(
                id=u.id, building=u.building, stairwell=u.stairwell, floor=u.floor, rooms=u.rooms,
                area_m2=u.area_m2, rent_nok_month=u.rent_nok_month, accessible=u.accessible, kind=u.kind,
                owner=u.owner, tenure=u.tenure, district=u.district, school_district=u.school_district,
                grant=u.grant,
            )
        )  # fmt: skip
        labels.append(f"units[{i}]")
        rents[u.id] = u.rent_nok_month
    leases: Batch = ([], [])
    for i, h in enumerate(f.households):
        where = f"households[{i}]"
        settled = h.refugee_settled_on
        if settled is not None and not h.refugee:
            raise InputError(f"{where}.refugee_settled_on", "given for a household not flagged refugee")
        if h.refugee and settled is None:
            settled = h.applied_on or f.as_of
        cmds.append(
            c.ApplicationSubmitted(
                id=h.id, applied_on=h.applied_on, adults=h.adults, children=h.children,
                needs_accessible=h.needs_accessible, care_need=h.care_need,
                monthly_income_nok=h.monthly_income_nok, stable_income=h.stable_income,
                disadvantaged=h.disadvantaged, refugee_settled_on=settled, skills=list(h.skills),
                preferred_districts=list(h.preferred_districts), school_district=h.school_district,
                urgency=h.urgency, current_unit=h.current_unit, transfer_requested=h.transfer_requested,
            )
        )  # fmt: skip
        labels.append(where)
        if h.lease is None:
            continue
        if h.current_unit is None:
            raise InputError(f"{where}.lease", "only a sitting tenant (current_unit) has a lease")
        rent = h.lease.rent_nok_month
        if rent is None:
            rent = rents.get(h.current_unit, rent_of(h.current_unit))
        if rent is None:  # an unknown unit: ApplicationSubmitted will name it
            rent = 0
        lease = c.LeaseSigned(
            household=h.id, unit=h.current_unit, start=h.lease.start, end=h.lease.end, rent_nok_month=rent
        )
        leases[0].append(lease)
        leases[1].append(f"{where}.lease")
    # leases after every household, so a lease never precedes the tenancy it belongs to
    return cmds + leases[0], labels + leases[1]


def import_portfolio(svc: AllocationService, f: ImportFile) -> list[tuple[int, Any]]:
    """Store `f` in `svc`'s log as one write; the stored (position, event) pairs, MatchRun last."""
    svc.catch_up()
    pf = svc.portfolio

    def rent_of(uid: str) -> int | None:
        return pf.units[uid].spec.rent_nok_month if uid in pf.units else None

    cmds, labels = commands(f, pf.date, list(pf.policy.caps), rent_of)
    return svc.submit_batch(cmds, TRIGGER, labels)
