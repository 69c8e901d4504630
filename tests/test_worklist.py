"""`pyengine report worklist` (issue 19): each section lists exactly what is due, and nothing
that is decided, answered or closed."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pyengine import bulk_import
from pyengine import commands as c
from pyengine import worklist as w
from pyengine.errors import InputError
from pyengine.policy import Policy, load_policy
from pyengine.service import AllocationService

from .helpers import app_cmd as app
from .helpers import unit_cmd as unit

D = dt.date
START = D(2020, 1, 1)
ROOT = Path(__file__).resolve().parents[1]
R2O = ROOT / "replays" / "rent_to_own_2009_2018"


class Office:
    def __init__(self, url: str = "memory:", policy: Policy | None = None) -> None:
        self.svc = AllocationService(url, policy)
        self.do(c.DayClosed(date=START))

    def do(self, *cmds: c.Command) -> None:
        for cmd in cmds:
            self.svc.submit(cmd)

    def house(self, hid: str, uid: str, **kw: Any) -> None:
        self.do(unit(uid, **{k: v for k, v in kw.items() if k == "tenure"}))
        self.do(app(hid, **{k: v for k, v in kw.items() if k != "tenure"}))
        self.do(c.OfferMade(household=hid, unit=uid), c.OfferAccepted(household=hid, unit=uid))

    def worklist(self, as_of: dt.date | None = None) -> w.Worklist:
        pf, steps, day = w.observe(self.svc, as_of)
        return w.worklist(pf, day, steps)


def who(rows: list[w.Row]) -> list[tuple[str | None, str | None]]:
    return [(r.household, r.unit) for r in rows]


# --- leases: 2011-rule candidates and renewals --------------------------------------------------
def lease_office(url: str = "memory:") -> Office:
    """Leases to 2022-12-31 (notice from 2022-06-30) unless said otherwise; the engine's date
    ends at 2022-07-01, when the renewals are raised and some decided."""
    o = Office(url, policy=msgspec.structs.replace(load_policy(), units_needed=["N1"]))
    o.house("H1", "U1", stable_income=True, monthly_income_nok=38_000)  # the candidate
    o.house("H2", "U2")  # no stable income: a renewal, not a candidate
    o.house("H3", "W1", stable_income=True, tenure="wholly_owned")  # not sellable
    o.house("H4", "N1", stable_income=True)  # the municipality needs the unit
    o.house("H6", "U6", stable_income=True)  # purchase recommended: still a candidate
    o.house("H7", "U7", stable_income=True)  # not renewed: neither
    o.house("H8", "U8", stable_income=True)  # a case is open on the unit: a renewal only
    o.house("H9", "U9")  # renewed: neither
    o.house("H11", "C1", stable_income=True, tenure="condominium")  # a candidate
    o.do(c.DayClosed(date=D(2020, 6, 1)))
    o.house("H5", "U5", stable_income=True)  # lease to 2023-05-31: not due yet
    o.do(c.LeaseNotRenewed(household="H7", on=D(2021, 1, 1), reason="breach", code="breach_of_lease"))
    o.do(c.PurchaseInterestRegistered(household="H8", unit="U8", on=D(2022, 6, 1)))
    o.do(c.DayClosed(date=D(2022, 7, 1)))
    o.do(c.AssessLeaseRenewal(household="H6", on=D(2022, 7, 1), economic_assessment_positive=True))
    o.do(c.AssessLeaseRenewal(household="H9", on=D(2022, 7, 1), economic_assessment_positive=False))
    return o


def test_2011_candidates_and_renewals_due() -> None:
    o = lease_office()
    wl = o.worklist()
    assert who(wl["purchase_candidates"]) == [("H1", "U1"), ("H11", "C1"), ("H6", "U6")]
    assert {r.due for r in wl["purchase_candidates"]} == {D(2022, 12, 31)}
    rows = {r.household: r for r in wl["purchase_candidates"]}
    assert rows["H1"].what == "renewal: assess for rent-to-own first (2011 rule)"
    assert rows["H1"].days == 183 and "income NOK 38,000/month" in rows["H1"].detail
    assert rows["H6"].what.startswith("purchase recommended")
    assert who(wl["renewals_due"]) == [("H1", "U1"), ("H11", "C1"), ("H2", "U2"), ("H3", "W1"), ("H4", "N1"),
                                       ("H8", "U8")]  # fmt: skip
    h8 = next(r for r in wl["renewals_due"] if r.household == "H8")
    assert h8.case == "U8#1" and h8.detail.endswith("; rent-to-own case open at 'interest'")
    assert [r.case for r in wl["purchase_candidates"] + wl["renewals_due"]].count(None) == 8


def test_the_window_is_looked_ahead_and_a_lease_past_its_end_is_overdue() -> None:
    o = lease_office()
    early = o.worklist()
    ahead = o.worklist(D(2022, 12, 1))  # H5's window opens on 2022-11-30, not raised yet
    assert ("H5", "U5") not in who(early["renewals_due"])
    h5 = [r for r in ahead["renewals_due"] if r.household == "H5"]
    assert len(h5) == 1 and h5[0].due == D(2023, 5, 31) and "not raised yet" in h5[0].detail
    assert ("H5", "U5") in who(ahead["purchase_candidates"])
    late = o.worklist(D(2023, 1, 2))
    h2 = next(r for r in late["renewals_due"] if r.household == "H2")
    assert h2.days == -2 and h2.what == "decide the renewal: the lease has ended"


def test_a_past_date_shows_the_log_as_it_was() -> None:
    o = lease_office()
    then = o.worklist(D(2022, 6, 30))  # before DayClosed 2022-07-01: nobody is assessed yet
    assert who(then["renewals_due"]) == [("H1", "U1"), ("H11", "C1"), ("H2", "U2"), ("H3", "W1"), ("H4", "N1"),
                                         ("H6", "U6"), ("H8", "U8"), ("H9", "U9")]  # fmt: skip
    assert who(then["purchase_candidates"]) == [("H1", "U1"), ("H11", "C1"), ("H6", "U6")]
    assert [r.what for r in then["purchase_candidates"]] == ["renewal: assess for rent-to-own first (2011 rule)"] * 3
    before = o.worklist(D(2022, 5, 31))  # the window opens on 2022-06-30
    assert before == {key: [] for key, _ in w.SECTIONS}
    with pytest.raises(InputError, match="before the log's first date"):
        o.worklist(D(2019, 12, 31))


# --- offers past their reply date ---------------------------------------------------------------
def test_flat_offers_past_reply_by_that_are_still_open() -> None:
    o = Office()
    for i in range(1, 7):
        o.do(unit(f"U{i}"), app(f"H{i}"))
    by = D(2020, 1, 10)
    o.do(c.OfferMade(household="H1", unit="U1", reply_by=by))  # open, past: listed
    o.do(
        c.OfferMade(household="H2", unit="U2", reply_by=by),
        c.OfferDeclined(household="H2", unit="U2", code="too_small"),
    )
    o.do(c.OfferMade(household="H3", unit="U3", reply_by=D(2020, 1, 20)))  # not past yet
    o.do(c.OfferMade(household="H4", unit="U4"))  # no reply date
    o.do(c.OfferMade(household="H5", unit="U5", reply_by=by), c.OfferAccepted(household="H5", unit="U5"))
    o.do(c.OfferMade(household="H6", unit="U6", reply_by=by), c.OfferExpired(household="H6", unit="U6"))
    rows = o.worklist(D(2020, 1, 15))["offers_past_reply_by"]  # looking ahead from the store's date
    assert who(rows) == [("H1", "U1")] and rows[0].due == by and rows[0].days == -5
    assert o.worklist(D(2020, 1, 10))["offers_past_reply_by"] == []  # the reply date itself is still in time
    assert who(o.worklist(D(2020, 1, 21))["offers_past_reply_by"]) == [("H1", "U1"), ("H3", "U3")]
    o.do(c.DayClosed(date=D(2020, 1, 15)))  # a new date lapses H1's offer
    assert o.worklist()["offers_past_reply_by"] == []


# --- rent-to-own cases --------------------------------------------------------------------------
def interest(u: str, on: dt.date) -> list[tuple[dt.date, c.Command]]:
    return [
        (on, c.PurchaseInterestRegistered(household="T" + u[1:], unit=u, on=on)),
        (on + dt.timedelta(days=5),
         c.EconomicAssessmentRecorded(unit=u, on=on + dt.timedelta(days=5), approved=True, max_price_nok=3_000_000)),
    ]  # fmt: skip


def valued(u: str, on: dt.date) -> list[tuple[dt.date, c.Command]]:
    """Interest 30 days before `on`, released, valued on `on`, loan applied the day after."""
    start = on - dt.timedelta(days=30)
    release, applied = start + dt.timedelta(days=6), on + dt.timedelta(days=1)
    return [
        *interest(u, start),
        (release, c.UnitReleasedForSale(unit=u, on=release)),
        (on, c.ValuationRecorded(unit=u, value_nok=2_000_000, valued_on=on)),
        (applied, c.StartLoanApplied(unit=u, on=applied, amount_nok=1_900_000)),
    ]


def offered(u: str, on: dt.date, valued_on: dt.date) -> list[tuple[dt.date, c.Command]]:
    decided = on - dt.timedelta(days=1)
    return [
        *valued(u, valued_on),
        (decided, c.StartLoanDecided(unit=u, on=decided, granted=True, amount_nok=1_900_000)),
        (on, c.PurchaseOffered(unit=u, on=on)),
    ]


def sale_office(url: str = "memory:") -> Office:
    """Seven cases, their steps submitted in date order with a DayClosed on each 1st; the
    engine's date ends at 2020-08-15."""
    o = Office(url)
    for i in range(1, 8):
        o.house(f"T{i}", f"S{i}", stable_income=True)
    steps: list[tuple[dt.date, c.Command]] = [
        *interest("S1", D(2020, 2, 5)),  # at 'assessed' since 2020-02-10: stalled
        *offered("S2", D(2020, 6, 16), valued_on=D(2020, 3, 1)),  # offered; valuation valid until 09-01
        *valued("S3", D(2020, 2, 10)),  # loan applied 02-11, valuation lapsed on 08-10: stalled and lapsed
        *valued("S4", D(2020, 2, 10)),  # the same, but closed
        (D(2020, 4, 1), c.SaleCaseClosed(unit="S4", on=D(2020, 4, 1), reason="tenant_withdrew")),
        *offered("S5", D(2020, 7, 20), valued_on=D(2020, 3, 1)),
        (D(2020, 8, 1), c.PurchaseAccepted(unit="S5", on=D(2020, 8, 1))),  # accepted: the valuation has done its work
        *interest("S6", D(2020, 8, 1)),  # recent
        *offered("S7", D(2020, 5, 1), valued_on=D(2020, 3, 1)),
        (D(2020, 5, 5), c.PurchaseAccepted(unit="S7", on=D(2020, 5, 5))),
        (D(2020, 6, 1), c.SaleCompleted(unit="S7", on=D(2020, 6, 1))),  # sold
    ]
    steps.sort(key=lambda s: s[0])
    for month in range(1, 9):
        if month > 1:
            o.do(c.DayClosed(date=D(2020, month, 1)))
        o.do(*[cmd for day, cmd in steps if day.month == month])
    o.do(c.DayClosed(date=D(2020, 8, 15)))
    return o


def test_stalled_cases_expiring_valuations_and_purchase_offers() -> None:
    o = sale_office()
    assert set(o.svc.portfolio.open_case) == {"S1", "S2", "S3", "S5", "S6"}
    wl = o.worklist()
    assert wl["purchase_candidates"] == [] and wl["renewals_due"] == []  # leases to 2022-12-31
    stalled = wl["stalled_cases"]
    assert [(r.unit, r.case, r.due) for r in stalled] == [
        ("S1", "S1#1", D(2020, 2, 10) + dt.timedelta(days=90)), ("S3", "S3#1", D(2020, 2, 11) + dt.timedelta(days=90)),
    ]  # fmt: skip
    assert stalled[0].what == "release the unit for sale or keep it for rent"
    assert stalled[1].what == "chase the start-loan decision" and "(186 days)" in stalled[1].detail
    assert stalled[0].household == "T1"
    vals = wl["valuations_expiring"]
    assert [(r.unit, r.due, r.days) for r in vals] == [("S3", D(2020, 8, 10), -5), ("S2", D(2020, 9, 1), 17)]
    assert vals[0].what.startswith("valuation lapsed: record a new valuation")
    assert vals[1].what == "the tenant must accept before the valuation lapses"
    assert wl["offers_past_reply_by"] == []  # S2's offer holds until 2020-09-01
    ahead = o.worklist(D(2020, 9, 5))
    late = ahead["offers_past_reply_by"]
    assert [(r.unit, r.case, r.due, r.days) for r in late] == [("S2", "S2#1", D(2020, 9, 1), -4)]
    assert [r.unit for r in ahead["stalled_cases"]] == ["S1", "S3"]  # S2's last step was 06-16: 81 days
    assert [r.unit for r in o.worklist(D(2020, 9, 15))["stalled_cases"]] == ["S1", "S3", "S2"]  # by due date
    # DayClosed lapses S2's offer, and a new valuation moves S3 on
    o.do(c.DayClosed(date=D(2020, 9, 2)), c.ValuationRecorded(unit="S3", value_nok=2_100_000, valued_on=D(2020, 9, 2)))
    after = o.worklist()
    assert "S2" not in o.svc.portfolio.open_case
    assert after["offers_past_reply_by"] == [] and after["valuations_expiring"] == []
    assert [r.unit for r in after["stalled_cases"]] == ["S1"]


def test_cases_at_a_past_date() -> None:
    o = sale_office()
    wl = o.worklist(D(2020, 5, 11))  # S1 assessed 02-10: 91 days; S3's loan applied 02-11: 90, not yet
    assert [r.unit for r in wl["stalled_cases"]] == ["S1"]
    assert wl["valuations_expiring"] == []
    wl = o.worklist(D(2020, 7, 15))  # S3's valuation (to 08-10) is within 30 days; S4's case was closed
    assert [(r.unit, r.days) for r in wl["valuations_expiring"]] == [("S3", 26)]


def test_case_steps_fold_the_latest_case_of_each_unit() -> None:
    steps = w.CaseSteps.of([
        c.PurchaseInterestRegistered(household="H", unit="U", on=D(2020, 1, 1)),
        c.ValuationRecorded(unit="U", value_nok=1, valued_on=D(2020, 3, 1)),
        c.PurchaseDeclined(unit="U", on=D(2020, 4, 1), code="changed_plans"),
        c.PurchaseInterestRegistered(household="H", unit="U", on=D(2020, 2, 1)),  # a new case, dated back
        c.DayClosed(date=D(2021, 1, 1)),
    ])  # fmt: skip
    assert steps.last == {"U": D(2020, 2, 1)}


# --- the command line -------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "report", "worklist", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_json_csv_and_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    sale_office(url).svc.close()
    p = cli("--store", url, "--json", "--csv", str(tmp_path / "w.csv"))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert list(out) == [key for key, _ in w.SECTIONS]
    assert [r["unit"] for r in out["stalled_cases"]] == ["S1", "S3"]
    assert out["valuations_expiring"][1] == {
        "due": "2020-09-01", "days": 17, "what": "the tenant must accept before the valuation lapses",
        "household": "T2", "unit": "S2", "case": "S2#1", "detail": "valued 2020-03-01 at NOK 2,000,000; at 'offered'",
    }  # fmt: skip
    with open(tmp_path / "w.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["section"], r["unit"]) for r in rows] == [
        ("stalled_cases", "S1"), ("stalled_cases", "S3"), ("valuations_expiring", "S3"), ("valuations_expiring", "S2"),
        ("aftercare_due", "S7"),  # sold 2020-06-01: policy v1's follow-up (tests/test_aftercare.py)
        ("loan_decisions_due", "S3"),  # applied 2020-02-11: due 180 days on, 2020-08-09
    ]  # fmt: skip
    assert rows[0]["case"] == "S1#1" and rows[0]["due"] == "2020-05-10"

    p = cli("--store", url, "--as-of", "2020-09-05")
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert text.startswith("worklist as of 2020-09-05")
    assert "== offers past their reply date, still open: 1\n" in text and "== lease renewals due: 0\n" in text
    row = [line for line in text.splitlines() if line.startswith("2020-09-01") and "purchase offer: the" in line]
    assert len(row) == 1 and row[0].split()[1:5] == ["-4", "T2", "S2", "S2#1"]

    bad = cli("--store", url, "--as-of", "5 May")
    assert bad.returncode == 2 and "--as-of: '5 May' is not a date" in bad.stderr
    early = cli("--store", url, "--as-of", "2019-01-01")
    assert early.returncode == 2 and "before the log's first date" in early.stderr
    missing = cli("--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 2 and not (tmp_path / "none.db").exists()


# --- the recorded scenario 2009-2018 ------------------------------------------------------------
@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> str:
    from pyengine.commands import decode_command

    url = f"sqlite:///{tmp_path_factory.mktemp('r2o') / 's.db'}"
    svc = AllocationService(url, load_policy(R2O / "policy.toml"))
    bulk_import.import_portfolio(svc, bulk_import.decode(gzip.decompress((R2O / "portfolio.json.gz").read_bytes())))
    lines = gzip.decompress((R2O / "commands.jsonl.gz").read_bytes()).splitlines()
    cmds = [decode_command(line) for line in lines]
    svc.submit_batch([msgspec.structs.replace(x, run=None) if isinstance(x, c.OfferMade) else x for x in cmds], "s")
    svc.close()
    return url


def test_the_scenario_gives_plausible_worklists(scenario: str) -> None:
    svc = AllocationService(scenario, write=False)
    try:
        counts: dict[str, int] = dict.fromkeys((key for key, _ in w.SECTIONS), 0)
        for year in range(2010, 2019):
            pf, steps, as_of = w.observe(svc, D(year, 6, 20))
            wl = w.worklist(pf, as_of, steps)
            open_now = len(pf.open_case)
            assert len(wl["stalled_cases"]) <= open_now and len(wl["valuations_expiring"]) <= open_now
            for key, rows in wl.items():
                counts[key] += len(rows)
                assert [r.due for r in rows] == sorted(r.due for r in rows)
                for r in rows:
                    assert r.household in pf.households and r.unit in pf.units
                    assert r.case is None or r.unit in pf.open_case
            # the 2011 rule points at tenants with stable income in cooperative or condominium flats
            for r in wl["purchase_candidates"]:
                assert pf.households[r.household or ""].spec.stable_income
                assert pf.units[r.unit or ""].spec.tenure in ("cooperative", "condominium")
        # mid-year, nine years: some of every kind the simulated office leaves (it answers flat
        # offers within their 14 days, so none of those is late)
        assert 5 <= counts["purchase_candidates"] <= 100, counts
        assert 20 <= counts["renewals_due"] <= 500, counts
        assert 5 <= counts["stalled_cases"] <= 100, counts
        assert 1 <= counts["valuations_expiring"] <= 100, counts
        pf, steps, as_of = w.observe(svc, None)
        assert as_of == D(2018, 12, 1) and not pf.open_case  # the run ends with every case settled
    finally:
        svc.close()
    p = cli("--store", scenario, "--json", "--as-of", "2018-06-20")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert len(out["stalled_cases"]) >= 1 and all(r["case"] for r in out["stalled_cases"])


# --- start-loan decisions: a deadline, with priority or without ---------------------------------
def loan_office(policy: Policy | None = None) -> Office:
    """S1 assessed on 2020-01-30 and released for sale on 2020-02-01, the engine's date."""
    o = Office(policy=policy)
    o.house("T1", "S1", stable_income=True)
    o.do(c.DayClosed(date=D(2020, 1, 25)))
    o.do(*[cmd for _, cmd in interest("S1", D(2020, 1, 25))])
    o.do(c.DayClosed(date=D(2020, 2, 1)), c.UnitReleasedForSale(unit="S1", on=D(2020, 2, 1)))
    return o


@pytest.mark.parametrize(
    ("extra", "due"),
    [({}, D(2020, 8, 1)), ({"priority": True}, D(2020, 5, 3)), ({"decide_by": D(2020, 3, 1)}, D(2020, 3, 1))],
)
def test_a_start_loan_decision_is_due_by_the_policys_days_or_the_date_given(extra: dict[str, Any], due: D) -> None:
    o = loan_office()
    o.do(c.StartLoanApplied(unit="S1", on=D(2020, 2, 3), amount_nok=1_900_000, **extra))
    case = o.svc.portfolio.open_case["S1"]
    assert case.loan_decide_by == due  # 180 days, 90 with priority (policy v1), or as given
    stored = [e.payload for _, e in o.svc.stored_events() if isinstance(e.payload, c.StartLoanApplied)]
    assert stored[-1].decide_by == due  # recorded with the event
    rows = o.worklist()["loan_decisions_due"]
    assert [(r.unit, r.due, r.what) for r in rows] == [("S1", due, "chase the start-loan decision")]
    late = o.worklist(due + dt.timedelta(days=1))["loan_decisions_due"]
    assert [(r.days, r.what) for r in late] == [(-1, "start-loan decision overdue: chase it, or close the case")]
    o.do(c.StartLoanDecided(unit="S1", on=D(2020, 2, 20), granted=True, amount_nok=1_900_000))
    assert o.worklist()["loan_decisions_due"] == []


def test_a_deadline_before_the_application_is_refused_and_nothing_stored() -> None:
    o = loan_office()
    before = o.svc.portfolio.position
    with pytest.raises(InputError) as e:
        o.do(c.StartLoanApplied(unit="S1", on=D(2020, 2, 3), amount_nok=1, decide_by=D(2020, 2, 2)))
    assert e.value.field == "decide_by" and "before the application's day 2020-02-03" in e.value.reason
    assert o.svc.portfolio.position == before and o.svc.portfolio.open_case["S1"].stage == "released"


def test_the_policy_sets_the_days_and_when_a_case_counts_as_stalled(tmp_path: Path) -> None:
    policy = msgspec.structs.replace(
        load_policy(), version=4, start_loan_decision_days=30, start_loan_priority_days=10, stalled_case_days=20
    )
    o = Office(f"sqlite:///{tmp_path / 's.db'}", policy)
    o.house("T1", "S1", stable_income=True)
    o.do(c.DayClosed(date=D(2020, 1, 25)))
    o.do(*[cmd for _, cmd in interest("S1", D(2020, 1, 25))])
    o.do(c.DayClosed(date=D(2020, 2, 1)), c.UnitReleasedForSale(unit="S1", on=D(2020, 2, 1)))
    o.do(c.StartLoanApplied(unit="S1", on=D(2020, 2, 1), amount_nok=1, priority=True))
    assert o.svc.portfolio.open_case["S1"].loan_decide_by == D(2020, 2, 11)
    assert [r.unit for r in o.worklist(D(2020, 2, 21))["stalled_cases"]] == []  # 20 days: not yet
    assert [r.unit for r in o.worklist(D(2020, 2, 22))["stalled_cases"]] == ["S1"]
    o.svc.snapshot()
    o.svc.close()
    fast = AllocationService(f"sqlite:///{tmp_path / 's.db'}", write=False)
    assert fast.loaded_from > 0 and fast.portfolio.open_case["S1"].loan_decide_by == D(2020, 2, 11)
    fast.close()
