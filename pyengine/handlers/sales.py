"""Rent-to-own cases: one per unit at a time, step by step (the steps' order is the case's own)."""

from __future__ import annotations

import datetime as dt
from typing import Literal, TypeVar

import msgspec
from eventsourcing.domain import Aggregate

from .. import commands as c
from ..calendar import add_months
from ..domain import SaleCase
from ..errors import InputError
from ..policy import Policy
from ..projection import Projection
from ..sealing import CASE_STEPS
from .checks import dated, find_case, find_household, find_unit, in_force, reason_code


def interest_registered(pf: Projection, cmd: c.PurchaseInterestRegistered) -> list[Aggregate]:
    """A rent-to-own case opens for the sitting tenant. `suitability` is what the engine's check
    found: a command naming it is refused (else its own findings, kept where the check finds
    nothing or is off, would read in the log as the engine's). Stored events carrying it are
    folded, never handled here, so they replay as written."""
    if cmd.suitability is not msgspec.UNSET:
        raise InputError("suitability", "set by the engine from its suitability check, never by a command")
    dated(pf, cmd.on)
    h = find_household(pf, cmd.household, "household")
    u = find_unit(pf, cmd.unit, "unit")
    if h.spec.current_unit != cmd.unit or not u.active:
        raise InputError("household", f"only the sitting tenant of {cmd.unit!r} can register interest")
    if cmd.unit in pf.open_case:
        raise InputError("unit", f"a rent-to-own case for {cmd.unit!r} is already open")
    if pf.policy.suitability_check:
        cmd = suitability(pf, cmd, h.spec, u.spec.rooms)
    return [SaleCase.open(cmd, pf.case_count.get(cmd.unit, 0) + 1)]


Finding = tuple[Literal["too_small", "transfer_requested"], str]


def unsuitable(policy: Policy, spec: c.ApplicationSubmitted, rooms: int) -> list[Finding]:
    """What may make a flat of `rooms` rooms unsuitable for the household buying it: too small
    for it, or a transfer request pending (it wants another flat); each with why."""
    needed = policy.rooms_needed(spec.adults, spec.children)
    found: list[Finding] = []
    if rooms < needed:
        found.append(("too_small", f"the household needs {needed} rooms and the flat has {rooms}"))
    if spec.transfer_requested:
        found.append(("transfer_requested", "the household has asked to transfer to another flat"))
    return found


def suitability(
    pf: Projection, cmd: c.PurchaseInterestRegistered, spec: c.ApplicationSubmitted, rooms: int
) -> c.PurchaseInterestRegistered:
    """The case opens on a flat that may not suit the buyer only when the office acknowledges
    what the check found; the event records it."""
    found = unsuitable(pf.policy, spec, rooms)
    if not found:
        return cmd
    if cmd.acknowledged is not True:
        raise InputError(
            "acknowledged",
            f"the flat may not suit the buyer: {'; '.join(why for _, why in found)}; "
            "open the case with acknowledged: true if the office has discussed it with the household",
        )
    return msgspec.structs.replace(cmd, suitability=[code for code, _ in found])


def valuation_recorded(pf: Projection, cmd: c.ValuationRecorded) -> list[Aggregate]:
    case = find_case(pf, cmd.unit)
    dated(pf, cmd.valued_on, "valued_on")
    case.value(cmd, pf.policy)
    return [case]


def _step(pf: Projection, unit: str, on: dt.date) -> SaleCase:
    """The open case of `unit`, for a step dated `on` (not before the engine's date)."""
    case = find_case(pf, unit)
    dated(pf, on)
    return case


# pyengine.sealing.CASE_STEPS, spelled out for the type checker
Sealed = TypeVar(
    "Sealed", c.EconomicAssessmentRecorded, c.UnitKeptForRent, c.StartLoanApplied, c.StartLoanDecided,
    c.PurchaseDeclined, c.SaleCaseClosed,
)  # fmt: skip
assert Sealed.__constraints__ == CASE_STEPS


def buyer_named(pf: Projection, case: SaleCase, cmd: Sealed) -> Sealed:
    """`cmd` naming the case's buyer where the store seals its fields under the buyer's key
    (pyengine.sealing); left out in a store in clear, which then writes it as before. A command
    naming one is refused: the engine alone says whose key seals a record."""
    if cmd.household is not msgspec.UNSET:
        raise InputError("household", "set by the engine where the store seals personal data, never by a command")
    return msgspec.structs.replace(cmd, household=case.household) if pf.seals else cmd


def assessment_recorded(pf: Projection, cmd: c.EconomicAssessmentRecorded) -> list[Aggregate]:
    case = _step(pf, cmd.unit, cmd.on)
    case.assess(buyer_named(pf, case, cmd))
    return [case]


def unit_kept_for_rent(pf: Projection, cmd: c.UnitKeptForRent) -> list[Aggregate]:
    case = _step(pf, cmd.unit, cmd.on)
    reason_code(pf, cmd)
    case.keep(buyer_named(pf, case, cmd))
    return [case]


def unit_released_for_sale(pf: Projection, cmd: c.UnitReleasedForSale) -> list[Aggregate]:
    case = _step(pf, cmd.unit, cmd.on)
    case.release(cmd, pf.units[cmd.unit].spec.tenure, pf.policy)
    return [case]


def start_loan_applied(pf: Projection, cmd: c.StartLoanApplied) -> list[Aggregate]:
    case = _step(pf, cmd.unit, cmd.on)
    case.apply_for_loan(buyer_named(pf, case, cmd), pf.policy)
    return [case]


def start_loan_decided(pf: Projection, cmd: c.StartLoanDecided) -> list[Aggregate]:
    case = _step(pf, cmd.unit, cmd.on)
    case.decide_loan(buyer_named(pf, case, cmd))
    return [case]


def purchase_offered(pf: Projection, cmd: c.PurchaseOffered) -> list[Aggregate]:
    case = _step(pf, cmd.unit, cmd.on)
    case.offer(cmd, pf.policy)
    return [case]


def purchase_accepted(pf: Projection, cmd: c.PurchaseAccepted) -> list[Aggregate]:
    case = _step(pf, cmd.unit, cmd.on)
    case.accept(cmd)
    return [case]


def purchase_declined(pf: Projection, cmd: c.PurchaseDeclined) -> list[Aggregate]:
    case = _step(pf, cmd.unit, cmd.on)
    reason_code(pf, cmd)
    case.decline(buyer_named(pf, case, cmd))
    return [case]


def sale_case_closed(pf: Projection, cmd: c.SaleCaseClosed) -> list[Aggregate]:
    case = _step(pf, cmd.unit, cmd.on)
    case.close(buyer_named(pf, case, cmd), pf.policy)
    return [case]


def sale_completed(pf: Projection, cmd: c.SaleCompleted) -> list[Aggregate]:
    """The case completes; the unit is sold, the buyer moves out of the rental portfolio (owed a
    follow-up where the policy sets `aftercare_months`), and the proceeds (price less the grant
    repaid) go to the pot."""
    case = _step(pf, cmd.unit, cmd.on)
    u = pf.units[cmd.unit]
    h = pf.households[case.household]
    months = in_force(pf).aftercare_months
    due = c.AftercareDue(household=case.household, unit=cmd.unit, due_on=add_months(cmd.on, months))
    done = case.complete(cmd, u.spec.grant, pf.policy)
    u.sell(c.UnitSold(id=cmd.unit, on=cmd.on))
    h.move_out_bought(c.TenantMovedOut(household=case.household, on=cmd.on, reason="bought the unit"))
    if months > 0:
        h.aftercare_due(due)
    assert pf.ledger is not None
    amount = done.price_nok - done.grant_repayment_nok
    pf.ledger.allocate_proceeds(c.ProceedsAllocated(unit=cmd.unit, amount_nok=amount, pot_nok=pf.pot_nok + amount))
    return [case, u, h, pf.ledger]


def aftercare_recorded(pf: Projection, cmd: c.AftercareRecorded) -> list[Aggregate]:
    """The follow-up of a former buyer, once, while it is due (AftercareDue raised, not yet
    recorded), dated on or after the engine's date and the sale's, its `code` one of the
    policy's `aftercare_outcomes`."""
    h = pf.households.get(cmd.household)
    if h is None:
        raise InputError("household", f"unknown household {cmd.household!r}")
    h.pending_aftercare()
    dated(pf, cmd.on)
    sale = pf.bought.get(cmd.household)
    if sale is not None and sale.completed_on is not None and cmd.on < sale.completed_on:
        raise InputError("on", f"{cmd.on} is before the sale on {sale.completed_on}")
    reason_code(pf, cmd)
    h.record_aftercare(cmd)
    return [h]
