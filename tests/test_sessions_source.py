"""`/sessions` and `/sessions.csv` read the same source: in hub mode the History list and
its CSV link show the same sessions (the hub's, with the local store as the fallback)."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.fake_hub import SESSIONS, FakeHub
from support.fault_injection import HUB_TOKEN


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    fake = FakeHub(HUB_TOKEN, hang_seconds=2)
    started = time.time() - 7200
    # A session of another server of the same user: only the hub knows it.
    fake.stored["elsewhere"] = {
        "id": "elsewhere",
        "user": "alice",
        "server_name": "gpu",
        "started": started,
        "ended": started + 3600,
        "ended_by": "stop",
        "duration_seconds": 3600.0,
        "totals": {"duration_seconds": 3600.0, "cpu_core_seconds": 7200.0},
        "cost": {"currency": "USD", "total": 1.5, "basis": "used", "breakdown": {"cpu": 1.5}},
        "meta": {"groups": ["physics"], "profile": None},
    }
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.close()


def csv_ids(body: bytes) -> list[str]:
    return [row["id"] for row in csv.DictReader(io.StringIO(body.decode()))]


async def test_the_csv_lists_what_the_history_lists(
    hub: FakeHub, jp_fetch: Any, usage_app: Any
) -> None:
    listed = json.loads((await jp_fetch("api", "usage", "v1", "sessions")).body)
    assert listed["source"] == "hub"
    assert "elsewhere" in [s["id"] for s in listed["sessions"]]
    exported = await jp_fetch("api", "usage", "v1", "sessions.csv")
    # The server may have posted its own session meanwhile; "elsewhere" only the hub has.
    assert "elsewhere" in csv_ids(exported.body)


async def test_both_fall_back_to_the_local_store_together(
    hub: FakeHub, jp_fetch: Any, usage_app: Any
) -> None:
    hub.modes[SESSIONS] = "500"
    listed = json.loads((await jp_fetch("api", "usage", "v1", "sessions")).body)
    assert listed["source"] == "local"
    exported = await jp_fetch("api", "usage", "v1", "sessions.csv")
    assert csv_ids(exported.body) == [s["id"] for s in listed["sessions"]]
