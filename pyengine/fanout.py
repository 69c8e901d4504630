"""Where independent analyses run: local processes by default, or a Dask distributed cluster
when a scheduler address is given (`--scheduler tcp://…` or `DASK_SCHEDULER_ADDRESS`). Both
are `concurrent.futures` executors, so the caller does not care which it got."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from .errors import InputError

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


def scheduler_address(given: str | None) -> str | None:
    """The scheduler to use: the option, else the environment, else none (local processes)."""
    address = given or os.environ.get(SCHEDULER_ENV) or None
    if address is not None and "://" not in address:
        raise InputError("--scheduler", f"expected an address such as tcp://host:8786, got {address!r}")
    return address


@contextmanager
def executor(scheduler: str | None, tasks: int) -> Iterator[Executor]:
    """An executor for `tasks` independent tasks. Local: one process per task, at most one per
    core (each re-runs a whole history on its own core state). Dask: the cluster's workers;
    every task's arguments must reach them by pickling and its store URL must be reachable
    from them (a PostgreSQL URL, or a SQLite path on a shared disk)."""
    if scheduler is None:
        # Spawned, not forked: the caller may hold threads (a server, a log handler) and locks.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, min(tasks, os.cpu_count() or 1)), mp_context=ctx) as pool:
            yield pool
        return
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler", "Dask distributed is not installed (pip install distributed)") from None
    try:
        client = Client(scheduler, timeout=30)
    except (OSError, TimeoutError) as e:
        raise InputError("--scheduler", f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    try:
        with client.get_executor(pure=False) as pool:
            yield pool
    finally:
        client.close()
