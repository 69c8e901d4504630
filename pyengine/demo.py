"""`pyengine demo`: pilot 2 written as events into an embedded store, matched after each."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from adapters.store import store_path

from . import commands as c
from . import coverage
from .errors import InputError
from .policy import Coverage, load_policy
from .scenarios import pilot2
from .service import AllocationService

DEFAULT_DEMO_STORE = "sqlite:///pyengine-demo.db"


def run_demo(store: str | None, policy_path: str | None) -> int:
    url = store or DEFAULT_DEMO_STORE
    path = store_path(url)
    if store is None and path is not None and path.exists():
        # The default file is the demo's own: start it afresh each time.
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    # The foundation's own policy (v1 with its task-coverage rules) unless --policy says otherwise.
    svc = AllocationService(url, load_policy(policy_path) if policy_path else pilot2.policy())
    try:
        if svc.portfolio.position:
            raise InputError("--store", f"{url} already holds events; the demo needs an empty store")
        where = f" ({path})" if path else ""
        print(f"pyengine demo: pilot 2 (Svartlamon model, Trondheim 2021) -> store {url}{where}")
        cmds = pilot2.commands()
        t0 = time.perf_counter()
        n_events = 0
        solve_ms = 0.0
        for i, cmd in enumerate(cmds, start=1):
            stored = svc.submit(cmd)
            n_events += len(stored)
            solve_ms += stored[-1][1].payload.solve_ms
            if i % 40 == 0 or i == len(cmds):
                print(f"  {i:>4}/{len(cmds)} commands, {n_events} events stored", file=sys.stderr)
        wall = time.perf_counter() - t0
        run = svc.portfolio.decision()
        print(
            f"{len(cmds)} commands -> {n_events} events, re-matched after each "
            f"({run.run} MatchRuns); {wall:.2f} s in all, {solve_ms:.1f} ms solving"
        )
        print_allocation(svc, run)
    finally:
        svc.close()
    return 0


def print_allocation(svc: AllocationService, run: c.MatchRun) -> None:
    pf = svc.portfolio
    print(f"\nFinal allocation: run {run.run} as of {run.as_of}, policy v{run.policy_version}, {run.engine_version}")
    head = (
        f"{'unit':<8} {'building':<8} {'stair':<5} {'fl':>2} {'rm':>2}  {'household':<9} "
        f"{'flags':<5} {'score':>5} = {'size':>4} {'wait':>4} {'urg':>4} {'tenure':>6} "
        f"{'pref':>4} {'mix':>3}"
    )
    print(head)
    print("-" * len(head))
    rows = []
    for a in run.assignments:
        u = pf.units[a.unit].spec
        h = pf.households[a.household].spec
        flags = (
            ("T" if h.current_unit == a.unit else ("X" if h.current_unit else "-"))
            + ("D" if h.disadvantaged else "-")
            + ("R" if h.refugee_settled_on else "-")
            + ("F" if h.children else "-")
        )
        rows.append((u.building, u.stairwell, u.floor, u.id, a, flags, u.rooms))
    for building, stair, floor, uid, a, flags, rooms in sorted(rows, key=lambda r: r[:4]):
        b = a.breakdown
        print(
            f"{uid:<8} {building:<8} {stair:<5} {floor:>2} {rooms:>2}  {a.household:<9} {flags:<5} "
            f"{a.score:>5} = {b.size_fit:>4} {b.waiting:>4} {b.urgency:>4} {b.tenure_stability:>6} "
            f"{b.preference:>4} {b.resource_mix:>3}"
        )
    print("flags: T sitting tenant in own unit, X tenant moved, D disadvantaged, R refugee, F children")
    matched_new = sum(1 for r in rows if r[5][0] == "-")
    print(
        f"\n{len(run.assignments)} units allocated ({matched_new} to new residents); "
        f"{len(run.unmatched or [])} households stay in the queue"
    )
    print("\nDisadvantaged households per building against the cap (30 % of units, rounded down):")
    for cap in run.caps:
        if cap.flag != "disadvantaged":
            continue
        share = cap.count / cap.units if cap.units else 0.0
        bind = "  <- binding" if cap.count == cap.cap else ""
        print(f"  {cap.scope:<10} {cap.count:>2} of {cap.units:>2} units ({share:5.1%})  cap {cap.cap}{bind}")
    print_task_cover(svc, run)
    proof = "proven optimal" if run.optimal else f"gap {run.bound - run.objective}"
    print(
        f"\nobjective {run.objective}, bound {run.bound} ({proof}); without the caps "
        f"{run.uncapped_objective} (price of the mix rule: {run.uncapped_objective - run.objective})"
    )


def print_task_cover(svc: AllocationService, run: c.MatchRun) -> None:
    """Per stairwell, the shared tasks its residents in the decision cover (with the policy's
    coverage rules, if any, and a line per floor)."""
    pf = svc.portfolio
    rules = pf.policy.coverage
    stairs = Coverage(tasks=list(pilot2.TASKS), scope="stairwell", points=0)
    floors = Coverage(tasks=list(pilot2.TASKS), scope="floor", points=0)
    rep = coverage.report_of(pf, [stairs, floors])
    how = (
        "; ".join(
            f"+{r.points} per task a {r.scope} lacks"
            + (", every task covered where anyone can (hard)" if r.hard else "")
            for r in rules
        )
        or "no coverage rule in the policy"
    )
    print(f"\nShared tasks ({', '.join(pilot2.TASKS)}) covered per stairwell by its residents' skills ({how}):")
    for s in rep.scopes:
        missing = [t for t, v in s.tasks.items() if v == "missing"]
        what = "all covered" if not missing else f"missing {', '.join(missing)}"
        if s.rule == 0:
            n = len(s.tasks)
            print(f"  {s.scope:<10} {s.placed:>2} households, {n - len(missing)} of {n} tasks: {what}")
    on_floors = [s for s in rep.scopes if s.rule == 1]
    full = sum(all(v != "missing" for v in s.tasks.values()) for s in on_floors)
    print(f"  floors with every task covered: {full} of {len(on_floors)} (pyengine report coverage shows each)")
