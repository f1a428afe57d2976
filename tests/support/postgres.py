"""A throwaway PostgreSQL for the tests: Debian's `postgresql` package, initdb in a temp dir,
a free port, a database per test made from a migrated template. Run as the `postgres` user
when the tests run as root (PostgreSQL refuses root)."""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from support import processes
from support.common import free_port, wait_until

TEMPLATE = "boomerang_template"


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0)
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql "
                           "(the README's test command does)")
    return found[-1].parent


@dataclass
class Postgres:
    host: str
    port: int
    datadir: Path
    run_as: Callable[[list[str]], list[str]]
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    postmaster: int | None = None
    """The server's PID (record_postmaster)."""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host=self.host, port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)

    def create_database(self, template: str | None = TEMPLATE) -> str:
        """A new, empty database (migrated when made from the template); its name."""
        name = f"state_{os.getpid()}_{next(self._numbers)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"'
                         + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pg_ctl(self, *args: str) -> None:
        try:
            processes.run(self.run_as([str(postgres_bin() / "pg_ctl"), "-D",
                                       str(self.datadir), "-w", "-t", "60", *args]),
                          check=True, capture_output=True)
        finally:
            if "start" in args or "restart" in args:
                self.record_postmaster()  # also when pg_ctl gave up waiting for it

    def record_postmaster(self) -> None:
        """The server pg_ctl started (it outlives pg_ctl), in support.processes: its PID is
        the first line of postmaster.pid. Asked to stop with SIGINT, PostgreSQL's fast
        shutdown (SIGTERM would wait for every client to leave)."""
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return  # not started
        what = f"postgres on port {self.port} ({self.datadir})"
        self.postmaster = processes.started(pid, what, stop_signal=signal.SIGINT)


@contextlib.contextmanager
def run_postgres(*, durable: bool = False) -> Iterator[Postgres]:
    """A server for the session. `durable` keeps PostgreSQL's own defaults (fsync and all),
    for a benchmark; tests turn fsync off, which a crash test never relies on here."""
    bindir = postgres_bin()
    workdir = Path(tempfile.mkdtemp(prefix="boomerang-pg-"))
    run_as: Callable[[list[str]], list[str]] = lambda command: command  # noqa: E731
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(workdir, user.pw_uid, user.pw_gid)
        runuser = shutil.which("runuser") or "runuser"
        run_as = lambda command: [runuser, "-u", "postgres", "--", *command]  # noqa: E731
    datadir = workdir / "data"
    processes.run(run_as([str(bindir / "initdb"), "-D", str(datadir), "-A", "trust",
                          "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"]),
                  check=True, capture_output=True)
    port = free_port()
    options = [f"-p {port}", f"-k {workdir}", "-c listen_addresses=127.0.0.1",
               "-c max_connections=200"]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    server = Postgres("127.0.0.1", port, datadir, run_as)
    server.pg_ctl("-o", " ".join(options), "-l", str(workdir / "postgres.log"), "start")
    try:
        wait_until(lambda: _answers(server), 30, f"postgres on {port}")
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.pg_ctl("-m", "immediate", "stop")
        # pg_ctl returns once postmaster.pid is gone, which the server removes as it exits.
        if server.postmaster is not None:
            pid = server.postmaster
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: not processes.running(pid), 10, "postgres to exit")
        shutil.rmtree(workdir, ignore_errors=True)


def _answers(server: Postgres) -> bool:
    try:
        with server.admin():
            return True
    except psycopg.OperationalError:
        return False
