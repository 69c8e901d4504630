"""Store upkeep: `db init` creates the tables, `snapshot` saves the state at the end of the log."""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from ._common import require_store


def cmd_db_init(args: argparse.Namespace) -> int:
    from adapters.store import init_tables, redacted

    init_tables(args.store, erasable=args.erasable)
    keys = " (with household keys: applications stored from now on are erasable)" if args.erasable else ""
    print(f"tables ready in {redacted(args.store)}{keys}", file=sys.stderr)
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    import time

    from ..service import AllocationService

    if args.store == "memory:":
        raise InputError("--store", "a memory: store starts empty in every process: there is nothing to snapshot")
    require_store(args.store, writes=True)
    t0 = time.perf_counter()
    svc = AllocationService(args.store, snapshot_every=0)
    try:
        pf = svc.portfolio
        loaded = time.perf_counter() - t0
        start = f"snapshot at position {svc.loaded_from} + " if svc.loaded_from else ""
        print(f"state rebuilt from {start}{pf.position - svc.snapshot_at if svc.loaded_from else pf.position} "
              f"records in {loaded:.2f} s")  # fmt: skip
        if svc.loaded_from and svc.loaded_from == pf.run_position:
            print(f"the newest snapshot is at the last MatchRun (position {svc.loaded_from}): nothing to do")
            return 0
        state = svc.snapshot()
        if state is None:
            print(
                "no snapshot taken: a snapshot is taken at a MatchRun, and the log has none or has only a record "
                "of an untrusted snapshot after its last one (the next command makes one)"
            )
            return 1
        print(f"snapshot at position {state.position} (run {state.run}, {state.count} events) saved")
        return 0
    finally:
        svc.close()
