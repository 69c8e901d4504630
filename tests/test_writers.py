"""Several writer processes on one store (SQLite file and PostgreSQL): each catches up before
deciding, a stale writer is refused and retries, and in the end every acknowledged command is
stored exactly once with its MatchRun, and the log replays and verifies."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from pyengine import commands as c
from pyengine.replay import replay
from pyengine.service import AllocationService

WRITERS = 4
COMMANDS = 200

# One process: COMMANDS applications with idempotency keys, retried after a conflict; prints
# each acknowledged key, then the number of conflicts met.
WRITER = """
import sys
from pyengine import commands as c
from pyengine.errors import ConcurrencyConflict
from pyengine.service import AllocationService

url, w, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
svc = AllocationService(url, snapshot_every=0)
conflicts = 0
for i in range(n):
    key = f"w{w}-{i}"
    cmd = c.ApplicationSubmitted(id=f"H{w}-{i:04d}", adults=1 + i % 3, applied_on="2021-01-01")
    while True:
        try:
            svc.submit(cmd, command_id=key)
            break
        except ConcurrencyConflict:
            conflicts += 1
    print(key, flush=True)
print("conflicts", conflicts, flush=True)
svc.close()
"""


def assert_whole_commands(events: list[Any]) -> None:
    """Every command's events end with its MatchRun: none is half-stored."""
    for before, after in itertools.pairwise(events):
        if isinstance(after, c.CommandAccepted):
            assert isinstance(before, c.MatchRun | c.SnapshotRecorded)
    assert isinstance(events[-1], c.MatchRun | c.SnapshotRecorded)


def seed(url: str) -> None:
    svc = AllocationService(url)
    svc.submit(c.DayClosed(date="2021-05-01"))
    for k in range(6):
        svc.submit(
            c.UnitRegistered(
                id=f"U{k}", building="B1", stairwell="B1-A", floor=1 + k, rooms=1 + k % 3, area_m2=40 + 10 * k,
                rent_nok_month=7000, accessible=False, kind="ordinary", district="Lademoen",
            )
        )  # fmt: skip
    svc.close()


def test_writers_store_every_acknowledged_command_once(
    store_url: str, record_property: Callable[[str, object], None]
) -> None:
    seed(store_url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store_url, str(w), str(COMMANDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    acknowledged: list[str] = []
    conflicts = 0
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err
        lines = out.splitlines()
        assert lines[-1].startswith("conflicts ")
        conflicts += int(lines[-1].split()[1])
        acknowledged += lines[:-1]
    assert len(acknowledged) == WRITERS * COMMANDS
    svc = AllocationService(store_url, write=False)
    events = [e.payload for _, e in svc.stored_events()]
    svc.close()
    keys = Counter(p.command_id for p in events if isinstance(p, c.CommandAccepted))
    assert set(keys) == set(acknowledged) and set(keys.values()) == {1}
    applied = Counter(p.id for p in events if isinstance(p, c.ApplicationSubmitted))
    assert len(applied) == WRITERS * COMMANDS and set(applied.values()) == {1}
    # every command's events end with its MatchRun: none is half-stored
    assert_whole_commands(events)
    report = replay(store_url)
    assert report.divergence is None, report.divergence
    record_property("conflicts", conflicts)


KILLS = 100


def _write_until_killed(url: str, trial: int, ack: int) -> None:
    """The child: commands with keys, each key written to `ack` once `submit` returned."""
    try:
        svc = AllocationService(url, snapshot_every=15)  # snapshots too are cut mid-write
        for i in range(1000):
            cmd = c.ApplicationSubmitted(id=f"K{trial:03d}-{i:03d}", adults=1 + i % 3, applied_on="2021-01-01")
            svc.submit(cmd, command_id=f"k{trial}-{i}")
            os.write(ack, f"k{trial}-{i}\n".encode())
    finally:
        os._exit(0)


def test_sigkill_never_loses_an_acknowledged_command_nor_half_stores_one(store_url: str) -> None:
    """A writer killed with SIGKILL at random moments (while opening, deciding, committing its
    events or a snapshot): every command it acknowledged is stored, none is half-stored, and
    the store opens and replays after every kill."""
    seed(store_url)
    rng = random.Random(7)
    acknowledged: list[str] = []
    for trial in range(KILLS):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _write_until_killed(store_url, trial, w)
        os.close(w)
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(r) as f:
            acknowledged += f.read().split()
        reader = AllocationService(store_url, write=False)
        events = [e.payload for _, e in reader.stored_events()]
        reader.close()
        stored = {p.command_id for p in events if isinstance(p, c.CommandAccepted)}
        assert set(acknowledged) <= stored, f"trial {trial}: acknowledged and lost"
        assert_whole_commands(events)
        if trial % 25 == 24 or trial == KILLS - 1:
            report = replay(store_url)
            assert report.divergence is None, f"trial {trial}: {report.divergence}"
    assert acknowledged, "no writer ever got a command through"
