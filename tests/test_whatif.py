"""`pyengine whatif`: an identical policy changes nothing; dropping the cap changes the mix."""

from __future__ import annotations

import os
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


def _policy_files(tmp_path: Path) -> list[str]:
    nocap = tmp_path / "nocap.toml"
    nocap.write_text('version = 2\nname = "no cap"\ncaps = []\n')
    return [str(nocap), str(Path(__file__).parents[1] / "pyengine" / "policies" / "default-v1.toml")]


def _figures(out: object) -> tuple[object, ...]:
    from pyengine.whatif import Comparison

    assert isinstance(out, Comparison)
    return (out.runs, out.runs_changed, out.run_rows, out.household_rows, out.objective_whatif)


def test_several_policies_fan_out_over_local_processes(store: str, tmp_path: Path) -> None:
    from pyengine.whatif import compare_many

    files = _policy_files(tmp_path)
    policies = [load_policy(f) for f in files]
    fanned = compare_many(store, policies)
    assert [_figures(o) for o in fanned] == [_figures(compare(store, p)) for p in policies]


def test_several_policies_on_a_dask_cluster(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--scheduler` (or DASK_SCHEDULER_ADDRESS) sends each policy to a worker of a Dask
    cluster (here a local one of two worker processes); the files are those of local runs."""
    from distributed import LocalCluster

    files = _policy_files(tmp_path)
    local = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "whatif", "--store", store, "--policy", files[0], "--policy", files[1],
         "--out", str(tmp_path / "local")], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert "local processes" in local.stderr
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        env_runs = []
        for how in (["--scheduler", cluster.scheduler_address], []):
            env = dict(os.environ)
            if not how:
                env["DASK_SCHEDULER_ADDRESS"] = cluster.scheduler_address
            out = tmp_path / f"dask{len(env_runs)}"
            p = subprocess.run(
                [sys.executable, "-m", "pyengine.cli", "whatif", "--store", store, "--policy", files[0], "--policy",
                 files[1], "--out", str(out), *how], capture_output=True, text=True, timeout=300, env=env,
            )  # fmt: skip
            assert p.returncode == 0, p.stderr
            assert cluster.scheduler_address in p.stderr  # it ran there, not locally
            env_runs.append(out)
    for out in env_runs:
        for name in ("policies.csv", "nocap/runs.csv", "nocap/buildings.csv", "default-v1/households.csv"):
            assert (out / name).read_text() == (tmp_path / "local" / name).read_text(), name
        assert (out / "policies.png").stat().st_size > 5000
        assert "nocap/whatif.html" in (out / "index.html").read_text()
    rows = (tmp_path / "local" / "policies.csv").read_text().splitlines()
    assert rows[1].startswith("nocap,2,no cap,130,") and rows[2].startswith("default-v1,1,")


def test_a_scheduler_that_is_not_an_address_is_refused(store: str, tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "whatif", "--store", store, "--policy", _policy_files(tmp_path)[0],
         "--scheduler", "localhost", "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 2 and "--scheduler" in p.stderr, p.stderr
