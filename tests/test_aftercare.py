"""After-care after a rent-to-own sale (issue 19; «ettervern for boligkjøpere», report 003,
p. 50): SaleCompleted raises AftercareDue where the policy sets `aftercare_months`, the office
records the follow-up once (AftercareRecorded), the worklist lists those not yet recorded, and
a former buyer's new application names the household under which it bought."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pyengine import commands as c
from pyengine import reasons
from pyengine import worklist as w
from pyengine.calendar import add_months
from pyengine.errors import InputError
from pyengine.events_json import event_record
from pyengine.explain import explain_household, household_text, state_at
from pyengine.policy import Policy, load_policy, parse_policy
from pyengine.replay import replay
from pyengine.service import AllocationService

from .helpers import app_cmd as app
from .helpers import unit_cmd as unit
from .test_leases_and_sales import Office as SalesOffice
from .test_leases_and_sales import full_sale, housed, sale_ready

D = dt.date
V1 = load_policy()
NO_AFTERCARE = msgspec.structs.replace(V1, aftercare_months=0)
SOLD_ON = D(2020, 8, 1)  # full_sale's SaleCompleted
NOTE = "called: the common costs went up, otherwise fine"


class Office(SalesOffice):
    """The sales tests' office, on any store URL."""

    def __init__(self, url: str = "memory:", policy: Policy | None = None) -> None:
        self.svc = AllocationService(url, policy)
        self.do(c.DayClosed(date=D(2020, 1, 1)))

    def worklist(self, as_of: dt.date | None = None) -> w.Worklist:
        pf, steps, day = w.observe(self.svc, as_of)
        return w.worklist(pf, day, steps)

    def stored(self) -> list[Any]:
        return [e.payload for _, e in self.svc.stored_events()]


def sold(url: str = "memory:", policy: Policy | None = None) -> Office:
    """H1 bought U1 on 2020-08-01 (full_sale); the engine's date is then 2020-09-01."""
    o = Office(url, policy)
    sale_ready(o)
    full_sale(o)
    o.do(c.DayClosed(date=D(2020, 9, 1)))
    return o


def sell(o: Office, hid: str, uid: str, on: dt.date) -> list[Any]:
    """Every step of a rent-to-own case of `uid` on `on`, the sale too: its events."""
    for cmd in (
        c.PurchaseInterestRegistered(household=hid, unit=uid, on=on),
        c.EconomicAssessmentRecorded(unit=uid, on=on, approved=True, max_price_nok=2_000_000),
        c.UnitReleasedForSale(unit=uid, on=on),
        c.ValuationRecorded(unit=uid, value_nok=1_900_000, valued_on=on),
        c.StartLoanApplied(unit=uid, on=on, amount_nok=1_850_000),
        c.StartLoanDecided(unit=uid, on=on, granted=True, amount_nok=1_850_000),
        c.PurchaseOffered(unit=uid, on=on),
        c.PurchaseAccepted(unit=uid, on=on),
    ):
        o.do(cmd)
    return o.do(c.SaleCompleted(unit=uid, on=on))


def refused(o: Office, cmd: c.Command, field: str, *words: str) -> None:
    """Refused with an InputError naming `field`, and nothing stored."""
    n = len(o.stored())
    with pytest.raises(InputError) as e:
        o.svc.submit(cmd)
    assert e.value.field == field, str(e.value)
    for word in words:
        assert word in e.value.reason, str(e.value)
    assert len(o.stored()) == n


def recorded(**kw: Any) -> c.AftercareRecorded:
    base: dict[str, Any] = dict(household="H1", on=D(2021, 8, 2), note=NOTE, code="doing_well")
    base.update(kw)
    return c.AftercareRecorded(**base)


# --- the policy --------------------------------------------------------------------------------
def test_the_packaged_policy_sets_twelve_months_and_the_outcomes_and_the_default_is_none() -> None:
    assert V1.aftercare_months == 12
    assert V1.aftercare_outcomes == ["doing_well", "payment_problems", "needs_support", "moved_on", "not_reached",
                                     "other"]  # fmt: skip
    bare = Policy(version=1)  # every policy recorded before the parameter
    assert (bare.aftercare_months, bare.aftercare_outcomes) == (0, [])
    with pytest.raises(InputError) as e:
        parse_policy({"version": 3, "aftercare_outcomes": ["doing_well", "doing_well"]}, "p.toml")
    assert e.value.field == "p.toml.aftercare_outcomes[1]"
    with pytest.raises(InputError) as e:
        parse_policy({"version": 3, "aftercare_months": -1}, "p.toml")
    assert e.value.field == "p.toml.aftercare_months"


# --- AftercareDue ------------------------------------------------------------------------------
def test_a_sale_raises_aftercare_due_on_the_buyer_household() -> None:
    o = Office()
    sale_ready(o)
    out = full_sale(o)
    assert [type(p).__name__ for p in out] == [
        "SaleCompleted", "UnitSold", "TenantMovedOut", "AftercareDue", "ProceedsAllocated", "MatchRun",
    ]  # fmt: skip
    assert out[3] == c.AftercareDue(household="H1", unit="U1", due_on=D(2021, 8, 1))
    h = o.svc.portfolio.households["H1"]
    assert h.withdrawn and h.aftercare is not None
    assert (h.aftercare.unit, h.aftercare.due_on, h.aftercare.recorded) == ("U1", D(2021, 8, 1), None)
    assert o.svc.portfolio.bought["H1"].completed_on == SOLD_ON
    lines = [event_record(pos, e) for pos, e in o.svc.stored_events() if isinstance(e.payload, c.AftercareDue)]
    assert [(x["stream"], x["type"], x["due_on"]) for x in lines] == [("household/H1", "AftercareDue", "2021-08-01")]


@pytest.mark.parametrize(
    ("months", "on", "due"),
    [
        (12, D(2020, 2, 29), D(2021, 2, 28)),  # a leap day: the month's end a year on
        (6, D(2020, 8, 31), D(2021, 2, 28)),
        (1, D(2021, 1, 31), D(2021, 2, 28)),
        (18, D(2020, 5, 15), D(2021, 11, 15)),
        (1200, D(2020, 5, 15), D(2120, 5, 15)),  # the most a policy takes
    ],
)
def test_the_due_date_is_the_sale_date_plus_the_policy_months(months: int, on: dt.date, due: dt.date) -> None:
    o = Office(policy=msgspec.structs.replace(V1, version=2, aftercare_months=months))
    o.do(unit("U1"))
    housed(o, "H1", "U1")
    out = sell(o, "H1", "U1", on)
    (raised,) = [p for p in out if isinstance(p, c.AftercareDue)]
    assert raised.due_on == due == add_months(on, months)


def test_no_aftercare_when_the_policy_months_are_zero() -> None:
    o = sold(policy=NO_AFTERCARE)
    assert not [p for p in o.stored() if isinstance(p, c.AftercareDue)]
    assert o.svc.portfolio.households["H1"].aftercare is None
    refused(o, recorded(), "household", "no after-care follow-up is due for 'H1'")
    assert o.worklist(D(2022, 1, 1))["aftercare_due"] == []
    # the sale is still known: a new application may name it
    o.do(app("H1b", former_household="H1"))


# --- AftercareRecorded ----------------------------------------------------------------------------
def test_recorded_once_with_its_code_and_note() -> None:
    o = sold()
    out = o.do(recorded(on=D(2020, 9, 1)))  # before the due date: the office may follow up early
    assert [type(p).__name__ for p in out] == ["AftercareRecorded", "MatchRun"]
    assert out[0] == c.AftercareRecorded(household="H1", on=D(2020, 9, 1), note=NOTE, code="doing_well")
    assert o.stored()[-2] == out[0]  # read back from the store as written
    care = o.svc.portfolio.households["H1"].aftercare
    assert care is not None and care.recorded == out[0]
    refused(o, recorded(on=D(2020, 9, 2), code="needs_support"), "household", "was recorded on 2020-09-01")


def test_refused_without_a_follow_up_due() -> None:
    o = sold()
    refused(o, recorded(household="H2"), "household", "no after-care follow-up is due for 'H2'")  # an applicant
    refused(o, recorded(household="nobody"), "household", "unknown household 'nobody'")
    o.do(unit("U3"))
    housed(o, "H3", "U3")
    o.do(c.PurchaseInterestRegistered(household="H3", unit="U3", on=D(2020, 9, 1)))
    o.do(c.SaleCaseClosed(unit="U3", on=D(2020, 9, 2), reason="tenant_withdrew"))
    refused(o, recorded(household="H3"), "household", "no after-care follow-up is due")  # a case closed unsold


def test_refused_for_a_bad_code_or_note() -> None:
    o = sold()
    allowed = ", ".join(V1.aftercare_outcomes)
    refused(o, recorded(code="too_noisy"), "code", f"'too_noisy' is not one of {allowed} (policy v1's "
            "aftercare_outcomes)")  # fmt: skip
    refused(o, recorded(code=msgspec.UNSET), "code", "required for AftercareRecorded", "`note` takes a note")
    refused(o, recorded(note="x" * 2001), "note")
    o.do(recorded(note="x" * 2000))


def test_refused_before_the_engines_date_or_the_sale() -> None:
    o = sold()  # the engine's date: 2020-09-01
    refused(o, recorded(on=D(2020, 8, 31)), "on", "2020-08-31 is before the engine's date 2020-09-01")
    early = Office()
    sale_ready(early)
    full_sale(early)  # recorded ahead: the engine's date is still 2020-01-01
    refused(early, recorded(on=D(2020, 7, 31)), "on", "2020-07-31 is before the sale on 2020-08-01")
    early.do(recorded(on=SOLD_ON))


def test_a_policy_without_outcomes_takes_the_note_alone() -> None:
    free = msgspec.structs.replace(V1, version=2, aftercare_outcomes=[])
    o = sold(policy=free)
    refused(o, recorded(), "code", "lists no codes for AftercareRecorded", "give the note as text")
    out = o.do(recorded(code=msgspec.UNSET))
    assert out[0].code is msgspec.UNSET and b'"code"' not in msgspec.json.encode(out[0])


def test_submit_takes_aftercare_recorded_and_refuses_aftercare_due(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    sold(url).svc.close()

    def submit(*cmds: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "cmds.jsonl"
        path.write_text("".join(json.dumps(x) + "\n" for x in cmds))
        return subprocess.run(
            [sys.executable, "-m", "pyengine.cli", "submit", "--store", url, str(path)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    due = {"type": "AftercareDue", "household": "H1", "unit": "U1", "due_on": "2021-08-01"}
    p = submit(due)
    assert p.returncode == 2 and "type: Invalid value 'AftercareDue'" in p.stderr, p.stderr
    with pytest.raises(InputError) as e:
        c.parse_command_line(json.dumps(due).encode())
    assert e.value.field == "type"
    p = submit({"type": "AftercareRecorded", "household": "H1", "on": "2021-08-02", "code": "payment_problems",
                "note": "behind on the common costs; referred to NAV"})  # fmt: skip
    assert p.returncode == 0, p.stderr
    first = json.loads(p.stdout.splitlines()[0])
    assert (first["type"], first["stream"], first["code"]) == ("AftercareRecorded", "household/H1", "payment_problems")
    again = submit({"type": "AftercareRecorded", "household": "H1", "on": "2021-08-03", "code": "doing_well"})
    assert again.returncode == 2 and "household: the after-care follow-up of 'H1' was recorded on" in again.stderr


# --- the worklist ---------------------------------------------------------------------------------
def test_the_worklist_lists_follow_ups_due_by_due_date_until_recorded() -> None:
    o = sold()  # H1 bought U1 on 2020-08-01: due 2021-08-01
    o.do(unit("U9"))
    housed(o, "A9", "U9")  # listed before H1 by id, after it by due date
    o.do(c.DayClosed(date=D(2020, 10, 1)))
    sell(o, "A9", "U9", D(2020, 10, 1))
    assert o.worklist(D(2020, 7, 1))["aftercare_due"] == []  # before the sale (the log up to that day)
    rows = o.worklist()["aftercare_due"]  # the store's date, 2020-10-01
    assert [(r.household, r.unit, r.due, r.days, r.case) for r in rows] == [
        ("H1", "U1", D(2021, 8, 1), 304, None), ("A9", "U9", D(2021, 10, 1), 365, None),
    ]  # fmt: skip
    assert rows[0].what == "after-care: follow up the buyer"
    assert rows[0].detail == "bought U1 on 2020-08-01 (rent-to-own); record the follow-up with AftercareRecorded"
    late = o.worklist(D(2021, 9, 1))["aftercare_due"]  # after H1's due date, before A9's
    assert [(r.household, r.days, r.what) for r in late] == [
        ("H1", -31, "after-care overdue: follow up the buyer"), ("A9", 30, "after-care: follow up the buyer"),
    ]  # fmt: skip
    # every other section as before, the after-care and loan sections last
    wl = o.worklist()
    assert [k for k, _ in w.SECTIONS] == [
        "purchase_candidates", "renewals_due", "stalled_cases", "offers_past_reply_by", "valuations_expiring",
        "aftercare_due", "loan_decisions_due",
    ]  # fmt: skip
    out = json.loads(w.as_json(wl))
    assert list(out) == [k for k, _ in w.SECTIONS]
    assert out["aftercare_due"][0] == {
        "due": "2021-08-01", "days": 304, "what": "after-care: follow up the buyer", "household": "H1", "unit": "U1",
        "case": None, "detail": "bought U1 on 2020-08-01 (rent-to-own); record the follow-up with AftercareRecorded",
    }  # fmt: skip
    assert "== after-care due (follow-ups of buyers not yet recorded): 2" in w.format_tables(wl, D(2020, 10, 1))
    o.do(recorded(on=D(2020, 10, 1)))
    assert [r.household for r in o.worklist(D(2021, 9, 1))["aftercare_due"]] == ["A9"]
    assert [r.household for r in o.worklist(D(2020, 9, 15))["aftercare_due"]] == ["H1"]  # before A9's sale


# --- a former buyer applies again -----------------------------------------------------------------
def test_a_former_buyers_application_names_its_household() -> None:
    o = sold()
    out = o.do(app("H1b", former_household="H1", applied_on=D(2020, 9, 1)))
    assert out[0].former_household == "H1"
    assert o.svc.portfolio.households["H1b"].spec.former_household == "H1"
    refused(o, app("X1", former_household="nobody"), "former_household", "unknown household 'nobody'")
    refused(o, app("X2", former_household="H2"), "former_household", "household 'H2' bought no flat")
    o.do(unit("U3"))
    housed(o, "H3", "U3")
    o.do(c.PurchaseInterestRegistered(household="H3", unit="U3", on=D(2020, 9, 1)))
    o.do(c.SaleCaseClosed(unit="U3", on=D(2020, 9, 2), reason="tenant_withdrew"))
    refused(o, app("X3", former_household="H3"), "former_household", "no rent-to-own case of it ended in SaleCompleted")


def test_an_application_without_the_link_encodes_as_before() -> None:
    plain = app("H9", tags=["young"])
    data = msgspec.json.encode(plain)
    assert b"former_household" not in data
    assert data == (b'{"type":"ApplicationSubmitted","schema":1,"id":"H9","applied_on":"2019-06-01","adults":1,'
                    b'"children":0,"needs_accessible":false,"care_need":false,"monthly_income_nok":0,'
                    b'"stable_income":false,"disadvantaged":false,"refugee_settled_on":null,"skills":[],'
                    b'"preferred_districts":[],"school_district":null,"urgency":0,"current_unit":null,'
                    b'"transfer_requested":false,"tags":["young"]}')  # fmt: skip
    assert c.decode_command(data) == plain


def test_explain_shows_where_a_former_buyer_bought(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    o = sold(url)
    o.do(app("H1b", former_household="H1", applied_on=D(2020, 9, 1)))
    o.svc.close()
    pf, run = state_at(url, None, None)
    x = explain_household(pf, run, "H1b")
    assert x["former_purchase"] == {"household": "H1", "unit": "U1", "on": "2020-08-01"}
    text = household_text(x)
    assert "Bought U1 on 2020-08-01 as household H1 (rent-to-own)." in text.splitlines()
    other = explain_household(pf, run, "H2")
    assert other["former_purchase"] is None and "Bought" not in household_text(other)


# --- the log -------------------------------------------------------------------------------------
def test_replay_verifies_and_a_snapshot_keeps_the_aftercare(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    o = sold(url)
    o.do(app("H1b", former_household="H1", applied_on=D(2020, 9, 1)))
    o.do(recorded(on=D(2020, 9, 1)))
    o.svc.snapshot()
    o.do(c.DayClosed(date=D(2020, 9, 2)))
    o.svc.close()
    report = replay(url)
    assert report.divergence is None and report.snapshots_checked == 1
    whole = AllocationService(url, snapshots=False, write=False)
    fast = AllocationService(url, write=False)
    assert fast.loaded_from > 0
    for svc in (whole, fast):
        pf = svc.portfolio
        care = pf.households["H1"].aftercare
        assert care is not None and care.recorded is not None and care.recorded.code == "doing_well"
        assert pf.bought["H1"].completed_on == SOLD_ON and pf.bought["H1"].unit == "U1"
    assert whole.portfolio.households == fast.portfolio.households
    whole.close()
    fast.close()
    rep = reasons.report(url, None, None)
    # The sale moves the buyer out of the rental register without a code of its own.
    assert {(r.kind, r.code): r.count for r in rep.rows if r.period == "all" and r.count} == {
        ("AftercareRecorded", "doing_well"): 1,
        ("TenantMovedOut", "unspecified"): 1,
    }
