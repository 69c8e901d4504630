"""Offers that hold their unit (issue 19; a policy's choice, off in v1): while an offer is open,
the unit is kept for its household and proposed to no one else."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from pyengine import commands as c
from pyengine.errors import InputError
from pyengine.policy import load_policy
from pyengine.replay import replay
from pyengine.service import AllocationService

from .helpers import app_cmd, unit_cmd


def office(url: str, hold: bool) -> AllocationService:
    policy = msgspec.structs.replace(load_policy(), version=3, offers_hold_units=hold)
    svc = AllocationService(url, policy)
    svc.submit(c.DayClosed(date=dt.date(2021, 5, 1)))
    svc.submit(unit_cmd("U1", rooms=1))
    svc.submit(app_cmd("H1"))
    svc.submit(app_cmd("H2", urgency=3))  # outscores H1 for U1
    return svc


def decided(svc: AllocationService) -> list[tuple[str, str, int]]:
    return [(a.household, a.unit, a.breakdown.tenure_stability) for a in svc.portfolio.decision().assignments]


def test_an_open_offer_holds_its_unit_until_it_is_answered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = office(url, hold=True)
    assert decided(svc) == [("H2", "U1", 0)]
    svc.submit(c.OfferMade(household="H1", unit="U1"))  # the office offers it to H1 all the same
    assert decided(svc) == [("H1", "U1", 0)]  # held for H1, without a stay bonus
    assert svc.portfolio.decision().unmatched == ["H2"]
    with pytest.raises(InputError) as e:
        svc.submit(c.OfferMade(household="H2", unit="U1"))
    assert e.value.field == "unit" and "held by an open offer to 'H1'" in e.value.reason
    svc.submit(unit_cmd("U2", rooms=1, building="B2", stairwell="B2-A"))
    with pytest.raises(InputError) as e:
        svc.submit(c.OfferMade(household="H1", unit="U2"))
    assert e.value.field == "household" and "holds an open offer of 'U1'" in e.value.reason
    assert ("H2", "U2", 0) in decided(svc)
    svc.submit(c.OfferDeclined(household="H1", unit="U1", code="too_small"))
    # free again: both units go to whoever scores best, as a solve of the same portfolio gives
    assert {(h, u) for h, u, _ in decided(svc)} == {
        (a.household, a.unit) for a in svc.portfolio.matcher.solve().assignments
    }
    svc.close()
    assert replay(url).divergence is None


def test_without_the_policy_an_offer_holds_nothing(tmp_path: Path) -> None:
    svc = office("memory:", hold=False)
    svc.submit(c.OfferMade(household="H1", unit="U1"))
    assert decided(svc) == [("H2", "U1", 0)]
    svc.close()


def test_a_held_unit_is_not_withdrawn_under_its_offer() -> None:
    svc = office("memory:", hold=True)
    svc.submit(c.OfferMade(household="H1", unit="U1"))
    with pytest.raises(InputError) as e:
        svc.submit(c.UnitWithdrawn(id="U1", code="renovation"))
    assert "open offer to 'H1'" in e.value.reason and decided(svc) == [("H1", "U1", 0)]
    svc.close()
