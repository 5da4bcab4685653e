"""The benchmarks' harness: a real `jupyter server` subprocess in Jupyter directories of its
own (started by the tests' `ServerProcess`), a keep-alive client as a browser tab holds
one, idle kernels grown and settled, and the CPU time of the server's event loop."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support

from support.server_process import ServerProcess

# -- the server --------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection with a token, as a browser tab holds one."""

    def __init__(self, port: int, token: str, timeout_seconds: float = 120) -> None:
        self.port = port
        self.timeout_seconds = timeout_seconds
        self.headers = {"Authorization": f"token {token}", "Connection": "keep-alive"}
        self._connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_seconds)

    def request(self, path: str, method: str = "GET", body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self._connection.request(method, path, body=data, headers=headers)
                response = self._connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                # The server may close an idle keep-alive connection: reconnect once.
                self._connection.close()
                self._connection = self._connect()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def json(self, path: str, method: str = "GET", body: Any = None) -> Any:
        status, text = self.request(path, method, body)
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path} answered {status}: {text[:300]!r}")
        return json.loads(text) if text else None

    def close(self) -> None:
        self._connection.close()


class Server:
    """A `jupyter server` subprocess, started by the tests' `ServerProcess` in Jupyter
    directories of its own, with jupyter_usage and (unless told not to)
    jupyter_resource_usage enabled."""

    def __init__(
        self,
        workdir: Path,
        *,
        jru_prometheus: bool,
        python_path: Sequence[str] = (),
        resource_usage: bool = True,
    ) -> None:
        self.workdir = workdir
        self.python_path = list(python_path)
        self.jru_prometheus = jru_prometheus
        self.resource_usage = resource_usage
        self.launcher: ServerProcess | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.cpu_clock = "schedstat"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def port(self) -> int:
        assert self.launcher is not None
        return self.launcher.port

    @property
    def token(self) -> str:
        assert self.launcher is not None
        return self.launcher.token

    def start(self, timeout_seconds: float = 90) -> None:
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "IPYTHONDIR": "ipython",
        }
        for name in dirs.values():
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        if self.resource_usage:
            config = {
                "ServerApp": {"jpserver_extensions": {"jupyter_resource_usage": True}},
                # Its 1 Hz Prometheus callback runs on the event loop whether anyone looks
                # or not; it is off unless asked for, so that only the polled handlers are
                # compared.
                "ResourceUseDisplay": {"enable_prometheus_metrics": self.jru_prometheus},
            }
            config_file = self.workdir / "config" / "jupyter_server_config.json"
            config_file.write_text(json.dumps(config))
        env = {key: str(self.workdir / name) for key, name in dirs.items()}
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(
                [*self.python_path, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        # jupyter_usage is enabled by its installed config, as in the tests' servers.
        self.launcher = ServerProcess(self.workdir, env=env, new_session=True)
        try:
            self.launcher.start(timeout_seconds)
        finally:
            self.process = self.launcher.process

    def client(self) -> Client:
        return Client(self.port, self.token)

    def main_thread_cpu_seconds(self) -> float:
        """CPU time of the thread that runs the event loop (its tid is the pid)."""
        path = f"/proc/{self.pid}/task/{self.pid}/schedstat"
        if self.cpu_clock == "schedstat":
            try:
                # Nanoseconds on CPU; psutil's figures come in 10 ms clock ticks.
                with open(path) as file:
                    return int(file.read().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                self.cpu_clock = "psutil"
        for thread in psutil.Process(self.pid).threads():
            if thread.id == self.pid:
                return float(thread.user_time + thread.system_time)
        raise RuntimeError("the server's main thread is gone")

    def kernel_processes(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return list(psutil.Process(self.pid).children(recursive=True))
        return []

    def stop(self, timeout_seconds: float = 60) -> None:
        """SIGTERM (the server shuts its kernels down), then kill whatever is left."""
        if self.process is None:
            return
        leftovers = self.kernel_processes()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for process in leftovers:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(leftovers, timeout=10)

    def log(self) -> str:
        return self.launcher.log()[-5000:] if self.launcher is not None else ""


@contextlib.contextmanager
def running_server(*, jru_prometheus: bool, python_path: Sequence[str] = ()) -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="jupyter-usage-bench-"))
    server = Server(workdir, jru_prometheus=jru_prometheus, python_path=python_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def grow_kernels(server: Server, client: Client, count: int) -> None:
    """Start idle python3 kernels until `count` run, then wait until they are quiet."""
    running = len(client.json("/api/kernels"))
    for _ in range(count - running):
        client.json("/api/kernels", "POST", {"name": "python3"})
    settle(server)


def settle(server: Server, timeout_seconds: float = 240) -> None:
    """Wait until the kernels have finished starting (their CPU use has fallen off)."""
    deadline = time.monotonic() + timeout_seconds
    time.sleep(3)
    while time.monotonic() < deadline:
        before = _children_cpu_seconds(server)
        time.sleep(2)
        cores = (_children_cpu_seconds(server) - before) / 2
        if cores < 0.05 + 0.002 * len(server.kernel_processes()):
            break
    time.sleep(2)  # let the sampler see the final set of kernels


def _children_cpu_seconds(server: Server) -> float:
    total = 0.0
    for process in server.kernel_processes():
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total
