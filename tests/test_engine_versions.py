"""Engine 0.2.0 decides capped re-matches by the kept price search; runs recorded by 0.1.0
(the branch and bound) replay by that search, so a log spanning the upgrade verifies."""

from __future__ import annotations

from pathlib import Path

from pyengine import commands as c
from pyengine.matching import ENGINE_VERSION, LEGACY_ENGINE_VERSION
from pyengine.replay import replay
from pyengine.scenarios import pilot2
from pyengine.service import AllocationService


def _runs(url: str) -> list[c.MatchRun]:
    svc = AllocationService(url)
    try:
        return [ev.payload for _, ev in svc.stored_events() if isinstance(ev.payload, c.MatchRun)]
    finally:
        svc.close()


def test_a_log_spanning_the_upgrade_replays(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    cmds = pilot2.commands()
    old = AllocationService(url)
    old.submit(cmds[0])
    old.portfolio.matcher.follow(LEGACY_ENGINE_VERSION)  # as an engine 0.1.0 writer decided
    for cmd in cmds[1:100]:
        old.submit(cmd)
    old.close()
    new = AllocationService(url)
    for cmd in cmds[100:160]:
        new.submit(cmd)
    new.close()
    runs = _runs(url)
    versions = [r.engine_version for r in runs]
    assert versions[1:100] == [LEGACY_ENGINE_VERSION] * 99 and versions[100:] == [ENGINE_VERSION] * 60
    assert any(r.caps for r in runs[1:100]) and any(r.caps for r in runs[100:])
    assert all(r.optimal for r in runs)
    report = replay(url)
    assert report.divergence is None, report.divergence
    assert report.runs_verified == len(runs)


def test_both_searches_prove_the_same_optimum(tmp_path: Path) -> None:
    """Both prove every capped re-match optimal, with the same objective. Among allocations
    that score the same they may pick differently: 0.1.0 broke ties by id order inside its
    branch and bound, 0.2.0 by the per-pair tie-break the uncapped engine always used."""
    decided = {}
    for name, version in (("old", LEGACY_ENGINE_VERSION), ("new", ENGINE_VERSION)):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        svc = AllocationService(url)
        cmds = pilot2.commands()[:160]
        svc.submit(cmds[0])
        svc.portfolio.matcher.follow(version)
        for cmd in cmds[1:]:
            svc.submit(cmd)
        svc.close()
        decided[name] = _runs(url)
    old, new = decided["old"], decided["new"]
    assert len(old) == len(new)
    for a, b in zip(old, new, strict=True):
        assert (a.objective, a.bound, a.uncapped_objective, a.optimal) == (
            b.objective, b.bound, b.uncapped_objective, True,
        ), (a.run, a.engine_version, b.engine_version)  # fmt: skip
        assert all(r.count <= r.cap for r in b.caps)
    assert any(a.caps for a in old)
