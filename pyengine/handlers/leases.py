"""Leases: signed, assessed for renewal, not renewed, terminated; tenants moving out."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from .. import commands as c
from ..projection import Projection
from .checks import dated, find_household, reason_code


def lease_signed(pf: Projection, cmd: c.LeaseSigned) -> list[Aggregate]:
    h = find_household(pf, cmd.household, "household")
    # an existing tenant's lease may have started before the engine's date (it is recorded on
    # import), but one that has already ended is no lease
    dated(pf, cmd.end, "end")
    h.sign_lease(cmd)
    return [h]


def tenant_moved_out(pf: Projection, cmd: c.TenantMovedOut) -> list[Aggregate]:
    h = find_household(pf, cmd.household, "household")
    dated(pf, cmd.on)
    reason_code(pf, cmd)
    h.move_out(cmd, on_sale=pf.open_case)
    return [h]


def lease_terminated(pf: Projection, cmd: c.LeaseTerminated) -> list[Aggregate]:
    h = find_household(pf, cmd.household, "household")
    h.leased()
    dated(pf, cmd.on)
    reason_code(pf, cmd)
    h.terminate_lease(cmd, on_sale=pf.open_case)
    return [h]


def lease_not_renewed(pf: Projection, cmd: c.LeaseNotRenewed) -> list[Aggregate]:
    h = find_household(pf, cmd.household, "household")
    h.leased()
    dated(pf, cmd.on)
    reason_code(pf, cmd)
    h.not_renew(cmd)
    return [h]


def assess_lease_renewal(pf: Projection, cmd: c.AssessLeaseRenewal) -> list[Aggregate]:
    h = find_household(pf, cmd.household, "household")
    h.leased()
    dated(pf, cmd.on)
    h.assess_renewal(cmd, pf.policy)
    return [h]
