"""A declined offer's consequence (issue 19; a policy's choice, off in v1): the unit is not
proposed to the same household again for `decline_holdoff_days` (rule 8), and nothing else
follows from the decline."""

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

DAY = dt.date(2021, 5, 1)


def office(url: str, holdoff: int) -> AllocationService:
    policy = msgspec.structs.replace(load_policy(), version=3, decline_holdoff_days=holdoff)
    svc = AllocationService(url, policy)
    svc.submit(c.DayClosed(date=DAY))
    svc.submit(unit_cmd("U1", rooms=1))
    svc.submit(app_cmd("H1"))
    svc.submit(app_cmd("H2", urgency=3))  # outscores H1 for U1
    return svc


def proposed(svc: AllocationService) -> dict[str, str]:
    return {a.unit: a.household for a in svc.portfolio.decision().assignments}


def day(svc: AllocationService, d: dt.date) -> None:
    svc.submit(c.DayClosed(date=d))


def test_a_declined_unit_is_held_off_for_the_policys_days_and_then_proposed_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = office(url, holdoff=30)
    assert proposed(svc) == {"U1": "H2"}
    svc.submit(c.OfferMade(household="H2", unit="U1"))
    svc.submit(c.OfferDeclined(household="H2", unit="U1", code="too_small"))
    assert proposed(svc) == {"U1": "H1"}  # the next in line, not H2 again
    reason = svc.portfolio.matcher.engine.ineligibility_reason("H2", "U1")
    assert reason is not None and reason.startswith("rule 8:")
    with pytest.raises(InputError) as e:  # nor offered it by hand meanwhile
        svc.submit(c.OfferMade(household="H2", unit="U1"))
    assert e.value.field == "unit" and "rule 8" in e.value.reason
    day(svc, DAY + dt.timedelta(days=29))
    assert proposed(svc) == {"U1": "H1"}
    svc.snapshot()
    day(svc, DAY + dt.timedelta(days=30))
    assert proposed(svc) == {"U1": "H2"}  # the hold has lapsed: H2 scores best again
    assert svc.portfolio.matcher.engine.ineligibility_reason("H2", "U1") is None
    svc.close()
    assert replay(url).divergence is None
    # the stored decline carries its day, from which the hold ran
    again = AllocationService(url, write=False)
    assert again.portfolio.households["H2"].declined == {"U1": DAY}
    assert proposed(again) == {"U1": "H2"}
    again.close()


def test_a_hold_is_kept_in_a_snapshot(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = office(url, holdoff=30)
    svc.submit(c.OfferMade(household="H2", unit="U1"))
    svc.submit(c.OfferDeclined(household="H2", unit="U1", code="other", on=DAY - dt.timedelta(days=10)))
    svc.snapshot()
    day(svc, DAY + dt.timedelta(days=5))
    svc.close()
    whole = AllocationService(url, snapshots=False, write=False)
    fast = AllocationService(url, write=False)
    assert fast.loaded_from > 0
    for s in (whole, fast):
        assert s.portfolio.households["H2"].declined == {"U1": DAY - dt.timedelta(days=10)}
        assert proposed(s) == {"U1": "H1"}
    whole.close()
    fast.close()
    svc = AllocationService(url)
    day(svc, DAY + dt.timedelta(days=20))  # 30 days after the decline
    assert proposed(svc) == {"U1": "H2"}
    svc.close()
    assert replay(url).divergence is None


def test_without_a_holdoff_a_declined_unit_may_be_proposed_again_at_once() -> None:
    svc = office("memory:", holdoff=0)
    svc.submit(c.OfferMade(household="H2", unit="U1"))
    svc.submit(c.OfferDeclined(household="H2", unit="U1", code="other"))
    assert proposed(svc) == {"U1": "H2"}
    svc.close()


def test_a_decline_dated_after_the_engines_date_is_refused_and_nothing_stored() -> None:
    svc = office("memory:", holdoff=30)
    svc.submit(c.OfferMade(household="H2", unit="U1"))
    before = svc.portfolio.position
    with pytest.raises(InputError) as e:
        svc.submit(c.OfferDeclined(household="H2", unit="U1", code="other", on=DAY + dt.timedelta(days=1)))
    assert e.value.field == "on" and "after the engine's date" in e.value.reason
    assert svc.portfolio.position == before
    assert "U1" in svc.portfolio.households["H2"].offers
    svc.close()


def test_a_hold_runs_for_the_days_after_the_decline() -> None:
    svc = office("memory:", holdoff=30)
    h = svc.portfolio.households["H2"]
    assert h.declined_units(DAY, 30) == []
    h.declined["U9"] = DAY - dt.timedelta(days=31)
    assert h.declined_units(DAY, 30) == []
    h.declined["U9"] = DAY - dt.timedelta(days=29)
    assert h.declined_units(DAY, 30) == ["U9"]
    svc.close()
