"""Units: registered, merged, re-rented, withdrawn, returned and acquired."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from .. import commands as c
from ..domain import Unit
from ..errors import InputError
from ..projection import Projection
from .checks import dated, find_unit, new_unit_id, not_after, reason_code, vacant_unit


def unit_registered(pf: Projection, cmd: c.UnitRegistered) -> list[Aggregate]:
    new_unit_id(pf, cmd.id, "id")
    not_after(pf, cmd.grant.granted_on if cmd.grant else None, "grant.granted_on")
    return [Unit.register(cmd)]


def units_merged(pf: Projection, cmd: c.UnitsMerged) -> list[Aggregate]:
    if len(set(cmd.units)) != len(cmd.units):
        raise InputError("units", "a unit is named twice")
    sources = [vacant_unit(pf, uid, f"units[{i}]") for i, uid in enumerate(cmd.units)]
    new_unit_id(pf, cmd.into.id, "into.id")
    new = Unit.merge(cmd)
    for src in sources:
        src.merge_into(c.UnitMergedInto(id=src.unit_id, into=cmd.into.id))
    return [new, *sources]


def unit_rent_changed(pf: Projection, cmd: c.UnitRentChanged) -> list[Aggregate]:
    u = find_unit(pf, cmd.id, "id")
    u.change_rent(cmd)
    return [u]


def unit_withdrawn(pf: Projection, cmd: c.UnitWithdrawn) -> list[Aggregate]:
    u = vacant_unit(pf, cmd.id, "id")
    reason_code(pf, cmd)
    u.withdraw(cmd)
    return [u]


def unit_returned(pf: Projection, cmd: c.UnitReturned) -> list[Aggregate]:
    u = find_unit(pf, cmd.id, "id")
    u.return_(cmd)
    return [u]


def unit_acquired(pf: Projection, cmd: c.UnitAcquired) -> list[Aggregate]:
    """A unit bought with money from the pot; a cooperative stairwell takes few municipal units."""
    dated(pf, cmd.on)
    new_unit_id(pf, cmd.unit.id, "unit.id")
    if cmd.price_nok > pf.pot_nok:
        raise InputError("price_nok", f"the pot holds NOK {pf.pot_nok}, short of NOK {cmd.price_nok}")
    if cmd.unit.tenure == "cooperative":
        limit = pf.policy.max_units_per_cooperative_stairwell
        there = sum(1 for u in pf.units.values() if u.active and u.spec.stairwell == cmd.unit.stairwell)
        if there + 1 > limit:
            raise InputError(
                "unit.stairwell",
                f"{cmd.unit.stairwell!r} already has {there} municipal units; a cooperative stairwell takes at "
                f"most {limit}",
            )
    cooperative_limit(pf, cmd)
    return [Unit.acquire(cmd)]


def cooperative_limit(pf: Projection, cmd: c.UnitAcquired) -> None:
    """The municipality's units in one housing co-operative stay within the share the law
    allows: 10 % by right, 20 % where the statutes allow (the policy's two shares)."""
    coop = cmd.unit.cooperative
    if not isinstance(coop, str):
        return
    if cmd.unit.tenure != "cooperative":
        raise InputError(
            "unit.cooperative", f"only a unit of cooperative tenure belongs to a co-operative, not {cmd.unit.tenure!r}"
        )
    if not isinstance(cmd.cooperative_units, int):
        raise InputError(
            "cooperative_units", f"required for a unit in co-operative {coop!r}: the share owned is limited"
        )
    higher = cmd.statutes_allow_higher_share is True
    share = pf.policy.cooperative_share_by_statutes if higher else pf.policy.cooperative_share
    limit = int(share * cmd.cooperative_units + 1e-9)  # rounded down; the epsilon keeps 0.1 × 30 at 3
    owned = sum(1 for u in pf.units.values() if u.active and u.spec.cooperative == coop)
    if owned + 1 > limit:
        raise InputError(
            "cooperative_units",
            f"the municipality already owns {owned} of the {cmd.cooperative_units} units of co-operative {coop!r}; "
            f"{share:.0%} allows {limit}" + ("" if higher else " (20 % where the statutes allow)"),
        )
