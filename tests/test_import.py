"""`pyengine import`: a portfolio file stored as domain events and ONE MatchRun, all or nothing."""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyengine import bulk_import
from pyengine import commands as c
from pyengine.errors import ConcurrencyConflict, InputError
from pyengine.replay import replay
from pyengine.service import AllocationService

ROOT = Path(__file__).resolve().parents[1]
PILOT2 = ROOT / "replays" / "pilot2" / "instance.json"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyengine.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def stored_count(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        if "stored_events" not in tables:
            return 0
        return int(con.execute("select count(*) from stored_events").fetchone()[0])


def domain_file() -> dict[str, Any]:
    """Two cooperative flats with a grant, a sitting tenant whose lease began before the import,
    a refugee applicant, and an applicant."""
    unit = {
        "building": "B1", "stairwell": "B1-A", "floor": 1, "rooms": 2, "area_m2": 48, "rent_nok_month": 6800,
        "accessible": True, "kind": "ordinary", "district": "Lademoen", "school_district": "Lademoen",
        "tenure": "cooperative", "grant": {"amount_nok": 600000, "granted_on": "2001-03-01"},
    }  # fmt: skip
    household = {
        "adults": 1, "children": 0, "needs_accessible": False, "care_need": False, "disadvantaged": False,
        "refugee": False, "urgency": 0, "skills": [], "preferred_districts": [], "school_district": None,
        "current_unit": None, "transfer_requested": False,
    }  # fmt: skip
    return {
        "as_of": "2009-01-01",
        "units": [{"id": "U1", **unit}, {"id": "U2", **unit, "stairwell": "B1-B", "rent_nok_month": 7100}],
        "households": [
            {**household, "id": "T1", "applied_on": None, "current_unit": "U1", "stable_income": True,
             "monthly_income_nok": 34000, "lease": {"start": "2006-04-01", "end": "2009-03-31"}},
            {**household, "id": "R1", "applied_on": "2008-06-01", "refugee": True},
            {**household, "id": "A1", "applied_on": "2008-02-01"},
        ],
    }  # fmt: skip


def write(tmp_path: Path, doc: dict[str, Any], name: str = "portfolio.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_import_stores_events_and_one_match_run_and_replays(store_url: str, tmp_path: Path) -> None:
    p = run("import", "--store", store_url, str(PILOT2))
    assert p.returncode == 0, p.stderr
    assert "imported 42 units, 115 households and 0 leases" in p.stdout
    ev = run("events", "--store", store_url)
    kinds = [json.loads(line)["type"] for line in ev.stdout.splitlines()]
    assert kinds.count("MatchRun") == 1 and kinds[-1] == "MatchRun"
    assert kinds.count("UnitRegistered") == 42 and kinds.count("ApplicationSubmitted") == 115
    run_ = json.loads(ev.stdout.splitlines()[-1])
    assert run_["trigger"] == "Import" and run_["log_position"] == len(kinds) - 1
    assert len(run_["assignments"]) == 42
    # the batch and its single run verify on replay
    v = run("replay", "--store", store_url)
    assert v.returncode == 0 and "verified 1 of 1 MatchRuns" in v.stdout, v.stdout + v.stderr
    # and what export writes imports back to the same portfolio
    assert run("export", "--store", store_url, "--output", str(tmp_path / "e.json")).returncode == 0
    assert (tmp_path / "e.json").read_bytes() == PILOT2.read_bytes()


def test_domain_fields_leases_and_later_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = AllocationService(url)
    stored = bulk_import.import_portfolio(svc, bulk_import.decode(json.dumps(domain_file()).encode()))
    kinds = [type(e.payload).__name__ for _, e in stored]
    assert kinds == [
        "LedgerOpened", "DayClosed", "PolicyAdopted", "UnitRegistered", "UnitRegistered",
        "ApplicationSubmitted", "ApplicationSubmitted", "ApplicationSubmitted", "LeaseSigned", "MatchRun",
    ]  # fmt: skip
    pf = svc.portfolio
    assert pf.units["U1"].spec.tenure == "cooperative" and pf.units["U1"].spec.grant is not None
    lease = pf.households["T1"].lease
    assert lease is not None and (lease.start.isoformat(), lease.end.isoformat(), lease.rent_nok_month) == (
        "2006-04-01", "2009-03-31", 6800,
    )  # fmt: skip
    # a refugee flag without a date is recorded as settled on the application date
    assert pf.households["R1"].spec.refugee_settled_on is not None
    assert pf.households["R1"].spec.refugee_settled_on.isoformat() == "2008-06-01"
    assert pf.households["T1"].spec.stable_income and pf.households["T1"].spec.monthly_income_nok == 34000
    # the imported lease is due for renewal at once (it ends within 6 months)
    out = [type(e.payload).__name__ for _, e in svc.submit(c.DayClosed(date=dt.date(2009, 1, 2)))]
    assert out == ["DayClosed", "LeaseRenewalDue", "MatchRun"]
    # a second import adds to the store (one more run), with its own date
    more = domain_file()
    more["as_of"] = "2009-02-01"
    more["units"] = [{**more["units"][0], "id": "U3"}]
    more["households"] = [{**more["households"][2], "id": "A2"}]
    second = bulk_import.import_portfolio(svc, bulk_import.decode(json.dumps(more).encode()))
    assert [type(e.payload).__name__ for _, e in second] == [
        "DayClosed", "UnitRegistered", "ApplicationSubmitted", "MatchRun",
    ]  # fmt: skip
    assert second[-1][1].payload.run == 3 and not second[-1][1].payload.full
    svc.close()
    report = replay(url)
    assert report.divergence is None and report.runs_verified == 3


def test_gzipped_file_imports(tmp_path: Path) -> None:
    path = tmp_path / "p.json.gz"
    path.write_bytes(gzip.compress(json.dumps(domain_file()).encode()))
    p = run("import", "--store", f"sqlite:///{tmp_path / 's.db'}", str(path))
    assert p.returncode == 0, p.stderr
    assert "imported 2 units, 3 households and 1 leases" in p.stdout


def _bad(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_DELETE = object()
BAD: list[tuple[str, list[Any], Any, str, str]] = [
    ("unknown field", ["households", 1, "colour"], "red", "households[1].colour", "unknown field"),
    ("missing field", ["units", 0, "rooms"], _DELETE, "units[0].rooms", "missing required field"),
    ("bad tenure", ["units", 1, "tenure"], "rented", "units[1].tenure", "Invalid enum value"),
    ("duplicate unit", ["units", 1, "id"], "U1", "units[1].id", "unit 'U1' already exists"),
    ("unknown current unit", ["households", 0, "current_unit"], "U9", "households[0].current_unit", "unknown unit"),
    ("unit let twice", ["households", 2, "current_unit"], "U1", "households[2].current_unit", "is let to 'T1'"),
    ("applied after as_of", ["households", 2, "applied_on"], "2009-05-01", "households[2].applied_on", "after"),
    (
        "lease without tenancy", ["households", 2, "lease"], {"start": "2008-01-01", "end": "2010-12-31"},
        "households[2].lease", "only a sitting tenant",
    ),
    ("lease ended", ["households", 0, "lease", "end"], "2008-12-31", "households[0].lease.end", "before the engine"),
    ("lease backwards", ["households", 0, "lease", "start"], "2009-06-01", "households[0].lease.end", "not after"),
    ("settled, not refugee", ["households", 2, "refugee_settled_on"], "2008-01-01", "households[2]", "not flagged"),
    (
        "other caps", ["caps"], [{"flag": "refugee", "scope": "stairwell", "max_count": 1}], "caps",
        "differ from the caps of the policy",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "path", "value", "field", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_naming_the_field_and_stores_nothing(
    tmp_path: Path, name: str, path: list[Any], value: Any, field: str, reason: str
) -> None:
    db = tmp_path / "s.db"
    file = write(tmp_path, _bad(domain_file(), path, value))
    p = run("import", "--store", f"sqlite:///{db}", str(file))
    assert p.returncode == 2, p.stdout + p.stderr
    msg = p.stderr.strip()
    assert len(msg.splitlines()) == 1 and msg.startswith("pyengine import: error: ")
    assert field in msg and reason in msg, msg
    assert stored_count(db) == 0


def test_a_refused_import_into_a_used_store_leaves_it_as_it_was(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = AllocationService(url)
    bulk_import.import_portfolio(svc, bulk_import.decode(PILOT2.read_bytes()))
    before = [(p, type(e.payload).__name__) for p, e in svc.stored_events()]
    decision = svc.portfolio.decision()
    doc = domain_file()
    doc["as_of"] = "2021-05-01"
    let = next(h["current_unit"] for h in json.loads(PILOT2.read_text())["households"] if h["current_unit"])
    doc["households"][2]["current_unit"] = let  # a pilot-2 tenant's flat: refused at the last household
    with pytest.raises(InputError) as e:
        bulk_import.import_portfolio(svc, bulk_import.decode(json.dumps(doc).encode()))
    assert e.value.field == "households[2].current_unit"
    assert [(p, type(e.payload).__name__) for p, e in svc.stored_events()] == before
    # the service folded the log in again: the half-applied batch left no trace in its view
    assert "U1" not in svc.portfolio.units and svc.portfolio.decision() == decision
    doc["as_of"] = "2020-01-01"
    with pytest.raises(InputError, match="as_of: 2020-01-01 is before the engine's date 2021-05-01"):
        bulk_import.import_portfolio(svc, bulk_import.decode(json.dumps(doc).encode()))
    svc.close()


def test_a_concurrent_writer_makes_the_import_a_conflict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    a = AllocationService(url)
    a.submit(c.DayClosed(date=dt.date(2009, 1, 1)))
    b = AllocationService(url)
    monkeypatch.setattr(b, "catch_up", lambda: 0)  # b misses a's next write, as a racing process would
    a.submit(c.DayClosed(date=dt.date(2009, 1, 2)))
    n = len(list(a.stored_events()))
    with pytest.raises(ConcurrencyConflict):
        bulk_import.import_portfolio(b, bulk_import.decode(json.dumps(domain_file()).encode()))
    assert len(list(a.stored_events())) == n
    a.close()
    b.close()
