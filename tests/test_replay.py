"""Audit replay: a real log verifies; every kind of tampering is caught at the first affected run."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from pyengine import commands as c
from pyengine.policy import load_policy
from pyengine.replay import replay
from pyengine.scenarios import pilot2
from pyengine.service import AllocationService


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    svc = AllocationService(url)
    for cmd in pilot2.commands()[:120]:  # units, merges, tenants and applicants: caps bind
        svc.submit(cmd)
    svc.close()
    return url


def rows(url: str) -> list[tuple[int, str, dict[str, object]]]:
    with sqlite3.connect(url[len("sqlite:///") :]) as db:
        out = db.execute("select rowid, topic, state from stored_events order by rowid").fetchall()
    return [(r, t, json.loads(s)) for r, t, s in out]


def write_row(url: str, rowid: int, state: dict[str, object] | None) -> None:
    with sqlite3.connect(url[len("sqlite:///") :]) as db:
        if state is None:
            db.execute("delete from stored_events where rowid = ?", (rowid,))
        else:
            db.execute("update stored_events set state = ? where rowid = ?", (json.dumps(state).encode(), rowid))


def runs_after(url: str, rowid: int) -> int:
    """The run number of the first MatchRun stored after `rowid`."""
    for r, topic, state in rows(url):
        if r > rowid and topic == "pyengine/MatchRun":
            return int(state["payload"]["_data_"]["run"])  # type: ignore[index]
    raise AssertionError("no later run")


def test_an_untouched_log_verifies(store: str) -> None:
    report = replay(store)
    assert report.divergence is None and report.runs_verified == 120
    kinds = [r[2]["payload"]["_data_"]["full"] for r in rows(store) if r[1] == "pyengine/MatchRun"]  # type: ignore[index]
    assert [i + 1 for i, full in enumerate(kinds) if full] == [1, 101]  # whole decisions; the rest are changes


def test_an_edited_delta_run_is_caught(store: str) -> None:
    rowid, _, state = next(
        r
        for r in rows(store)
        if r[1] == "pyengine/MatchRun" and r[2]["payload"]["_data_"]["run"] == 90  # type: ignore[index]
    )
    data = state["payload"]["_data_"]  # type: ignore[index]
    data["withdrawn"] = ["T01"]  # type: ignore[index]  # pretend a sitting tenant was dropped
    write_row(store, rowid, state)
    report = replay(store)
    assert report.divergence is not None and report.divergence.run == 90
    assert "does not match its own hash" in report.divergence.reason


def test_cli_replay(store: str) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "replay", "--store", store], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "verified 120 of 120 MatchRuns" in ok.stdout


def test_an_edited_application_is_caught_at_the_next_run(store: str) -> None:
    target = next(r for r in rows(store) if r[1] == "pyengine/ApplicationSubmitted" and r[0] > 150)
    rowid, _, state = target
    state["payload"]["_data_"]["urgency"] = 3  # type: ignore[index]
    write_row(store, rowid, state)
    report = replay(store)
    assert report.divergence is not None
    assert report.divergence.run == runs_after(store, rowid)
    assert "edited or deleted" in report.divergence.reason
    p = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "replay", "--store", store], capture_output=True, text=True
    )
    assert p.returncode == 1 and f"run {report.divergence.run} " in p.stdout


def test_a_deleted_event_is_caught(store: str) -> None:
    rowid = next(r for r, t, _ in rows(store) if t == "pyengine/ApplicationSubmitted" and r > 150)
    want = runs_after(store, rowid)
    write_row(store, rowid, None)
    report = replay(store)
    assert report.divergence is not None and report.divergence.run == want


def test_a_deleted_match_run_is_caught(store: str) -> None:
    match_rows = [r for r, t, _ in rows(store) if t == "pyengine/MatchRun"]
    write_row(store, match_rows[50], None)
    report = replay(store)
    assert report.divergence is not None and report.divergence.run == 52
    assert "previous run's hash" in report.divergence.reason


def test_an_edited_decision_names_the_household(store: str) -> None:
    # run 101 is a checkpoint: it records the whole decision (the runs between record changes)
    rowid, _, state = next(
        r
        for r in rows(store)
        if r[1] == "pyengine/MatchRun" and r[2]["payload"]["_data_"]["run"] == 101  # type: ignore[index]
    )
    data = state["payload"]["_data_"]  # type: ignore[index]
    assert data["full"] and len(data["assignments"]) > 2  # type: ignore[index,arg-type]
    a, b = data["assignments"][-1], data["assignments"][-2]  # type: ignore[index]
    a["unit"], b["unit"] = b["unit"], a["unit"]
    write_row(store, rowid, state)
    report = replay(store)
    assert report.divergence is not None and report.divergence.run == 101
    assert report.divergence.household == min(a["household"], b["household"])


def test_policy_changes_replay_under_the_policy_in_force(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    cmds = pilot2.commands()
    svc = AllocationService(url)
    for cmd in cmds[:100]:
        svc.submit(cmd)
    svc.close()
    v2 = msgspec.structs.replace(load_policy(), version=2, urgency_points=300)
    svc = AllocationService(url, v2)
    kinds = [type(e.payload).__name__ for _, e in svc.submit(cmds[100])]
    assert kinds[0] == "PolicyAdopted" and kinds[-1] == "MatchRun"
    for cmd in cmds[101:110]:
        svc.submit(cmd)
    svc.close()
    svc = AllocationService(url)  # no policy given: the log's v2 stays in force
    stored = svc.submit(cmds[110])
    assert stored[-1][1].payload.policy_version == 2
    svc.close()
    report = replay(url)
    assert report.divergence is None and report.runs_verified == 111
    assert isinstance(c.PolicyAdopted, type)


def _report(url: str, workers: int) -> dict[str, object]:
    r = replay(url, workers=workers)
    return {k: v for k, v in vars(r).items() if k != "seconds"}


def _edit_early_application(url: str) -> None:
    rowid, _, state = next(r for r in rows(url) if r[1] == "pyengine/ApplicationSubmitted" and r[0] > 40)
    state["payload"]["_data_"]["urgency"] = 3  # type: ignore[index]
    write_row(url, rowid, state)


def _edit_late_application(url: str) -> None:
    rowid, _, state = [r for r in rows(url) if r[1] == "pyengine/ApplicationSubmitted"][-1]
    state["payload"]["_data_"]["urgency"] = 3  # type: ignore[index]
    write_row(url, rowid, state)


def _delete_a_middle_run(url: str) -> None:
    write_row(url, [r for r, t, _ in rows(url) if t == "pyengine/MatchRun"][60], None)


def _delete_the_last_run(url: str) -> None:
    write_row(url, rows(url)[-1][0], None)


def _garble_a_row(url: str) -> None:
    with sqlite3.connect(url[len("sqlite:///") :]) as db:
        db.execute("update stored_events set state = ? where rowid = ?", (b"{not json", len(rows(url)) // 2))


@pytest.mark.parametrize(
    "tamper",
    [None, _edit_early_application, _edit_late_application, _delete_a_middle_run, _delete_the_last_run, _garble_a_row],
)
def test_workers_report_what_one_process_reports(store: str, tamper: object) -> None:
    """Split between processes (each folds the log before its stretch), replay finds the same
    first divergence, counts and head as one process walking the whole log."""
    if callable(tamper):
        tamper(store)
    one = _report(store, 1)
    assert (one["divergence"] is None) == (tamper is None)
    assert _report(store, 3) == one
