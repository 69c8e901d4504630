"""A throwaway PostgreSQL server for the tests: `initdb` in a temporary folder, listening on
127.0.0.1 on a free port (never the default one), one fresh database per test, stopped at the
end. Debian's `postgresql` package provides the binaries (`make test` installs it); run as root,
the server runs as the `postgres` user, since PostgreSQL refuses to run as root."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field

ROLE = "pyengine"
PASSWORD = "s3cret-pg"


def bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    bin: str
    folder: str
    port: int
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        opts = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-o", opts, "-l", self.log, "-w", "start")
        self.sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")

    def stop(self) -> None:
        try:
            self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def data(self) -> str:
        return os.path.join(self.folder, "data")

    @property
    def log(self) -> str:
        return os.path.join(self.folder, "server.log")

    def standby(self) -> Server:
        """A hot standby of this server (`pg_basebackup -R`, streaming), on its own port."""
        folder = tempfile.mkdtemp(prefix="pyengine-pg-standby-")
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        other = Server(self.bin, folder, _free_port())
        try:
            self._run(
                os.path.join(self.bin, "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                "-D", other.data, "-R", "-X", "stream", "-c", "fast",  # no wait for a spread checkpoint
            )  # fmt: skip
            opts = f"-p {other.port} -k {other.folder} -c listen_addresses=127.0.0.1 -c hot_standby=on"
            other._run(os.path.join(self.bin, "pg_ctl"), "-D", other.data, "-o", opts, "-l", other.log, "-w", "start")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return other

    def url_of(self, url: str) -> str:
        """The same database's URL on this server."""
        head, _, rest = url.rpartition("@127.0.0.1:")
        return f"{head}@127.0.0.1:{self.port}/{rest.partition('/')[2]}"

    def sql(self, statement: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=db, autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def new_database(self) -> str:
        """A fresh database owned by the application's role; its store URL."""
        name = f"store_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} OWNER {ROLE}")
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{name}"


def start() -> Server | None:
    """A running server, or None when PostgreSQL is not installed."""
    b = bindir()
    if b is None:
        return None
    folder = tempfile.mkdtemp(prefix="pyengine-pg-")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = Server(b, folder, _free_port())
    try:
        server.start()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return server
