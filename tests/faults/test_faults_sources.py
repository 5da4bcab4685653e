"""Faults in what the sampler reads, injected into a running server: NVML raising and
recovering, cgroup files vanishing or unreadable, processes exiting while sampled, the
wall clock stepped back and forward. See support/fault_injection.py and conftest.py for
what they share."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.fake_nvml import NVML_ERROR_GPU_IS_LOST, FakeDevice, FakeNvml, FakeProcess
from support.fault_injection import (
    CHECKPOINT_SECONDS,
    GIB,
    Api,
    CostWatch,
    as_awaitable,
    assert_non_negative,
    check_kept,
    data_dir,
    started,
    stored_rows,
    until,
)
from support.reliability_log import record

from jupyter_usage import app as app_module
from jupyter_usage.sampling.cgroup import CgroupReader

# -- NVML raising mid-run and recovering -----------------------------------------------


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    """A fake `pynvml` the server imports as it would the real one."""
    fake = FakeNvml([FakeDevice(utilization_percent=40, memory_used_bytes=GIB)])
    fake.devices[0].compute_processes = [FakeProcess(os.getpid(), GIB)]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


async def test_nvml_raising_mid_run_then_recovering(
    nvml: FakeNvml, usage_app: Any, api: Api
) -> None:
    reader = usage_app.sampler.sources.gpu
    # The default retry after a lost driver is a minute: shortened to keep the test short.
    reader._retry_interval_seconds = 0.5
    costs = CostWatch(api)

    async def gpus(count: int) -> dict[str, Any] | None:
        snapshot = await api.alive()
        return snapshot if len(snapshot["gpus"]) == count else None

    await started(api)
    await until(lambda: gpus(1), "the GPU in the snapshot")
    before = await costs.read()
    assert before["gpu_seconds"] > 0

    # The driver goes away: every call raises NVMLError_GpuIsLost.
    nvml.lost = NVML_ERROR_GPU_IS_LOST
    record("faults_injected", detail="NVML raises GPU_IS_LOST")
    await until(lambda: gpus(0), "the lost GPU to leave the snapshot")
    gpu_source = (await api.get("config"))["sources"]["gpu"]
    assert gpu_source["available"] is False
    assert "lost contact with the NVIDIA driver" in gpu_source["status"]
    await costs.read()

    nvml.lost = None
    back = await until(lambda: gpus(1), "the GPU to come back")
    assert back["gpus"][0]["utilization_percent"] == 40.0
    assert (await api.get("config"))["sources"]["gpu"]["available"] is True

    # A binding raising what NVML never documents costs only the GPU source, that tick.
    def broken(handle: Any) -> int:
        raise RuntimeError("binding bug")

    nvml.nvmlDeviceGetPowerUsage = broken  # type: ignore[method-assign]
    record("faults_injected", detail="NVML binding raises RuntimeError")

    async def gpu_error() -> dict[str, Any] | None:
        snapshot = await api.alive()
        return snapshot if "binding bug" in snapshot["errors"].get("gpu", "") else None

    failing = await until(gpu_error, "the GPU error in the snapshot")
    assert failing["gpus"] == []
    del nvml.nvmlDeviceGetPowerUsage
    await until(lambda: gpus(1), "the GPU to come back after the binding error")
    after = await costs.read()
    assert after["gpu_seconds"] > before["gpu_seconds"]
    check_kept(Path(usage_app.data_dir) / "sessions.sqlite", {after["id"]})


# -- cgroup files vanishing or unreadable -----------------------------------------------

CGROUP_FILES = {
    "cgroup.controllers": "cpu memory\n",
    "cpu.stat": "usage_usec 5000000\nuser_usec 4000000\nsystem_usec 1000000\n",
    "cpu.max": "150000 100000\n",
    "memory.current": f"{GIB // 2}\n",
    "memory.stat": "anon 400000000\ninactive_file 0\n",
    "memory.max": f"{2 * GIB}\n",
    "memory.events": "oom 0\noom_kill 0\n",
}


def write_cgroup_files(leaf: Path, **overrides: str) -> None:
    leaf.mkdir(parents=True, exist_ok=True)
    # This process is the server: the cgroup holds only it, so its totals are ours.
    for name, text in {**CGROUP_FILES, "cgroup.procs": f"{os.getpid()}\n", **overrides}.items():
        path = leaf / name
        if path.is_dir():
            path.rmdir()
        path.write_text(text)
        path.chmod(0o644)


def make_unreadable(path: Path) -> str:
    """chmod 000; where that is not enough (root reads any mode), a directory in its place."""
    path.chmod(0)
    if not os.access(path, os.R_OK):
        return "chmod 000"
    path.chmod(0o644)
    path.unlink()
    path.mkdir()
    return "replaced by a directory (root ignores file modes)"


@pytest.fixture
def cgroup_leaf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cgroup v2 tree the server reads instead of /sys/fs/cgroup."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    leaf = root / "pod" / "c1"
    write_cgroup_files(leaf)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("0::/pod/c1\n")

    def detect(cls: type[CgroupReader], **_: Any) -> CgroupReader:
        return CgroupReader(root=str(root), proc_cgroup=str(proc))

    monkeypatch.setattr(app_module.CgroupReader, "detect", classmethod(detect))
    return leaf


@pytest.mark.parametrize("fault", ["files-deleted", "files-unreadable", "directory-removed"])
async def test_cgroup_files_vanishing_or_unreadable(
    cgroup_leaf: Path, usage_app: Any, api: Api, tmp_path: Path, fault: str
) -> None:
    costs = CostWatch(api)
    await started(api)

    async def memory_from(source: str) -> dict[str, Any] | None:
        snapshot = await api.alive()
        return snapshot if snapshot["memory"]["source"] == source else None

    first = await until(lambda: memory_from("cgroup"), "the cgroup's figures")
    assert first["memory"]["used_bytes"] == GIB // 2
    assert first["memory"]["limit_source"] == "cgroup"
    await costs.read()

    if fault == "files-deleted":
        for path in cgroup_leaf.iterdir():
            path.unlink()
        how = "deleted"
    elif fault == "files-unreadable":
        how = {make_unreadable(path) for path in sorted(cgroup_leaf.iterdir())}.pop()
    else:
        shutil.rmtree(cgroup_leaf)
        how = "directory removed"
    record("faults_injected", detail=f"cgroup files {how}")

    # The process tree stands in: memory and CPU stay known, the limit becomes unknown.
    fallback = await until(lambda: memory_from("processes"), "the process tree to stand in")
    assert fallback["memory"]["limit_source"] != "cgroup"
    assert fallback["cpu"]["limit_source"] != "cgroup"
    assert (await api.get("config"))["sources"]["cgroup"]["version"] == 2
    await costs.read()

    # The files come back with a smaller CPU counter (a new container): no negative CPU.
    write_cgroup_files(cgroup_leaf, **{"cpu.stat": "usage_usec 1000\n"})
    back = await until(lambda: memory_from("cgroup"), "the cgroup's figures to come back")
    assert back["memory"]["limit_bytes"] == 2 * GIB
    for _ in range(5):
        await api.alive()
        await asyncio.sleep(0.2)
    session = await costs.read()
    check_kept(data_dir(tmp_path) / "sessions.sqlite", {session["id"]})


# -- /proc races: processes exiting while they are sampled ------------------------------


async def test_processes_exiting_during_samples(
    usage_app: Any, api: Api, jp_fetch: Any, tmp_path: Path
) -> None:
    errors: list[dict[str, str]] = []
    usage_app.sampler.add_listener(lambda sample: errors.append(dict(sample.errors)))
    costs = CostWatch(api)
    await started(api)

    response = await jp_fetch(
        "api",
        "sessions",
        method="POST",
        body=json.dumps({"path": "race.ipynb", "type": "notebook", "kernel": {"name": "python3"}}),
    )
    kernel_id = json.loads(response.body)["kernel"]["id"]

    async def kernel_pid() -> int | None:
        for row in (await api.alive())["kernels"]:
            if row["id"] == kernel_id and row["memory_bytes"]:
                return int(row["pid"])
        return None

    pid = await until(kernel_pid, "the kernel in the snapshot", timeout_seconds=60)

    # Children of the server that live 0-300 ms, a dozen at a time, for several rescans
    # of the process tree (every 5 s): some exit between being listed and being read.
    stop = threading.Event()
    spawned = 0

    def churn() -> None:
        nonlocal spawned
        running: list[subprocess.Popen[bytes]] = []
        while not stop.is_set():
            running = [p for p in running if p.poll() is None]
            while len(running) < 12:
                delay = f"0.{spawned % 4}"
                running.append(subprocess.Popen(["sleep", delay]))
                spawned += 1
            time.sleep(0.01)
        for process in running:
            process.wait()

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    ticks_before = usage_app.sampler.ticks_total
    try:
        # The kernel dies too (SIGKILL): its whole subtree exits between two samples.
        os.kill(pid, signal.SIGKILL)
        record("faults_injected", detail="kernel SIGKILLed while sampled")
        deadline = time.monotonic() + 11
        while time.monotonic() < deadline:
            await api.alive()
            await costs.read()
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        thread.join(10)
    record("faults_injected", detail=f"{spawned} short-lived processes exited while sampled")
    assert spawned > 100
    assert usage_app.sampler.ticks_total - ticks_before >= 10
    assert not [e for e in errors if "processes" in e], errors
    snapshot = await api.alive()
    assert snapshot["errors"] == {}
    session = await costs.read()
    check_kept(data_dir(tmp_path) / "sessions.sqlite", {session["id"]})


# -- the wall clock set back ------------------------------------------------------------


class SteppedClock:
    """Wall time that the test can step, as an administrator or NTP would."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_seconds


async def test_wall_clock_set_back(usage_app: Any, api: Api, tmp_path: Path) -> None:
    clock = SteppedClock()
    # The sampler and the session take the wall clock as a parameter: the server's own
    # objects get the stepped one.
    usage_app.sampler._clock = clock
    usage_app.recorder._clock = clock
    costs = CostWatch(api)
    await started(api)
    store_file = data_dir(tmp_path) / "sessions.sqlite"
    session_id = usage_app.recorder.id

    def checkpointed_seconds() -> float:
        totals = stored_rows(store_file)[session_id]["totals"] or {}
        return float(totals.get("duration_seconds", 0.0))

    before = (await costs.read())["cost"]["total"]
    clock.offset_seconds = -3600.0
    record("faults_injected", detail="wall clock set back one hour")
    await asyncio.sleep(CHECKPOINT_SECONDS)
    at_jump = checkpointed_seconds()

    # Time keeps being counted, and checkpointed, from the new clock on.
    for _ in range(10):
        await asyncio.sleep(0.3)
        await api.alive()
        await costs.read()
    after = (await costs.read())["cost"]["total"]
    assert after - before >= 1.0
    await until(
        lambda: as_awaitable(checkpointed_seconds() >= at_jump + 2 * CHECKPOINT_SECONDS),
        "checkpoints after the clock went back",
    )

    # And forward by a day (a suspended VM): at most the ledger's gap clamp is charged.
    clock.offset_seconds = 86400.0
    record("faults_injected", detail="wall clock set forward one day")
    for _ in range(5):
        await asyncio.sleep(0.3)
        await costs.read()
    assert costs.totals[-1] - after < 120

    summary = await api.get("summary")
    assert_non_negative(summary, "the summary")
    # The handlers read the real clock (only the sampler's and the session's were stepped):
    # the API refuses windows past an hour ahead, so ask for the last two hours.
    history = await api.get("history", since=time.time() - 7200)
    assert history["columns"]
    listed = await api.get("sessions")
    for session in listed["sessions"]:
        assert_non_negative(session, "a listed session")
    check_kept(store_file, {session_id})
