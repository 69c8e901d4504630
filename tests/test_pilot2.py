"""The pilot-2 scenario: the committed files are what the seeded generator makes, and the
demo runs end to end on the embedded store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pyengine import commands as c
from pyengine.scenarios import pilot2

ROOT = Path(__file__).resolve().parents[1]


def test_committed_files_are_what_the_generator_makes(tmp_path: Path) -> None:
    pilot2.write_files(str(tmp_path))
    for name in ("commands.jsonl", "instance.json"):
        assert (tmp_path / name).read_bytes() == (ROOT / "replays" / "pilot2" / name).read_bytes(), name


def test_scenario_follows_the_report() -> None:
    cmds = pilot2.commands()
    flats = [x for x in cmds if isinstance(x, c.UnitRegistered)]
    merges = [x for x in cmds if isinstance(x, c.UnitsMerged)]
    apps = [x for x in cmds if isinstance(x, c.ApplicationSubmitted) and x.current_unit is None]
    tenants = [x for x in cmds if isinstance(x, c.ApplicationSubmitted) and x.current_unit is not None]
    assert len(flats) == 48 and {f.rooms for f in flats} == {2}
    assert {f.rent_nok_month for f in flats} == {6800}
    assert {m.into.rent_nok_month for m in merges} == {9700}
    assert len(flats) - 2 * len(merges) + len(merges) - len(tenants) == 27  # flats to let
    assert len(apps) == 100
    assert sum(a.adults == 1 for a in apps) == 77
    assert sum(a.monthly_income_nok < 22000 for a in apps) >= 21


def test_demo_runs_and_prints_the_allocation(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "sqlite:///pyengine-demo.db" in out and (tmp_path / "pyengine-demo.db").exists()
    assert "Final allocation" in out
    assert "42 units allocated (27 to new residents)" in out
    assert "<- binding" in out
    assert "proven optimal" in out
    # the shared tasks each stairwell's residents cover (pilot 2 wanted all six everywhere)
    cover = [line for line in out.splitlines() if " households, " in line and " of 6 tasks: " in line]
    assert len(cover) == 6 and all(line.split()[0] in {"A1", "A2", "A3", "B1", "B2", "B3"} for line in cover)
    # running it again starts afresh
    q = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert q.returncode == 0 and q.stdout.splitlines()[-1] == out.splitlines()[-1]
