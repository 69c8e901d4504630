"""Issue 4: time, leases and rent-to-own as event-sourced processes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from pyengine import commands as c
from pyengine.calendar import grant_repayment, whole_months_between
from pyengine.errors import InputError
from pyengine.policy import Policy, load_policy
from pyengine.service import AllocationService

from .helpers import app_cmd as app
from .helpers import unit_cmd as unit

D = dt.date
POLICY = load_policy()
START = D(2020, 1, 1)


class Office:
    def __init__(self, start: dt.date = START, policy: Policy | None = None) -> None:
        self.svc = AllocationService("memory:", policy)
        self.do(c.DayClosed(date=start))

    def do(self, cmd: c.Command) -> list[Any]:
        return [e.payload for _, e in self.svc.submit(cmd)]

    def types(self, cmd: c.Command) -> list[str]:
        return [type(p).__name__ for p in self.do(cmd)]

    def refused(self, cmd: c.Command, *words: str) -> None:
        n = self.svc.portfolio.position
        with pytest.raises(InputError) as e:
            self.svc.submit(cmd)
        for w in words:
            assert w in str(e.value), str(e.value)
        assert self.svc.portfolio.position == n

    def last_run(self) -> c.MatchRun:
        """The latest decision, whole (a stored run may hold only what changed)."""
        return self.svc.portfolio.decision()


def housed(o: Office, hid: str, uid: str, **kw: Any) -> None:
    o.do(app(hid, **kw))
    o.do(c.OfferMade(household=hid, unit=uid))
    o.do(c.OfferAccepted(household=hid, unit=uid))


# --- leases -------------------------------------------------------------------------------
def test_offer_accepted_signs_a_three_year_lease() -> None:
    o = Office()
    o.do(unit("U1"))
    o.do(app("H1"))
    o.do(c.OfferMade(household="H1", unit="U1"))
    out = o.do(c.OfferAccepted(household="H1", unit="U1"))
    assert [type(p).__name__ for p in out] == ["OfferAccepted", "LeaseSigned", "MatchRun"]
    lease = out[1]
    assert (lease.start, lease.end, lease.rent_nok_month) == (D(2020, 1, 1), D(2022, 12, 31), 8000)
    assert [(a.household, a.unit) for a in o.last_run().assignments] == [("H1", "U1")]


@pytest.mark.parametrize(
    ("settled", "end"),
    [(D(2015, 1, 1), D(2024, 12, 31)), (D(2014, 12, 31), D(2022, 12, 31)), (None, D(2022, 12, 31))],
)
def test_refugees_settled_within_five_years_get_five(settled: dt.date | None, end: dt.date) -> None:
    o = Office()
    o.do(unit("U1"))
    housed(o, "H1", "U1", refugee_settled_on=settled)
    h = o.svc.portfolio.households["H1"]
    assert h.lease is not None and h.lease.end == end


def test_renewal_due_six_months_before_the_end_once() -> None:
    o = Office()
    o.do(unit("U1"))
    housed(o, "H1", "U1")  # lease to 2022-12-31
    assert "LeaseRenewalDue" not in o.types(c.DayClosed(date=D(2022, 6, 29)))
    assert o.types(c.DayClosed(date=D(2022, 6, 30)))[:3] == ["DayClosed", "LeaseRenewalDue", "MatchRun"]
    assert "LeaseRenewalDue" not in o.types(c.DayClosed(date=D(2022, 7, 1)))


def test_2011_rule_recommends_purchase_to_stable_income_with_positive_assessment() -> None:
    o = Office()
    o.do(unit("U1"))
    housed(o, "H1", "U1", stable_income=True)
    o.refused(c.AssessLeaseRenewal(household="H1", on=D(2020, 2, 1), economic_assessment_positive=True), "not due")
    o.do(c.DayClosed(date=D(2022, 7, 1)))
    out = o.types(c.AssessLeaseRenewal(household="H1", on=D(2022, 7, 1), economic_assessment_positive=True))
    assert out == ["PurchaseRecommended", "MatchRun"]
    o.refused(c.AssessLeaseRenewal(household="H1", on=D(2022, 7, 2), economic_assessment_positive=False), "decided")
    # without renewal the lease ends: an applicant again, with the original application date
    out = o.types(c.DayClosed(date=D(2023, 1, 1)))
    assert out == ["DayClosed", "LeaseTerminated", "MatchRun"]
    h = o.svc.portfolio.households["H1"]
    assert h.spec.current_unit is None and h.spec.applied_on == D(2019, 6, 1) and not h.withdrawn
    assert "U1" not in o.svc.portfolio.occupant


@pytest.mark.parametrize(("stable", "positive"), [(False, True), (True, False), (False, False)])
def test_renewal_otherwise_renews_for_a_new_term(stable: bool, positive: bool) -> None:
    o = Office()
    o.do(unit("U1"))
    housed(o, "H1", "U1", stable_income=stable)
    o.do(c.DayClosed(date=D(2022, 7, 1)))
    out = o.do(c.AssessLeaseRenewal(household="H1", on=D(2022, 7, 1), economic_assessment_positive=positive))
    assert isinstance(out[0], c.LeaseRenewed) and out[0].end == D(2025, 12, 31)
    assert "LeaseTerminated" not in o.types(c.DayClosed(date=D(2023, 1, 1)))


def test_not_renewed_with_reason_then_terminated_at_the_end() -> None:
    o = Office()
    o.do(unit("U1"))
    housed(o, "H1", "U1")
    o.do(c.LeaseNotRenewed(household="H1", on=D(2021, 1, 1), reason="breach of contract", code="breach_of_lease"))
    out = o.do(c.DayClosed(date=D(2023, 1, 1)))
    assert isinstance(out[1], c.LeaseTerminated) and out[1].reason == "lease ended: not renewed"


def test_commands_dated_before_the_engine_date_are_refused() -> None:
    o = Office(D(2021, 1, 1))
    o.do(unit("U1"))
    housed(o, "H1", "U1")
    o.refused(c.DayClosed(date=D(2020, 12, 31)), "date", "before the engine's date")
    o.refused(c.LeaseNotRenewed(household="H1", on=D(2020, 12, 31), reason="x"), "on:", "before")
    o.refused(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 1, 1)), "before")


def test_tenant_moved_out_vacates_the_unit() -> None:
    o = Office()
    o.do(unit("U1"))
    housed(o, "H1", "U1")
    o.do(app("H2"))
    assert o.types(c.TenantMovedOut(household="H1", on=D(2020, 3, 1))) == ["TenantMovedOut", "MatchRun"]
    assert [(a.household, a.unit) for a in o.last_run().assignments] == [("H2", "U1")]


# --- rent-to-own ---------------------------------------------------------------------------
GRANT = c.Grant(amount_nok=600_000, granted_on=D(2010, 1, 1))  # 20 years: 240 months


def sale_ready(o: Office) -> None:
    o.do(unit("U1", grant=GRANT))
    o.do(unit("U2"))
    housed(o, "H1", "U1", stable_income=True)
    o.do(app("H2"))


def full_sale(o: Office) -> list[Any]:
    o.do(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 2, 1)))
    o.do(c.EconomicAssessmentRecorded(unit="U1", on=D(2020, 2, 10), approved=True, max_price_nok=2_000_000))
    o.do(c.UnitReleasedForSale(unit="U1", on=D(2020, 2, 20)))
    v = o.do(c.ValuationRecorded(unit="U1", value_nok=1_900_000, valued_on=D(2020, 3, 1)))[0]
    assert v.valid_until == D(2020, 9, 1)
    o.do(c.StartLoanApplied(unit="U1", on=D(2020, 3, 2), amount_nok=1_850_000))
    o.do(c.StartLoanDecided(unit="U1", on=D(2020, 6, 15), granted=True, amount_nok=1_850_000))
    offer = o.do(c.PurchaseOffered(unit="U1", on=D(2020, 6, 16)))[0]
    assert offer.price_nok == 1_850_000  # valuation minus NOK 50,000
    o.do(c.PurchaseAccepted(unit="U1", on=D(2020, 6, 20)))
    return o.do(c.SaleCompleted(unit="U1", on=D(2020, 8, 1)))


def test_a_sale_from_interest_to_completion() -> None:
    o = Office()
    sale_ready(o)
    assert ("H1", "U1") in [(a.household, a.unit) for a in o.last_run().assignments]
    out = full_sale(o)
    assert [type(p).__name__ for p in out] == [
        "SaleCompleted", "UnitSold", "TenantMovedOut", "AftercareDue", "ProceedsAllocated", "MatchRun",
    ]  # fmt: skip
    done = out[0]
    # 2010-01-01 .. 2020-08-01: 127 whole months of 240 gone, 113 remain
    assert (done.household, done.price_nok, done.grant_repayment_nok) == ("H1", 1_850_000, 600_000 * 113 // 240)
    assert out[4].amount_nok == 1_850_000 - 282_500 and o.svc.portfolio.pot_nok == 1_567_500
    assert isinstance(out[-1], c.MatchRun)
    run = o.last_run()
    assert "U1" not in [a.unit for a in run.assignments] and "H1" not in run.unmatched
    assert "H1" not in [a.household for a in run.assignments]
    assert [(a.household, a.unit) for a in run.assignments] == [("H2", "U2")]


def test_every_step_out_of_order_is_refused() -> None:
    o = Office()
    sale_ready(o)
    o.refused(c.PurchaseInterestRegistered(household="H2", unit="U1", on=D(2020, 2, 1)), "only the sitting tenant")
    o.refused(c.EconomicAssessmentRecorded(unit="U1", on=D(2020, 2, 1), approved=True), "no open rent-to-own case")
    o.do(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 2, 1)))
    o.refused(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 2, 1)), "already open")
    o.refused(c.UnitReleasedForSale(unit="U1", on=D(2020, 2, 1)), "out of order", "'interest'")
    o.refused(c.ValuationRecorded(unit="U1", value_nok=1, valued_on=D(2020, 2, 1)), "out of order")
    o.do(c.EconomicAssessmentRecorded(unit="U1", on=D(2020, 2, 10), approved=True, max_price_nok=1_000_000))
    o.refused(c.StartLoanApplied(unit="U1", on=D(2020, 2, 11), amount_nok=1), "out of order")
    o.do(c.UnitReleasedForSale(unit="U1", on=D(2020, 2, 20)))
    o.refused(c.PurchaseOffered(unit="U1", on=D(2020, 2, 21)), "out of order")
    o.do(c.ValuationRecorded(unit="U1", value_nok=1_900_000, valued_on=D(2020, 3, 1)))
    o.refused(c.SaleCompleted(unit="U1", on=D(2020, 3, 2)), "out of order", "'valued'")
    o.do(c.StartLoanApplied(unit="U1", on=D(2020, 3, 2), amount_nok=1_850_000))
    o.do(c.StartLoanDecided(unit="U1", on=D(2020, 6, 15), granted=True, amount_nok=1_850_000))
    o.refused(c.PurchaseOffered(unit="U1", on=D(2020, 6, 16)), "above the assessed maximum NOK 1000000")


def test_only_cooperative_or_condominium_units_and_not_needed_ones_are_released() -> None:
    o = Office()
    o.do(unit("W1", tenure="wholly_owned"))
    housed(o, "H1", "W1")
    o.do(c.PurchaseInterestRegistered(household="H1", unit="W1", on=D(2020, 2, 1)))
    o.do(c.EconomicAssessmentRecorded(unit="W1", on=D(2020, 2, 2), approved=True, max_price_nok=10**7))
    o.refused(c.UnitReleasedForSale(unit="W1", on=D(2020, 2, 3)), "wholly_owned", "cooperative, condominium")
    assert o.types(c.UnitKeptForRent(unit="W1", on=D(2020, 2, 3), code="wholly_owned_building")) == [
        "UnitKeptForRent", "MatchRun",
    ]  # fmt: skip
    assert "W1" not in o.svc.portfolio.open_case  # closed: a new case may start later

    o2 = Office(policy=msgspec.structs.replace(POLICY, units_needed=["N1"]))
    o2.do(unit("N1"))
    housed(o2, "H1", "N1")
    o2.do(c.PurchaseInterestRegistered(household="H1", unit="N1", on=D(2020, 2, 1)))
    o2.do(c.EconomicAssessmentRecorded(unit="N1", on=D(2020, 2, 2), approved=True, max_price_nok=10**7))
    o2.refused(c.UnitReleasedForSale(unit="N1", on=D(2020, 2, 3)), "needs 'N1'")


def test_not_approved_closes_the_case() -> None:
    o = Office()
    sale_ready(o)
    o.do(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 2, 1)))
    o.do(c.EconomicAssessmentRecorded(unit="U1", on=D(2020, 2, 10), approved=False))
    o.refused(c.UnitReleasedForSale(unit="U1", on=D(2020, 2, 20)), "no open rent-to-own case")


def valued(o: Office) -> None:
    """A case for U1 up to the start-loan application (valuation valid until 2020-09-01)."""
    o.do(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 2, 1)))
    o.do(c.EconomicAssessmentRecorded(unit="U1", on=D(2020, 2, 2), approved=True, max_price_nok=2_000_000))
    o.do(c.UnitReleasedForSale(unit="U1", on=D(2020, 2, 3)))
    o.do(c.ValuationRecorded(unit="U1", value_nok=1_900_000, valued_on=D(2020, 3, 1)))
    o.do(c.StartLoanApplied(unit="U1", on=D(2020, 3, 2), amount_nok=1_850_000))


def test_offer_only_while_the_valuation_is_valid_and_expiry_by_day_closed() -> None:
    o = Office()
    sale_ready(o)
    valued(o)
    o.do(c.StartLoanDecided(unit="U1", on=D(2020, 9, 2), granted=True, amount_nok=1_850_000))
    o.refused(c.PurchaseOffered(unit="U1", on=D(2020, 9, 2)), "lapsed on 2020-09-01")

    o = Office()
    sale_ready(o)
    valued(o)
    o.do(c.StartLoanDecided(unit="U1", on=D(2020, 6, 2), granted=True, amount_nok=1_850_000))
    o.do(c.PurchaseOffered(unit="U1", on=D(2020, 6, 3)))
    assert "PurchaseOfferExpired" not in o.types(c.DayClosed(date=D(2020, 9, 1)))
    out = o.types(c.DayClosed(date=D(2020, 9, 2)))
    assert out == ["DayClosed", "PurchaseOfferExpired", "MatchRun"]
    o.refused(c.PurchaseAccepted(unit="U1", on=D(2020, 9, 2)), "no open rent-to-own case")


def test_declined_offer_closes_the_case_and_the_tenant_stays() -> None:
    o = Office()
    sale_ready(o)
    valued(o)
    o.do(c.StartLoanDecided(unit="U1", on=D(2020, 6, 2), granted=True, amount_nok=1_850_000))
    o.do(c.PurchaseOffered(unit="U1", on=D(2020, 6, 3)))
    out = o.do(c.PurchaseDeclined(unit="U1", on=D(2020, 6, 4), reason="too expensive", code="price_too_high"))
    assert isinstance(out[-1], c.MatchRun)
    assert ("H1", "U1") in [(a.household, a.unit) for a in o.last_run().assignments]
    # a new case may be opened for the same unit
    assert o.types(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 7, 1)))[0] == (
        "PurchaseInterestRegistered"
    )


# --- repayment, pot, stairwell limit ---------------------------------------------------------
@pytest.mark.parametrize(
    ("granted", "sold", "years", "expected"),
    [
        (D(2018, 12, 31), D(2019, 12, 31), 20, 1_200_000 * (240 - 12) // 240),  # before 2019: 20 years
        (D(2019, 1, 1), D(2020, 1, 1), 30, 1_200_000 * (360 - 12) // 360),  # from 2019: 30 years
        (D(2019, 1, 1), D(2019, 1, 31), 30, 1_200_000),  # not a whole month yet
        (D(2000, 1, 1), D(2019, 12, 31), 20, 1_200_000 * 1 // 240),  # last month of the period
        (D(2000, 1, 1), D(2020, 1, 1), 20, 0),  # period over
        (D(2000, 1, 1), D(2030, 1, 1), 20, 0),
    ],
)
def test_grant_repayment(granted: dt.date, sold: dt.date, years: int, expected: int) -> None:
    g = c.Grant(amount_nok=1_200_000, granted_on=granted)
    assert grant_repayment(g, sold, POLICY) == expected


def test_grant_repayment_uses_the_units_own_period_and_rounds_down() -> None:
    g = c.Grant(amount_nok=1_000_001, granted_on=D(2019, 5, 1), depreciation_years=25)
    months = whole_months_between(D(2019, 5, 1), D(2021, 5, 15))
    assert months == 24
    assert grant_repayment(g, D(2021, 5, 15), POLICY) == 1_000_001 * 276 // 300


def test_pot_pays_for_acquisitions_and_refuses_when_short() -> None:
    o = Office()
    sale_ready(o)
    full_sale(o)
    pot = o.svc.portfolio.pot_nok
    o.refused(c.UnitAcquired(unit=unit("A1", stairwell="X-1"), price_nok=pot + 1, on=D(2020, 9, 1)), "short")
    out = o.do(c.UnitAcquired(unit=unit("A1", stairwell="X-1"), price_nok=pot - 1, on=D(2020, 9, 1)))
    assert o.svc.portfolio.pot_nok == 1
    assert isinstance(out[-1], c.MatchRun)
    assert "A1" in [a.unit for a in o.last_run().assignments]  # the new unit is allocated at once


def test_at_most_two_units_in_a_cooperative_stairwell() -> None:
    o = Office()
    sale_ready(o)
    full_sale(o)
    o.do(c.UnitAcquired(unit=unit("A1", stairwell="X-1"), price_nok=1, on=D(2020, 9, 1)))
    o.do(c.UnitAcquired(unit=unit("A2", stairwell="X-1"), price_nok=1, on=D(2020, 9, 1)))
    o.refused(c.UnitAcquired(unit=unit("A3", stairwell="X-1"), price_nok=1, on=D(2020, 9, 1)), "at most 2")
    # not a cooperative: no limit
    o.do(c.UnitAcquired(unit=unit("A3", stairwell="X-1", tenure="condominium"), price_nok=1, on=D(2020, 9, 1)))


def test_the_log_reopens_to_the_same_cases_and_pot(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = AllocationService(url)
    o = Office.__new__(Office)
    o.svc = svc
    o.do(c.DayClosed(date=D(2020, 1, 1)))
    sale_ready(o)
    full_sale(o)
    pot, last = svc.portfolio.pot_nok, o.last_run()
    svc.close()
    again = AllocationService(url)
    assert again.portfolio.pot_nok == pot
    assert again.portfolio.decision() == last
    assert not again.portfolio.units["U1"].active and again.portfolio.households["H1"].withdrawn
    again.close()


def test_report_sales_per_year(tmp_path: Any) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = AllocationService(url)
    o = Office.__new__(Office)
    o.svc = svc
    o.do(c.DayClosed(date=START))
    sale_ready(o)
    full_sale(o)
    o.do(c.UnitAcquired(unit=unit("A1", stairwell="X-1"), price_nok=1_000_000, on=D(2021, 2, 1)))
    svc.close()
    p = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "report", "sales", "--store", url, "--png", str(tmp_path / "s.png")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    rows = {line.split()[0]: line.split() for line in p.stdout.splitlines() if line[:4].isdigit()}
    assert rows["2020"][1:6] == ["1", "1", "1", "0", "0"]  # valuations, offers, sales, declines, expiries
    assert rows["2020"][6:10] == ["1,850,000", "50,000", "282,500", "1,567,500"]
    assert rows["2021"][10] == "1"
    assert (tmp_path / "s.png").stat().st_size > 1000


# --- no case without a way forward (issue 19) ------------------------------------------------
def test_a_valuation_that_lapsed_during_the_loan_is_renewed_and_the_sale_goes_on() -> None:
    o = Office()
    sale_ready(o)
    valued(o)  # valid until 2020-09-01; the loan takes longer
    o.do(c.StartLoanDecided(unit="U1", on=D(2020, 9, 20), granted=True, amount_nok=1_850_000))
    o.refused(c.PurchaseOffered(unit="U1", on=D(2020, 9, 21)), "lapsed on 2020-09-01")
    again = o.do(c.ValuationRecorded(unit="U1", value_nok=1_950_000, valued_on=D(2020, 9, 25)))[0]
    assert again.valid_until == D(2021, 3, 25)
    assert o.svc.portfolio.open_case["U1"].stage == "loan_granted"  # the loan is not lost
    offer = o.do(c.PurchaseOffered(unit="U1", on=D(2020, 9, 26)))[0]
    assert offer.price_nok == 1_900_000
    o.do(c.PurchaseAccepted(unit="U1", on=D(2020, 9, 27)))
    o.refused(c.ValuationRecorded(unit="U1", value_nok=1, valued_on=D(2020, 9, 28)), "out of order", "'accepted'")
    assert o.types(c.SaleCompleted(unit="U1", on=D(2020, 10, 1)))[0] == "SaleCompleted"


def test_the_start_loan_may_be_applied_for_before_the_valuation() -> None:
    o = Office()
    sale_ready(o)
    o.do(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 2, 1)))
    o.do(c.EconomicAssessmentRecorded(unit="U1", on=D(2020, 2, 2), approved=True, max_price_nok=2_000_000))
    o.refused(c.StartLoanApplied(unit="U1", on=D(2020, 2, 3), amount_nok=1), "out of order", "'assessed'")
    o.do(c.UnitReleasedForSale(unit="U1", on=D(2020, 2, 3)))
    o.do(c.StartLoanApplied(unit="U1", on=D(2020, 2, 4), amount_nok=1_850_000))
    o.do(c.StartLoanDecided(unit="U1", on=D(2020, 5, 1), granted=True, amount_nok=1_850_000))
    o.refused(c.PurchaseOffered(unit="U1", on=D(2020, 5, 2)), "no valuation")
    o.do(c.ValuationRecorded(unit="U1", value_nok=1_900_000, valued_on=D(2020, 5, 3)))
    assert o.svc.portfolio.open_case["U1"].stage == "loan_granted"
    assert o.do(c.PurchaseOffered(unit="U1", on=D(2020, 5, 4)))[0].price_nok == 1_850_000


@pytest.mark.parametrize(
    "stage", ["interest", "assessed", "released", "valued", "loan_applied", "loan_granted", "offered"]
)
def test_an_open_case_closes_with_a_coded_reason_at_any_step_before_acceptance(stage: str) -> None:
    o = Office()
    sale_ready(o)
    steps: list[c.Command] = [
        c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 2, 1)),
        c.EconomicAssessmentRecorded(unit="U1", on=D(2020, 2, 2), approved=True, max_price_nok=2_000_000),
        c.UnitReleasedForSale(unit="U1", on=D(2020, 2, 3)),
        c.ValuationRecorded(unit="U1", value_nok=1_900_000, valued_on=D(2020, 3, 1)),
        c.StartLoanApplied(unit="U1", on=D(2020, 3, 2), amount_nok=1_850_000),
        c.StartLoanDecided(unit="U1", on=D(2020, 6, 15), granted=True, amount_nok=1_850_000),
        c.PurchaseOffered(unit="U1", on=D(2020, 6, 16)),
    ]
    for cmd in steps:
        o.do(cmd)
        if o.svc.portfolio.open_case["U1"].stage == stage:
            break
    o.refused(c.SaleCaseClosed(unit="U1", on=D(2020, 7, 1), reason="changed_mind"), "reason", "tenant_withdrew")
    out = o.do(c.SaleCaseClosed(unit="U1", on=D(2020, 7, 1), reason="tenant_withdrew", note="moving abroad"))
    assert [type(p).__name__ for p in out] == ["SaleCaseClosed", "MatchRun"]
    assert "U1" not in o.svc.portfolio.open_case
    assert ("H1", "U1") in [(a.household, a.unit) for a in o.last_run().assignments]  # the tenant stays
    o.refused(c.SaleCaseClosed(unit="U1", on=D(2020, 7, 2), reason="other"), "no open rent-to-own case")
    assert o.types(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 8, 1)))[0] == (
        "PurchaseInterestRegistered"
    )


def test_an_accepted_purchase_is_completed_not_closed() -> None:
    o = Office()
    sale_ready(o)
    valued(o)
    o.do(c.StartLoanDecided(unit="U1", on=D(2020, 6, 2), granted=True, amount_nok=1_850_000))
    o.do(c.PurchaseOffered(unit="U1", on=D(2020, 6, 3)))
    o.do(c.PurchaseAccepted(unit="U1", on=D(2020, 6, 4)))
    o.refused(c.SaleCaseClosed(unit="U1", on=D(2020, 6, 5), reason="other"), "accepted", "complete the sale")


def test_a_withdrawn_application_takes_its_open_offers_with_it() -> None:
    o = Office()
    o.do(unit("U1"))
    o.do(unit("U2"))
    o.do(app("H1"))
    o.do(c.OfferMade(household="H1", unit="U2"))
    o.do(c.OfferMade(household="H1", unit="U1"))
    out = o.types(c.ApplicationWithdrawn(id="H1", code="found_elsewhere"))
    assert out == ["OfferExpired", "OfferExpired", "ApplicationWithdrawn", "MatchRun"]
    assert o.do(c.UnitWithdrawn(id="U2", code="renovation"))  # no offer holds it any more


def test_day_closed_lapses_flat_offers_past_their_reply_date() -> None:
    o = Office()
    o.do(unit("U1"))
    o.do(unit("U2"))
    o.do(app("H1"))
    o.do(c.OfferMade(household="H1", unit="U1", reply_by=D(2020, 1, 10)))
    o.do(c.OfferMade(household="H1", unit="U2"))  # no reply date: it stays open
    assert o.types(c.DayClosed(date=D(2020, 1, 10))) == ["DayClosed", "MatchRun"]  # the last day to reply
    out = o.do(c.DayClosed(date=D(2020, 1, 11)))
    assert [type(p).__name__ for p in out] == ["DayClosed", "OfferExpired", "MatchRun"]
    assert (out[1].household, out[1].unit) == ("H1", "U1")
    assert set(o.svc.portfolio.households["H1"].offers) == {"U2"}
    o.refused(c.OfferAccepted(household="H1", unit="U1"), "no open offer")


def test_a_lease_runs_on_while_a_purchase_case_is_open() -> None:
    o = Office()
    sale_ready(o)
    o.do(c.LeaseNotRenewed(household="H1", on=D(2020, 1, 2), reason="purchase under way", code="bought_unit"))
    o.do(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2022, 12, 1)))
    lease_end = o.svc.portfolio.households["H1"].lease.end  # type: ignore[union-attr]
    after = lease_end + dt.timedelta(days=1)
    assert "LeaseTerminated" not in o.types(c.DayClosed(date=after))
    o.refused(c.LeaseTerminated(household="H1", unit="U1", on=after, code="tenant_gave_notice"), "rent-to-own case")
    o.do(c.SaleCaseClosed(unit="U1", on=after, reason="tenant_withdrew"))
    assert "LeaseTerminated" in o.types(c.DayClosed(date=after + dt.timedelta(days=1)))
