"""Small builders for hand-written cases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pyengine import commands as c
from pyengine import service
from pyengine.matching import Matcher
from pyengine.policy import Policy, load_policy
from pyengine.schema import Cap, Household, Instance, Unit
from pyengine.service import AllocationService

AS_OF = dt.date(2021, 5, 1)
POLICY: Policy = load_policy()


def unit(uid: str, **kw: Any) -> Unit:
    base: dict[str, Any] = dict(
        id=uid, building="B1", stairwell="B1-A", floor=2, rooms=2, area_m2=48.0,
        rent_nok_month=6800, accessible=False, kind="ordinary", district="Lademoen",
        school_district="Lademoen",
    )  # fmt: skip
    base.update(kw)
    return Unit(**base)


def household(hid: str, **kw: Any) -> Household:
    base: dict[str, Any] = dict(
        id=hid, adults=2, children=0, needs_accessible=False, care_need=False,
        disadvantaged=False, refugee=False, urgency=0, applied_on=AS_OF, skills=[],
        preferred_districts=[], school_district=None, current_unit=None, transfer_requested=False,
    )  # fmt: skip
    base.update(kw)
    return Household(**base)


def instance(units: list[Unit], households: list[Household], caps: list[Cap] | None = None) -> Instance:
    return Instance(as_of=AS_OF, units=units, households=households, caps=caps if caps is not None else [])


def matcher(inst: Instance, policy: Policy = POLICY) -> Matcher:
    m = Matcher(policy)
    m.load(inst)
    return m


def unit_cmd(uid: str, **kw: Any) -> c.UnitRegistered:
    """A UnitRegistered command: a two-room co-operative flat unless `kw` says otherwise."""
    base: dict[str, Any] = dict(
        id=uid, building="B1", stairwell="B1-A", floor=1, rooms=2, area_m2=50.0, rent_nok_month=8000,
        accessible=True, kind="ordinary", district="Lademoen", tenure="cooperative",
    )  # fmt: skip
    base.update(kw)
    return c.UnitRegistered(**base)


def app_cmd(hid: str, **kw: Any) -> c.ApplicationSubmitted:
    """An ApplicationSubmitted command: one adult who applied on 2019-06-01 unless `kw` says otherwise."""
    base: dict[str, Any] = dict(id=hid, adults=1, applied_on=dt.date(2019, 6, 1))
    base.update(kw)
    return c.ApplicationSubmitted(**base)


def writer_adopting_unchecked(url: str, policy: Policy, **kw: Any) -> AllocationService:
    """A writer that adopts `policy` without the checks a policy adopted now goes through
    (`check_policy`), as the engine did before a check existed: it makes a store whose recorded
    policy those checks would refuse today."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(service, "check_policy", lambda policy, source: None)
        return AllocationService(url, policy, **kw)
