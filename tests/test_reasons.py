"""Reason codes (issue 19): each kind of event that records a reason takes a code from a list of
the policy beside its free-text note; required where the policy lists codes for the kind, and
refused (naming `code` and the codes allowed, nothing stored) when unknown. A policy without a
list (every policy recorded before the lists) takes free text only, as before, so old stores
go on and replay. `pyengine report reasons` counts the codes per kind and year: a small
history counted by hand, the command line, its files and the HTTP route."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from adapters.records import import_records
from pyengine import commands as c
from pyengine import reasons as r
from pyengine.errors import InputError
from pyengine.http import create_app, hash_token
from pyengine.policy import REASON_LISTS, Policy, load_policy, parse_policy
from pyengine.replay import replay
from pyengine.service import AllocationService

from .helpers import app_cmd as app
from .helpers import unit_cmd as unit
from .helpers import writer_adopting_unchecked

D = dt.date
V1 = load_policy()
# policy v1 as stores recorded it before the reason lists: none of them (SaleCaseClosed's aside)
BEFORE = msgspec.structs.replace(V1, **{n: [] for k, n in REASON_LISTS.items() if k != "SaleCaseClosed"})
# v1 takes move-outs as free text; an office that wants them coded lists its own codes
LISTED = msgspec.structs.replace(V1, move_out_reasons=["moved_away", "moved_to_care", "deceased", "other"])
FIXTURE = Path(__file__).resolve().parents[1] / "replays" / "fixtures" / "schema-v1-offers.jsonl"


# --- the codes: required, checked, or free text only ---------------------------------------------
def office(
    policy: Policy | None = None, url: str = "memory:", writer: Callable[..., AllocationService] = AllocationService
) -> AllocationService:
    """A store where each coded command below is valid but for its code: an open flat offer, a
    leased tenant, a rent-to-own case assessed (C1) and one offered (C2), a vacant unit.
    `writer`: how the store is opened (`writer_adopting_unchecked`: as before a policy check)."""
    svc = writer(url, policy or LISTED)
    for cmd in (
        c.DayClosed(date=D(2020, 1, 1)),
        unit("U1"), unit("U2"), unit("C1"), unit("C2"), unit("T1"),
        app("A"), app("K1", applied_on=None, current_unit="C1"), app("K2", applied_on=None, current_unit="C2"),
        app("T", applied_on=None, current_unit="T1"),
        c.LeaseSigned(household="T", unit="T1", start=D(2019, 1, 1), end=D(2021, 12, 31), rent_nok_month=8000),
        c.OfferMade(household="A", unit="U1"),
        c.PurchaseInterestRegistered(household="K1", unit="C1", on=D(2020, 1, 1)),
        c.EconomicAssessmentRecorded(unit="C1", on=D(2020, 1, 1), approved=True, max_price_nok=2_000_000),
        *sale_offered("K2", "C2", D(2020, 1, 1)),
    ):  # fmt: skip
        svc.submit(cmd)
    return svc


def sale_offered(
    household: str, uid: str, on: dt.date, *, max_price_nok: int = 2_000_000, loan_nok: int = 1_850_000
) -> list[c.Command]:
    """A rent-to-own case for `uid` up to the offer (price 1,850,000)."""
    return [
        c.PurchaseInterestRegistered(household=household, unit=uid, on=on),
        c.EconomicAssessmentRecorded(unit=uid, on=on, approved=True, max_price_nok=max_price_nok),
        c.UnitReleasedForSale(unit=uid, on=on),
        c.ValuationRecorded(unit=uid, value_nok=1_900_000, valued_on=on),
        c.StartLoanApplied(unit=uid, on=on, amount_nok=loan_nok),
        c.StartLoanDecided(unit=uid, on=on, granted=True, amount_nok=loan_nok),
        c.PurchaseOffered(unit=uid, on=on),
    ]


ON = D(2020, 1, 1)
# each coded kind: how to make the command with a given code (None: free text only)
COMMANDS: dict[str, tuple[Callable[..., c.Command], str]] = {
    "OfferDeclined": (lambda **k: c.OfferDeclined(household="A", unit="U1", **k), "too_expensive"),
    "ApplicationWithdrawn": (lambda **k: c.ApplicationWithdrawn(id="A", **k), "found_elsewhere"),
    "LeaseNotRenewed": (lambda **k: c.LeaseNotRenewed(household="T", on=ON, **k), "rent_arrears"),
    "LeaseTerminated": (lambda **k: c.LeaseTerminated(household="T", unit="T1", on=ON, **k), "tenant_gave_notice"),
    "UnitKeptForRent": (lambda **k: c.UnitKeptForRent(unit="C1", on=ON, **k), "grant_period"),
    "UnitWithdrawn": (lambda **k: c.UnitWithdrawn(id="U2", **k), "damage"),
    "PurchaseDeclined": (lambda **k: c.PurchaseDeclined(unit="C2", on=ON, **k), "price_too_high"),
    "TenantMovedOut": (lambda **k: c.TenantMovedOut(household="T", on=ON, **k), "moved_to_care"),
}
assert set(COMMANDS) | {"SaleCaseClosed", "AftercareRecorded"} == set(REASON_LISTS)  # those two: their own tests


def stored(svc: AllocationService) -> int:
    return len(list(svc.stored_events()))


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_listed_code_is_stored_beside_the_note(kind: str) -> None:
    make, code = COMMANDS[kind]
    svc = office()
    out = [e.payload for _, e in svc.submit(make(code=code, reason="as told on the phone"))]
    (p,) = [p for p in out if type(p).__name__ == kind]
    assert (p.code, p.reason) == (code, "as told on the phone")
    again = [e.payload for _, e in svc.stored_events() if type(e.payload).__name__ == kind]
    assert again == [p]  # read back from the store as written
    svc.close()


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_an_unknown_or_missing_code_is_refused_naming_the_codes_and_nothing_is_stored(kind: str) -> None:
    make, _ = COMMANDS[kind]
    svc = office()
    n = stored(svc)
    allowed = ", ".join(LISTED.reason_codes(kind))
    with pytest.raises(InputError) as e:
        svc.submit(make(code="too_noisy", reason="neighbours"))
    assert e.value.field == "code"
    assert e.value.reason == f"'too_noisy' is not one of {allowed} (policy v1's {REASON_LISTS[kind]})"
    with pytest.raises(InputError) as e:
        svc.submit(make(reason="free text only"))
    assert e.value.field == "code"
    assert e.value.reason.startswith(f"required for {kind}: one of {allowed} (")
    assert stored(svc) == n
    svc.close()


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_policy_without_lists_takes_free_text_only(kind: str) -> None:
    make, code = COMMANDS[kind]
    svc = office(BEFORE)
    n = stored(svc)
    with pytest.raises(InputError) as e:
        svc.submit(make(code=code))
    assert e.value.field == "code" and "the policy in force (v1) lists no codes for" in e.value.reason
    assert stored(svc) == n
    (p,) = [e.payload for _, e in svc.submit(make(reason="free text")) if type(e.payload).__name__ == kind]
    assert (p.reason, p.code) == ("free text", msgspec.UNSET)
    svc.close()


def test_the_command_line_names_the_field() -> None:
    line = b'{"type": "UnitWithdrawn", "id": "U2", "code": ""}'
    with pytest.raises(InputError) as e:
        c.decode_command(line)
    assert (e.value.field, e.value.reason) == ("code", "Expected `str` of length >= 1")


def test_an_event_without_a_code_is_written_as_before() -> None:
    """Left out, `code` is not written at all: a free-text event is stored, hashed (MatchRun's
    events_hash) and fingerprinted (idempotency keys) exactly as before the codes."""
    assert msgspec.json.encode(c.OfferDeclined(household="H", unit="U", reason="far")) == (
        b'{"type":"OfferDeclined","schema":1,"household":"H","unit":"U","reason":"far"}'
    )
    assert msgspec.json.encode(c.LeaseTerminated(household="H", unit="U", on=ON, reason="x", code="deceased")) == (
        b'{"type":"LeaseTerminated","schema":1,"household":"H","unit":"U","on":"2020-01-01","reason":"x",'
        b'"code":"deceased"}'
    )


def test_a_policy_recorded_before_the_lists_decodes_without_them() -> None:
    recorded = {k: v for k, v in msgspec.to_builtins(V1).items() if not k.endswith("_reasons")}
    old = msgspec.convert(recorded, Policy)
    assert all(old.reason_codes(k) == [] for k in COMMANDS)
    assert old.sale_close_reasons == V1.sale_close_reasons  # its default, as ever


@pytest.mark.parametrize(
    ("codes", "field", "reason"),
    [
        (["too_small", "too_small"], "p.toml.offer_decline_reasons[1]", "'too_small' is listed twice"),
        (["unspecified"], "p.toml.offer_decline_reasons[0]", "'unspecified' is what reports call an uncoded event"),
        (["Too small"], "p.toml.offer_decline_reasons[0]", "Expected `str` matching regex '^[a-z][a-z0-9_]*$'"),
    ],
)
def test_a_policy_file_lists_plain_codes_once(codes: list[str], field: str, reason: str) -> None:
    with pytest.raises(InputError) as e:
        parse_policy({"version": 3, "offer_decline_reasons": codes}, "p.toml")
    assert (e.value.field, e.value.reason) == (field, reason)


SNAKE_CASE = "Expected `str` matching regex '^[a-z][a-z0-9_]*$'"


@pytest.mark.parametrize("name", sorted(REASON_LISTS.values()))
def test_every_list_of_a_policy_file_takes_snake_case_codes_only(name: str, tmp_path: Path) -> None:
    """`sale_close_reasons` as every other list, though its type is looser (so that a policy
    recorded with another code still decodes): the entry is refused at load, named alike."""
    codes = ["other", "Tenant Withdrew"]
    with pytest.raises(InputError) as e:
        parse_policy({"version": 3, name: codes}, "p.toml")
    assert (e.value.field, e.value.reason) == (f"p.toml.{name}[1]", SNAKE_CASE)
    file = tmp_path / "office.toml"
    file.write_text(f"version = 3\n{name} = {json.dumps(codes)}\n")
    with pytest.raises(InputError) as e:
        load_policy(file)
    assert (e.value.field, e.value.reason) == (f"office.toml.{name}[1]", SNAKE_CASE)


def test_a_store_whose_recorded_policy_lists_a_sale_close_reason_not_in_snake_case_still_opens(
    tmp_path: Path,
) -> None:
    """A policy recorded before sale_close_reasons had to be snake_case (PolicyAdopted and
    snapshots are read as recorded, without the checks of a policy adopted now): the store
    opens, from its records or a snapshot, reads, goes on and replays; the recorded policy given
    again from code is the one in force, not a new one to check."""
    old = msgspec.structs.replace(LISTED, sale_close_reasons=[*LISTED.sale_close_reasons, "Tenant Withdrew"])
    url = f"sqlite:///{tmp_path / 'old.db'}"
    svc = office(old, url, writer_adopting_unchecked)
    svc.submit(c.SaleCaseClosed(unit="C1", on=ON, reason="Tenant Withdrew"))  # as the office could then
    assert svc.snapshot() is not None
    svc.close()
    for kw in ({}, {"snapshots": False}, {"write": False}):
        again = AllocationService(url, **kw)  # type: ignore[arg-type]
        assert again.portfolio.policy == old
        again.close()
    again = AllocationService(url, old)  # the recorded policy: nothing to adopt
    n = stored(again)
    again.submit(c.SaleCaseClosed(unit="C2", on=ON, reason="loan_refused"))
    adopted = [e.payload.policy for _, e in again.stored_events() if isinstance(e.payload, c.PolicyAdopted)]
    assert adopted == [old] and stored(again) == n + 2  # the case closed and its MatchRun
    again.close()
    assert replay(url).divergence is None
    with pytest.raises(InputError) as e:  # a policy adopted now is checked
        AllocationService(url, msgspec.structs.replace(old, version=old.version + 1))
    assert (e.value.field, e.value.reason) == ("policy.sale_close_reasons[7]", SNAKE_CASE)


RESERVED = (
    "'lease_expired' is reserved: the engine's code: DayClosed raises LeaseTerminated with it for a lease past its end"
)


@pytest.mark.parametrize(
    "data",
    [
        {"lease_termination_reasons": ["tenant_gave_notice", "rent_arrears", "lease_expired"]},
        {"move_out_reasons": ["moved_away"], "non_renewal_reasons": ["other", "other_reason", "lease_expired"]},
    ],
)
def test_a_policy_file_cannot_list_the_engines_own_code(data: dict[str, list[str]], tmp_path: Path) -> None:
    """`lease_expired` is the code of DayClosed's LeaseTerminated: no list of a policy file takes
    it, so that nothing the office records carries it."""
    (name,) = [n for n, codes in data.items() if "lease_expired" in codes]
    reason = RESERVED
    with pytest.raises(InputError) as e:
        parse_policy({"version": 3, **data}, "p.toml")
    assert (e.value.field, e.value.reason) == (f"p.toml.{name}[2]", reason)
    file = tmp_path / "office.toml"
    file.write_text("version = 3\n" + "".join(f"{n} = {json.dumps(codes)}\n" for n, codes in data.items()))
    with pytest.raises(InputError) as e:
        load_policy(file)
    assert (e.value.field, e.value.reason) == (f"office.toml.{name}[2]", reason)
    for packaged in ("default-v1", "default-v2"):
        assert "lease_expired" not in str(msgspec.to_builtins(load_policy(packaged)))


def test_the_engines_code_is_refused_in_a_command_even_where_a_recorded_policy_lists_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A policy recorded before the code was reserved (PolicyAdopted is read without the file's
    checks) may list it: the log reads and replays, the office's LeaseTerminated cannot take it
    any more, and one that took it then counts as unspecified, not as the engine's."""
    from pyengine.handlers import checks

    listing = msgspec.structs.replace(V1, lease_termination_reasons=[*V1.lease_termination_reasons, "lease_expired"])
    url = f"sqlite:///{tmp_path / 'listed.db'}"
    svc = writer_adopting_unchecked(url, listing)
    for cmd in (
        c.DayClosed(date=D(2020, 1, 1)), unit("T1u"), unit("T2u"), unit("T3u"),
        *(app(h, applied_on=None, current_unit=f"{h}u") for h in ("T1", "T2", "T3")),
        *(c.LeaseSigned(household=h, unit=f"{h}u", start=D(2019, 1, 1), end=end, rent_nok_month=8000)
          for h, end in (("T1", D(2020, 3, 31)), ("T2", D(2023, 12, 31)), ("T3", D(2023, 12, 31)))),
    ):  # fmt: skip
        svc.submit(cmd)
    n = stored(svc)
    with pytest.raises(InputError) as e:
        svc.submit(c.LeaseTerminated(household="T2", unit="T2u", on=D(2020, 2, 1), code="lease_expired"))
    assert (e.value.field, e.value.reason) == ("code", RESERVED)
    assert stored(svc) == n
    with monkeypatch.context() as m:  # as the engine took it before the code was reserved
        m.setattr(checks, "ENGINE_CODES", {})
        svc.submit(c.LeaseTerminated(household="T2", unit="T2u", on=D(2020, 2, 1), code="lease_expired"))
    svc.submit(c.LeaseTerminated(household="T3", unit="T3u", on=D(2020, 2, 1), code="deceased"))
    svc.submit(c.DayClosed(date=D(2020, 4, 1)))  # T1's lease ends: the engine's lease_expired
    svc.close()
    assert replay(url).divergence is None
    svc = AllocationService(url)  # the log's own policy, read back as recorded
    assert "lease_expired" in svc.portfolio.policy.lease_termination_reasons
    svc.close()
    svc = AllocationService(url, listing)  # given again: the one in force, not checked as a new one
    assert svc.portfolio.to_adopt() is None
    svc.close()
    rep = r.report(url, None, None)
    assert {k: n for k, n in counts(rep, "all").items() if k[0] == "LeaseTerminated"} == {
        ("LeaseTerminated", "lease_expired"): 1, ("LeaseTerminated", "unspecified"): 1,
        ("LeaseTerminated", "deceased"): 1,
    }  # fmt: skip


def test_a_case_cannot_close_with_the_engines_code_even_where_a_recorded_policy_lists_it() -> None:
    listing = msgspec.structs.replace(LISTED, sale_close_reasons=[*LISTED.sale_close_reasons, "lease_expired"])
    svc = office(listing, writer=writer_adopting_unchecked)
    n = stored(svc)
    with pytest.raises(InputError) as e:
        svc.submit(c.SaleCaseClosed(unit="C1", on=ON, reason="lease_expired"))
    assert (e.value.field, e.value.reason) == ("reason", RESERVED)
    assert stored(svc) == n
    svc.close()


def test_an_old_store_goes_on_with_free_text_then_codes_once_a_policy_lists_them(tmp_path: Path) -> None:
    """The committed pilot-2 log (policy v1 recorded without lists): free text is taken and a
    code refused; the packaged v1, adopted with the next command, makes it required. The log
    replays and verifies throughout."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    import_records(FIXTURE, url)
    svc = AllocationService(url)  # the log's own policy
    offers = [e.payload for _, e in svc.stored_events() if isinstance(e.payload, c.OfferMade)]
    first, second = offers[:2]
    with pytest.raises(InputError, match="code: 'too_small': the policy in force"):
        svc.submit(c.OfferDeclined(household=first.household, unit=first.unit, code="too_small"))
    svc.submit(c.OfferDeclined(household=first.household, unit=first.unit, reason="too far from school"))
    svc.close()
    assert replay(url).divergence is None
    svc = AllocationService(url, V1)  # the packaged v1: adopted with the next command, which it decides
    with pytest.raises(InputError, match="code: required for OfferDeclined"):
        svc.submit(c.OfferDeclined(household=second.household, unit=second.unit, reason="no code"))
    out = svc.submit(c.OfferDeclined(household=second.household, unit=second.unit, code="too_small"))
    assert [type(e.payload).__name__ for _, e in out] == ["PolicyAdopted", "OfferDeclined", "MatchRun"]
    svc.close()
    report = replay(url)
    assert report.divergence is None and report.runs_verified > 70


# --- the report ----------------------------------------------------------------------------------
def before() -> list[c.Command]:
    """2020, under v1 as recorded before the lists: a decline and a withdrawn unit, free text only."""
    return [
        c.DayClosed(date=D(2020, 1, 1)),
        unit("U1", rooms=1), unit("U2"), unit("U3"), unit("U4", rooms=3), unit("U5"), unit("U6"),
        unit("C1"), unit("C2"), unit("T1u"), unit("T2u"),
        app("A"), app("B", adults=2), app("D"),
        app("T1", applied_on=None, current_unit="T1u"), app("T2", applied_on=None, current_unit="T2u"),
        app("K1", applied_on=None, current_unit="C1"), app("K2", applied_on=None, current_unit="C2"),
        c.LeaseSigned(household="T1", unit="T1u", start=D(2018, 4, 1), end=D(2021, 3, 31), rent_nok_month=8000),
        c.LeaseSigned(household="T2", unit="T2u", start=D(2019, 1, 1), end=D(2023, 12, 31), rent_nok_month=8000),
        c.OfferMade(household="A", unit="U1"),
        c.OfferDeclined(household="A", unit="U1", reason="far from work"),
        c.UnitWithdrawn(id="U5", reason="water damage"),
        c.DayClosed(date=D(2020, 6, 1)),  # so the next policy is adopted on this day
    ]  # fmt: skip


def after() -> list[c.Command]:
    """Under the packaged v1 (codes required). 2020: two declines, a lease not renewed, a unit
    kept for rent, a purchase declined; 2021: a decline, a withdrawal, a termination, a unit
    withdrawn, a case closed, and T1's lease ended by DayClosed (lease_expired)."""
    return [
        c.OfferMade(household="B", unit="U2"),
        c.OfferDeclined(household="B", unit="U2", code="wrong_district"),
        c.OfferMade(household="A", unit="U3"),
        c.OfferDeclined(household="A", unit="U3", code="too_small", reason="wants a bigger kitchen"),
        c.LeaseNotRenewed(household="T1", on=D(2020, 6, 1), code="rent_arrears"),
        c.PurchaseInterestRegistered(household="K1", unit="C1", on=D(2020, 6, 1)),
        c.EconomicAssessmentRecorded(unit="C1", on=D(2020, 6, 1), approved=True, max_price_nok=2_000_000),
        c.UnitKeptForRent(unit="C1", on=D(2020, 6, 2), code="grant_period"),
        *sale_offered("K2", "C2", D(2020, 6, 1)),
        c.PurchaseDeclined(unit="C2", on=D(2020, 12, 31), code="price_too_high"),
        c.DayClosed(date=D(2021, 1, 15)),
        c.OfferMade(household="A", unit="U4"),
        c.OfferDeclined(household="A", unit="U4", code="too_small"),
        c.ApplicationWithdrawn(id="D", code="found_elsewhere"),
        c.LeaseTerminated(household="T2", unit="T2u", on=D(2021, 1, 15), code="rent_arrears"),
        c.UnitWithdrawn(id="U6", code="renovation"),
        c.PurchaseInterestRegistered(household="K2", unit="C2", on=D(2021, 1, 15)),
        c.SaleCaseClosed(unit="C2", on=D(2021, 2, 1), reason="tenant_withdrew"),
        c.DayClosed(date=D(2021, 4, 1)),  # T1's lease ended 2021-03-31, not renewed
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('reasons') / 's.db'}"
    for policy, cmds in ((BEFORE, before()), (V1, after())):
        svc = AllocationService(url, policy)
        for cmd in cmds:
            svc.submit(cmd)
        svc.close()
    return url


def counts(rep: r.ReasonsReport, period: str) -> dict[tuple[str, str], int]:
    """The counts of a period that are not zero: (kind, code) -> count."""
    return {(x.kind, x.code): x.count for x in rep.rows if x.period == period and x.count}


EXPECTED_2020 = {
    ("OfferDeclined", "unspecified"): 1, ("OfferDeclined", "wrong_district"): 1, ("OfferDeclined", "too_small"): 1,
    ("UnitWithdrawn", "unspecified"): 1, ("LeaseNotRenewed", "rent_arrears"): 1,
    ("UnitKeptForRent", "grant_period"): 1, ("PurchaseDeclined", "price_too_high"): 1,
}  # fmt: skip
EXPECTED_2021 = {
    ("OfferDeclined", "too_small"): 1, ("ApplicationWithdrawn", "found_elsewhere"): 1,
    ("LeaseTerminated", "rent_arrears"): 1, ("LeaseTerminated", "lease_expired"): 1,
    ("UnitWithdrawn", "renovation"): 1, ("SaleCaseClosed", "tenant_withdrew"): 1,
}  # fmt: skip


def test_counts_per_kind_code_and_year(store: str) -> None:
    rep = r.report(store, None, None)
    assert (rep.window_from, rep.window_to, rep.years, rep.policy_version) == (D(2020, 1, 1), D(2021, 4, 1),
                                                                               [2020, 2021], 1)  # fmt: skip
    assert counts(rep, "2020") == EXPECTED_2020
    assert counts(rep, "2021") == EXPECTED_2021
    assert counts(rep, "all") == {
        **EXPECTED_2020, **EXPECTED_2021, ("OfferDeclined", "too_small"): 2,
    }  # fmt: skip
    kinds = {k.kind: k.shown for k in rep.kinds}
    assert [k.kind for k in rep.kinds] == [k for k, _ in r.KINDS]
    # the codes of the policy in force at the window's end (zeros too), then others, then unspecified
    assert kinds["OfferDeclined"] == [*V1.offer_decline_reasons, "unspecified"]
    assert kinds["LeaseTerminated"] == [*V1.lease_termination_reasons, "lease_expired"]
    assert [k.other_codes for k in rep.kinds if k.kind == "LeaseTerminated"] == [["lease_expired"]]
    assert kinds["ApplicationWithdrawn"] == V1.application_withdrawal_reasons
    periods = 3  # all, 2020, 2021
    assert len(rep.rows) == periods * sum(len(codes) for codes in kinds.values())


def test_the_window_and_the_policy_at_its_end(store: str) -> None:
    rep = r.report(store, D(2020, 1, 1), D(2020, 5, 31))
    assert rep.years == [2020]
    assert counts(rep, "all") == {("OfferDeclined", "unspecified"): 1, ("UnitWithdrawn", "unspecified"): 1}
    # before the lists were adopted: no codes listed, only what was counted
    assert {k.kind: (k.codes, k.other_codes) for k in rep.kinds if k.shown} == {
        "OfferDeclined": ([], ["unspecified"]), "UnitWithdrawn": ([], ["unspecified"]),
        "SaleCaseClosed": (V1.sale_close_reasons, []),
    }  # fmt: skip
    assert "== offers declined (OfferDeclined; policy v1 lists no codes: offer_decline_reasons is empty)" in (
        r.format_tables(rep).splitlines()
    )
    late = r.report(store, D(2021, 2, 1), None)  # inclusive bounds: the case closed on 2021-02-01
    assert counts(late, "all") == {("SaleCaseClosed", "tenant_withdrew"): 1, ("LeaseTerminated", "lease_expired"): 1}


def test_the_rent_to_own_scenario(tmp_path: Path) -> None:
    """The committed history 2009-2018 (replays/rent_to_own_2009_2018) gives its reasons as free
    text under its own policy (v2, no lists): each counts as unspecified, one per command; the
    purchases declined per year are the declines of `pyengine report sales` (docs/scenarios.md)."""
    from pyengine import bulk_import

    folder = FIXTURE.parents[1] / "rent_to_own_2009_2018"
    cmds = [c.decode_command(x) for x in gzip.decompress((folder / "commands.jsonl.gz").read_bytes()).splitlines()]
    url = f"sqlite:///{tmp_path / 'r2o.db'}"
    svc = AllocationService(url, load_policy(folder / "policy.toml"))
    bulk_import.import_portfolio(svc, bulk_import.decode(gzip.decompress((folder / "portfolio.json.gz").read_bytes())))
    svc.submit_batch([msgspec.structs.replace(x, run=None) if isinstance(x, c.OfferMade) else x for x in cmds], "r2o")
    sales = sum(1 for _, e in svc.stored_events() if type(e.payload).__name__ == "SaleCompleted")
    svc.close()
    rep = r.report(url, None, None)
    assert (rep.window_from, rep.years) == (D(2009, 1, 1), list(range(2009, 2019)))
    given = Counter(type(x).__name__ for x in cmds if type(x).__name__ in REASON_LISTS)
    assert given == {"OfferDeclined": 85, "ApplicationWithdrawn": 139, "UnitKeptForRent": 36, "PurchaseDeclined": 95,
                     "TenantMovedOut": 489}  # fmt: skip
    # a completed sale moves its buyer out too (the engine's event, without a code)
    assert sales > 0
    given["TenantMovedOut"] += sales
    assert counts(rep, "all") == {(kind, "unspecified"): n for kind, n in given.items()}
    declined = [counts(rep, str(y)).get(("PurchaseDeclined", "unspecified"), 0) for y in rep.years]
    assert declined == [5, 7, 11, 11, 11, 16, 6, 9, 7, 12]


def test_only_the_engines_termination_counts_as_lease_expired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a policy without codes, the office's LeaseTerminated whose free text is the
    engine's own counts as unspecified, alone or in the same write as a DayClosed; the
    engine's count as lease_expired, with the code or, as written before the codes, with its
    text alone."""
    from pyengine.handlers import days

    url = f"sqlite:///{tmp_path / 'terminations.db'}"
    svc = AllocationService(url, BEFORE)
    leases = {"T1": D(2021, 3, 31), "T2": D(2023, 12, 31), "T3": D(2021, 5, 31), "T4": D(2025, 6, 30),
              "T5": D(2021, 8, 31)}  # fmt: skip
    for cmd in (
        c.DayClosed(date=D(2021, 1, 1)),
        *(unit(f"{h}u") for h in leases), *(app(h, applied_on=None, current_unit=f"{h}u") for h in leases),
        *(c.LeaseSigned(household=h, unit=f"{h}u", start=D(2019, 1, 1), end=end, rent_nok_month=8000)
          for h, end in leases.items()),
        c.LeaseTerminated(household="T2", unit="T2u", on=D(2021, 1, 15), reason=days.LEASE_END_REASONS[""]),
        c.DayClosed(date=D(2021, 4, 1)),  # ends T1's lease
    ):  # fmt: skip
        svc.submit(cmd)
    office = c.LeaseTerminated(household="T4", unit="T4u", on=D(2021, 6, 1), reason="lease ended: not renewed")
    svc.submit_batch([c.DayClosed(date=D(2021, 6, 1)), office], "import")  # ends T3's lease, then T4's
    with monkeypatch.context() as m:  # DayClosed as the engine wrote it before the codes: the text alone
        m.setattr(days, "LEASE_EXPIRED", msgspec.UNSET)
        svc.submit(c.DayClosed(date=D(2021, 9, 1)))  # ends T5's lease
    ended = {e.payload.household: e.payload for _, e in svc.stored_events() if isinstance(e.payload, c.LeaseTerminated)}
    svc.close()
    assert {h: (p.code, p.reason) for h, p in ended.items()} == {
        "T1": ("lease_expired", "lease ended without renewal"), "T2": (msgspec.UNSET, "lease ended without renewal"),
        "T3": ("lease_expired", "lease ended without renewal"), "T4": (msgspec.UNSET, "lease ended: not renewed"),
        "T5": (msgspec.UNSET, "lease ended without renewal"),
    }  # fmt: skip
    assert replay(url).divergence is None
    rep = r.report(url, None, None)
    assert counts(rep, "all") == {("LeaseTerminated", "lease_expired"): 3, ("LeaseTerminated", "unspecified"): 2}
    assert [k.other_codes for k in rep.kinds if k.kind == "LeaseTerminated"] == [["lease_expired", "unspecified"]]


def test_code_of() -> None:
    ended = c.LeaseTerminated(household="H", unit="U", on=ON, reason="lease ended: not renewed")
    assert r.code_of(ended, by_engine=True) == "lease_expired"
    assert r.code_of(msgspec.structs.replace(ended, code="lease_expired"), by_engine=True) == "lease_expired"
    assert r.code_of(ended) == "unspecified"  # the office's, whatever its text
    assert r.code_of(msgspec.structs.replace(ended, code="lease_expired")) == "unspecified"
    assert r.code_of(msgspec.structs.replace(ended, code="deceased")) == "deceased"
    assert r.code_of(c.SaleCaseClosed(unit="U", on=ON, reason="loan_refused")) == "loan_refused"
    with pytest.raises(InputError, match="no DayClosed"):
        r.figures(r.History())


# --- the command line and the HTTP route ---------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "report", "reasons", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_table(store: str) -> None:
    p = cli("--store", store)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == (
        "reasons recorded, 2020-01-01 to 2021-04-01 (events per year and code; unspecified: free text only)"
    )
    at = lines.index("== offers declined (OfferDeclined; codes: policy v1's offer_decline_reasons)")
    assert lines[at + 1].split() == ["code", "2020", "2021", "all"]
    table = {row.split()[0]: row.split()[1:] for row in lines[at + 3 : at + 3 + 11]}
    assert table["too_small"] == ["1", "1", "2"] and table["wrong_district"] == ["1", "0", "1"]
    assert table["unspecified"] == ["1", "0", "1"] and table["total"] == ["3", "1", "4"]
    assert table["accessibility"] == ["0", "0", "0"]
    assert "  lease_expired: a lease DayClosed ended at its end date, unrenewed (the engine's code)" in lines


def test_cli_json_and_files(store: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    p = cli("--store", store, "--from", "2021-01-01", "--json", "--out", str(out))
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # stdout is one JSON document, even with --out
    assert (doc["from"], doc["to"], doc["years"], doc["policy_version"]) == ("2021-01-01", "2021-04-01", [2021], 1)
    got = {(x["kind"], x["code"]): x["count"] for x in doc["rows"] if x["period"] == "2021" and x["count"]}
    assert got == EXPECTED_2021
    assert {"kind": "OfferDeclined", "code": "too_small", "period": "all", "count": 1} in doc["rows"]
    assert doc["kinds"][0] == {
        "kind": "OfferDeclined", "title": "offers declined", "policy_list": "offer_decline_reasons",
        "codes": V1.offer_decline_reasons, "other_codes": [],
    }  # fmt: skip
    png = (out / "reasons.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    page = (out / "reasons.html").read_text("utf-8")
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page  # the chart, embedded
    assert "<h2>leases ended (LeaseTerminated; codes: policy v1&#x27;s lease_termination_reasons)</h2>" in page
    assert "<tr><td>lease_expired</td><td>1</td><td>1</td></tr>" in page
    assert "<dt>unspecified</dt>" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2020-13-01"], "--from: '2020-13-01' is not a date (YYYY-MM-DD)"),
        (["--from", "2021-01-01", "--to", "2020-12-31"], "--from: 2021-01-01 is after --to 2020-12-31"),
    ],
)
def test_cli_bad_dates(store: str, args: list[str], message: str) -> None:
    p = cli("--store", store, *args)
    assert (p.returncode, p.stdout, p.stderr) == (2, "", f"pyengine report: error: {message}\n")


def test_cli_bad_store_and_output(store: str, tmp_path: Path) -> None:
    p = cli("--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert p.returncode == 2 and p.stderr.startswith("pyengine report: error: --store: ")
    assert not (tmp_path / "none.db").exists()
    (tmp_path / "file").write_text("")
    p = cli("--store", store, "--out", str(tmp_path / "file"))
    assert p.returncode == 2 and "--out: " in p.stderr and "is a file, not a folder" in p.stderr


def test_the_http_route_answers_as_the_cli_does(store: str) -> None:
    import jsonschema

    tokens = {"analyst": "a", "auditor": "b", "clerk": "c"}
    with TestClient(create_app(store, {hash_token(t): role for role, t in tokens.items()})) as cl:
        got = cl.get("/reports/reasons", params={"from": "2020-06-01", "to": "2020-12-31"}, headers=bearer("a"))
        assert got.status_code == 200, got.text
        assert got.json() == json.loads(r.as_json(r.report(store, D(2020, 6, 1), D(2020, 12, 31))))
        whole = cl.get("/reports/reasons", headers=bearer("b")).json()
        assert (whole["from"], whole["to"]) == ("2020-01-01", "2021-04-01")
        assert cl.get("/reports/reasons", headers=bearer("c")).status_code == 403
        assert cl.get("/reports/reasons").status_code == 401
        bad = cl.get("/reports/reasons", params={"from": "2021-01-01", "to": "2020-01-01"}, headers=bearer("a"))
        assert bad.status_code == 400 and bad.json()["extra"] == {
            "field": "from", "reason": "2021-01-01 is after to 2020-01-01",
        }  # fmt: skip
        doc = cl.get("/schema/openapi.json").json()
        op = doc["paths"]["/reports/reasons"]["get"]
        assert {p["name"] for p in op["parameters"]} == {"from", "to"}
        schema = {**op["responses"]["200"]["content"]["application/json"]["schema"], "components": doc["components"]}
        jsonschema.validate(whole, schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**whole, "rows": [{"kind": "OfferDeclined"}]}, schema)


def bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}
