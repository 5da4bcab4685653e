"""What the fault tests share: a client of the extension's API that counts what it sends,
polling helpers, and checks that nothing recorded was lost or went negative.

The fault tests themselves are in test_faults_sources.py (NVML, cgroup files, /proc
races, the wall clock), test_faults_hub.py (the hub API and the history service failing,
SIGKILL while it is down) and test_faults_store.py (disk full, read-only, corrupt).
Each starts a real Jupyter server with the extension (in-process through pytest-jupyter,
or a subprocess where the fault could take the test process down with it) and injects
one fault for real.

Faults proven elsewhere and not repeated there: a single SIGKILL recovered at the last
checkpoint without a hub (test_session_lifecycle.py), a failing source or listener in the
sampler (test_sampler.py), every NVML error code (test_gpu.py), the store's failure modes
on its own (test_store.py), the hub client's backoff and scopes (test_hubclient.py).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from tornado.httpclient import HTTPClientError

from .fake_hub import FakeHub
from .reliability_log import record
from .server_process import ServerProcess

_T = TypeVar("_T")

GIB = 2**30
CHECKPOINT_SECONDS = 1.0
HUB_TOKEN = "hub-token-for-this-server"

FAULT_CONFIG: dict[str, Any] = {
    "UsageApp": {"checkpoint_interval": CHECKPOINT_SECONDS},
    "CostModel": {"server_hour": 3600.0},
}
"""One currency unit per second of server time: costs are easy to check against time."""


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


async def as_awaitable(value: bool) -> bool:
    """`value`, for `until`, which awaits what it checks."""
    return value


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
