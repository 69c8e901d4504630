"""The event-sourced service: submit contract, reopening the store, concurrent writers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from pyengine import commands as c
from pyengine.errors import ConcurrencyConflict, InputError
from pyengine.policy import ENGINE_CODES, MAX_RULES, Coverage, Policy, load_policy, parse_policy
from pyengine.scenarios import pilot2
from pyengine.schema import Cap
from pyengine.service import AllocationService

from .helpers import writer_adopting_unchecked


def small_commands() -> list[c.Command]:
    cmds = pilot2.commands()
    # the day, 10 flats, 2 merges' worth of units, a few applications
    keep = [x for x in cmds if isinstance(x, c.DayClosed)]
    keep += [x for x in cmds if isinstance(x, c.UnitRegistered)][:8]
    keep += [x for x in cmds if isinstance(x, c.ApplicationSubmitted) and x.current_unit is None][:12]
    return keep


def test_every_command_is_followed_by_a_match_run(store_url: str) -> None:
    svc = AllocationService(store_url)
    for cmd in small_commands():
        stored = svc.submit(cmd)
        assert type(stored[-1][1].payload) is c.MatchRun
        assert all(type(e.payload) is not c.MatchRun for _, e in stored[:-1])
    positions = [p for p, _ in svc.stored_events()]
    assert positions == list(range(1, len(positions) + 1))
    svc.close()


def test_reopened_store_gives_identical_state_and_last_run(store_url: str) -> None:
    svc = AllocationService(store_url)
    for cmd in small_commands():
        svc.submit(cmd)
    before_inst = msgspec.json.encode(svc.portfolio.instance())
    assert svc.portfolio.ledger is not None
    before_run = svc.portfolio.ledger.last_run
    before_decision = svc.portfolio.decision()
    svc.close()

    again = AllocationService(store_url)
    assert msgspec.json.encode(again.portfolio.instance()) == before_inst
    assert again.portfolio.ledger is not None
    assert again.portfolio.ledger.last_run == before_run
    assert again.portfolio.decision() == before_decision
    # and the core, fed from the reopened log, re-computes the very same decision
    again.portfolio.sync()
    res = again.portfolio.matcher.solve()
    assert before_run is not None
    assert [(a.household, a.unit, a.score) for a in res.assignments] == [
        (a.household, a.unit, a.score) for a in before_decision.assignments
    ]
    again.close()


def test_match_run_records_its_log_position_and_hash(store_url: str) -> None:
    svc = AllocationService(store_url)
    for cmd in small_commands()[:5]:
        svc.submit(cmd)
    runs = [(p, e.payload) for p, e in svc.stored_events() if isinstance(e.payload, c.MatchRun)]
    for pos, run in runs:
        assert run.log_position == pos - 1  # positions are 1-based, log_position counts events before
        assert len(run.result_hash) == 64
    assert [r.run for _, r in runs] == list(range(1, len(runs) + 1))
    svc.close()


def test_refused_command_stores_nothing(store_url: str) -> None:
    svc = AllocationService(store_url)
    for cmd in small_commands()[:3]:
        svc.submit(cmd)
    n = len(list(svc.stored_events()))
    bad = [
        c.ApplicationSubmitted(id="X", adults=1, applied_on=None),  # no date, no unit
        c.ApplicationSubmitted(id="X", adults=1, applied_on=pilot2.AS_OF, current_unit="NOPE"),
        c.UnitWithdrawn(id="NOPE"),
        c.DayClosed(date=pilot2.AS_OF.replace(year=2020)),
        c.OfferAccepted(household="S001", unit="A1-1a"),
    ]
    for cmd in bad:
        with pytest.raises(InputError):
            svc.submit(cmd)
    assert len(list(svc.stored_events())) == n
    svc.close()


def test_concurrent_writer_is_detected_not_merged(store_url: str) -> None:
    a = AllocationService(store_url)
    for cmd in small_commands()[:3]:
        a.submit(cmd)
    b = AllocationService(store_url)  # b has read the log up to here
    a.submit(c.UnitWithdrawn(id="A1-1a", reason="renovation", code="renovation"))
    # b appends from a stale view: its ledger version is taken, so the save must fail.
    events = b.portfolio.handle(c.UnitWithdrawn(id="A1-1b", reason="renovation", code="renovation"))
    with pytest.raises(Exception) as exc:
        b.app.save(*events)
    assert "IntegrityError" in type(exc.value).__name__ or "Conflict" in type(exc.value).__name__
    # through the service API a writer catches up first, so it sees a's event and goes on
    b2 = AllocationService(store_url)
    b2.submit(c.UnitWithdrawn(id="A1-1b", reason="renovation", code="renovation"))
    kinds = [type(e.payload).__name__ for _, e in b2.stored_events()]
    assert kinds.count("UnitWithdrawn") == 2
    for s in (a, b, b2):
        s.close()


def test_service_surfaces_a_conflict(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a = AllocationService(store_url)
    for cmd in small_commands()[:3]:
        a.submit(cmd)
    b = AllocationService(store_url)
    monkeypatch.setattr(b, "catch_up", lambda: 0)  # b misses a's write, as a racing process would
    a.submit(c.UnitWithdrawn(id="A1-1a", reason="renovation", code="renovation"))
    with pytest.raises(ConcurrencyConflict):
        b.submit(c.UnitWithdrawn(id="A1-1b", reason="renovation", code="renovation"))
    n_withdrawn = sum(1 for _, e in a.stored_events() if isinstance(e.payload, c.UnitWithdrawn))
    assert n_withdrawn == 1
    a.close()
    b.close()


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyengine.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_submit_stops_at_first_invalid_line_and_keeps_earlier_ones(tmp_path: Path) -> None:
    lines = [
        {"type": "DayClosed", "date": "2021-05-01"},
        {"type": "UnitRegistered", "id": "U1", "building": "B1", "stairwell": "B1-A", "floor": 1, "rooms": 2,
         "area_m2": 48, "rent_nok_month": 6800, "accessible": True, "kind": "ordinary", "district": "Lademoen"},
        {"type": "ApplicationSubmitted", "id": "H1", "adults": 1, "applied_on": "2021-01-01"},
        {"type": "ApplicationSubmitted", "id": "H2", "adults": -1, "applied_on": "2021-01-01"},
        {"type": "ApplicationSubmitted", "id": "H3", "adults": 1, "applied_on": "2021-01-01"},
    ]  # fmt: skip
    f = tmp_path / "cmds.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    p = run_cli("submit", "--store", "sqlite:///s.db", str(f), cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip() == "pyengine submit: error: line 4: adults: Expected `int` >= 1"
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert [o["type"] for o in out] == [
        "LedgerOpened", "DayClosed", "PolicyAdopted", "MatchRun", "UnitRegistered", "MatchRun",
        "ApplicationSubmitted", "MatchRun",
    ]  # fmt: skip
    assert out[-1]["assignments"][0]["household"] == "H1"
    ev = run_cli("events", "--store", "sqlite:///s.db", cwd=tmp_path)
    assert ev.returncode == 0
    assert [json.loads(x) for x in ev.stdout.splitlines()] == out
    only = run_cli("events", "--store", "sqlite:///s.db", "--type", "ApplicationSubmitted", cwd=tmp_path)
    assert [json.loads(x)["id"] for x in only.stdout.splitlines()] == ["H1"]
    with sqlite3.connect(tmp_path / "s.db") as db:
        (count,) = db.execute("select count(*) from stored_events").fetchone()
    assert count == len(out)


def test_events_on_a_missing_store_is_bad_input(tmp_path: Path) -> None:
    p = run_cli("events", "--store", "sqlite:///missing.db", cwd=tmp_path)
    assert p.returncode == 2 and "--store: no store at" in p.stderr
    assert not (tmp_path / "missing.db").exists()


def test_a_failure_after_events_were_folded_in_leaves_no_trace(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = AllocationService(store_url)
    for cmd in small_commands()[:4]:
        svc.submit(cmd)
    before = msgspec.json.encode(svc.portfolio.instance())
    n = len(list(svc.stored_events()))

    def broken(*_: object) -> None:
        raise RuntimeError("the matcher failed")

    monkeypatch.setattr(svc.portfolio.matcher, "solve", broken)
    monkeypatch.setattr(svc.portfolio.matcher, "rematch", broken)  # a run from the core's delta
    with pytest.raises(RuntimeError):
        svc.submit(c.UnitWithdrawn(id="A1-1a", reason="renovation", code="renovation"))
    assert len(list(svc.stored_events())) == n
    assert msgspec.json.encode(svc.portfolio.instance()) == before  # rebuilt from the log
    assert svc.portfolio.units["A1-1a"].active
    svc.submit(c.UnitWithdrawn(id="A1-1a", reason="renovation", code="renovation"))  # and it goes on normally
    svc.close()


def test_writers_taking_turns_re_match_from_the_core_s_delta(store_url: str) -> None:
    """A writer that folds in another writer's runs applies the core's delta to the decision
    the core last reported, instead of having the core render its whole decision; the
    digests of the runs it folds are advanced, not recomputed; the log replays and verifies."""
    from pyengine.matching import Matcher
    from pyengine.replay import replay

    cmds = pilot2.commands()[:140]
    a, b = AllocationService(store_url), AllocationService(store_url)
    whole = 0
    real = Matcher.solve

    def counted(self: Matcher, node_limit: int = 0) -> object:
        nonlocal whole
        whole += 1
        return real(self, node_limit)

    try:
        for cmd in cmds[:20]:
            a.submit(cmd)
        b.catch_up()
        b.submit(cmds[20])  # b's first run: its core has reported nothing yet
        Matcher.solve = counted  # type: ignore[method-assign]
        for i, cmd in enumerate(cmds[21:]):
            (a if i % 2 == 0 else b).submit(cmd)
        Matcher.solve = real  # type: ignore[method-assign]
        runs = [ev.payload for _, ev in a.stored_events() if isinstance(ev.payload, c.MatchRun)]
        full = sum(1 for r in runs[21:] if r.full)
        assert whole == full, (whole, full)  # only checkpoint runs render the whole decision
    finally:
        Matcher.solve = real  # type: ignore[method-assign]
        a.close()
        b.close()
    report = replay(store_url)
    assert report.divergence is None, report.divergence
    assert report.runs_verified == len(runs)


V1 = load_policy()
SNAKE_CASE = "Expected `str` matching regex '^[a-z][a-z0-9_]*$'"
TOO_MANY = [f"task_{i}" for i in range(MAX_RULES)]  # with v1's one cap: one rule too many


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"lease_termination_reasons": ["deceased", "lease_expired"]}, "policy.lease_termination_reasons[1]",
         f"'lease_expired' is reserved: {ENGINE_CODES['lease_expired']}"),
        ({"move_out_reasons": ["other", "unspecified"]}, "policy.move_out_reasons[1]",
         "'unspecified' is what reports call an uncoded event"),
        ({"offer_decline_reasons": ["other", "too_small", "other"]}, "policy.offer_decline_reasons[2]",
         "'other' is listed twice"),
        ({"offer_decline_reasons": ["Too small"]}, "policy.offer_decline_reasons[0]", SNAKE_CASE),
        ({"sale_close_reasons": ["other", "Tenant Withdrew"]}, "policy.sale_close_reasons[1]", SNAKE_CASE),
        ({"caps": [Cap(flag="refugee", scope="building", max_share=0.5, max_count=3)]}, "policy.caps[0]",
         "give exactly one of max_share and max_count"),
        ({"coverage": [Coverage(tasks=["snow", "stairs", "snow"], scope="building", points=5)]},
         "policy.coverage[0].tasks[2]", "'snow' is listed twice"),
        ({"coverage": [Coverage(tasks=TOO_MANY, scope="floor", points=5, hard=True)]}, "policy.coverage[0].hard",
         f"the caps and the hard rules' tasks come to {MAX_RULES + 1} rules; at most {MAX_RULES} are taken"),
    ],
)  # fmt: skip
def test_a_policy_given_from_code_is_checked_as_a_policy_file_is(
    changes: dict[str, object], field: str, reason: str, tmp_path: Path
) -> None:
    """A Policy handed to the service (not read by parse_policy) is refused as the same policy
    in a file would be, before anything is written: in a new store and in one whose policy in
    force it would replace."""
    refused_from_code(msgspec.structs.replace(V1, **changes), field, reason, tmp_path)


def refused_from_code(bad: Policy, field: str, reason: str, tmp_path: Path) -> None:
    """`bad` is refused as the same policy in a file is, naming `field`, when a service is given
    it from code, in a new store and in one whose policy in force it would replace; nothing is written."""
    with pytest.raises(InputError) as e:
        parse_policy(msgspec.to_builtins(bad), "policy")
    assert (e.value.field, e.value.reason) == (field, reason)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with pytest.raises(InputError) as e:
        AllocationService(url, bad)
    assert (e.value.field, e.value.reason) == (field, reason)
    svc = AllocationService(url, V1)
    assert list(svc.stored_events()) == []
    svc.submit(small_commands()[0])
    n = len(list(svc.stored_events()))
    svc.close()
    with pytest.raises(InputError) as e:
        AllocationService(url, bad)
    assert (e.value.field, e.value.reason) == (field, reason)
    svc = AllocationService(url)
    assert svc.portfolio.policy == V1 and len(list(svc.stored_events())) == n
    svc.close()


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"lease_years": 0}, "policy.lease_years", "Expected `int` >= 1"),
        ({"cooperative_share": 1.5}, "policy.cooperative_share", "Expected `float` <= 1.0"),
        ({"caps": [Cap(flag="refugee", scope="building", max_share=1.5)]}, "policy.caps[0].max_share",
         "Expected `float` <= 1.0"),
    ],
)  # fmt: skip
def test_a_policy_given_from_code_is_refused_a_value_out_of_its_fields_range(
    changes: dict[str, object], field: str, reason: str, tmp_path: Path
) -> None:
    """A Policy built in code is not decoded, so msgspec never held its fields to their Meta
    ranges: the service does, as decoding a file would, naming the entry (a cap's too)."""
    refused_from_code(msgspec.structs.replace(V1, **changes), field, reason, tmp_path)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"lease_years": "3"}, "policy.lease_years", "Expected `int`, got `str`"),
        ({"caps": [Cap(flag="refugee", scope="building", max_count="2")]}, "policy.caps[0].max_count",  # type: ignore[arg-type]
         "Expected `int | null`, got `str`"),
    ],
)  # fmt: skip
def test_a_policy_given_from_code_is_refused_a_value_of_the_wrong_type(
    changes: dict[str, object], field: str, reason: str, tmp_path: Path
) -> None:
    """Nor did msgspec check its fields' types: a string where an int is expected is refused as
    in a policy file, naming the entry."""
    refused_from_code(msgspec.structs.replace(V1, **changes), field, reason, tmp_path)


def test_a_policy_in_force_is_not_checked_again(tmp_path: Path) -> None:
    """The policy a store has in force was checked when it was adopted, or recorded before a
    check existed (here one listing the engine's own code): given again from code, it is not a
    new policy, and the store opens and goes on; a policy that replaces it is checked."""
    from pyengine.replay import replay

    old = msgspec.structs.replace(V1, lease_termination_reasons=["deceased", "lease_expired"])
    url = f"sqlite:///{tmp_path / 'store.db'}"
    svc = writer_adopting_unchecked(url, old)
    for cmd in small_commands()[:2]:
        svc.submit(cmd)
    svc.close()
    for policy, cmd in zip((None, old), small_commands()[2:4], strict=True):
        svc = AllocationService(url, policy)
        assert svc.portfolio.policy == old
        svc.submit(cmd)
        svc.close()
    view = AllocationService(url, write=False)
    assert [e.payload.policy for _, e in view.stored_events() if isinstance(e.payload, c.PolicyAdopted)] == [old]
    view.close()
    assert replay(url).divergence is None
    with pytest.raises(InputError) as e:
        AllocationService(url, msgspec.structs.replace(old, version=old.version + 1))
    assert e.value.field == "policy.lease_termination_reasons[1]"
