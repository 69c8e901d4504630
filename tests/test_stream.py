"""`pyengine stream`: after every operation the result equals a from-scratch solve and the
independent optimum (scipy without caps, HiGHS MIP with caps)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyengine.errors import InputError
from pyengine.generate import operations, portfolio
from pyengine.matching import Matcher, solve_instance
from pyengine.operations import apply_to_instance, apply_to_matcher
from pyengine.policy import Policy
from pyengine.schema import Instance, decode_result

from .helpers import POLICY
from .reference import lsa_optimum, mip_optimum
from .strategies import instances

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def strip(res: object) -> bytes:
    """The result without what measures the work (time, the search's nodes): a re-match that
    starts from the last prices may prove the same optimum in fewer nodes than a cold solve."""
    return msgspec.json.encode(msgspec.structs.replace(res, solve_ms=0.0, nodes=0))  # type: ignore[type-var]


def check_stream(inst: Instance, n_ops: int, seed: int, exact: bool, policy: Policy = POLICY) -> None:
    m = Matcher(policy)
    m.load(inst)
    m.solve()
    cur = inst
    for op in operations(inst, n_ops, seed):
        apply_to_matcher(m, op)
        cur = apply_to_instance(cur, op)
        with pytest.raises(InputError):
            m.result()  # the last decision is out of date after an operation
        summary = m.rematch()
        live = m.result()
        scratch = solve_instance(cur, policy)
        assert strip(live) == strip(scratch)  # same decision, not only the same objective
        assert (summary.objective, summary.bound, summary.uncapped_objective, summary.optimal, summary.matched) == (
            live.objective, live.bound, live.uncapped_objective, live.optimal, len(live.assignments),
        )  # fmt: skip
        if exact:
            want = mip_optimum(cur, policy) if cur.caps else lsa_optimum(cur, policy)
            assert live.objective == live.bound == want


@SETTINGS
@given(instances(max_units=9, max_households=9), st.integers(0, 10_000))
def test_random_streams_without_caps(inst: Instance, seed: int) -> None:
    check_stream(inst, 12, seed, exact=True)


@SETTINGS
@given(instances(max_units=9, max_households=9, caps=True), st.integers(0, 10_000))
def test_random_streams_with_caps(inst: Instance, seed: int) -> None:
    check_stream(inst, 8, seed, exact=True)


def test_generated_portfolio_stream_against_scratch() -> None:
    inst = msgspec.structs.replace(portfolio(300, 300, seed=5), caps=[])
    check_stream(inst, 40, 6, exact=False)


def test_generate_and_stream_cli(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pyengine.cli", *args], capture_output=True, text=True, cwd=tmp_path, timeout=600
        )

    p = run("generate", "--scale", "200", "--seed", "4", "--output", "i.json", "--ops", "25", "--ops-output", "o.jsonl")
    assert p.returncode == 0, p.stderr
    p = run("stream", "--instance", "i.json", "--events", "o.jsonl", "--output", "s.jsonl", "--final", "f.json")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["seq"] for r in rows] == list(range(1, 26))
    assert set(rows[0]) == {"seq", "objective", "bound", "matched", "solve_us"}
    final = decode_result((tmp_path / "f.json").read_bytes())
    assert (final.objective, final.bound, len(final.assignments)) == (
        rows[-1]["objective"], rows[-1]["bound"], rows[-1]["matched"],
    )  # fmt: skip
    # a bad operation: exit 2 naming the line and field; the lines before it were written
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    lines.insert(3, json.dumps({"op": "remove_unit", "id": "NOPE"}))
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    p = run("stream", "--instance", "i.json", "--events", "bad.jsonl")
    assert p.returncode == 2
    assert p.stderr.strip().startswith("pyengine stream: error: line 4: id: ")
    assert len(p.stdout.splitlines()) == 3
    p = run("generate", "--scale", "tiny", "--output", "x.json")
    assert p.returncode == 2 and "--scale" in p.stderr
