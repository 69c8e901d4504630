"""The log cannot be damaged by a command, and damage done to it is caught: an engine-owned
schema version, the read-back guard, the anchored head, vouched-for snapshots, idempotency
keys and resuming a file after a crash (issue 14)."""

from __future__ import annotations

import io
import json
import sqlite3
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from pyengine import commands as c
from pyengine import snapshot
from pyengine.cli import main
from pyengine.errors import InputError
from pyengine.service import AllocationService

ROOT = Path(__file__).resolve().parents[1]
PILOT2 = ROOT / "replays" / "pilot2" / "commands.jsonl"


def cli(*argv: str) -> tuple[int, str, str]:
    """`pyengine ARGV` in this process (the CLI writes bytes to sys.stdout.buffer)."""
    raw, err = io.BytesIO(), io.StringIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse
            code = int(e.code or 0)
    out.flush()
    return code, raw.getvalue().decode(), err.getvalue()


@pytest.fixture(scope="module")
def pilot_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pilot") / "s.db"
    code, _, err = cli("submit", "--store", f"sqlite:///{path}", "--resume", str(PILOT2))
    assert code == 0, err
    return path


def copy(src: Path, tmp_path: Path, name: str = "s.db") -> Path:
    dst = tmp_path / name
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def write_lines(path: Path, *lines: object) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def reads_work(path: Path) -> None:
    png = str(path.with_suffix(".png"))
    for argv in (["events"], ["report", "sales", "--png", png], ["replay"], ["snapshot"]):
        code, out, err = cli(*argv, "--store", url(path))
        assert code == 0, (argv, out, err)


def sql(path: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(path) as db:
        db.execute(statement, args)


# --- the schema version is the engine's ------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        {"type": "OfferMade", "schema": 0, "household": "S003", "unit": "B3-4a"},
        {"type": "OfferMade", "schema": -1, "household": "S003", "unit": "B3-4a"},
        {"type": "OfferMade", "schema": 1, "household": "S003", "unit": "B3-4a", "reply_by": "2021-06-01"},
        {"type": "OfferMade", "schema": 99, "household": "S003", "unit": "B3-4a"},
        {"type": "DayClosed", "schema": 0, "date": "2021-05-02"},
        {"type": "DayClosed", "schema": -1, "date": "2021-05-02"},
    ],
)
def test_a_client_cannot_choose_the_schema_version(line: dict[str, object], pilot_store: Path, tmp_path: Path) -> None:
    store = copy(pilot_store, tmp_path)
    before = store.read_bytes()
    code, _, err = cli("submit", "--store", url(store), str(write_lines(tmp_path / "c.jsonl", line)))
    assert code == 2 and "schema" in err, err
    assert store.read_bytes() == before
    reads_work(store)


def test_the_current_schema_may_be_given_and_reads_back_as_acknowledged(pilot_store: Path, tmp_path: Path) -> None:
    store = copy(pilot_store, tmp_path)
    offer = {"type": "OfferMade", "schema": 2, "household": "S003", "unit": "B3-4a", "reply_by": "2021-06-01"}
    code, out, err = cli("submit", "--store", url(store), str(write_lines(tmp_path / "c.jsonl", offer)))
    if code == 2:  # refused by a domain rule of the pilot's state: then nothing may be stored
        return
    assert code == 0, err
    acked = [json.loads(x) for x in out.splitlines() if json.loads(x)["type"] == "OfferMade"]
    code, out, _ = cli("events", "--store", url(store), "--type", "OfferMade")
    stored = [json.loads(x) for x in out.splitlines()]
    assert acked and acked[0] in stored and acked[0]["reply_by"] == "2021-06-01"


def test_python_api_commands_are_validated_at_the_boundary(tmp_path: Path) -> None:
    svc = AllocationService(url(tmp_path / "s.db"))
    with pytest.raises(InputError, match="schema"):
        svc.submit(c.DayClosed(date=c.dt.date(2021, 1, 1), schema=0))
    with pytest.raises(InputError, match="date"):
        svc.submit(c.DayClosed(date=c.dt.date(9999, 12, 31)))
    svc.submit(c.DayClosed(date=c.dt.date(2021, 1, 1)))
    with pytest.raises(InputError, match="rent_nok_month"):
        svc.submit(c.UnitRentChanged(id="U1", rent_nok_month=2**63 - 1))
    svc.close()


def test_a_record_that_would_not_read_back_is_never_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard itself: a payload the reader would refuse (here: a negative income smuggled past
    the boundary; the core never sees incomes) is refused with nothing stored."""
    store = tmp_path / "s.db"
    svc = AllocationService(url(store))
    svc.submit(c.DayClosed(date=c.dt.date(2021, 1, 1)))
    n = svc.app.recorder.max_notification_id()
    monkeypatch.setattr(c, "validate_command", lambda cmd: cmd)  # as if the boundary had a gap
    with pytest.raises(InputError, match="read back"):
        svc.submit(c.ApplicationSubmitted(id="H1", adults=1, applied_on=c.dt.date(2020, 1, 1), monthly_income_nok=-5))
    assert svc.app.recorder.max_notification_id() == n
    svc.close()
    reads_work(store)


def test_policy_version_is_not_hidden_by_the_records_version(pilot_store: Path) -> None:
    code, out, _ = cli("events", "--store", url(pilot_store), "--type", "PolicyAdopted")
    rec = json.loads(out.splitlines()[0])
    assert code == 0 and rec["policy_version"] == rec["policy"]["version"] == 1 and rec["version"] >= 1


# --- the head of the log ------------------------------------------------------------------------
def head_of(path: Path) -> tuple[int, str]:
    code, out, err = cli("replay", "--store", url(path))
    assert code == 0, out + err
    line = next(x for x in out.splitlines() if x.startswith("head: "))
    run, digest = line.removeprefix("head: run ").split(" at position ")[0], line.rsplit(": ", 1)[1]
    return int(run), digest


def test_deleting_the_last_match_run_fails_replay(pilot_store: Path, tmp_path: Path) -> None:
    store = copy(pilot_store, tmp_path)
    sql(store, "DELETE FROM stored_events WHERE rowid = (SELECT MAX(rowid) FROM stored_events)")
    code, out, _ = cli("replay", "--store", url(store))
    assert code == 1 and "no MatchRun covers" in out


def test_deleting_the_last_command_is_caught_by_the_anchor(pilot_store: Path, tmp_path: Path) -> None:
    store = copy(pilot_store, tmp_path)
    run, digest = head_of(store)
    ck = tmp_path / "head.json"
    ck.write_text(json.dumps({"run": run, "position": 0, "head": digest}))
    assert cli("replay", "--store", url(store), "--checkpoint", str(ck))[0] == 0
    # the last command's records: everything after the run before the last one
    with sqlite3.connect(store) as db:
        runs = [r for (r,) in db.execute("SELECT rowid FROM stored_events WHERE topic = 'pyengine/MatchRun'")]
        db.execute("DELETE FROM stored_events WHERE rowid > ?", (runs[-2],))
    assert cli("replay", "--store", url(store))[0] == 0  # a shorter log is still a valid log...
    code, out, _ = cli("replay", "--store", url(store), "--expect-head", digest)
    assert code == 1 and "truncated or rewritten" in out  # ...but not the one the office anchored
    code, out, _ = cli("replay", "--store", url(store), "--checkpoint", str(ck))
    assert code == 1 and f"run {run}" in out


def test_submit_writes_a_checkpoint_that_replay_checks(tmp_path: Path) -> None:
    store, ck = tmp_path / "s.db", tmp_path / "ck.json"
    code, out, err = cli("submit", "--store", url(store), "--checkpoint", str(ck), str(PILOT2))
    assert code == 0, err
    saved = json.loads(ck.read_text())
    last = json.loads(out.splitlines()[-1])  # the last MatchRun printed carries the head
    assert (last["run"], last["position"], last["result_hash"]) == (saved["run"], saved["position"], saved["head"])
    code, out, _ = cli("replay", "--store", url(store), "--checkpoint", str(ck))
    assert code == 0 and f"the expected head is run {saved['run']}" in out
    assert cli("replay", "--store", url(store), "--expect-head", "0" * 64)[0] == 1


# --- snapshots ------------------------------------------------------------------------------------
NEWEST_SNAPSHOT = "SELECT originator_version, state FROM stored_snapshots ORDER BY originator_version DESC LIMIT 1"


def forge_snapshot(store: Path) -> None:
    """Raise an applicant's urgency from 0 to 3 in the newest snapshot's body."""
    with sqlite3.connect(store) as db:
        rowid, state = db.execute(
            "SELECT originator_version, state FROM stored_snapshots ORDER BY originator_version DESC LIMIT 1"
        ).fetchone()
        forged = bytes(state).replace(b'"urgency":0', b'"urgency":3', 1)
        assert forged != bytes(state)
        db.execute("UPDATE stored_snapshots SET state = ? WHERE originator_version = ?", (forged, rowid))


def test_an_edited_snapshot_is_not_trusted(pilot_store: Path, tmp_path: Path) -> None:
    store = copy(pilot_store, tmp_path)
    assert cli("snapshot", "--store", url(store))[0] == 0
    svc = AllocationService(url(store))
    assert svc.loaded_from > 0  # the untouched snapshot is used
    svc.close()
    forge_snapshot(store)
    svc = AllocationService(url(store))
    assert svc.loaded_from == 0  # the forged one is not: the whole log is folded
    assert all(h.spec.urgency != 3 or h.spec.id != "" for h in svc.portfolio.households.values())
    svc.close()
    code, out, _ = cli("replay", "--store", url(store))
    assert code == 1 and "snapshot at position" in out
    # the next command is decided on the log's facts, and replays
    day = write_lines(tmp_path / "d.jsonl", {"type": "DayClosed", "date": "2021-05-02"})
    assert cli("submit", "--store", url(store), str(day))[0] == 0
    code, out, _ = cli("replay", "--store", url(store))
    assert "verified" in out and "diverges" not in out


def test_a_snapshot_without_its_record_in_the_log_is_not_trusted(pilot_store: Path, tmp_path: Path) -> None:
    store = copy(pilot_store, tmp_path)
    assert cli("snapshot", "--store", url(store))[0] == 0
    sql(store, "DELETE FROM stored_events WHERE topic = ?", snapshot.RECORDED_TOPIC)
    svc = AllocationService(url(store))
    assert svc.loaded_from == 0
    svc.close()


def test_resubmitting_an_id_after_a_forged_snapshot_says_what_happened(pilot_store: Path, tmp_path: Path) -> None:
    store = copy(pilot_store, tmp_path)
    assert cli("snapshot", "--store", url(store))[0] == 0
    with sqlite3.connect(store) as db:  # drop a household from the snapshot body
        rowid, state = db.execute(
            "SELECT originator_version, state FROM stored_snapshots ORDER BY originator_version DESC LIMIT 1"
        ).fetchone()
        body = json.loads(bytes(state))
        data = body["state"]["_data_"]
        dropped = data["households"].pop(0)["spec"]["id"]
        db.execute(
            "UPDATE stored_snapshots SET state = ? WHERE originator_version = ?", (json.dumps(body).encode(), rowid)
        )
    again = {"type": "ApplicationSubmitted", "id": dropped, "applied_on": "2021-01-01", "adults": 1}
    code, _, err = cli("submit", "--store", url(store), str(write_lines(tmp_path / "a.jsonl", again)))
    assert code == 2 and "another writer" not in err and dropped in err


# --- idempotency keys and resuming --------------------------------------------------------------
def test_a_repeated_key_returns_the_first_events_and_stores_nothing(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    svc = AllocationService(url(store))
    first = svc.submit(c.DayClosed(date=c.dt.date(2021, 1, 1)), command_id="day-1")
    n = svc.app.recorder.max_notification_id()
    again = svc.submit(c.DayClosed(date=c.dt.date(2021, 1, 1)), command_id="day-1")
    assert [p for p, _ in again] == [p for p, _ in first]
    assert [e.payload for _, e in again] == [e.payload for _, e in first]
    assert svc.app.recorder.max_notification_id() == n
    with pytest.raises(InputError, match="command_id"):
        svc.submit(c.DayClosed(date=c.dt.date(2021, 1, 2)), command_id="day-1")
    svc.close()
    other = AllocationService(url(store))  # another process learns the keys from the log
    assert [p for p, _ in other.submit(c.DayClosed(date=c.dt.date(2021, 1, 1)), command_id="day-1")] == [
        p for p, _ in first
    ]
    other.close()


def test_keys_survive_a_snapshot(pilot_store: Path, tmp_path: Path) -> None:
    store = copy(pilot_store, tmp_path)
    assert cli("snapshot", "--store", url(store))[0] == 0
    before = store.read_bytes()
    code, _, err = cli("submit", "--store", url(store), "--resume", str(PILOT2))  # every line is already stored
    assert code == 0 and err.count("already stored") == sum(1 for x in PILOT2.read_text().splitlines() if x.strip())
    svc = AllocationService(url(store))
    assert svc.loaded_from > 0
    svc.close()
    assert len(store.read_bytes()) == len(before)


def test_a_file_resumes_after_a_crash(tmp_path: Path) -> None:
    lines = [x for x in PILOT2.read_text().splitlines() if x.strip()]
    full = tmp_path / "all.jsonl"
    full.write_text("\n".join(lines) + "\n")
    part = tmp_path / "part.jsonl"
    part.write_text("\n".join(lines[:40]) + "\n")  # as if killed after line 40 was stored
    store = tmp_path / "s.db"
    code, _, _ = cli("submit", "--store", url(store), "--resume", str(part))
    assert code == 0
    code, rest, err = cli("submit", "--store", url(store), "--resume", str(full))
    assert code == 0 and err.count("already stored") == 40
    ref = tmp_path / "ref.db"
    code, whole, _ = cli("submit", "--store", url(ref), "--resume", str(full))

    def strip(text: str) -> list[dict[str, object]]:
        # the hashes cover the records as stored, with their timestamps: equal only within one store
        skip = ("recorded_at", "solve_ms", "events_hash", "previous_hash", "result_hash")
        return [{k: v for k, v in json.loads(x).items() if k not in skip} for x in text.splitlines()]

    assert strip(rest) == strip(whole)  # the same events, and the earlier ones printed again
    assert head_of(store)[0] == head_of(ref)[0]


def test_without_resume_or_keys_the_output_is_the_commands_events(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    code, out, err = cli("submit", "--store", url(store), str(PILOT2))
    assert code == 0 and err == ""
    assert "CommandAccepted" not in out
    code, _, err = cli("submit", "--store", url(store), str(PILOT2))  # not resumable: refused, as before
    assert code == 2 and "already exists" in err


def test_an_explicit_command_id_is_used_and_checked(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    day = {"type": "DayClosed", "date": "2021-01-01", "command_id": "office-42"}
    f = write_lines(tmp_path / "a.jsonl", day)
    code, out, _ = cli("submit", "--store", url(store), str(f))
    assert code == 0 and '"command_id":"office-42"' in out
    other = write_lines(tmp_path / "b.jsonl", {**day, "date": "2021-01-05"})
    code, _, err = cli("submit", "--store", url(store), str(other))
    assert code == 2 and "command_id" in err and "office-42" in err


# --- files as spreadsheet tools write them --------------------------------------------------------
def test_a_byte_order_mark_is_accepted_and_a_duplicated_key_refused(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    f = tmp_path / "bom.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps({"type": "DayClosed", "date": "2021-01-01"}).encode() + b"\n")
    assert cli("submit", "--store", url(store), str(f))[0] == 0
    before = store.read_bytes()
    f.write_text('{"type": "DayClosed", "date": "2021-01-02", "date": "2021-01-03"}\n')
    code, _, err = cli("submit", "--store", url(store), str(f))
    assert code == 2 and "date: given twice" in err
    assert store.read_bytes() == before


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"type": "UnitRentChanged", "id": "B1-1a", "rent_nok_month": 2**63 - 1}, "rent_nok_month"),
        ({"type": "UnitRentChanged", "id": "B1-1a", "rent_nok_month": 2**64}, "rent_nok_month"),
        ({"type": "ApplicationSubmitted", "id": "X1", "adults": 2**63 - 1, "applied_on": "2021-01-01"}, "adults"),
        ({"type": "DayClosed", "date": "9999-12-31"}, "date"),
        ({"type": "DayClosed", "date": "0001-01-01"}, "date"),
    ],
)
def test_values_beyond_the_documented_ranges_are_refused(
    line: dict[str, object], field: str, pilot_store: Path, tmp_path: Path
) -> None:
    store = copy(pilot_store, tmp_path)
    before = store.read_bytes()
    code, _, err = cli("submit", "--store", url(store), str(write_lines(tmp_path / "c.jsonl", line)))
    assert code == 2 and f"{field}:" in err, err
    assert store.read_bytes() == before


def test_stream_operations_and_json_policies_refuse_duplicated_keys(tmp_path: Path) -> None:
    inst = ROOT / "replays" / "pilot2" / "instance.json"
    ops = tmp_path / "ops.jsonl"
    ops.write_bytes(b'\xef\xbb\xbf{"op": "set_as_of", "as_of": "2021-05-02"}\n')
    code, _, err = cli("stream", "--instance", str(inst), "--events", str(ops))
    assert code == 0, err
    ops.write_text('{"op": "set_as_of", "as_of": "2021-05-02", "as_of": "2021-05-03"}\n')
    code, _, err = cli("stream", "--instance", str(inst), "--events", str(ops))
    assert code == 2 and "line 1: as_of: given twice" in err
    policy = tmp_path / "p.json"
    policy.write_text('{"version": 2, "version": 3}')
    code, _, err = cli("match", "--instance", str(inst), "--policy", str(policy))
    assert code == 2 and "p.json.version: given twice" in err


def stored_keys(store: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            (n,) = db.execute(
                "SELECT COUNT(*) FROM stored_events WHERE topic = ?", ("pyengine/CommandAccepted",)
            ).fetchone()
        return int(n)
    except sqlite3.Error:  # not created yet
        return 0


def stored_after_kill(store: Path) -> int:
    """The lines stored when the writer died, counted as a writer opening the store sees them:
    a read-only count made right after the kill was once one short of what the resumed run
    found stored (a commit in the WAL that its index did not show yet)."""
    db = sqlite3.connect(store)
    try:
        (n,) = db.execute(
            "SELECT COUNT(*) FROM stored_events WHERE topic = ?", ("pyengine/CommandAccepted",)
        ).fetchone()
        return int(n)
    finally:
        db.close()


@pytest.mark.parametrize("after", [1, 40, 90, 150])
def test_a_killed_submit_resumes_without_storing_twice(after: int, tmp_path: Path) -> None:
    """SIGKILL a `submit --resume` once `after` lines are stored, run it again: every line is
    stored once, the second run prints every line's events, and the log replays."""
    import signal
    import subprocess
    import sys
    import time

    store = tmp_path / "s.db"
    argv = [sys.executable, "-m", "pyengine.cli", "submit", "--store", url(store), "--resume", str(PILOT2)]
    lines = [x for x in PILOT2.read_text().splitlines() if x.strip()]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while stored_keys(store) < after and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = stored_after_kill(store)
    assert after <= killed_at < len(lines)  # the kill came in the middle of the file
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(store) as db:
        keys = db.execute("SELECT COUNT(*), COUNT(DISTINCT originator_id) FROM stored_events WHERE topic = ?",
                          ("pyengine/CommandAccepted",)).fetchone()  # fmt: skip
    assert keys == (len(lines), len(lines))
    printed = [json.loads(x) for x in done.stdout.splitlines()]
    assert sum(e["type"] == "CommandAccepted" for e in printed) == len(lines)  # stored before or now, all printed
    # The lines stored before the kill are not applied again. The count after the kill may
    # miss the one commit the kill interrupted (its WAL frames written, the WAL index not yet
    # updated; seen once in 17 runs): the resumed writer rebuilds the index and finds it.
    assert killed_at <= done.stderr.count("already stored") <= killed_at + 1
    assert cli("replay", "--store", url(store))[0] == 0


def test_a_damaged_gzip_file_is_bad_input(tmp_path: Path) -> None:
    import gzip

    data = bytearray(gzip.compress(PILOT2.read_bytes()))
    data[40:48] = b"\xff" * 8  # the stream, not the header
    f = tmp_path / "c.jsonl.gz"
    f.write_bytes(bytes(data))
    for argv in (
        ["submit", "--store", url(tmp_path / "s.db"), str(f)],
        ["import", "--store", url(tmp_path / "i.db"), str(f)],
    ):
        code, _, err = cli(*argv)
        assert code == 2 and "gzip" in err, (argv, err)


def test_a_snapshot_through_a_read_only_url_is_refused_before_anything_is_opened(
    pilot_store: Path, tmp_path: Path
) -> None:
    store = copy(pilot_store, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = cli("snapshot", "--store", f"{url(store)}?mode=ro")
    assert code == 2 and "read-only" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no -wal or -shm left behind


def test_dates_beyond_the_calendar_raise_what_date_arithmetic_raises() -> None:
    """A command whose computed date passes year 9999 is refused as bad input (Portfolio.handle
    maps OverflowError), so the calendar must raise that, like date arithmetic does."""
    from pyengine.calendar import add_months, lease_end

    assert lease_end(c.dt.date(9899, 12, 31), 100) == c.dt.date(9999, 12, 30)
    with pytest.raises(OverflowError):
        add_months(c.dt.date(9999, 12, 1), 1)
    with pytest.raises(OverflowError):
        lease_end(c.dt.date(9950, 1, 1), 50)
