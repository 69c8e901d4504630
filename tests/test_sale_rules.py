"""Rules of the office's rent-to-own work from the source reports (issue 19): the share of a
housing co-operative the municipality may own, and a flat that may not suit its buyer."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from pyengine import commands as c

from .test_leases_and_sales import POLICY, D, Office, full_sale, housed, sale_ready, unit


def test_the_share_of_a_cooperative_the_municipality_may_own() -> None:
    """10 % of a co-operative's units by right, 20 % where its statutes allow (DESIGN §2)."""
    o = Office()
    sale_ready(o)
    full_sale(o)
    o.do(unit("R1", stairwell="L-1", cooperative="Lade"))  # one unit of the co-operative already owned

    def buy(uid: str, stairwell: str, **kw: Any) -> c.UnitAcquired:
        return c.UnitAcquired(unit=unit(uid, stairwell=stairwell, cooperative="Lade"), price_nok=1,
                              on=D(2020, 9, 1), **kw)  # fmt: skip

    o.refused(buy("A1", "L-2"), "cooperative_units", "required")
    o.do(buy("A1", "L-2", cooperative_units=20))  # 10 % of 20: two units, R1 and A1
    o.refused(buy("A2", "L-3", cooperative_units=20), "already owns 2 of the 20", "10% allows 2")
    o.do(buy("A2", "L-3", cooperative_units=20, statutes_allow_higher_share=True))  # 20 %: four
    o.do(buy("A3", "L-4", cooperative_units=20, statutes_allow_higher_share=True))
    o.refused(buy("A4", "L-5", cooperative_units=20, statutes_allow_higher_share=True), "owns 4", "20% allows 4")
    o.refused(
        c.UnitAcquired(unit=unit("A5", stairwell="L-6", cooperative="Lade", tenure="condominium"), price_nok=1,
                       on=D(2020, 9, 1), cooperative_units=20),
        "unit.cooperative", "cooperative tenure",
    )  # fmt: skip
    # another co-operative, or none named: only the stairwell rule applies
    o.do(c.UnitAcquired(unit=unit("B1", stairwell="M-1", cooperative="Moholt"), price_nok=1, on=D(2020, 9, 1),
                        cooperative_units=10))  # fmt: skip
    o.do(c.UnitAcquired(unit=unit("B2", stairwell="M-2"), price_nok=1, on=D(2020, 9, 1)))


def test_a_flat_that_may_not_suit_the_buyer_needs_the_offices_acknowledgement() -> None:
    """Report 003 (pp. 41, 49): a buyer bought a flat that was too small for the family."""
    assert POLICY.suitability_check  # on in the packaged policy
    o = Office()
    o.do(unit("U1", rooms=2))
    housed(o, "H1", "U1", adults=2)  # a couple in a two-room flat...
    o.do(c.ApplicationUpdated(id="H1", children=2))  # ...that had two children: it needs 3 rooms
    interest = c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 2, 1))
    o.refused(interest, "acknowledged", "needs 3 rooms and the flat has 2")
    o.do(c.ApplicationUpdated(id="H1", transfer_requested=True))
    o.refused(interest, "needs 3 rooms", "asked to transfer")
    opened = o.do(msgspec.structs.replace(interest, acknowledged=True))[0]
    assert opened.suitability == ["too_small", "transfer_requested"]
    assert o.svc.portfolio.open_case["U1"].stage == "interest"
    # a flat that suits: nothing to acknowledge, nothing recorded
    o.do(unit("U2", rooms=1))
    housed(o, "H2", "U2")
    assert o.do(c.PurchaseInterestRegistered(household="H2", unit="U2", on=D(2020, 2, 2)))[0].suitability is (
        msgspec.UNSET
    )
    # without the check (as in every policy recorded before it), the case opens as before
    plain = Office(policy=msgspec.structs.replace(POLICY, version=2, suitability_check=False))
    plain.do(unit("U1", rooms=2))
    housed(plain, "H1", "U1", adults=2)
    plain.do(c.ApplicationUpdated(id="H1", children=2))
    assert plain.types(interest)[0] == "PurchaseInterestRegistered"


@pytest.mark.parametrize("check", [True, False])
def test_suitability_is_the_engines_never_a_commands(check: bool) -> None:
    """What the suitability check found is recorded by the engine alone: a command naming
    `suitability` is refused, whether the check finds something, nothing, or is off, and
    nothing is stored (an auditor would take a command's findings for the engine's)."""
    o = Office(policy=msgspec.structs.replace(POLICY, version=2, suitability_check=check))
    o.do(unit("U1", rooms=2))
    housed(o, "H1", "U1", adults=2)  # the flat suits: the check finds nothing
    o.do(unit("U2", rooms=2))
    housed(o, "H2", "U2", adults=2)
    o.do(c.ApplicationUpdated(id="H2", children=2))  # too small now: the check finds "too_small"
    for hid, uid in (("H1", "U1"), ("H2", "U2")):
        for claimed in (["too_small"], ["transfer_requested"], []):
            interest = c.PurchaseInterestRegistered(
                household=hid, unit=uid, on=D(2020, 2, 1), acknowledged=True, suitability=claimed
            )
            o.refused(interest, "suitability", "set by the engine", "never by a command")
        assert uid not in o.svc.portfolio.open_case
    # left out, the case opens, with the engine's findings (if any) recorded
    opened = o.do(c.PurchaseInterestRegistered(household="H1", unit="U1", on=D(2020, 2, 1), acknowledged=True))[0]
    assert opened.suitability is msgspec.UNSET
    opened = o.do(c.PurchaseInterestRegistered(household="H2", unit="U2", on=D(2020, 2, 1), acknowledged=True))[0]
    assert opened.suitability == (["too_small"] if check else msgspec.UNSET)
