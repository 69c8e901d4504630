"""MatchRuns built from the core's report of what changed equal those built by comparing whole
results, and replay verifies them (issue 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from pyengine import commands as c
from pyengine.digest import LtHash
from pyengine.policy import Policy, load_policy
from pyengine.portfolio import Portfolio
from pyengine.replay import replay
from pyengine.scenarios.churn import Churn
from pyengine.service import AllocationService

# the hashes cover the stored records, whose timestamps differ between two stores
UNSTABLE = ("solve_ms", "events_hash", "previous_hash", "result_hash")


def policy(capped: bool) -> Policy:
    p = load_policy()
    return p if capped else msgspec.structs.replace(p, version=2, caps=[])


def runs(url: str, p: Policy, seed: int) -> list[dict[str, Any]]:
    svc = AllocationService(url, p)
    churn = Churn(seed=seed, buildings=3, per_building=12, applicants=15)
    svc.submit_many(churn.setup())
    svc.submit_many(churn.stream(svc.portfolio, 250), batch=50)
    out = [
        {k: v for k, v in msgspec.to_builtins(ev.payload).items() if k not in UNSTABLE}
        for _, ev in svc.stored_events()
        if isinstance(ev.payload, c.MatchRun)
    ]
    svc.close()
    return out


@pytest.mark.parametrize("capped", [True, False], ids=["capped", "uncapped"])
@pytest.mark.parametrize("seed", [3, 11])
def test_delta_runs_equal_the_diff_of_whole_results(
    seed: int, capped: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'delta.db'}"
    from_delta = runs(url, policy(capped), seed)
    assert replay(url).divergence is None  # and every delta run's hash is the whole decision's
    with monkeypatch.context() as m:  # every run from the whole result, compared here
        m.setattr(Portfolio, "_delta_run", lambda self: self._whole_run(self.ledger, False))
        from_whole = runs("memory:", policy(capped), seed)
    assert len(from_delta) > 100
    assert sum(not r["full"] for r in from_delta) > 100
    assert from_delta == from_whole


def test_a_rebuilt_writer_goes_on_with_deltas(tmp_path: Path) -> None:
    """After a restart (the core has reported nothing yet) the first run compares whole
    results; the runs after it come from the core's deltas, and the log verifies."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = AllocationService(url, snapshot_every=0)
    churn = Churn(seed=5, buildings=2, per_building=10, applicants=10)
    svc.submit_many(churn.setup())
    svc.submit_many(churn.stream(svc.portfolio, 40))
    svc.close()
    svc = AllocationService(url, snapshot_every=0)
    calls: list[str] = []
    whole, delta = Portfolio._whole_run, Portfolio._delta_run

    def spy_whole(self: Portfolio, *a: Any) -> dict[str, Any]:
        calls.append("whole")
        return whole(self, *a)

    def spy_delta(self: Portfolio, *a: Any) -> dict[str, Any]:
        calls.append("delta")
        return delta(self, *a)

    mp = pytest.MonkeyPatch()
    mp.setattr(Portfolio, "_whole_run", spy_whole)
    mp.setattr(Portfolio, "_delta_run", spy_delta)
    try:
        svc.submit_many(churn.stream(svc.portfolio, 20), batch=1)
    finally:
        mp.undo()
        svc.close()
    assert calls[0] == "whole" and calls[1:].count("delta") >= 15
    assert replay(url).divergence is None


def test_the_kept_digest_equals_a_digest_of_the_whole_decision_after_every_command(tmp_path: Path) -> None:
    svc = AllocationService(f"sqlite:///{tmp_path / 's.db'}", snapshot_every=0)
    churn = Churn(seed=8, buildings=3, per_building=12, applicants=15)
    svc.submit_many(churn.setup())
    checked = 0
    for cmd in churn.stream(svc.portfolio, 150):
        svc.submit(cmd)
        pf = svc.portfolio
        assert pf.ledger is not None and pf.ledger.last_run is not None
        kept = pf._digest
        assert kept is not None
        whole = LtHash.of(pf.ledger.decision.values(), pf.ledger.cap_rows.values())
        assert kept.hexdigest() == whole.hexdigest() == pf.ledger.last_run.digest
        checked += 1
    assert checked == 150
    svc.close()


def test_lthash_is_a_multiset_hash() -> None:
    elements = [f"e{i}".encode() for i in range(20)]
    a, b = LtHash(), LtHash()
    for e in elements:
        a.add(e)
    for e in reversed(elements):
        b.add(e)
    assert a.hexdigest() == b.hexdigest()  # order does not matter
    b.add(b"extra")
    assert a.hexdigest() != b.hexdigest()
    b.remove(b"extra")
    assert a.hexdigest() == b.hexdigest()  # removing undoes adding
    b.add(elements[0])  # a multiset: twice is not once
    assert a.hexdigest() != b.hexdigest()
