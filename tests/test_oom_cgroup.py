"""A real OOM kill in a real cgroup: a kernel that outgrows the server's memory limit is
killed by the Linux kernel, and the notice names its notebook, not just "a process"."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from jupyter_client import BlockingKernelClient
from support.memory_cgroup import memory_cgroup
from support.server_process import ServerProcess

MIB = 2**20
LIMIT_BYTES = 640 * MIB


def _wait_for(check, timeout_seconds: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _kernel_pid(server: ServerProcess, kernel_id: str) -> int:
    def pid() -> int | None:
        kernels = server.get("api/usage/v1/snapshot")["kernels"]
        return next((k["pid"] for k in kernels if k["id"] == kernel_id and k["pid"]), None)

    found: int = _wait_for(pid, 120, "the kernel in the snapshot")
    return found


def _ready_client(runtime: Path, kernel_id: str) -> BlockingKernelClient:
    client = BlockingKernelClient()
    client.load_connection_info(json.loads((runtime / f"kernel-{kernel_id}.json").read_text()))
    client.start_channels()
    client.wait_for_ready(timeout=120)  # a loaded CI machine is slow to start one
    return client


def test_a_real_oom_kill_names_the_notebook(tmp_path: Path) -> None:
    with memory_cgroup(f"jupyter-usage-oom-{os.getpid()}", LIMIT_BYTES) as group:
        if group is None:
            pytest.skip("this machine does not let us create a cgroup v1 memory group")
        runtime = tmp_path / "runtime"
        server = ServerProcess(
            tmp_path,
            "--UsageApp.sample_interval=0.25",
            f"--UsageApp.data_dir={tmp_path / 'data'}",
            env={"JUPYTER_RUNTIME_DIR": str(runtime)},
            cgroup=group,
        )
        with server:
            memory = server.get("api/usage/v1/snapshot")["memory"]
            assert memory["limit_bytes"] == LIMIT_BYTES
            assert memory["limit_source"] == "cgroup"
            session = server.request(
                "api/sessions",
                "POST",
                {
                    "path": "analysis.ipynb",
                    "name": "analysis.ipynb",
                    "type": "notebook",
                    "kernel": {"name": "python3"},
                },
            )
            kernel_id = session["kernel"]["id"]
            first_pid = _kernel_pid(server, kernel_id)
            client = _ready_client(runtime, kernel_id)
            try:
                client.execute("blocks = []\nwhile True:\n    blocks.append(b'\\x01' * 2**25)\n")
                notices = _wait_for(
                    lambda: server.get("api/usage/v1/snapshot")["notices"], 60, "a notice"
                )
            finally:
                client.stop_channels()
            (notice,) = notices
            assert notice["code"] == "oom.kernel", server.log()
            assert notice["kernel_id"] == kernel_id
            assert notice["path"] == "analysis.ipynb"
            assert notice["params"]["notebook"] == "analysis.ipynb"
            assert notice["params"]["limit_bytes"] == LIMIT_BYTES
            assert notice["message"].startswith("Your kernel in analysis.ipynb was stopped")
            # The restarter starts the kernel again; a server asked to stop before that kernel
            # answers waits for it, and a loaded machine is slow to start one.
            _wait_for(lambda: _kernel_pid(server, kernel_id) != first_pid, 120, "the restart")
            _ready_client(runtime, kernel_id).stop_channels()
            server.stop(timeout_seconds=120)
