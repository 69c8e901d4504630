"""Applications, and the flat offers made to them."""

from __future__ import annotations

import datetime as dt

import msgspec
from eventsourcing.domain import Aggregate

from .. import commands as c
from ..domain import Household
from ..errors import InputError
from ..projection import Projection
from ..schema import BUILTIN_FLAGS
from .checks import (
    find_household,
    former_buyer,
    in_force,
    not_after,
    not_before,
    on_engine_date,
    reason_code,
    rental_unit,
)


def application_submitted(pf: Projection, cmd: c.ApplicationSubmitted) -> list[Aggregate]:
    not_sealed(cmd)
    if cmd.id in pf.households:
        raise InputError("id", f"household {cmd.id!r} already exists")
    if cmd.current_unit is None and cmd.applied_on is None:
        raise InputError("applied_on", "required for a household without a current unit")
    not_after(pf, cmd.applied_on, "applied_on")
    not_after(pf, cmd.refugee_settled_on, "refugee_settled_on")
    if cmd.current_unit is not None:
        rental_unit(pf, cmd.current_unit, "current_unit", gone="is not in the portfolio")
    if isinstance(cmd.tags, list):
        plain_tags(cmd.tags)
    if isinstance(cmd.former_household, str):
        former_buyer(pf, cmd.former_household, "former_household")
    return [Household.submit(cmd)]


def plain_tags(tags: list[str]) -> None:
    """A tag may not take a built-in attribute's name: a cap on it would count the attribute."""
    for i, t in enumerate(tags):
        if t in BUILTIN_FLAGS:
            raise InputError(f"tags[{i}]", f"{t!r} is a household attribute, not a tag; set the attribute")


def application_updated(pf: Projection, cmd: c.ApplicationUpdated) -> list[Aggregate]:
    h = find_household(pf, cmd.id, "id")
    not_sealed(cmd)
    if isinstance(cmd.refugee_settled_on, dt.date):
        not_after(pf, cmd.refugee_settled_on, "refugee_settled_on")
    if isinstance(cmd.tags, list):
        plain_tags(cmd.tags)
    h.update(cmd)
    return [h]


def not_sealed(cmd: c.ApplicationSubmitted | c.ApplicationUpdated) -> None:
    if cmd.sealed is not msgspec.UNSET:
        raise InputError("sealed", "set by the store when it seals personal data, never by a command")


def erasure_requested(pf: Projection, cmd: c.ErasureRequested) -> list[Aggregate]:
    """The household's personal data erased (its key deleted by the service once this is stored)."""
    h = pf.households.get(cmd.id)
    if h is None:
        raise InputError("id", f"unknown household {cmd.id!r}")
    if cmd.on is not None:
        not_after(pf, cmd.on, "on")
    case = next((x for x in pf.open_case.values() if x.household == cmd.id), None)
    if case is not None:
        raise InputError("id", f"household {cmd.id!r} has an open rent-to-own case for {case.unit!r}")
    if h.aftercare is not None and h.aftercare.recorded is None:
        raise InputError("id", f"household {cmd.id!r} is owed an after-care follow-up (due {h.aftercare.due_on})")
    cmd = on_engine_date(pf, cmd)
    on = cmd.on
    retention = in_force(pf).erasure_retention_days
    if retention is not None and h.left_on is not None:
        # A household that left before its leaving day was recorded is the office's to check.
        if on is None:
            raise InputError("on", "needed to check the retention period: the engine has no date yet")
        ends = h.left_on + dt.timedelta(days=retention)
        if on < ends:
            raise InputError(
                "on",
                f"household {cmd.id!r} left on {h.left_on}: its retention period of {retention} days runs until {ends}",
            )
    h.erase(cmd)
    return [h]


def application_withdrawn(pf: Projection, cmd: c.ApplicationWithdrawn) -> list[Aggregate]:
    h = find_household(pf, cmd.id, "id")
    reason_code(pf, cmd)
    not_after(pf, cmd.on, "on")
    h.withdraw(on_engine_date(pf, cmd))
    return [h]


def offer_made(pf: Projection, cmd: c.OfferMade) -> list[Aggregate]:
    """An offer of a vacant unit the household is eligible for (following the latest run when it
    names one)."""
    h = find_household(pf, cmd.household, "household")
    rental_unit(pf, cmd.unit, "unit")
    h.check_no_offer_of(cmd.unit)  # here, so a command wrong twice is refused for the same reason as ever
    if pf.policy.offers_hold_units:  # an open offer holds its unit: one at a time, both ways
        holder = next((x for x in sorted(pf.with_offers) if cmd.unit in pf.households[x].offers), None)
        if holder is not None:
            raise InputError("unit", f"{cmd.unit!r} is held by an open offer to {holder!r}")
        if h.offers and h.spec.current_unit is None:
            raise InputError("household", f"{cmd.household!r} holds an open offer of {min(h.offers)!r}")
    not_before(pf, cmd.reply_by, "reply_by")
    if cmd.run is not None:
        last = pf.ledger.last_run if pf.ledger else None
        if last is None or cmd.run != last.run:
            raise InputError("run", f"offers follow the latest run ({last.run if last else 'none yet'})")
        proposed = pf.ledger.decision.get(cmd.household) if pf.ledger else None
        if proposed is None or proposed.unit != cmd.unit:
            raise InputError("run", f"run {cmd.run} did not propose {cmd.unit!r} to {cmd.household!r}")
    pf.sync()
    why = pf.matcher.ineligibility(cmd.household, cmd.unit)
    if why is not None:
        raise InputError("unit", f"not eligible for {cmd.household!r}: {why}")
    h.make_offer(cmd)
    return [h]


def offer_accepted(pf: Projection, cmd: c.OfferAccepted) -> list[Aggregate]:
    h = find_household(pf, cmd.household, "household")
    h.check_offer_of(cmd.unit)  # before the unit's checks, as ever
    u = rental_unit(pf, cmd.unit, "unit", gone="left the rental portfolio")
    assert pf.date is not None
    h.accept_offer(cmd, on=pf.date, rent_nok_month=u.spec.rent_nok_month, policy=pf.policy)
    return [h]


def offer_declined(pf: Projection, cmd: c.OfferDeclined) -> list[Aggregate]:
    h = find_household(pf, cmd.household, "household")
    reason_code(pf, cmd)
    if isinstance(cmd.on, dt.date):
        not_after(pf, cmd.on, "on")
    else:  # stored with its day, from which the policy's holdoff runs
        assert pf.date is not None
        cmd = msgspec.structs.replace(cmd, on=pf.date)
    h.decline_offer(cmd)
    return [h]


def offer_expired(pf: Projection, cmd: c.OfferExpired) -> list[Aggregate]:
    h = find_household(pf, cmd.household, "household")
    h.expire_offer(cmd)
    return [h]
