"""Erasure by crypto-shredding (issue 20): in a store made with `db init --erasable`, the personal
fields of applications are sealed with a key per household; ErasureRequested deletes the key.
The data is then unreadable from the store (SQLite file bytes, PostgreSQL rows), while `replay`
still verifies the whole chain and names the runs it can no longer solve again."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from adapters.keys import TABLE
from adapters.store import init_tables
from pyengine import commands as c
from pyengine.domain import SaleCase
from pyengine.errors import ConcurrencyConflict, InputError
from pyengine.fairness import report as fairness_report
from pyengine.http import create_app, hash_token
from pyengine.policy import load_policy
from pyengine.reasons import report as reasons_report
from pyengine.replay import replay
from pyengine.reports import sales_by_year
from pyengine.sealing import CASE_STEPS, SEALED, Sealer, is_erased, seal, unseal
from pyengine.service import AllocationService
from tests.helpers import app_cmd, unit_cmd
from tests.test_http import TOKENS, auth
from tests.test_reasons import sale_offered

DAY = dt.date(2026, 1, 5)
SECRET_SKILL = "zither-teacher-7781"  # values to look for in the stored bytes
SECRET_NOTE = "moved in with her sister in Molde"
SECRET_LOAN = 1_777_777  # a start loan's amount, and an assessed maximum price (a rent-to-own case)
SECRET_MAX = 1_987_654
DECLINE_NOTE = "the bank found her ex-husband's debts"
CLOSE_NOTE = "wants to wait until the twins finish school"


def history() -> list[c.Command]:
    """Three flats, four applicants; the one to be erased (h-gone) is proposed a flat, then
    withdraws; later runs go on without it."""
    cmds: list[c.Command] = [c.DayClosed(date=DAY)]
    cmds += [unit_cmd(f"u{i}") for i in range(3)]
    cmds.append(app_cmd("h-gone", adults=2, children=3, disadvantaged=True, skills=[SECRET_SKILL],
                        applied_on=dt.date(2020, 1, 1)))  # fmt: skip
    cmds += [app_cmd(f"h{i}", applied_on=dt.date(2024, 1, i + 1)) for i in range(3)]
    cmds.append(c.ApplicationUpdated(id="h-gone", children=4))
    cmds.append(c.ApplicationWithdrawn(id="h-gone", code="moved_away", reason=SECRET_NOTE))
    cmds.append(app_cmd("h9", applied_on=dt.date(2025, 3, 1)))
    return cmds


# the buyer owes no after-care follow-up: it can be erased as soon as it has bought its flat
NO_AFTERCARE = msgspec.structs.replace(load_policy("default-v1"), aftercare_months=0)


def rent_to_own() -> list[c.Command]:
    """H1 rents U1 and sets out to buy it three times: its offer declined (a note), a case closed
    (a note), then a sale, after which it has left. The first case's start loan and assessed
    maximum price are SECRET_LOAN and SECRET_MAX."""
    cmds: list[c.Command] = [c.DayClosed(date=DAY), unit_cmd("U1"), unit_cmd("U2")]
    cmds += [app_cmd("H1", applied_on=dt.date(2024, 1, 1)), app_cmd("H2", applied_on=dt.date(2024, 2, 1))]
    cmds += [c.OfferMade(household="H1", unit="U1"), c.OfferAccepted(household="H1", unit="U1")]
    cmds += sale_offered("H1", "U1", DAY, max_price_nok=SECRET_MAX, loan_nok=SECRET_LOAN)
    cmds.append(c.PurchaseDeclined(unit="U1", on=DAY, code="loan_insufficient", reason=DECLINE_NOTE))
    cmds.append(c.PurchaseInterestRegistered(household="H1", unit="U1", on=DAY))
    cmds.append(c.SaleCaseClosed(unit="U1", on=DAY, reason="tenant_withdrew", note=CLOSE_NOTE))
    cmds += sale_offered("H1", "U1", DAY)
    cmds += [c.PurchaseAccepted(unit="U1", on=DAY), c.SaleCompleted(unit="U1", on=DAY)]
    return cmds


def cases(svc: AllocationService) -> list[tuple[object, ...]]:
    """Every rent-to-own case as folded: stage, approved, assessed maximum, loan, price."""
    return [
        (a.stage, a.approved, a.max_price_nok, a.loan_nok, a.price_nok)
        for a in svc.portfolio.aggregates()
        if isinstance(a, SaleCase)
    ]


def decided(svc: AllocationService) -> tuple[object, ...]:
    d = svc.portfolio.decision()
    return d.assignments, d.objective, d.digest


def erasable(url: str) -> str:
    init_tables(url, erasable=True)
    return url


def store_history(url: str) -> None:
    """The store at `url` with `history()` submitted, its writer closed."""
    svc = AllocationService(url)
    for cmd in history():
        svc.submit(cmd)
    svc.close()


@pytest.fixture
def erasable_url(store_url: str) -> str:
    return erasable(store_url)


def raw_bytes(url: str) -> bytes:
    """Everything a reader of the store's files or rows can see."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    import psycopg

    out = b""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for t in tables:
            for row in conn.execute(f'SELECT * FROM "{t}"'):
                out += b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
    return out


def test_sealed_applications_read_back_and_match_as_in_clear(erasable_url: str, tmp_path: Path) -> None:
    """Sealing changes what is stored, not what the engine decides."""
    sealed = AllocationService(erasable_url)
    clear = AllocationService(f"sqlite:///{tmp_path / 'clear.db'}")
    for cmd in history():
        sealed.submit(cmd)
        clear.submit(cmd)
    assert decided(sealed) == decided(clear)  # the hashes differ: they cover the records as stored
    for secret in (SECRET_SKILL, SECRET_NOTE):
        assert secret.encode() not in raw_bytes(erasable_url)
        assert secret.encode() in raw_bytes(f"sqlite:///{tmp_path / 'clear.db'}")
    reasons = [e.payload.reason for _, e in sealed.stored_events() if isinstance(e.payload, c.ApplicationWithdrawn)]
    assert reasons == [SECRET_NOTE]
    h = sealed.portfolio.households["h-gone"]
    assert (h.spec.children, h.spec.skills, h.erased) == (4, [SECRET_SKILL], False)
    sealed.close()
    again = AllocationService(erasable_url, snapshots=False)  # read back from the records
    assert again.portfolio.households["h-gone"].spec == h.spec
    report = replay(erasable_url)
    assert report.divergence is None and report.not_resolved == []
    again.close()
    clear.close()


def test_erasure_makes_the_data_unreadable_and_replay_names_the_runs(erasable_url: str) -> None:
    svc = AllocationService(erasable_url, snapshot_every=5)  # snapshots hold the state in clear
    for cmd in history():
        svc.submit(cmd)
    runs_before = svc.portfolio.ledger.last_run.run if svc.portfolio.ledger and svc.portfolio.ledger.last_run else 0
    svc.submit(c.ErasureRequested(id="h-gone", reason="retention period over"))
    svc.submit(app_cmd("h10", applied_on=dt.date(2025, 6, 1)))
    assert svc.portfolio.households["h-gone"].erased
    decision = decided(svc)
    svc.close()

    assert SECRET_SKILL.encode() not in raw_bytes(erasable_url)
    again = AllocationService(erasable_url)
    h = again.portfolio.households["h-gone"]
    assert h.erased and h.spec.skills == [] and h.spec.children == 0 and not h.spec.disadvantaged
    withdrawn = [e.payload for _, e in again.stored_events() if isinstance(e.payload, c.ApplicationWithdrawn)]
    assert [(w.code, w.reason) for w in withdrawn] == [("moved_away", "")]  # the code stays for the reports
    assert decided(again) == decision  # the state after it left does not need its data
    with pytest.raises(InputError, match="has withdrawn"):
        again.submit(c.ApplicationUpdated(id="h-gone", children=1))
    with pytest.raises(InputError, match="already erased"):
        again.submit(c.ErasureRequested(id="h-gone"))
    again.close()

    report = replay(erasable_url)
    assert report.divergence is None, report.divergence
    # the runs while h-gone applied: from its application (the 5th command) to the one before its
    # withdrawal (the run after it no longer weighs it)
    named = [r.split(":")[0] for r in report.not_resolved]
    assert named == [f"run {n}" for n in range(5, 10)], report.not_resolved
    assert all("h-gone" in r for r in report.not_resolved)
    assert report.runs_verified == runs_before + 2  # every run's chain is checked


def test_erasure_only_once_the_household_has_left(erasable_url: str) -> None:
    svc = AllocationService(erasable_url)
    for cmd in history()[:5]:
        svc.submit(cmd)
    with pytest.raises(InputError, match="has not left"):
        svc.submit(c.ErasureRequested(id="h-gone"))
    with pytest.raises(InputError, match="unknown household"):
        svc.submit(c.ErasureRequested(id="nobody"))
    assert not svc.app.keys.erased("h-gone")
    svc.close()


def test_a_store_in_clear_refuses_erasure(tmp_path: Path) -> None:
    svc = AllocationService(f"sqlite:///{tmp_path / 'clear.db'}")
    for cmd in history():
        svc.submit(cmd)
    with pytest.raises(InputError, match="--erasable"):
        svc.submit(c.ErasureRequested(id="h-gone"))
    svc.close()


def test_applications_stored_before_the_store_kept_keys_cannot_be_shredded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'late.db'}"
    store_history(url)
    erasable(url)
    svc = AllocationService(url)
    with pytest.raises(InputError, match="stored in clear"):
        svc.submit(c.ErasureRequested(id="h-gone"))
    svc.submit(app_cmd("h-new", applied_on=dt.date(2025, 1, 1), skills=[SECRET_SKILL + "-2"]))
    svc.close()
    assert (SECRET_SKILL + "-2").encode() not in raw_bytes(url)


def write_one(svc: AllocationService, how: str, cmd: c.Command, client: Any = None) -> None:
    """Store `cmd` through `svc` (an open writer) the way `how` says; `client`: the HTTP service's."""
    if how == "http":
        r = client.post("/commands", content=msgspec.json.encode(cmd), headers=auth("clerk"))
        assert r.status_code == 200, r.text
    elif how == "submit_batch":
        svc.submit_batch([cmd], "Batch")
    elif how == "submit_many":
        svc.submit_many([cmd])
    else:
        svc.submit(cmd, command_id=f"{type(cmd).__name__}-1")


@pytest.mark.parametrize("how", ["submit", "submit_batch", "submit_many", "http"])
def test_a_writer_open_when_the_store_is_made_erasable_seals_what_it_stores_next(store_url: str, how: str) -> None:
    """`db init --erasable` run on a store a writer has open (the HTTP service, a long `pyengine
    submit`): the writer seals the applications it stores from then on, as one opened later
    would, and their households can be erased."""
    client = None
    with contextlib.ExitStack() as stack:
        if how == "http":
            client = stack.enter_context(
                TestClient(create_app(store_url, {hash_token(t): role for role, t in TOKENS.items()}))
            )
            svc = client.app.state.store.svc
        else:
            svc = AllocationService(store_url)
            stack.callback(svc.close)
        write_one(svc, how, c.DayClosed(date=DAY), client)
        write_one(svc, how, unit_cmd("u0"), client)
        assert not svc.app.keys.enabled and not svc.portfolio.seals
        erasable(store_url)  # by another process
        write_one(svc, how, app_cmd("h-late", adults=2, skills=[SECRET_SKILL], applied_on=DAY), client)
        assert SECRET_SKILL.encode() not in raw_bytes(store_url)
        assert svc.app.application_sealed("h-late") and svc.portfolio.seals
        write_one(svc, how, c.ApplicationWithdrawn(id="h-late", code="moved_away", reason=SECRET_NOTE), client)
        write_one(svc, how, c.ErasureRequested(id="h-late"), client)
        assert "h-late" in svc.portfolio.erased and svc.app.keys.erased("h-late")
    assert stored_key(store_url, "h-late") is None
    assert SECRET_NOTE.encode() not in raw_bytes(store_url)
    assert replay(store_url).divergence is None


@pytest.mark.parametrize("first", ["sealing", "in_clear"])
def test_writers_either_side_of_the_key_table_do_not_both_write(
    store_url: str, first: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that decided its write in clear (it looked for the key table just before `db init
    --erasable` made it) and one that seals, both from the same view of the log: the second to
    save is refused as stale, nothing of it stored; caught up, it stores its command sealed."""
    svc = AllocationService(store_url)
    svc.submit(c.DayClosed(date=DAY))
    sealing, clear = AllocationService(store_url), AllocationService(store_url)
    svc.close()
    erasable(store_url)
    monkeypatch.setattr(clear.app.keys, "look_again", lambda: False)  # looked just before the table was made
    late, early = (clear, sealing) if first == "sealing" else (sealing, clear)
    monkeypatch.setattr(late, "catch_up", lambda: 0)  # misses the other's write, as a racing process would
    early.submit(app_cmd("h-early", applied_on=DAY))
    count = stored_count(store_url)
    with pytest.raises(ConcurrencyConflict):
        late.submit(app_cmd("h-late", applied_on=DAY, skills=[SECRET_SKILL]))
    assert stored_count(store_url) == count and SECRET_SKILL.encode() not in raw_bytes(store_url)
    monkeypatch.undo()
    late.submit(app_cmd("h-late", applied_on=DAY, skills=[SECRET_SKILL]))
    assert late.app.application_sealed("h-late") and SECRET_SKILL.encode() not in raw_bytes(store_url)
    assert early.app.application_sealed("h-early") is (first == "sealing")
    for s in (sealing, clear):
        s.close()


@pytest.mark.parametrize("later", ["withdrawn_with_a_reason", "updated", "keyed_for_idempotency"])
def test_a_key_made_after_an_application_in_clear_does_not_make_it_erasable(tmp_path: Path, later: str) -> None:
    """An application stored before the store kept keys stays in clear, whatever gives its
    household a key later (a sealed note or update, a command fingerprinted with the key):
    erasing it would delete a key and leave the application readable."""
    url = f"sqlite:///{tmp_path / 'late.db'}"
    svc = AllocationService(url)
    cmds = history()
    withdrawal = next(x for x in cmds if isinstance(x, c.ApplicationWithdrawn))
    for cmd in cmds[: cmds.index(withdrawal)]:
        svc.submit(cmd)
    svc.close()
    erasable(url)
    svc = AllocationService(url)
    if later == "withdrawn_with_a_reason":
        svc.submit(withdrawal)  # its reason sealed under a key made for it
    elif later == "updated":
        svc.submit(c.ApplicationUpdated(id="h-gone", children=5))
        svc.submit(msgspec.structs.replace(withdrawal, reason=""))
    else:
        svc.submit(msgspec.structs.replace(withdrawal, reason=""))
        with pytest.raises(InputError, match="already exists"):  # fingerprinted with a key made for it
            svc.submit(app_cmd("h-gone", applied_on=DAY), command_id="again-1")
    assert svc.app.keys.key("h-gone")  # the household has a key
    with pytest.raises(InputError) as e:
        svc.submit(c.ErasureRequested(id="h-gone"))
    assert e.value.field == "id" and "application is stored in clear" in e.value.reason, e.value
    assert not svc.app.keys.erased("h-gone") and "h-gone" not in svc.portfolio.erased
    # a household that applied once the store kept keys is erased as ever
    svc.submit(app_cmd("h-new", applied_on=DAY, skills=[SECRET_SKILL + "-2"]))
    svc.submit(c.ApplicationWithdrawn(id="h-new", code="moved_away", reason=SECRET_NOTE + "-2"))
    svc.submit(c.ErasureRequested(id="h-new"))
    assert svc.app.keys.erased("h-new")
    svc.close()
    assert SECRET_SKILL.encode() in raw_bytes(url)  # what the refused erasure would have claimed gone
    assert (SECRET_SKILL + "-2").encode() not in raw_bytes(url)
    assert replay(url).divergence is None


def test_a_command_may_not_carry_sealed_fields(erasable_url: str) -> None:
    svc = AllocationService(erasable_url)
    svc.submit(c.DayClosed(date=DAY))
    with pytest.raises(InputError, match="sealed"):
        svc.submit(msgspec.structs.replace(app_cmd("h1", applied_on=DAY), sealed="erased"))
    svc.close()


def test_the_key_table_holds_no_key_after_erasure(tmp_path: Path) -> None:
    url = erasable(f"sqlite:///{tmp_path / 'keys.db'}")
    svc = AllocationService(url)
    for cmd in history():
        svc.submit(cmd)
    key = svc.app.keys.key("h-gone")
    svc.submit(c.ErasureRequested(id="h-gone", on=DAY))
    svc.close()
    with sqlite3.connect(tmp_path / "keys.db") as con:
        rows = con.execute(f"SELECT key, erased_on FROM {TABLE} WHERE household_id = 'h-gone'").fetchall()
    assert rows == [(None, DAY.isoformat())]
    assert key not in raw_bytes(url)


def test_fairness_counts_an_erased_household_in_all_only(erasable_url: str) -> None:
    def applications(group: str) -> int:
        rep = fairness_report(erasable_url, None, None)
        return sum(r.applications for r in rep.rows if r.group == group and r.period == "all")

    svc = AllocationService(erasable_url)
    for cmd in history():
        svc.submit(cmd)
    before = {g: applications(g) for g in ("all", "families", "singles", "disadvantaged")}
    svc.submit(c.ErasureRequested(id="h-gone"))
    svc.close()
    after = {g: applications(g) for g in before}
    assert after == {**before, "families": before["families"] - 1, "disadvantaged": before["disadvantaged"] - 1}


def test_an_application_keyed_for_idempotency_is_fingerprinted_with_its_key(erasable_url: str) -> None:
    """A plain SHA-256 of an application (a few small fields) could be matched by trying them."""
    svc = AllocationService(erasable_url)
    svc.submit(c.DayClosed(date=DAY))
    cmd = app_cmd("h1", applied_on=DAY, children=2)
    first = svc.submit(cmd, command_id="k-1")
    accepted = first[0][1].payload
    assert isinstance(accepted, c.CommandAccepted)
    assert accepted.sha256 != c.command_sha256(cmd)
    assert svc.submit(cmd, command_id="k-1") == first  # still idempotent
    with pytest.raises(InputError, match="k-1"):
        svc.submit(app_cmd("h1", applied_on=DAY, children=3), command_id="k-1")
    svc.close()


def test_an_application_keyed_before_the_store_kept_keys_is_still_recognised(store_url: str) -> None:
    """A retry of an application (submitted or updated) stored with a command_id while the store
    kept no keys, its fingerprint the plain SHA-256, is answered as stored once the store is
    made erasable, though a retry is now fingerprinted under the household's key; another
    command under its command_id is still refused. Nothing stored changes."""
    svc = AllocationService(store_url)
    svc.submit(c.DayClosed(date=DAY))
    apply, update = app_cmd("h1", applied_on=DAY, children=2), c.ApplicationUpdated(id="h1", children=3)
    first = {"apply-1": svc.submit(apply, command_id="apply-1"), "update-1": svc.submit(update, command_id="update-1")}
    assert svc.portfolio.commands["apply-1"][0] == c.command_sha256(apply)
    svc.close()
    erasable(store_url)
    count = stored_count(store_url)

    svc = AllocationService(store_url)
    for cmd, cid in ((apply, "apply-1"), (update, "update-1")):
        assert svc._fingerprint(cmd) != c.command_sha256(cmd)  # now keyed with the household's key
        assert svc.submit(cmd, command_id=cid) == first[cid], cid
    with pytest.raises(InputError, match="apply-1"):
        svc.submit(app_cmd("h1", applied_on=DAY, children=4), command_id="apply-1")
    with pytest.raises(InputError, match="update-1"):
        svc.submit(c.ApplicationUpdated(id="h1", children=4), command_id="update-1")
    with pytest.raises(InputError, match="apply-1"):  # another household's application under the key
        svc.submit(app_cmd("h2", applied_on=DAY, children=2), command_id="apply-1")
    assert stored_count(store_url) == count  # nothing stored, nothing rewritten
    # only where the household applied in clear: one that applied since has no plain fingerprint
    svc.submit(app_cmd("h3", applied_on=DAY), command_id="apply-3")
    later = c.ApplicationUpdated(id="h3", children=1)
    assert svc._earlier_fingerprint(later, svc._fingerprint(later)) is None
    assert svc._earlier_fingerprint(update, svc._fingerprint(update)) == c.command_sha256(update)
    svc.close()


def test_the_cli_makes_an_erasable_store_erases_and_replays(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    cli = [sys.executable, "-m", "pyengine.cli"]
    init = subprocess.run([*cli, "db", "init", "--store", url, "--erasable"], capture_output=True, text=True)
    assert init.returncode == 0 and "erasable" in init.stderr, init.stderr
    lines = [msgspec.json.encode(x).decode() for x in [*history(), c.ErasureRequested(id="h-gone")]]
    (tmp_path / "cmds.jsonl").write_text("\n".join(lines) + "\n")
    sub = subprocess.run([*cli, "submit", "--store", url, str(tmp_path / "cmds.jsonl")], capture_output=True, text=True)
    assert sub.returncode == 0, sub.stderr
    rep = subprocess.run([*cli, "replay", "--store", url], capture_output=True, text=True)
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert "5 run(s) verified in the chain only" in rep.stdout and "run 5: household h-gone erased" in rep.stdout
    assert SECRET_SKILL.encode() not in raw_bytes(url)


@pytest.mark.parametrize("kind", sorted(SEALED))
def test_every_sealed_payload_reads_back_and_reads_as_erased(kind: str) -> None:
    case = {"household": "H1", "unit": "U1", "on": "2026-01-01"}  # a rent-to-own step, as the engine names the buyer
    samples: dict[str, dict[str, object]] = {
        "ApplicationSubmitted": {"id": "H1", "adults": 2, "skills": [SECRET_SKILL], "current_unit": "U1"},
        "ApplicationUpdated": {"id": "H1", "children": 3},
        "ApplicationWithdrawn": {"id": "H1", "reason": SECRET_NOTE, "code": "moved_away"},
        "OfferDeclined": {"household": "H1", "unit": "U1", "reason": SECRET_NOTE},
        "LeaseNotRenewed": {"household": "H1", "on": "2026-01-01", "reason": SECRET_NOTE},
        "LeaseTerminated": {"household": "H1", "unit": "U1", "on": "2026-01-01", "reason": SECRET_NOTE},
        "TenantMovedOut": {"household": "H1", "on": "2026-01-01", "reason": SECRET_NOTE},
        "AftercareRecorded": {"household": "H1", "on": "2026-01-01", "note": SECRET_NOTE},
        "PurchaseInterestRegistered": {**case, "acknowledged": True, "suitability": ["transfer_requested"]},
        "EconomicAssessmentRecorded": {**case, "approved": True, "max_price_nok": SECRET_MAX},
        "UnitKeptForRent": {**case, "reason": SECRET_NOTE, "code": "other"},
        "StartLoanApplied": {**case, "amount_nok": SECRET_LOAN, "priority": True, "decide_by": "2026-04-01"},
        "StartLoanDecided": {**case, "granted": True, "amount_nok": SECRET_LOAN},
        "PurchaseDeclined": {**case, "reason": SECRET_NOTE, "code": "price_too_high"},
        "SaleCaseClosed": {**case, "reason": "tenant_withdrew", "note": SECRET_NOTE},
    }
    # what the required ones read as once erased: the step that ends a case there
    erased_reads: dict[str, dict[str, object]] = {
        "EconomicAssessmentRecorded": {"approved": False},
        "StartLoanApplied": {"amount_nok": 0},
        "StartLoanDecided": {"granted": False},
    }
    secrets = (SECRET_NOTE, SECRET_SKILL, str(SECRET_LOAN), str(SECRET_MAX))
    cls = getattr(c, kind)
    data = msgspec.to_builtins(msgspec.convert({"type": kind, **samples[kind]}, cls))
    key = b"k" * 32
    stored = seal(data, key)
    assert not any(x in str(stored) for x in secrets) and "sealed" in stored
    assert not (SEALED[kind][1] or set()) & set(stored)  # no sealed field is left in clear
    assert seal(data, key) == stored  # the same bytes for the same payload under one key
    assert msgspec.convert(unseal(stored, key), cls) == msgspec.convert(data, cls)
    gone = msgspec.convert(Sealer().decode(stored), cls)  # no keys: as after the erasure
    assert not any(x in str(gone) for x in secrets)
    assert is_erased(gone) == (kind in ("ApplicationSubmitted", "ApplicationUpdated"))
    hidden = SEALED[kind][1]
    if hidden is not None:  # the rest reads as stored (codes too), the sealed fields as never given
        clear = {k: v for k, v in samples[kind].items() if k not in hidden}
        assert gone == msgspec.convert({"type": kind, **clear, **erased_reads.get(kind, {})}, cls)
    with pytest.raises(ValueError):
        unseal(stored, b"x" * 32)  # another household's key does not open it


def test_a_snapshot_after_the_erasure_restores_the_household_as_erased(erasable_url: str) -> None:
    svc = AllocationService(erasable_url, snapshot_every=0)
    for cmd in history():
        svc.submit(cmd)
    assert svc.snapshot() is not None
    svc.submit(c.ErasureRequested(id="h-gone"))
    assert snapshot_positions(svc) == []  # the one before held h-gone's data in clear
    assert svc.snapshot() is not None
    svc.close()
    again = AllocationService(erasable_url)
    assert again.loaded_from  # started from the new snapshot
    assert again.portfolio.households["h-gone"].erased and "h-gone" in again.portfolio.erased
    assert SECRET_SKILL.encode() not in raw_bytes(erasable_url)
    again.close()


def snapshot_positions(svc: AllocationService) -> list[int]:
    from pyengine import snapshot

    return [p for p, _ in snapshot.stored(svc.app)]


def test_explain_refuses_a_run_that_weighed_an_erased_household(erasable_url: str) -> None:
    from pyengine.explain import explain_household, state_at

    svc = AllocationService(erasable_url)
    for cmd in history():
        svc.submit(cmd)
    svc.submit(c.ErasureRequested(id="h-gone"))
    svc.close()
    with pytest.raises(InputError, match="run 7 weighed households whose personal data was erased"):
        state_at(erasable_url, 7, None)
    pf, run = state_at(erasable_url, None, None)  # the last run no longer weighs it
    assert explain_household(pf, run, "h1")["household"] == "h1"


def test_withdrawal_records_the_day_the_household_left(erasable_url: str) -> None:
    svc = AllocationService(erasable_url)
    for cmd in history():
        svc.submit(cmd)
    assert svc.portfolio.households["h-gone"].left_on == DAY  # the engine's date, stored with it
    with pytest.raises(InputError, match=r"on: .* is after the engine's date"):
        svc.submit(c.ApplicationWithdrawn(id="h9", code="moved_away", on=DAY + dt.timedelta(days=1)))
    svc.close()


def test_erasure_waits_for_the_policy_s_retention_period(tmp_path: Path) -> None:
    policy = msgspec.structs.replace(load_policy("default-v1"), erasure_retention_days=30)
    url = erasable(f"sqlite:///{tmp_path / 'retention.db'}")
    svc = AllocationService(url, policy)
    for cmd in history():
        svc.submit(cmd)
    ends = DAY + dt.timedelta(days=30)
    with pytest.raises(InputError, match=f"on: household 'h-gone' left on {DAY}: .* 30 days runs until {ends}"):
        svc.submit(c.ErasureRequested(id="h-gone"))
    svc.submit(c.DayClosed(date=ends - dt.timedelta(days=1)))
    with pytest.raises(InputError, match="retention period"):
        svc.submit(c.ErasureRequested(id="h-gone"))
    assert not svc.app.keys.erased("h-gone")
    svc.submit(c.DayClosed(date=ends))
    svc.submit(c.ErasureRequested(id="h-gone"))
    assert svc.app.keys.erased("h-gone")
    svc.close()
    # The leaving day survives a restart from a snapshot and from the log alone.
    for snapshots in (True, False):
        again = AllocationService(url, policy, snapshots=snapshots, write=False)
        assert again.portfolio.households["h-gone"].left_on == DAY
        again.close()


def test_a_rent_to_own_case_is_sealed_under_the_buyer_s_key(erasable_url: str, tmp_path: Path) -> None:
    """The buyer's finances and notes in its cases are stored sealed and read back in full; they
    go with its erasure, while the cases, the sale and the proceeds stay and still fold."""
    secrets = (str(SECRET_LOAN).encode(), str(SECRET_MAX).encode(), DECLINE_NOTE.encode(), CLOSE_NOTE.encode())
    clear_url = f"sqlite:///{tmp_path / 'clear.db'}"
    svc, clear = AllocationService(erasable_url, NO_AFTERCARE), AllocationService(clear_url, NO_AFTERCARE)
    for cmd in rent_to_own():
        svc.submit(cmd)
        clear.submit(cmd)
    in_full = [
        ("declined", True, SECRET_MAX, SECRET_LOAN, 1_850_000),
        ("closed", False, 0, 0, None),
        ("completed", True, 2_000_000, 1_850_000, 1_850_000),
    ]
    assert cases(svc) == cases(clear) == in_full
    assert decided(svc) == decided(clear)
    for secret in secrets:
        assert secret not in raw_bytes(erasable_url), secret
        assert secret in raw_bytes(clear_url), secret
    # a store in clear writes the steps as before, without the buyer's name
    assert {type(p).__name__ for p in payloads(clear) if isinstance(p, CASE_STEPS)} == {
        "EconomicAssessmentRecorded", "StartLoanApplied", "StartLoanDecided", "PurchaseDeclined", "SaleCaseClosed",
    }  # fmt: skip
    assert all(p.household is msgspec.UNSET for p in payloads(clear) if isinstance(p, CASE_STEPS))
    assert {p.household for p in payloads(svc) if isinstance(p, CASE_STEPS)} == {"H1"}
    pot, sales = svc.portfolio.pot_nok, sales_by_year(payloads(svc))
    reasons_before = reasons_report(erasable_url, None, None).rows
    svc.close()
    clear.close()

    again = AllocationService(erasable_url, NO_AFTERCARE, snapshots=False)  # read back from the records
    assert cases(again) == in_full
    stored = payloads(again)
    assert [p.amount_nok for p in stored if isinstance(p, c.StartLoanApplied)] == [SECRET_LOAN, 1_850_000]
    assert [(p.code, p.reason) for p in stored if isinstance(p, c.PurchaseDeclined)] == [
        ("loan_insufficient", DECLINE_NOTE)
    ]
    assert [(p.reason, p.note) for p in stored if isinstance(p, c.SaleCaseClosed)] == [("tenant_withdrew", CLOSE_NOTE)]
    again.submit(c.ErasureRequested(id="H1"))
    erased = [
        ("declined", False, 0, 0, 1_850_000),  # the price is the unit's (valuation less the discount)
        ("closed", False, 0, 0, None),
        ("completed", False, 0, 0, 1_850_000),
    ]
    assert cases(again) == erased  # what this writer held goes too, so a snapshot holds none of it
    assert again.snapshot() is not None
    again.close()
    for secret in secrets:
        assert secret not in raw_bytes(erasable_url), secret

    for snapshots in (True, False):
        view = AllocationService(erasable_url, NO_AFTERCARE, snapshots=snapshots, write=False)
        assert bool(view.loaded_from) == snapshots
        assert cases(view) == erased
        assert view.portfolio.pot_nok == pot and sales_by_year(payloads(view)) == sales  # the office's accounts
        stored = payloads(view)
        assert [(p.code, p.reason) for p in stored if isinstance(p, c.PurchaseDeclined)] == [("loan_insufficient", "")]
        assert [(p.reason, p.note) for p in stored if isinstance(p, c.SaleCaseClosed)] == [("tenant_withdrew", "")]
        view.close()
    assert reasons_report(erasable_url, None, None).rows == reasons_before  # the codes stay
    report = replay(erasable_url)
    assert report.divergence is None, report.divergence
    assert report.not_resolved and all("H1" in r for r in report.not_resolved)  # the runs it was housed in


def payloads(svc: AllocationService) -> list[Any]:
    return [e.payload for _, e in svc.stored_events()]


def test_a_command_may_not_name_the_buyer_of_a_case(erasable_url: str) -> None:
    """The engine says whose key seals a case's step, never the command."""
    svc = AllocationService(erasable_url)
    cmds = rent_to_own()
    for cmd in cmds[: cmds.index(c.PurchaseInterestRegistered(household="H1", unit="U1", on=DAY)) + 1]:
        svc.submit(cmd)
    step = c.EconomicAssessmentRecorded(unit="U1", on=DAY, approved=True, max_price_nok=SECRET_MAX)
    with pytest.raises(InputError) as e:
        svc.submit(msgspec.structs.replace(step, household="H1"))
    assert e.value.field == "household"
    assert svc.submit(step)[0][1].payload.household == "H1"
    svc.close()


def test_a_case_step_keyed_for_idempotency_is_fingerprinted_with_the_buyer_s_key(erasable_url: str) -> None:
    """A plain SHA-256 of a start loan's few fields would give its amount away to a search."""
    svc = AllocationService(erasable_url, NO_AFTERCARE)
    cmds = rent_to_own()
    loan = next(x for x in cmds if isinstance(x, c.StartLoanApplied))
    decline = next(x for x in cmds if isinstance(x, c.PurchaseDeclined))
    for cmd in cmds[: cmds.index(loan)]:
        svc.submit(cmd)
    first = svc.submit(loan, command_id="loan-1")
    accepted = first[0][1].payload
    assert isinstance(accepted, c.CommandAccepted)
    assert accepted.sha256 != c.command_sha256(loan)
    assert svc.submit(loan, command_id="loan-1") == first  # still idempotent
    for cmd in cmds[cmds.index(loan) + 1 : cmds.index(decline)]:
        svc.submit(cmd)
    first = svc.submit(decline, command_id="decline-1")
    assert svc.submit(decline, command_id="decline-1") == first  # once it closed the case too
    with pytest.raises(InputError, match="decline-1"):
        svc.submit(msgspec.structs.replace(decline, reason="another note"), command_id="decline-1")
    svc.close()


CASE_PAYLOADS = frozenset({"PurchaseInterestRegistered", *(t.__name__ for t in CASE_STEPS)})


def as_before_case_steps_were_sealed(m: pytest.MonkeyPatch) -> None:
    """The engine as it wrote an erasable store before it sealed rent-to-own steps (1f12171):
    the steps in clear, without the buyer's name, and a keyed one fingerprinted with a plain
    SHA-256 (only an application was fingerprinted with its household's key)."""
    import pyengine.handlers.sales as handlers

    encode = Sealer.encode
    m.setattr(Sealer, "encode", lambda self, data: data if data["type"] in CASE_PAYLOADS else encode(self, data))
    m.setattr(handlers, "buyer_named", lambda pf, case, cmd: cmd)
    m.setattr(
        AllocationService, "_sealed_for",
        lambda self, cmd: cmd.id if isinstance(cmd, c.ApplicationSubmitted | c.ApplicationUpdated) else None,
    )  # fmt: skip


def test_a_case_step_keyed_before_the_steps_were_sealed_is_still_recognised(
    erasable_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry of a case step stored with the plain fingerprint the engine gave it before it
    fingerprinted it with the buyer's key is answered as stored; another command under its
    command_id is still refused. Nothing stored changes."""
    cmds = rent_to_own()
    keyed = {
        cmds.index(c.PurchaseInterestRegistered(household="H1", unit="U1", on=DAY)): "interest-1",
        next(i for i, x in enumerate(cmds) if isinstance(x, c.StartLoanApplied)): "loan-1",
        next(i for i, x in enumerate(cmds) if isinstance(x, c.PurchaseDeclined)): "decline-1",
        next(i for i, x in enumerate(cmds) if isinstance(x, c.SaleCaseClosed)): "close-1",
    }
    first: dict[str, list[tuple[int, Any]]] = {}
    svc = AllocationService(erasable_url, NO_AFTERCARE)
    with monkeypatch.context() as m:
        as_before_case_steps_were_sealed(m)
        for i, cmd in enumerate(cmds):
            stored = svc.submit(cmd, command_id=keyed.get(i))
            if i in keyed:
                first[keyed[i]] = stored
    for i, cid in keyed.items():  # the plain fingerprints the engine stored then
        assert svc.portfolio.commands[cid][0] == c.command_sha256(cmds[i]), cid
    svc.close()
    count = stored_count(erasable_url)

    svc = AllocationService(erasable_url, NO_AFTERCARE)  # the engine as it is now
    for i, cid in keyed.items():
        assert svc._fingerprint(cmds[i]) != c.command_sha256(cmds[i])  # now keyed with the buyer's key
        assert svc.submit(cmds[i], command_id=cid) == first[cid], cid
    loan = cmds[next(i for i, x in keyed.items() if x == "loan-1")]
    assert isinstance(loan, c.StartLoanApplied)
    with pytest.raises(InputError, match="loan-1"):
        svc.submit(msgspec.structs.replace(loan, amount_nok=loan.amount_nok + 1), command_id="loan-1")
    decline = cmds[next(i for i, x in keyed.items() if x == "decline-1")]
    with pytest.raises(InputError, match="decline-1"):
        svc.submit(msgspec.structs.replace(decline, reason="another note"), command_id="decline-1")
    with pytest.raises(InputError, match="interest-1"):  # another command type under the key
        svc.submit(c.PurchaseInterestRegistered(household="H2", unit="U1", on=DAY), command_id="interest-1")
    svc.close()
    assert stored_count(erasable_url) == count  # nothing stored, nothing rewritten


def test_an_erased_buyer_s_steps_stored_in_clear_read_the_same_from_snapshot_and_log(
    erasable_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps stored in clear (before the engine sealed them) still read from the log after the
    buyer's erasure: the erasing writer keeps them, so a snapshot it takes, a service restarted
    from it and a fold of the log all hold them; what was sealed goes from all of them."""
    cmds = rent_to_own()
    upgraded = max(i for i, x in enumerate(cmds) if isinstance(x, c.EconomicAssessmentRecorded)) + 1
    svc = AllocationService(erasable_url, NO_AFTERCARE, snapshot_every=0)
    with monkeypatch.context() as m:
        as_before_case_steps_were_sealed(m)
        for cmd in cmds[:upgraded]:  # two cases, and the third's assessment
            svc.submit(cmd)
    for cmd in cmds[upgraded:]:  # the third case's loan decision is sealed
        svc.submit(cmd)
    assert [p.household for p in payloads(svc) if isinstance(p, c.StartLoanDecided)] == [msgspec.UNSET, "H1"]
    in_full = [
        ("declined", True, SECRET_MAX, SECRET_LOAN, 1_850_000),
        ("closed", False, 0, 0, None),
        ("completed", True, 2_000_000, 1_850_000, 1_850_000),
    ]
    assert cases(svc) == in_full
    svc.submit(c.ErasureRequested(id="H1"))
    assert svc.app.keys.erased("H1")
    erased = [
        ("declined", True, SECRET_MAX, SECRET_LOAN, 1_850_000),  # stored in clear: the log still reads it
        ("closed", False, 0, 0, None),
        ("completed", True, 2_000_000, 0, 1_850_000),  # the sealed loan decision reads as refused
    ]
    assert cases(svc) == erased  # the erasing writer's memory
    assert svc.snapshot() is not None
    svc.close()
    for snapshots in (True, False):
        view = AllocationService(erasable_url, NO_AFTERCARE, snapshots=snapshots, write=False)
        assert bool(view.loaded_from) == snapshots
        assert cases(view) == erased, snapshots
        view.close()
    report = replay(erasable_url)  # which checks the snapshot against the state it replayed
    assert report.divergence is None, report.divergence


def test_a_refusal_is_sealed_as_an_approval_is() -> None:
    """A `false` or a 0 left in clear would tell what the sealed `true` hides."""
    key = b"k" * 32
    shapes = {
        frozenset(seal(msgspec.to_builtins(x), key))
        for x in (
            c.EconomicAssessmentRecorded(unit="U1", on=DAY, approved=True, max_price_nok=SECRET_MAX, household="H1"),
            c.EconomicAssessmentRecorded(unit="U1", on=DAY, approved=False, household="H1"),
        )
    }
    assert shapes == {frozenset({"type", "schema", "unit", "on", "household", "sealed"})}


@pytest.mark.parametrize("end", ["not_approved", "loan_refused"])
def test_a_case_that_ended_at_a_sealed_step_folds_closed_after_the_erasure(erasable_url: str, end: str) -> None:
    """The step that ended the case reads, once erased, as the one that ends it there."""
    cmds = rent_to_own()
    svc = AllocationService(erasable_url)
    for cmd in cmds[: cmds.index(c.PurchaseInterestRegistered(household="H1", unit="U1", on=DAY)) + 1]:
        svc.submit(cmd)
    if end == "not_approved":
        svc.submit(c.EconomicAssessmentRecorded(unit="U1", on=DAY, approved=False))
    else:
        for cmd in sale_offered("H1", "U1", DAY, loan_nok=SECRET_LOAN)[1:5]:
            svc.submit(cmd)
        svc.submit(c.StartLoanDecided(unit="U1", on=DAY, granted=False))
    svc.submit(c.TenantMovedOut(household="H1", on=DAY, reason=SECRET_NOTE))
    svc.submit(c.ErasureRequested(id="H1"))
    svc.close()
    again = AllocationService(erasable_url, snapshots=False)
    assert [stage for stage, *_ in cases(again)] == [end] and again.portfolio.open_case == {}
    assert str(SECRET_LOAN).encode() not in raw_bytes(erasable_url)
    again.close()


# --- the paths that store several commands at once ---------------------------------------
BATCH_PATHS = ["submit_batch", "submit_many", "http"]


def write_batch(url: str, how: str, cmds: list[c.Command]) -> InputError | None:
    """Store `cmds` through a path that stores several commands at once (`submit_many` two a
    transaction), by a writer of its own; its refusal (None: stored)."""
    if how == "http":
        app = create_app(url, {hash_token(t): role for role, t in TOKENS.items()})
        with TestClient(app) as cl:
            r = cl.post("/commands/batch", content=msgspec.json.encode(cmds), headers=auth("clerk"))
        if r.status_code == 400:
            return InputError(r.json()["extra"]["field"], r.json()["extra"]["reason"])
        assert r.status_code == 200, r.text
        return None
    svc = AllocationService(url)
    try:
        if how == "submit_batch":
            svc.submit_batch(cmds, "Batch", [f"[{i}]" for i in range(len(cmds))])
        else:
            svc.submit_many(cmds, batch=2)
    except InputError as e:
        return e
    finally:
        svc.close()
    return None


def field_of(how: str, i: int, name: str) -> str:
    """A refused command's field as the path names it: a batch puts its index in front."""
    return name if how == "submit_many" else f"[{i}].{name}"


def stored_key(url: str, household: str) -> bytes | None:
    """The household's key as the key table holds it now, read beside any writer (None: deleted)."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///") :]) as con:
            rows = con.execute(f"SELECT key FROM {TABLE} WHERE household_id = ?", (household,)).fetchall()
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute(f"SELECT key FROM {TABLE} WHERE household_id = %s", (household,)).fetchall()
    assert rows, f"{household} has no row in {TABLE}"
    return None if rows[0][0] is None else bytes(rows[0][0])


def stored_count(url: str) -> int:
    svc = AllocationService(url, write=False)
    n = len(list(svc.stored_events()))
    svc.close()
    return n


@pytest.mark.parametrize("how", BATCH_PATHS)
def test_a_batch_in_a_store_in_clear_refuses_erasure(tmp_path: Path, how: str) -> None:
    """As `submit` does: accepting it would claim an erasure no key could make."""
    url = f"sqlite:///{tmp_path / 'clear.db'}"
    store_history(url)
    before = stored_count(url)
    e = write_batch(url, how, [app_cmd("h10", applied_on=DAY), c.ErasureRequested(id="h-gone")])
    assert e is not None and e.field == field_of(how, 1, "id") and "--erasable" in e.reason, e
    view = AllocationService(url, write=False)
    assert not view.portfolio.households["h-gone"].erased and view.portfolio.erased == set()
    # a batch stores nothing of a refused write; submit_many keeps the commands before the refused one
    assert ("h10" in view.portfolio.households) == (how == "submit_many")
    view.close()
    assert (stored_count(url) == before) == (how != "submit_many")


@pytest.mark.parametrize("how", BATCH_PATHS)
def test_a_batch_refuses_erasing_an_application_stored_in_clear(tmp_path: Path, how: str) -> None:
    url = f"sqlite:///{tmp_path / 'late.db'}"
    store_history(url)
    erasable(url)
    before = stored_count(url)
    e = write_batch(url, how, [c.ErasureRequested(id="h-gone")])
    assert e is not None and e.field == field_of(how, 0, "id") and "application is stored in clear" in e.reason, e
    assert stored_count(url) == before
    view = AllocationService(url, write=False)
    assert "h-gone" not in view.portfolio.erased
    view.close()
    assert SECRET_SKILL.encode() in raw_bytes(url)  # what the refused erasure would have claimed gone


@pytest.mark.parametrize("how", BATCH_PATHS)
def test_a_batch_refuses_erasing_a_household_that_has_not_left(erasable_url: str, how: str) -> None:
    """Each command is checked as the ones before it in the batch left the household: a
    withdrawal after the erasure comes too late for it."""
    svc = AllocationService(erasable_url)
    for cmd in history()[:5]:  # h-gone applied, not withdrawn
        svc.submit(cmd)
    svc.close()
    withdrawal = c.ApplicationWithdrawn(id="h-gone", code="moved_away")
    e = write_batch(erasable_url, how, [c.ErasureRequested(id="h-gone"), withdrawal])
    assert e is not None and e.field == field_of(how, 0, "id") and "has not left" in e.reason, e
    assert stored_key(erasable_url, "h-gone") is not None
    view = AllocationService(erasable_url, write=False)
    assert not view.portfolio.households["h-gone"].withdrawn and view.portfolio.erased == set()
    view.close()


@pytest.mark.parametrize("how", BATCH_PATHS)
def test_a_batch_erases_a_household_that_left_and_deletes_its_key_once_stored(erasable_url: str, how: str) -> None:
    svc = AllocationService(erasable_url, snapshot_every=0)
    for cmd in history():
        svc.submit(cmd)
    assert svc.snapshot() is not None  # it holds h-gone's data in clear
    svc.close()
    assert stored_key(erasable_url, "h-gone") is not None
    assert write_batch(erasable_url, how, [app_cmd("h10", applied_on=DAY), c.ErasureRequested(id="h-gone")]) is None
    # deleted by the writer that stored the batch, not left to the next one
    assert stored_key(erasable_url, "h-gone") is None
    view = AllocationService(erasable_url, write=False)
    assert snapshot_positions(view) == []
    h = view.portfolio.households["h-gone"]
    assert h.erased and h.spec.skills == [] and "h10" in view.portfolio.households
    view.close()
    assert SECRET_SKILL.encode() not in raw_bytes(erasable_url)
    report = replay(erasable_url)
    assert report.divergence is None, report.divergence
    assert report.not_resolved and all("h-gone" in r for r in report.not_resolved)


@pytest.mark.parametrize("how", BATCH_PATHS)
def test_a_batch_may_apply_withdraw_and_erase_a_household(erasable_url: str, how: str) -> None:
    """The erasure is checked against the state the commands before it in the batch left: a
    household that applied (sealed, as this store stores every application) or withdrew earlier
    in the batch has left by then."""
    store_history(erasable_url)
    cmds: list[c.Command] = [
        app_cmd("h-new", applied_on=DAY, skills=[SECRET_SKILL + "-3"]),
        c.ApplicationWithdrawn(id="h-new", code="moved_away", reason=SECRET_NOTE + "-3"),
        c.ErasureRequested(id="h-new"),
        c.ApplicationWithdrawn(id="h9", code="moved_away"),
        c.ErasureRequested(id="h9"),
    ]
    assert write_batch(erasable_url, how, cmds) is None
    assert stored_key(erasable_url, "h-new") is None and stored_key(erasable_url, "h9") is None
    for secret in (SECRET_SKILL + "-3", SECRET_NOTE + "-3"):
        assert secret.encode() not in raw_bytes(erasable_url)
    view = AllocationService(erasable_url, write=False)
    assert view.portfolio.erased == {"h-new", "h9"}
    assert view.portfolio.households["h-new"].spec.skills == []
    view.close()
    assert replay(erasable_url).divergence is None
