"""`pyengine whatif`: an identical policy changes nothing; dropping the cap changes the mix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from pyengine.policy import load_policy
from pyengine.scenarios import pilot2
from pyengine.service import AllocationService
from pyengine.whatif import compare, write


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('w') / 'log.db'}"
    svc = AllocationService(url)
    for cmd in pilot2.commands()[:130]:
        svc.submit(cmd)
    svc.close()
    return url


def test_identical_policy_reports_no_change(store: str, tmp_path: Path) -> None:
    out = compare(store, load_policy())
    assert out.runs == 130 and out.runs_changed == 0 and out.run_rows == []
    assert out.objective_actual == out.objective_whatif
    assert all(r["unit_actual"] == r["unit_whatif"] for r in out.household_rows.values())
    files = write(out, tmp_path, load_policy())
    assert (tmp_path / "runs.csv").read_text() == ""  # nothing differs
    assert {f.name for f in files} == {"runs.csv", "households.csv", "buildings.csv", "disadvantaged-share.png",
                                       "whatif.html"}  # fmt: skip


def test_without_the_cap_the_mix_changes(store: str, tmp_path: Path) -> None:
    nocap = msgspec.structs.replace(load_policy(), version=2, caps=[])
    out = compare(store, nocap)
    assert out.runs_changed > 0 and out.objective_whatif > out.objective_actual
    last = max(int(str(r["run"])) for r in out.building_rows)
    final = [r for r in out.building_rows if r["run"] == last]
    assert all(int(str(r["disadvantaged_actual"])) <= int(str(r["cap_actual"])) for r in final)
    assert any(int(str(r["disadvantaged_whatif"])) > int(str(r["cap_actual"])) for r in final)
    pol = tmp_path / "nocap.toml"
    pol.write_text('version = 2\nname = "no cap"\ncaps = []\n')
    p = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "whatif", "--store", store, "--policy", str(pol), "--out",
         str(tmp_path / "wi")], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "130 runs re-run under policy v2" in p.stdout
    assert "<img" in (tmp_path / "wi" / "whatif.html").read_text()
    assert (tmp_path / "wi" / "disadvantaged-share.png").stat().st_size > 5000
