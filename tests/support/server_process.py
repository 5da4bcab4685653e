"""A real `jupyter server` in a subprocess, for tests that stop or kill it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(
        self,
        root: Path,
        *extra_args: str,
        env: dict[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL,
        new_session: bool = False,
        cgroup: Path | None = None,
    ) -> None:
        self.root = root
        # A cgroup v1 group (its directory) the server runs in, from its first instruction.
        self.cgroup = cgroup
        # No terminal by default, as under a spawner; a pty's fd makes one.
        self.stdin = stdin
        # A benchmark's Ctrl-C must not reach the server before it has been measured.
        self.new_session = new_session
        self.port = free_port()
        self.token = secrets.token_hex(8)
        self.extra_args = extra_args
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_seconds: float = 60) -> ServerProcess:
        (self.root / "notebooks").mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root / 'notebooks'}",
            "--ServerApp.allow_root=True",
            "--ServerApp.terminals_enabled=False",
            *self.extra_args,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args,
                stdin=self.stdin,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=self.new_session,
                preexec_fn=self._child_setup,
            )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log()}")
            try:
                self.get("api/usage/v1/snapshot")
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        raise TimeoutError(f"the server did not answer within {timeout_seconds} s:\n{self.log()}")

    def _child_setup(self) -> None:
        # A spawner's server starts with the stop signals at their defaults, whatever this
        # test run inherited (`nohup` ignores SIGHUP, a shell's background job SIGINT).
        for number in (signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        if self.cgroup is not None:
            (self.cgroup / "cgroup.procs").write_text(f"{os.getpid()}\n")

    def request(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.request(path)

    def stop(self, sig: int = signal.SIGTERM, timeout_seconds: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout_seconds)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
