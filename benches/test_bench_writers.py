"""Several writer processes on one store, and one command over HTTP against the Python API, at
city scale on SQLite and PostgreSQL (issue 17's benches).

The store: the city portfolio of replays/rent_to_own_2009_2018 (4,050 units, 4,000 households)
imported under the scenario's own policy (v1 without the mix cap), as benches/test_bench_submit.py
does, then a snapshot taken (`pyengine snapshot`, as an office would before starting services),
not timed. Each measurement starts from its own copy of that store: a file copy on SQLite, a
`CREATE DATABASE ... TEMPLATE` on PostgreSQL. PostgreSQL is the tests' throwaway server
(tests/pgserver.py), restarted with `fsync` on, so that both stores commit durably. The import
runs in a child process that is killed and tried again on a new store if it hangs (it sometimes
does on PostgreSQL; see import_store); extra_info counts the hung attempts.

The commands are the scenario's own applications (`ApplicationSubmitted`, in its order; the
household data as recorded), dated the store's date, each with an idempotency key: what clerks
enter most, and commands that do not depend on one another's order.

- writers: BENCH_WRITERS_COMMANDS (200) commands split round-robin among 1, 2 and 4 writer
  processes, each an `AllocationService` submitting its share as fast as it can. Each process
  first opens the store and submits one warm-up command of its own, one process at a time (a
  process's first command re-matches the whole portfolio from cold, about 0.2 s); then all are
  let go at once. A writer that meets another's append (ConcurrencyConflict: exit 3 in the
  CLI, 409 over HTTP) retries the same command with the same key. extra_info: commands/s
  acknowledged overall (first start to last end), conflicts and the time spent in the refused
  attempts (each ends in a rebuild of the writer's state), per-command latency p50/p95/max
  (first attempt to acknowledgement, retries included). At the end every acknowledged key
  (warm-ups included) is checked stored exactly once, with its application and one MatchRun
  per command.
- http: BENCH_HTTP_COMMANDS (200) commands through a real `pyengine serve` process (a clerk's
  token made by `pyengine token new`, one kept-alive connection, `Idempotency-Key` header)
  and the same commands through `AllocationService.submit` in this process on a copy of the
  same store, alternately, after WARMUP commands through each; p50/p95 of each and of the
  difference.

Under --benchmark-disable (the default options) it is a smoke run: 8 commands per measurement.
"""

from __future__ import annotations

import datetime as dt
import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
import psycopg
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from adapters.store import init_tables
from benches.test_bench_submit import SCENARIO, copy_store, import_city, percentiles, show, url_of
from pyengine import commands as c
from pyengine.errors import ConcurrencyConflict, StoreBusy
from pyengine.policy import load_policy
from pyengine.service import AllocationService
from tests import pgserver

ROOT = Path(__file__).resolve().parents[1]
WRITERS = (1, 2, 4)
COMMANDS = int(os.environ.get("BENCH_WRITERS_COMMANDS", "200"))  # per configuration, all writers together
HTTP_COMMANDS = int(os.environ.get("BENCH_HTTP_COMMANDS", "200"))
WARMUP = 3  # commands through each path before the measured ones (first requests, lazy imports)
SMOKE_COMMANDS = 8  # under --benchmark-disable
STARTUP_TIMEOUT_S = 120.0
IMPORT_TIMEOUT_S = 30.0  # the import takes about 1 s on SQLite, 2 s on PostgreSQL
IMPORT_ATTEMPTS = 4


def applications(n: int, date: dt.date) -> list[c.ApplicationSubmitted]:
    """The scenario's first `n` applications, as submitted on `date` (the store's date): a
    refugee settled later than that is recorded as settled on it."""
    lines = gzip.decompress((SCENARIO / "commands.jsonl.gz").read_bytes()).splitlines()
    out: list[c.ApplicationSubmitted] = []
    for line in lines:
        if b'"ApplicationSubmitted"' not in line:
            continue
        cmd = c.decode_command(line)
        if not isinstance(cmd, c.ApplicationSubmitted):
            continue
        settled = cmd.refugee_settled_on
        out.append(msgspec.structs.replace(
            cmd, applied_on=date, refugee_settled_on=min(settled, date) if settled is not None else None
        ))  # fmt: skip
        if len(out) == n:
            return out
    raise AssertionError(f"the scenario has only {len(out)} applications; {n} asked for")


def once(benchmark: BenchmarkFixture, run: Callable[[], None]) -> None:
    """One timed round (pytest-benchmark's `pedantic` is untyped)."""
    benchmark.pedantic(run, rounds=1, iterations=1)  # type: ignore[no-untyped-call]


def key_of(cmd: c.ApplicationSubmitted) -> str:
    return f"bench-{cmd.id}"


@dataclass
class CityStore:
    """The imported city store of one database kind; `copy()` gives a fresh copy's URL."""

    kind: str
    copy: Callable[[], str]
    position: int  # the last record of the template: what a measurement adds comes after it
    date: dt.date
    import_hangs: int  # attempts at the import that hung (see import_store)


@pytest.fixture(scope="module")
def pg_server() -> Iterator[pgserver.Server]:
    """The tests' throwaway PostgreSQL server (as tests/conftest.py starts it), committing durably."""
    server = pgserver.start()
    if server is None:
        reason = "PostgreSQL is not installed (make test installs Debian's postgresql package)"
        if os.environ.get("PYENGINE_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        # the helper starts it with fsync=off (a command-line setting, which no reload undoes) to
        # speed up the tests; restarted with the same options but fsync, commits are durable as on SQLite
        opts = f"-p {server.port} -k {server.folder} -c listen_addresses=127.0.0.1"
        pg_ctl = os.path.join(server.bin, "pg_ctl")
        server._run(pg_ctl, "-D", server.data, "-o", opts, "-l", server.log, "-w", "restart")
        with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres") as conn:
            row = conn.execute("SHOW fsync").fetchone()
        assert row is not None and row[0] == "on", row
        yield server
    finally:
        server.stop()


def import_worker(url: str) -> None:
    """The import, in a child process: prints the template's last position and date."""
    svc = import_city(url, load_policy(SCENARIO / "policy.toml"))
    svc.snapshot()
    print(json.dumps({"position": svc.portfolio.last_notification_id, "date": str(svc.portfolio.date)}), flush=True)
    svc.close()


def import_store(fresh: Callable[[], str]) -> tuple[str, int, dt.date, int]:
    """The city portfolio imported (and snapshotted) into a fresh store; its URL, last position
    and date, and how many attempts hung. On PostgreSQL the import's one 8,363-event write
    sometimes never returns (psycopg's pipeline waits for results while the server waits in
    ClientRead for the rest of the statement): each attempt runs in a child process killed
    after IMPORT_TIMEOUT_S, then tried again on a new database."""
    hung = 0
    for _ in range(IMPORT_ATTEMPTS):
        url = fresh()
        argv = [sys.executable, "-m", "benches.test_bench_writers", "import", url]
        try:
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            hung += 1
            continue
        assert done.returncode == 0, done.stderr[-4000:]
        got = json.loads(done.stdout.splitlines()[-1])
        return url, got["position"], dt.date.fromisoformat(got["date"]), hung
    raise AssertionError(f"the city import hung {hung} times in a row (each killed after {IMPORT_TIMEOUT_S:.0f} s)")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CityStore:
    folder = tmp_path_factory.mktemp("writers")
    names = iter(range(1, 1000))
    if request.param == "sqlite":
        url, position, date, hung = import_store(lambda: url_of(folder / f"city-{next(names)}.db"))
        template = Path(url.removeprefix("sqlite:///"))

        def copy_file() -> str:
            path = folder / f"copy-{next(names)}.db"
            copy_store(template, path)
            return url_of(path)

        return CityStore("sqlite", copy_file, position, date, hung)
    server: pgserver.Server = request.getfixturevalue("pg_server")

    def new_database() -> str:
        url = server.new_database()
        init_tables(url)
        return url

    url, position, date, hung = import_store(new_database)
    base, _, name = url.rpartition("/")

    def copy_database() -> str:
        other = f"{name}_copy_{next(names)}"
        server.sql(f"CREATE DATABASE {other} TEMPLATE {name} OWNER {pgserver.ROLE}")
        return f"{base}/{other}"

    return CityStore("postgresql", copy_database, position, date, hung)


def verify_stored_once(url: str, after: int, keys: list[str], cmds: list[c.ApplicationSubmitted]) -> None:
    """Every acknowledged key stored exactly once, each application once, one MatchRun per command:
    the records after `after` only (what the measurement added)."""
    svc = AllocationService(url, write=False)
    try:
        stored = [svc.app.decode(row).payload for row in svc.app.rows(after + 1)]
    finally:
        svc.close()
    accepted = Counter(p.command_id for p in stored if isinstance(p, c.CommandAccepted))
    applied = Counter(p.id for p in stored if isinstance(p, c.ApplicationSubmitted))
    runs = sum(1 for p in stored if isinstance(p, c.MatchRun))
    assert len(keys) == len(set(keys)) == len(cmds), "a key acknowledged twice, or a command never acknowledged"
    assert accepted == Counter(keys), "an acknowledged command is missing or stored twice"
    assert applied == Counter(cmd.id for cmd in cmds), "an application is missing or stored twice"
    assert runs == len(cmds), f"{runs} MatchRuns for {len(cmds)} commands"


# --- several writers ---------------------------------------------------------------------------


def writer(url: str, commands_file: str) -> None:
    """A writer process: opens the store and says `ready`; on `warm`, submits its first command
    (a process's first command re-matches the whole portfolio from cold) and says `warmed`; on
    `go`, submits the others, retrying after a conflict, then prints one JSON line of what it
    measured."""
    cmds = [c.decode_command(line) for line in Path(commands_file).read_bytes().splitlines()]
    svc = AllocationService(url)
    acked: list[str] = []
    latency_ms: list[float] = []
    conflicts = busy = 0
    lost_ms = 0.0  # time spent in attempts that met a conflict (each is followed by a rebuild)

    def submit(cmd: c.Command) -> None:
        nonlocal conflicts, busy, lost_ms
        assert isinstance(cmd, c.ApplicationSubmitted)
        while True:
            t0 = time.perf_counter()
            try:
                svc.submit(cmd, command_id=key_of(cmd))
                break
            except ConcurrencyConflict as e:  # exit 3 in the CLI: nothing stored, try again
                conflicts += 1
                busy += isinstance(e, StoreBusy)
                lost_ms += (time.perf_counter() - t0) * 1000.0
        acked.append(key_of(cmd))

    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "warm"
    submit(cmds[0])
    print("warmed", flush=True)
    assert sys.stdin.readline().strip() == "go"
    conflicts = busy = 0
    lost_ms = 0.0
    start = time.monotonic()
    for cmd in cmds[1:]:
        t0 = time.perf_counter()
        submit(cmd)
        latency_ms.append((time.perf_counter() - t0) * 1000.0)
    end = time.monotonic()
    svc.close()
    result = {"acked": acked, "latency_ms": latency_ms, "conflicts": conflicts, "busy": busy, "lost_ms": lost_ms,
              "start": start, "end": end}  # fmt: skip
    print(json.dumps(result), flush=True)


def _line(proc: subprocess.Popen[str], err: IO[str]) -> str:
    """The child's next line on stdout; its stderr in the failure when it exited instead."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=60)
        err.seek(0)
        raise AssertionError(f"child process exited ({proc.returncode}):\n{err.read()[-4000:]}")
    return line


def run_writers(url: str, shares: list[list[c.ApplicationSubmitted]], folder: Path) -> list[dict[str, Any]]:
    """Start one process per share (its first command a warm-up), wait until every one has opened
    the store, warm them up one after the other, then let them go at once."""
    procs: list[tuple[subprocess.Popen[str], IO[str]]] = []
    with ExitStack() as stack:
        for w, share in enumerate(shares):
            path = folder / f"writer-{w}.jsonl"
            path.write_bytes(b"".join(msgspec.json.encode(cmd) + b"\n" for cmd in share))
            err: IO[str] = stack.enter_context(tempfile.TemporaryFile("w+"))
            argv = [sys.executable, "-m", "benches.test_bench_writers", "writer", url, str(path)]
            proc = stack.enter_context(
                subprocess.Popen(argv, cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
            )
            stack.callback(_stop, proc)  # runs before Popen's exit, which waits for the process
            procs.append((proc, err))
        for proc, err in procs:
            assert _line(proc, err).strip() == "ready"
        for proc, err in procs:  # one at a time: no conflict while warming up
            _send(proc, "warm")
            assert _line(proc, err).strip() == "warmed"
        for proc, _ in procs:
            _send(proc, "go")
        results = [json.loads(_line(proc, err)) for proc, err in procs]
        for proc, _ in procs:
            assert proc.wait(timeout=60) == 0
        return results


def _send(proc: subprocess.Popen[str], word: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(word + "\n")
    proc.stdin.flush()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.benchmark(group="writers")
@pytest.mark.parametrize("writers", WRITERS, ids=[f"{w}w" for w in WRITERS])
def test_writers(
    benchmark: BenchmarkFixture, city: CityStore, writers: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = SMOKE_COMMANDS if benchmark.disabled else COMMANDS
    cmds = applications(writers + n, city.date)  # a warm-up command per writer, then the measured ones
    warm, measured = cmds[:writers], cmds[writers:]
    shares = [[warm[w], *measured[w::writers]] for w in range(writers)]
    url = city.copy()
    results: list[dict[str, Any]] = []
    once(benchmark, lambda: results.extend(run_writers(url, shares, tmp_path)))
    verify_stored_once(url, city.position, [k for r in results for k in r["acked"]], cmds)
    span_s = max(r["end"] for r in results) - min(r["start"] for r in results)
    conflicts = sum(r["conflicts"] for r in results)
    lat = percentiles([ms for r in results for ms in r["latency_ms"]])
    assert lat["n"] == n
    info = {
        "store": city.kind, "writers": writers, "commands": n, "seconds": span_s, "commands_per_s": n / span_s,
        "conflicts": conflicts, "busy": sum(r["busy"] for r in results), "conflicts_per_command": conflicts / n,
        "conflict_s": sum(r["lost_ms"] for r in results) / 1000.0, "p50_ms": lat["p50_ms"], "p95_ms": lat["p95_ms"],
        "max_ms": lat["max_ms"], "import_hangs": city.import_hangs,
    }  # fmt: skip
    benchmark.extra_info.update(info)
    show(capsys, f"writers, {city.kind}, {writers} processes: {n} commands, {info['commands_per_s']:.0f} commands/s, "
         f"{conflicts} conflicts, p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms")  # fmt: skip


# --- HTTP round trip ---------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyengine.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=STARTUP_TIMEOUT_S, check=True)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Client:
    """One kept-alive connection to `pyengine serve`, with a bearer token."""

    def __init__(self, port: int, token: str) -> None:
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None, key: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        return r.status, r.read()


@contextmanager
def serving(url: str, folder: Path) -> Iterator[Client]:
    """`pyengine serve` on 127.0.0.1 and a free port, with a clerk's token from `pyengine token new`;
    a client once it answers."""
    tokens = folder / "tokens"
    token = _cli("token", "new", "--role", "clerk", "--tokens", str(tokens)).stdout.strip()
    port = _free_port()
    argv = [sys.executable, "-m", "pyengine.cli", "serve", "--store", url, "--tokens", str(tokens), "--port", str(port)]
    with tempfile.TemporaryFile("w+") as err, subprocess.Popen(argv, cwd=ROOT, stderr=err, text=True) as proc:
        client = Client(port, token)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                try:
                    status, answer = client.request("GET", "/decision")
                    assert status == 200, answer[:500]
                    break
                except OSError:
                    client.conn.close()
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err.seek(0)
                        raise AssertionError(f"pyengine serve did not start:\n{err.read()[-4000:]}") from None
                    time.sleep(0.1)
            yield client
        finally:
            client.conn.close()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.benchmark(group="http")
def test_http_round_trip(
    benchmark: BenchmarkFixture, city: CityStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = SMOKE_COMMANDS if benchmark.disabled else HTTP_COMMANDS
    cmds = applications(WARMUP + n, city.date)
    http_url, api_url = city.copy(), city.copy()
    http_ms: list[float] = []
    api_ms: list[float] = []
    sizes: list[int] = []

    def one(server: Client, api: AllocationService, cmd: c.ApplicationSubmitted, measured: bool) -> None:
        body = msgspec.json.encode(cmd)
        t0 = time.perf_counter()
        status, answer = server.request("POST", "/commands", body, key_of(cmd))
        t1 = time.perf_counter()
        api.submit(cmd, command_id=key_of(cmd))
        t2 = time.perf_counter()
        assert status == 200, answer[:500]
        events = json.loads(answer)
        assert events[-1]["type"] == "MatchRun" and events[0]["type"] == "CommandAccepted", events
        if measured:
            http_ms.append((t1 - t0) * 1000.0)
            api_ms.append((t2 - t1) * 1000.0)
            sizes.append(len(answer))

    with serving(http_url, tmp_path) as server, closing(AllocationService(api_url)) as api:

        def run() -> None:
            for i, cmd in enumerate(cmds):
                one(server, api, cmd, measured=i >= WARMUP)

        once(benchmark, run)
    for url in (http_url, api_url):
        verify_stored_once(url, city.position, [key_of(cmd) for cmd in cmds], cmds)
    h, a = percentiles(http_ms), percentiles(api_ms)
    d = percentiles([x - y for x, y in zip(http_ms, api_ms, strict=True)])
    info = {
        "store": city.kind, "commands": n, "http_p50_ms": h["p50_ms"], "http_p95_ms": h["p95_ms"],
        "http_max_ms": h["max_ms"], "api_p50_ms": a["p50_ms"], "api_p95_ms": a["p95_ms"], "api_max_ms": a["max_ms"],
        "overhead_p50_ms": d["p50_ms"], "overhead_p95_ms": d["p95_ms"], "response_bytes_mean": sum(sizes) / len(sizes),
        "import_hangs": city.import_hangs,
    }  # fmt: skip
    benchmark.extra_info.update(info)
    show(capsys, f"one command, {city.kind}, {n} commands: HTTP p50 {h['p50_ms']:.1f} ms, p95 {h['p95_ms']:.1f} ms; "
         f"Python API p50 {a['p50_ms']:.1f} ms, p95 {a['p95_ms']:.1f} ms")  # fmt: skip


if __name__ == "__main__":  # child processes: `import STORE_URL` or `writer STORE_URL COMMANDS_FILE`
    if sys.argv[1] == "import":
        import_worker(sys.argv[2])
    else:
        writer(sys.argv[2], sys.argv[3])
