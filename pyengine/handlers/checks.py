"""Look-ups and guards the handlers share, written once: each names the command's field on failure."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

import msgspec

from .. import commands as c
from ..domain import Household, SaleCase, Unit
from ..errors import InputError
from ..policy import ENGINE_CODES, REASON_LISTS, Policy
from ..projection import Projection

# the commands that take a reason code (`code`) from a list of the policy
Coded = (
    c.OfferDeclined | c.ApplicationWithdrawn | c.LeaseNotRenewed | c.LeaseTerminated | c.UnitKeptForRent
    | c.UnitWithdrawn | c.PurchaseDeclined | c.AftercareRecorded | c.TenantMovedOut
)  # fmt: skip


def find_unit(pf: Projection, uid: str, field: str) -> Unit:
    try:
        return pf.units[uid]
    except KeyError:
        raise InputError(field, f"unknown unit {uid!r}") from None


def rental_unit(pf: Projection, uid: str, field: str, gone: str = "is not in the rental portfolio") -> Unit:
    """A unit of the rental portfolio that is not let (`gone`: how one outside it is refused)."""
    u = find_unit(pf, uid, field)
    if not u.active:
        raise InputError(field, f"unit {uid!r} {gone}")
    if uid in pf.occupant:
        raise InputError(field, f"unit {uid!r} is let to {pf.occupant[uid]!r}")
    return u


def vacant_unit(pf: Projection, uid: str, field: str) -> Unit:
    """A rental unit neither let nor offered to anyone."""
    u = rental_unit(pf, uid, field)
    for hid in sorted(pf.with_offers):
        if uid in pf.households[hid].offers:
            raise InputError(field, f"unit {uid!r} has an open offer to {hid!r}")
    return u


def new_unit_id(pf: Projection, uid: str, field: str) -> None:
    if uid in pf.units:
        raise InputError(field, f"unit {uid!r} already exists")


def find_household(pf: Projection, hid: str, field: str) -> Household:
    """A household that has not withdrawn."""
    h = pf.households.get(hid)
    if h is None:
        raise InputError(field, f"unknown household {hid!r}")
    if h.withdrawn:
        raise InputError(field, f"household {hid!r} has withdrawn")
    return h


def former_buyer(pf: Projection, hid: str, field: str) -> SaleCase:
    """The rent-to-own case in which household `hid` bought its flat."""
    case = pf.bought.get(hid)
    if case is None:
        if hid not in pf.households:
            raise InputError(field, f"unknown household {hid!r}")
        raise InputError(field, f"household {hid!r} bought no flat: no rent-to-own case of it ended in SaleCompleted")
    return case


def find_case(pf: Projection, uid: str) -> SaleCase:
    """The open rent-to-own case of a unit."""
    case = pf.open_case.get(uid)
    if case is None:
        raise InputError("unit", f"no open rent-to-own case for {uid!r}")
    return case


def not_after(pf: Projection, d: dt.date | None, field: str) -> None:
    if d is not None and pf.date is not None and d > pf.date:
        raise InputError(field, f"{d} is after the engine's date {pf.date}")


def not_before(pf: Projection, d: dt.date | None, field: str) -> None:
    if d is not None and pf.date is not None and d < pf.date:
        raise InputError(field, f"{d} is before the engine's date {pf.date}")


def dated(pf: Projection, on: dt.date, field: str = "on") -> dt.date:
    """The date a command takes effect: not before the engine's date."""
    not_before(pf, on, field)
    return on


OnDay = TypeVar("OnDay", c.ApplicationWithdrawn, c.ErasureRequested)


def on_engine_date(pf: Projection, cmd: OnDay) -> OnDay:
    """`cmd` stored with its day: the engine's date where it gives none (and the engine has one)."""
    return cmd if cmd.on is not None or pf.date is None else msgspec.structs.replace(cmd, on=pf.date)


def in_force(pf: Projection) -> Policy:
    """The policy a command is decided under: one adopted with it is in force on the ledger."""
    return pf.ledger.policy if pf.ledger is not None and pf.ledger.policy is not None else pf.policy


def reason_code(pf: Projection, cmd: Coded) -> None:
    """The command's `code`: one of the policy's codes for its kind, required when the policy
    lists any. A policy without a list for the kind (every policy recorded before the lists)
    takes the free text (`reason`; AftercareRecorded's `note`) alone, as before, and refuses a
    code it cannot check."""
    kind = type(cmd).__name__
    policy = in_force(pf)
    allowed = policy.reason_codes(kind)
    where = f"policy v{policy.version}'s {REASON_LISTS[kind]}"
    text = "note" if isinstance(cmd, c.AftercareRecorded) else "reason"
    if isinstance(cmd.code, msgspec.UnsetType):
        if allowed:
            raise InputError(
                "code", f"required for {kind}: one of {', '.join(allowed)} ({where}); `{text}` takes a note beside it"
            )
        return
    if cmd.code in ENGINE_CODES:  # even where a policy recorded before they were reserved lists it
        raise InputError("code", f"{cmd.code!r} is reserved: {ENGINE_CODES[cmd.code]}")
    if not allowed:
        raise InputError(
            "code", f"{cmd.code!r}: the policy in force (v{policy.version}) lists no codes for {kind}; leave `code` "
            f"out and give the {text} as text, or adopt a policy that lists them",
        )  # fmt: skip
    if cmd.code not in allowed:
        raise InputError("code", f"{cmd.code!r} is not one of {', '.join(allowed)} ({where})")
