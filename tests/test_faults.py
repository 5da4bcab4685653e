"""Faults injected into running servers: the server stays up, the other sources keep
reporting, and nothing recorded is lost.

Each test starts a real Jupyter server with the extension (in-process through
pytest-jupyter, or a subprocess where the fault could take the test process down with it)
and injects one fault for real: NVML raising (a fake `pynvml`: this machine has no GPU),
cgroup files deleted or made unreadable under a cgroup tree the server reads, processes
exiting while they are sampled, a hub and history service on loopback that fail, hang or
refuse the token, a tmpfs filled up, immutable store files, garbage in the store file, a
wall clock stepped back, SIGKILL. Select them with `pytest tests/test_faults.py`.

Faults proven elsewhere and not repeated here: a single SIGKILL recovered at the last
checkpoint without a hub (test_session_lifecycle.py), a failing source or listener in the
sampler (test_sampler.py), every NVML error code (test_gpu.py), the store's failure modes
on its own (test_store.py), the hub client's backoff and scopes (test_hubclient.py).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fake_hub import SERVICE, SESSIONS, USER, FakeHub
from fake_nvml import NVML_ERROR_GPU_IS_LOST, FakeDevice, FakeNvml, FakeProcess
from reliability_log import record
from server_process import ServerProcess
from tornado.httpclient import HTTPClientError

from jupyter_usage import app as app_module
from jupyter_usage.sampling.cgroup import CgroupReader
from jupyter_usage.store import SessionStore

_T = TypeVar("_T")

GIB = 2**30
CHECKPOINT_SECONDS = 1.0
HUB_TOKEN = "hub-token-for-this-server"


@pytest.fixture
def usage_config() -> dict[str, Any]:
    # One currency unit per second of server time: costs are easy to check against time.
    return {
        "UsageApp": {"checkpoint_interval": CHECKPOINT_SECONDS},
        "CostModel": {"server_hour": 3600.0},
    }


# -- talking to the server ------------------------------------------------------------


class Api:
    """GETs of the extension's REST API, counted for docs/reliability.md."""

    def __init__(self, jp_fetch: Any, usage_app: Any) -> None:
        self.fetch = jp_fetch
        self.usage_app = usage_app
        self.sampled = False

    async def get(self, path: str, **params: Any) -> Any:
        if not self.sampled:
            # Two samples first (CPU needs two): before the first, the snapshot is a
            # documented 503, which would count as a 5xx here.
            deadline = time.monotonic() + 30
            while self.usage_app.sampler.ticks_total < 2:
                assert time.monotonic() < deadline, "no two samples within 30 s"
                await asyncio.sleep(0.05)
            self.sampled = True
        record("requests")
        try:
            response = await self.fetch("api", "usage", "v1", path, params=params or None)
        except HTTPClientError as error:
            if error.code >= 500:
                record("responses_5xx", detail=f"GET {path}: {error.code}")
            raise
        return json.loads(response.body)

    async def alive(self) -> dict[str, Any]:
        """A snapshot whose CPU and memory are known: the other sources keep reporting."""
        snapshot: dict[str, Any] = await self.get("snapshot")
        assert snapshot["memory"]["used_bytes"] > 0, snapshot
        assert snapshot["cpu"]["cores"] is not None, snapshot
        assert snapshot["cpu"]["cores"] >= 0, snapshot
        return snapshot


@pytest.fixture
def api(jp_fetch: Any, usage_app: Any) -> Api:
    return Api(jp_fetch, usage_app)


async def until(
    check: Callable[[], Awaitable[_T | None]], what: str, timeout_seconds: float = 30
) -> _T:
    """Poll `check` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = await check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def started(api: Api) -> dict[str, Any]:
    """Wait for two samples (CPU known) and a first checkpoint."""

    async def ready() -> dict[str, Any] | None:
        try:
            snapshot: dict[str, Any] = await api.get("snapshot")
        except HTTPClientError as error:
            if error.code == 503:  # the first sample is not taken yet: by design
                return None
            raise
        session = await api.get("session")
        if snapshot["cpu"]["cores"] is None or session["cost"]["total"] < CHECKPOINT_SECONDS:
            return None
        return snapshot

    return await until(ready, "the first samples")


class CostWatch:
    """The running session's cost, which must never go down."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.totals: list[float] = []

    async def read(self) -> dict[str, Any]:
        session: dict[str, Any] = await self.api.get("session")
        assert_non_negative(session, "the running session")
        total = session["cost"]["total"]
        assert not self.totals or total >= self.totals[-1], (self.totals, total)
        self.totals.append(total)
        return session


def assert_non_negative(record_: dict[str, Any], where: str) -> None:
    """No negative duration, resource-seconds or cost anywhere in a session record."""
    assert record_.get("duration_seconds", 0) >= 0, (where, record_)
    for name, value in (record_.get("totals") or {}).items():
        if isinstance(value, int | float):
            assert value >= 0, (where, name, value)
    cost = record_.get("cost") or {}
    assert (cost.get("total") or 0) >= 0, (where, cost)
    for name, value in (cost.get("breakdown") or {}).items():
        assert (value or 0) >= 0, (where, name, value)
    for name in ("cpu_core_seconds", "memory_byte_seconds", "gpu_seconds", "idle_seconds"):
        assert record_.get(name, 0) >= 0, (where, name, record_)


def stored_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The sessions as they are in the file (not the server's memory), JSON decoded."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = connection.execute("SELECT * FROM sessions")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        connection.close()
    for row in rows:
        for column in ("totals", "cost", "summary", "meta"):
            row[column] = json.loads(row[column]) if row[column] is not None else None
    return {row["id"]: row for row in rows}


def check_kept(path: Path, expected_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Every expected session is in the file, none with a negative figure."""
    rows = stored_rows(path)
    lost = expected_ids - rows.keys()
    if lost:
        record("sessions_lost", len(lost), detail=", ".join(sorted(lost)))
    assert not lost, f"sessions lost from {path}: {lost}"
    for session_id, row in rows.items():
        assert_non_negative(row, f"stored session {session_id}")
    return rows


def data_dir(tmp_path: Path) -> Path:
    """The in-process server's data directory (conftest's `UsageApp.data_dir`)."""
    return tmp_path / "usage-data"


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


# -- the hub API failing, hanging or refusing the token ---------------------------------


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A hub and history service on loopback; the server finds it through the environment."""
    fake = FakeHub(HUB_TOKEN, hang_seconds=30)
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.close()


@pytest.fixture
def hub_fault(hub: FakeHub, request: pytest.FixtureRequest) -> str:
    """The hub API fails in the way the test is parametrized with, from the server's start."""
    fault: str = request.param
    if fault == "token-refused":
        hub.token = "another-token"  # every route answers 403
    else:
        hub.modes[USER] = hub.modes[SERVICE] = "500" if fault == "500" else "hang"
    return fault


@pytest.mark.parametrize("hub_fault", ["500", "hang", "token-refused"], indirect=True)
async def test_hub_api_failing_then_back(
    hub: FakeHub, hub_fault: str, usage_app: Any, api: Api, tmp_path: Path
) -> None:
    record("faults_injected", detail=f"hub API: {hub_fault}")
    costs = CostWatch(api)

    if hub_fault == "hang":
        # While the hub holds a request, the server answers everything else.
        await until(lambda: _true(hub.hanging > 0), "a request to hang in the hub")
        pending = asyncio.ensure_future(api.get("hub"))
        await api.alive()
        await costs.read()
        assert not pending.done()
        info = await pending
    else:
        await started(api)
        info = await api.get("hub")
    expected = {
        "500": "HTTP 500",
        "hang": "timed out",
        "token-refused": "scope not granted",
    }[hub_fault]
    assert info["available"] is False
    assert expected in info["reason"]

    # Past sessions come from the local store while the hub cannot say.
    sessions = await api.get("sessions")
    assert sessions["source"] == "local"
    current = (await costs.read())["id"]
    assert current in {s["id"] for s in sessions["sessions"]}
    await api.alive()

    hub.token = HUB_TOKEN
    hub.modes[USER] = hub.modes[SERVICE] = "ok"

    async def available() -> dict[str, Any] | None:
        body: dict[str, Any] = await api.get("hub")
        return body if body["available"] else None

    back = await until(available, "the hub to answer again")
    assert back["name"] == "alice"
    await until(
        lambda: _true(current in hub.accepted_posts()), "the running session to reach the hub"
    )
    await api.alive()
    await costs.read()
    check_kept(data_dir(tmp_path) / "sessions.sqlite", {current})


async def _true(value: bool) -> bool:
    return value


# -- the history service down for a while, then back ------------------------------------


@pytest.fixture
def backlog(tmp_path: Path) -> list[str]:
    """Three ended sessions not delivered yet, and one a crash left open."""
    now = time.time()
    ids = [f"ended-{n}" for n in range(3)]
    with SessionStore(data_dir(tmp_path) / "sessions.sqlite") as store:
        for number, session_id in enumerate(ids):
            started_at = now - 86400 + number * 3600
            store.start_session(session_id, user="alice", server_name="", started=started_at)
            store.end_session(
                session_id,
                ended=started_at + 600,
                ended_by="stop",
                totals={"duration_seconds": 600.0},
                cost={"currency": "USD", "total": 600.0},
                summary=None,
            )
        store.start_session("crashed", user="alice", server_name="", started=now - 7200)
        store.checkpoint(
            "crashed",
            time=now - 7100,
            totals={"duration_seconds": 100.0},
            cost={"currency": "USD", "total": 100.0},
        )
    return [*ids, "crashed"]


@pytest.fixture
def history_down(hub: FakeHub) -> FakeHub:
    hub.modes[SESSIONS] = "500"
    return hub


async def test_history_service_down_then_back_delivers_the_backlog_once(
    backlog: list[str], history_down: FakeHub, usage_app: Any, api: Api, tmp_path: Path
) -> None:
    hub = history_down
    record("faults_injected", detail="history service answers 500")
    costs = CostWatch(api)
    await started(api)
    assert usage_app.store.get("crashed")["ended_by"] == "recovered"
    record("sessions_recovered", detail="left open by a crash, recovered at start")

    # Down for a while: tried (with backoff), refused, kept.
    await until(lambda: _true(hub.refused_posts() >= 2), "two refused deliveries")
    delivery = (await api.get("hub"))["delivery"]
    assert "HTTP 500" in delivery["last_error"]
    pending = {r["id"] for r in usage_app.store.undelivered()}
    assert pending == set(backlog)
    await api.alive()
    await costs.read()

    hub.modes[SESSIONS] = "ok"
    await until(lambda: _true(set(backlog) <= hub.accepted_posts().keys()), "the backlog to arrive")
    # Give a few more delivery rounds the chance to send anything twice.
    for _ in range(4):
        await asyncio.sleep(CHECKPOINT_SECONDS)
        await api.alive()
    accepted = hub.accepted_posts()
    assert {session_id: accepted[session_id] for session_id in backlog} == dict.fromkeys(backlog, 1)
    assert hub.stored["crashed"]["ended_by"] == "recovered"
    assert (await api.get("hub"))["delivery"]["last_error"] is None
    session = await costs.read()
    assert accepted[session["id"]] >= 1  # the running session went along
    rows = check_kept(data_dir(tmp_path) / "sessions.sqlite", {*backlog, session["id"]})
    assert all(rows[session_id]["delivered"] == 1 for session_id in backlog)


# -- SIGKILL while the history service is down ------------------------------------------


def subprocess_server(tmp_path: Path, hub: FakeHub | None = None) -> ServerProcess:
    return ServerProcess(
        tmp_path,
        f"--UsageApp.data_dir={tmp_path / 'usage'}",
        "--UsageApp.sample_interval=0.2",
        f"--UsageApp.checkpoint_interval={CHECKPOINT_SECONDS:g}",
        "--CostModel.server_hour=3600",
        env=hub.env() if hub is not None else None,
    )


def wait_for(check: Callable[[], _T | None], what: str, timeout_seconds: float = 30) -> _T:
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def session_costing(server: ServerProcess, at_least: float) -> dict[str, Any]:
    def costly() -> dict[str, Any] | None:
        record("requests")
        session: dict[str, Any] = server.get("api/usage/v1/session")
        assert_non_negative(session, "the running session")
        return session if session["cost"]["total"] >= at_least else None

    return wait_for(costly, f"a cost of {at_least}")


def test_sigkill_while_the_history_service_is_down(hub: FakeHub, tmp_path: Path) -> None:
    hub.modes[SESSIONS] = "500"
    first = subprocess_server(tmp_path, hub).start()
    session_costing(first, 2.5)
    time.sleep(CHECKPOINT_SECONDS * 1.2)  # a checkpoint lands after the cost we read
    seen = first.get("api/usage/v1/session")
    first.stop(signal.SIGKILL)
    record("faults_injected", detail="SIGKILL mid-session, history service down")
    assert seen["id"] not in hub.accepted_posts()

    hub.modes[SESSIONS] = "ok"
    second = subprocess_server(tmp_path, hub)
    with second:
        sessions = second.get("api/usage/v1/sessions")["sessions"]
        recovered = next((s for s in sessions if s["id"] == seen["id"]), None)
        if recovered is None:
            record("sessions_lost", detail=f"killed session {seen['id']}")
        assert recovered is not None
        assert recovered["ended_by"] == "recovered"
        record("sessions_recovered", detail="SIGKILL, recovered at the next start")
        assert_non_negative(recovered, "the recovered session")
        # At most one checkpoint interval lost (1 s = 1 unit), nothing invented.
        lost_seconds = seen["cost"]["total"] - recovered["cost"]["total"]
        assert -0.5 <= lost_seconds <= CHECKPOINT_SECONDS + 0.5

        wait_for(lambda: seen["id"] in hub.accepted_posts(), "the recovered session at the hub")
        current = session_costing(second, 1.0)["id"]
        time.sleep(CHECKPOINT_SECONDS * 3)
        assert second.stop(signal.SIGTERM) == 0
    assert hub.accepted_posts()[seen["id"]] == 1
    assert hub.stored[seen["id"]]["ended_by"] == "recovered"
    assert hub.stored[seen["id"]]["cost"]["total"] == pytest.approx(recovered["cost"]["total"])
    # The second session, ended at stop, reached the hub in its final form.
    assert hub.stored[current]["ended_by"] == "stop"
    check_kept(tmp_path / "usage" / "sessions.sqlite", {seen["id"], current})


# -- the store's disk full or read-only -------------------------------------------------


def needs_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root on this machine")


@pytest.fixture
def tmpfs_data_dir(tmp_path: Path) -> Iterator[Path]:
    """The server's data directory on a 4 MiB tmpfs of its own, to fill up."""
    needs_root("mounting a small tmpfs")
    path = data_dir(tmp_path)
    path.mkdir(parents=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem has no byte left."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as file:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            chunk = b"\0" * size
            while True:
                try:
                    file.write(chunk)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
    return filler


async def test_store_disk_full_then_freed(tmpfs_data_dir: Path, usage_app: Any, api: Api) -> None:
    costs = CostWatch(api)
    await started(api)
    store_file = tmpfs_data_dir / "sessions.sqlite"
    session_id = usage_app.recorder.id
    await until(
        lambda: _true(stored_rows(store_file)[session_id]["totals"] is not None),
        "a checkpoint on disk",
    )

    filler = fill(tmpfs_data_dir)
    record("faults_injected", detail="store disk full (tmpfs filled)")

    async def store_status(contains: str, present: bool) -> str | None:
        status: str = (await api.get("config"))["store"]["status"]
        return status if (contains in status) == present else None

    status = await until(lambda: store_status("writes are failing", True), "failing writes")
    assert "database or disk is full" in status
    await api.alive()
    await costs.read()
    await asyncio.sleep(CHECKPOINT_SECONDS * 2)
    held = usage_app.store.get(session_id)  # in memory, not on disk
    on_disk = stored_rows(store_file)[session_id]
    assert held["last_checkpoint"] > on_disk["last_checkpoint"]
    listed = await api.get("sessions")
    assert session_id in {s["id"] for s in listed["sessions"]}

    filler.unlink()
    await until(lambda: store_status("writes are failing", False), "writes to succeed again")
    rows = check_kept(store_file, {session_id})
    assert rows[session_id]["last_checkpoint"] >= held["last_checkpoint"]
    await api.alive()
    await costs.read()


def chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


def immutable_supported(tmp_path: Path) -> None:
    needs_root("making files read-only for root (chattr +i)")
    probe = tmp_path / "chattr-probe"
    probe.write_text("x")
    result = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False)
    if result.returncode:
        pytest.skip("chattr +i is not supported on this filesystem")
    chattr("-i", probe)


def test_store_read_only_mid_run_then_writable(tmp_path: Path) -> None:
    # A subprocess: should SQLite meet the read-only files in a mapped page, only the
    # server under test goes down, not the test.
    immutable_supported(tmp_path)
    server = subprocess_server(tmp_path)
    usage_dir = tmp_path / "usage"
    store_file = usage_dir / "sessions.sqlite"
    with server:
        session = session_costing(server, 2.0)
        wait_for(lambda: stored_rows(store_file)[session["id"]]["totals"], "a checkpoint")
        # The database, its write-ahead log and the directory become immutable: every
        # write fails as on a filesystem remounted read-only (root ignores file modes).
        protected = [usage_dir, store_file, Path(f"{store_file}-wal")]
        chattr("+i", *protected)
        record("faults_injected", detail="store files read-only (chattr +i)")
        try:

            def failing() -> str | None:
                record("requests")
                status: str = server.get("api/usage/v1/config")["store"]["status"]
                return status if "writes are failing" in status else None

            status = wait_for(failing, "failing writes")
            during = session_costing(server, session["cost"]["total"] + 2)
            record("requests")
            assert server.get("api/usage/v1/snapshot")["memory"]["used_bytes"] > 0
        finally:
            chattr("-i", *protected)

        def writing() -> str | None:
            record("requests")
            status: str = server.get("api/usage/v1/config")["store"]["status"]
            return status if "writes are failing" not in status else None

        wait_for(writing, "writes to succeed again")
        assert server.stop(signal.SIGTERM) == 0
    assert "readonly" in status or "I/O error" in status, status
    rows = check_kept(store_file, {session["id"]})
    assert rows[session["id"]]["ended_by"] == "stop"
    assert rows[session["id"]]["cost"]["total"] >= during["cost"]["total"]


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[bytes]:
    """A store holding one past session, read-only before the server starts."""
    immutable_supported(tmp_path)
    directory = data_dir(tmp_path)
    with SessionStore(directory / "sessions.sqlite") as store:
        store.start_session("past", user=None, server_name=None, started=time.time() - 3600)
        store.end_session(
            "past",
            ended=time.time() - 1800,
            ended_by="stop",
            totals={"duration_seconds": 1800.0},
            cost={"currency": "USD", "total": 1800.0},
            summary=None,
        )
    content = (directory / "sessions.sqlite").read_bytes()
    chattr("+i", directory, directory / "sessions.sqlite")
    try:
        yield content
    finally:
        chattr("-i", directory, directory / "sessions.sqlite")


async def test_store_read_only_at_start(
    read_only_store: bytes, usage_app: Any, api: Api, tmp_path: Path
) -> None:
    record("faults_injected", detail="store read-only at start (chattr +i)")
    costs = CostWatch(api)
    await started(api)
    store = (await api.get("config"))["store"]
    assert store["persistent"] is False
    assert store["status"].startswith("in memory")
    # The session is kept (in memory) and served; the file is left as it was.
    session = await costs.read()
    listed = await api.get("sessions")
    assert session["id"] in {s["id"] for s in listed["sessions"]}
    assert (data_dir(tmp_path) / "sessions.sqlite").read_bytes() == read_only_store
    await api.alive()


# -- a corrupt store file ---------------------------------------------------------------


@pytest.fixture
def corrupt_store(tmp_path: Path) -> bytes:
    garbage = os.urandom(64 * 1024)
    directory = data_dir(tmp_path)
    directory.mkdir(parents=True)
    (directory / "sessions.sqlite").write_bytes(garbage)
    return garbage


async def test_corrupt_store_file_is_moved_aside(
    corrupt_store: bytes, usage_app: Any, api: Api, tmp_path: Path
) -> None:
    record("faults_injected", detail="garbage bytes in the store file")
    costs = CostWatch(api)
    await started(api)
    store = (await api.get("config"))["store"]
    assert store["persistent"] is True
    assert "a corrupt store was moved to sessions.sqlite.corrupt-" in store["status"]
    # The damaged file is kept, byte for byte, for whoever wants to rescue it.
    (moved,) = data_dir(tmp_path).glob("sessions.sqlite.corrupt-*[0-9]")
    assert moved.read_bytes() == corrupt_store
    session = await costs.read()
    await until(
        lambda: _true(
            (stored_rows(data_dir(tmp_path) / "sessions.sqlite").get(session["id"]) or {}).get(
                "totals"
            )
            is not None
        ),
        "a checkpoint in the fresh store",
    )
    await api.alive()
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
        lambda: _true(checkpointed_seconds() >= at_jump + 2 * CHECKPOINT_SECONDS),
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
