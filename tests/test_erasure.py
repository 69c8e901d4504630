"""Erasure by crypto-shredding (issue 20): in a store made with `db init --erasable`, the personal
fields of applications are sealed with a key per household; ErasureRequested deletes the key.
The data is then unreadable from the store (SQLite file bytes, PostgreSQL rows), while `replay`
still verifies the whole chain and names the runs it can no longer solve again."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from adapters.keys import TABLE
from adapters.store import init_tables
from pyengine import commands as c
from pyengine.errors import InputError
from pyengine.fairness import report as fairness_report
from pyengine.policy import load_policy
from pyengine.replay import replay
from pyengine.sealing import SEALED, Sealer, is_erased, seal, unseal
from pyengine.service import AllocationService
from tests.helpers import app_cmd, unit_cmd

DAY = dt.date(2026, 1, 5)
SECRET_SKILL = "zither-teacher-7781"  # values to look for in the stored bytes
SECRET_NOTE = "moved in with her sister in Molde"


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


def decided(svc: AllocationService) -> tuple[object, ...]:
    d = svc.portfolio.decision()
    return d.assignments, d.objective, d.digest


def erasable(url: str) -> str:
    init_tables(url, erasable=True)
    return url


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
    svc = AllocationService(url)
    for cmd in history():
        svc.submit(cmd)
    svc.close()
    erasable(url)
    svc = AllocationService(url)
    with pytest.raises(InputError, match="stored in clear"):
        svc.submit(c.ErasureRequested(id="h-gone"))
    svc.submit(app_cmd("h-new", applied_on=dt.date(2025, 1, 1), skills=[SECRET_SKILL + "-2"]))
    svc.close()
    assert (SECRET_SKILL + "-2").encode() not in raw_bytes(url)


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
    samples: dict[str, dict[str, object]] = {
        "ApplicationSubmitted": {"id": "H1", "adults": 2, "skills": [SECRET_SKILL], "current_unit": "U1"},
        "ApplicationUpdated": {"id": "H1", "children": 3},
        "ApplicationWithdrawn": {"id": "H1", "reason": SECRET_NOTE, "code": "moved_away"},
        "OfferDeclined": {"household": "H1", "unit": "U1", "reason": SECRET_NOTE},
        "LeaseNotRenewed": {"household": "H1", "on": "2026-01-01", "reason": SECRET_NOTE},
        "LeaseTerminated": {"household": "H1", "unit": "U1", "on": "2026-01-01", "reason": SECRET_NOTE},
        "TenantMovedOut": {"household": "H1", "on": "2026-01-01", "reason": SECRET_NOTE},
        "AftercareRecorded": {"household": "H1", "on": "2026-01-01", "note": SECRET_NOTE},
    }
    cls = getattr(c, kind)
    data = msgspec.to_builtins(msgspec.convert({"type": kind, **samples[kind]}, cls))
    key = b"k" * 32
    stored = seal(data, key)
    assert SECRET_NOTE not in str(stored) and SECRET_SKILL not in str(stored) and "sealed" in stored
    assert seal(data, key) == stored  # the same bytes for the same payload under one key
    assert msgspec.convert(unseal(stored, key), cls) == msgspec.convert(data, cls)
    gone = msgspec.convert(Sealer().decode(stored), cls)  # no keys: as after the erasure
    assert SECRET_NOTE not in str(gone) and SECRET_SKILL not in str(gone)
    assert is_erased(gone) == (kind in ("ApplicationSubmitted", "ApplicationUpdated"))
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
