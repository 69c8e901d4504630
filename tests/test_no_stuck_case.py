"""No rent-to-own case can get stuck (issue 19): whatever sequence of commands an office sends,
accepted or refused, every open case can still be closed with a coded reason, or, once the
purchase is accepted, completed; and while it is open the tenant cannot be moved out under it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pyengine import commands as c
from pyengine.errors import InputError
from pyengine.service import AllocationService

from .helpers import app_cmd, unit_cmd

D = dt.date
START = D(2020, 1, 1)
GRANT = c.Grant(amount_nok=600_000, granted_on=D(2010, 1, 1))


def office() -> AllocationService:
    svc = AllocationService("memory:")
    for cmd in (
        c.DayClosed(date=START), unit_cmd("U1", grant=GRANT), unit_cmd("U2"),
        app_cmd("H1", stable_income=True), c.OfferMade(household="H1", unit="U1"),
        c.OfferAccepted(household="H1", unit="U1"), app_cmd("H2"),
    ):  # fmt: skip
        svc.submit(cmd)
    return svc


# One step: whether to take one of the case's next steps (else the command kind drawn), a
# command kind, the days since the last step (dates only move forward; long gaps lapse
# valuations), and which of the next steps.
STEP = st.tuples(
    st.sampled_from([True, True, True, True, False]),
    st.sampled_from([
        "interest", "assessed", "not_assessed", "released", "kept", "valued", "loan_applied", "loan_granted",
        "loan_refused", "offered", "accepted", "declined", "day", "moved_out", "terminated", "completed",
    ]),
    st.sampled_from([0, 1, 3, 7, 14, 30, 45, 200]),
    st.sampled_from([0, 0, 0, 1]),  # which next step: mostly the first, towards a sale
)  # fmt: skip
# The next steps of an open case at each stage (or of none): on the way to a sale, or off it.
NEXT = {
    None: ["interest"], "interest": ["assessed", "not_assessed"], "assessed": ["released", "kept"],
    "released": ["valued", "loan_applied"], "valued": ["loan_applied"],
    "loan_applied": ["loan_granted", "loan_refused"],
    "loan_granted": ["offered", "valued"], "offered": ["accepted", "declined"], "accepted": ["completed"],
}  # fmt: skip


def command(kind: str, on: dt.date) -> c.Command:
    made: dict[str, Any] = {
        "interest": lambda: c.PurchaseInterestRegistered(household="H1", unit="U1", on=on),
        "assessed": lambda: c.EconomicAssessmentRecorded(unit="U1", on=on, approved=True, max_price_nok=2_000_000),
        "not_assessed": lambda: c.EconomicAssessmentRecorded(unit="U1", on=on, approved=False),
        "released": lambda: c.UnitReleasedForSale(unit="U1", on=on),
        "kept": lambda: c.UnitKeptForRent(unit="U1", on=on, code="needed_for_rental"),
        "valued": lambda: c.ValuationRecorded(unit="U1", value_nok=1_900_000, valued_on=on),
        "loan_applied": lambda: c.StartLoanApplied(unit="U1", on=on, amount_nok=1_850_000),
        "loan_granted": lambda: c.StartLoanDecided(unit="U1", on=on, granted=True, amount_nok=1_850_000),
        "loan_refused": lambda: c.StartLoanDecided(unit="U1", on=on, granted=False),
        "offered": lambda: c.PurchaseOffered(unit="U1", on=on),
        "accepted": lambda: c.PurchaseAccepted(unit="U1", on=on),
        "declined": lambda: c.PurchaseDeclined(unit="U1", on=on, code="changed_plans"),
        "day": lambda: c.DayClosed(date=on),
        "moved_out": lambda: c.TenantMovedOut(household="H1", on=on),
        "terminated": lambda: c.LeaseTerminated(household="H1", unit="U1", on=on, code="tenant_gave_notice"),
        "completed": lambda: c.SaleCompleted(unit="U1", on=on),
    }
    cmd: c.Command = made[kind]()
    return cmd


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=40))
def test_every_open_case_can_still_be_closed_or_completed(steps: list[tuple[bool, str, int, int]]) -> None:
    svc = office()
    pf = svc.portfolio
    on = START
    for follow, drawn, days, branch in steps:
        on += dt.timedelta(days=days)
        case = pf.open_case.get("U1")
        options = NEXT.get(case.stage if case else None, [drawn])
        kind = options[branch % len(options)] if follow else drawn
        open_before = "U1" in pf.open_case
        try:
            svc.submit(command(kind, on))
        except InputError:
            continue
        event(f"accepted: {kind}")
        if open_before and kind in ("moved_out", "terminated"):
            raise AssertionError(f"{kind} went through under an open case")
    case = pf.open_case.get("U1")
    event(f"case at the end: {case.stage if case else 'none'}")
    if case is None:
        return
    assert pf.units["U1"].active and pf.households["H1"].spec.current_unit == "U1"  # the tenant is still there
    on += dt.timedelta(days=1)
    if case.stage == "accepted":
        done = svc.submit(c.SaleCompleted(unit="U1", on=on))
        assert type(done[0][1].payload) is c.SaleCompleted
    else:
        closed = svc.submit(c.SaleCaseClosed(unit="U1", on=on, reason="tenant_withdrew"))
        assert type(closed[0][1].payload) is c.SaleCaseClosed
    assert "U1" not in pf.open_case
    svc.close()
