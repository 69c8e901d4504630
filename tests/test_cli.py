"""CLI contracts: `match` files and every bad-input case (exit 2, one line, nothing stored)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyengine.schema import decode_result

ROOT = Path(__file__).resolve().parents[1]
PILOT2 = ROOT / "replays" / "pilot2" / "instance.json"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyengine.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def good_instance() -> dict[str, Any]:
    return {
        "as_of": "2021-05-01",
        "units": [
            {"id": "U1", "building": "B1", "stairwell": "B1-A", "floor": 2, "rooms": 2, "area_m2": 48,
             "rent_nok_month": 6800, "accessible": True, "kind": "ordinary", "district": "Lademoen",
             "school_district": "Lademoen"},
            {"id": "U2", "building": "B1", "stairwell": "B1-A", "floor": 3, "rooms": 2, "area_m2": 48,
             "rent_nok_month": 6800, "accessible": False, "kind": "ordinary", "district": "Lademoen",
             "school_district": "Lademoen"},
        ],
        "households": [
            {"id": "H1", "adults": 1, "children": 0, "needs_accessible": False, "care_need": False,
             "disadvantaged": False, "refugee": False, "urgency": 0, "applied_on": "2020-11-02",
             "skills": ["gardening"], "preferred_districts": ["Lademoen"], "school_district": None,
             "current_unit": None, "transfer_requested": False},
            {"id": "H2", "adults": 2, "children": 0, "needs_accessible": False, "care_need": False,
             "disadvantaged": True, "refugee": False, "urgency": 1, "applied_on": None,
             "skills": [], "preferred_districts": [], "school_district": None,
             "current_unit": "U2", "transfer_requested": False},
        ],
        "caps": [{"flag": "disadvantaged", "scope": "building", "max_share": 0.30}],
    }  # fmt: skip


def test_match_writes_the_result_file(tmp_path: Path) -> None:
    inst = tmp_path / "i.json"
    inst.write_text(json.dumps(good_instance()))
    out = tmp_path / "r.json"
    p = run("match", "--instance", str(inst), "--output", str(out))
    assert p.returncode == 0, p.stderr
    res = decode_result(out.read_bytes())
    assert [(a.household, a.unit, a.score) for a in res.assignments] == [
        ("H1", "U1", 60 + 2 * 6 + 40 + 25),  # size, waiting (180 days), preference, mix
        ("H2", "U2", 100 + 150 + 1000),
    ]
    assert res.objective == res.bound == 137 + 1250
    assert [(c.scope, c.count, c.cap) for c in res.caps] == [("B1", 1, 1)]


def test_match_pilot2_instance_from_the_repo(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    p = run("match", "--instance", str(PILOT2), "--output", str(out))
    assert p.returncode == 0, p.stderr
    res = decode_result(out.read_bytes())
    assert res.optimal and len(res.assignments) == 42
    assert any(c.count == c.cap for c in res.caps)  # the 30 % cap binds
    assert res.uncapped_objective > res.objective


def mutate(path: list[Any], value: Any = None, delete: bool = False) -> dict[str, Any]:
    doc = good_instance()
    node: Any = doc
    for k in path[:-1]:
        node = node[k]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


BAD = [
    ("unknown field", mutate(["units", 0, "colour"], "red"), "units[0].colour", "unknown field"),
    ("missing field", mutate(["households", 0, "adults"], delete=True), "households[0].adults", "missing"),
    ("wrong type", mutate(["units", 1, "rooms"], "two"), "units[1].rooms", "Expected `int`"),
    ("negative rooms", mutate(["units", 0, "rooms"], -1), "units[0].rooms", ">= 1"),
    ("duplicate unit id", mutate(["units", 1, "id"], "U1"), "units[1].id", "duplicate"),
    ("duplicate household id", mutate(["households", 1, "id"], "H1"), "households[1].id", "duplicate"),
    ("unknown current unit", mutate(["households", 1, "current_unit"], "U9"), "households[1].current_unit",
     "unknown unit"),
    ("cap share above 1", mutate(["caps", 0, "max_share"], 1.5), "caps[0].max_share", "<= 1.0"),
    ("cap share below 0", mutate(["caps", 0, "max_share"], -0.1), "caps[0].max_share", ">= 0.0"),
    ("applied after as_of", mutate(["households", 0, "applied_on"], "2022-01-01"), "households[0].applied_on",
     "after"),
    ("unknown top-level field", mutate(["extra"], 1), "extra", "unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "doc", "field", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_instance_exit_2_one_line(tmp_path: Path, name: str, doc: dict[str, Any], field: str, reason: str) -> None:
    inst = tmp_path / "i.json"
    inst.write_text(json.dumps(doc))
    out = tmp_path / "r.json"
    p = run("match", "--instance", str(inst), "--output", str(out))
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert f"{field}: " in lines[0] and reason in lines[0], lines[0]
    assert not out.exists()


def test_cap_with_both_share_and_count(tmp_path: Path) -> None:
    doc = mutate(["caps", 0, "max_count"], 2)
    inst = tmp_path / "i.json"
    inst.write_text(json.dumps(doc))
    p = run("match", "--instance", str(inst))
    assert p.returncode == 2 and "caps[0]: give exactly one" in p.stderr


def test_missing_instance_file(tmp_path: Path) -> None:
    p = run("match", "--instance", str(tmp_path / "nope.json"))
    assert p.returncode == 2 and "--instance: cannot read" in p.stderr


def test_bad_policy_file(tmp_path: Path) -> None:
    inst = tmp_path / "i.json"
    inst.write_text(json.dumps(good_instance()))
    pol = tmp_path / "p.toml"
    pol.write_text("version = 2\nurgency_points = -5\n")
    p = run("match", "--instance", str(inst), "--policy", str(pol))
    assert p.returncode == 2 and "p.toml.urgency_points" in p.stderr


def test_policy_override_changes_scores(tmp_path: Path) -> None:
    inst = tmp_path / "i.json"
    inst.write_text(json.dumps(good_instance()))
    pol = tmp_path / "p.toml"
    pol.write_text("version = 2\npreferred_district_bonus = 400\n")
    p = run("match", "--instance", str(inst), "--policy", str(pol))
    assert p.returncode == 0, p.stderr
    res = decode_result(p.stdout.encode())
    assert res.policy_version == 2
    assert res.assignments[0].breakdown.preference == 400
