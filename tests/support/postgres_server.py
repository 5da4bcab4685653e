"""A throwaway PostgreSQL server for tests, from the Debian binaries, on a unix socket only.

initdb refuses to run as root, so as root the server runs as the `postgres` system user.
Everything lives in one temporary directory, removed when the server stops.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

BIN_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)
PORT = 5432  # only names the socket file; no TCP port is opened


class Unavailable(Exception):
    """PostgreSQL cannot be started here; the message says why."""


def _bin_dir() -> Path:
    for candidate in BIN_DIRS:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise Unavailable("no PostgreSQL server binaries (initdb) found")


def _run_as() -> tuple[list[str], pwd.struct_passwd | None]:
    if os.geteuid() != 0:
        return [], None
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable(
            "running as root and there is no 'postgres' user to run initdb as"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("running as root and runuser(1) is missing")
    return [runuser, "-u", "postgres", "--"], account


class PostgresServer:
    def __init__(self) -> None:
        if importlib.util.find_spec("psycopg") is None:
            raise Unavailable("the psycopg driver is not installed")
        self.bin_dir = _bin_dir()
        self.prefix, self.account = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="jupyter-usage-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.socket_dir.mkdir()
        self.running = False
        if self.account is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _run(self, *command: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self.prefix, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise Unavailable(f"{Path(command[0]).name} failed: {result.stderr.strip()[-500:]}")

    def start(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.resume()

    def resume(self) -> None:
        """Start the server again after `pause`, on the same socket and data."""
        if self.running:
            return
        options = (
            f"-k {self.socket_dir} -p {PORT} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.running = True

    def pause(self) -> None:
        """Stop the server as an admin would (its data kept): clients lose their
        connections, and new ones are refused until `resume`."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

    def stop(self) -> None:
        with contextlib.suppress(Unavailable, subprocess.TimeoutExpired):
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={PORT}"

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database for one test; its URL."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        admin = f"host={self.socket_dir} port={PORT} user=postgres dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
