"""Delta operations (DESIGN §6 `stream`): applied to the Rust matcher or to an instance."""

from __future__ import annotations

import msgspec

from .matching import Matcher, core_error
from .schema import Instance, Operation, RemoveHousehold, RemoveUnit, SetAsOf, UpsertHousehold, UpsertUnit, check_bounds


def apply_to_matcher(m: Matcher, op: Operation) -> None:
    """Raises InputError (from the core's 'field: reason') when the operation is refused."""
    check_bounds(op)
    try:
        if isinstance(op, UpsertHousehold):
            m.upsert_household(op.household)
        elif isinstance(op, RemoveHousehold):
            m.remove_household(op.id)
        elif isinstance(op, UpsertUnit):
            m.upsert_unit(op.unit)
        elif isinstance(op, RemoveUnit):
            m.remove_unit(op.id)
        else:
            m.set_as_of(op.as_of.isoformat())
    except ValueError as e:
        raise core_error(e) from None


def apply_to_instance(inst: Instance, op: Operation) -> Instance:
    """The same operation on a plain snapshot (for from-scratch comparisons)."""
    if isinstance(op, UpsertHousehold):
        rest = [h for h in inst.households if h.id != op.household.id]
        return msgspec.structs.replace(inst, households=[*rest, op.household])
    if isinstance(op, RemoveHousehold):
        return msgspec.structs.replace(inst, households=[h for h in inst.households if h.id != op.id])
    if isinstance(op, UpsertUnit):
        rest_u = [u for u in inst.units if u.id != op.unit.id]
        return msgspec.structs.replace(inst, units=[*rest_u, op.unit])
    if isinstance(op, RemoveUnit):
        return msgspec.structs.replace(inst, units=[u for u in inst.units if u.id != op.id])
    assert isinstance(op, SetAsOf)
    return msgspec.structs.replace(inst, as_of=op.as_of)
