"""Sizing figures of the hub service, from the sessions' own pressure figures, on SQLite
and on a real PostgreSQL server (the JSON paths differ between the two)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from jupyter_usage.hub.hub_servers import RunningServer
from jupyter_usage.hub.hub_sessions import HubSessions
from jupyter_usage.hub.sizing import sizing
from jupyter_usage.hub.storage import UsageDB
from jupyter_usage.hub.validation import parse_session

GIB = 2**30
# Monday 2026-11-30 10:00 UTC: hour of week 10.
MONDAY_10 = datetime(2026, 11, 30, 10, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def db(db_url: str) -> Iterator[UsageDB]:
    database = UsageDB(db_url)
    database.upgrade()
    yield database
    database.close()


def report(
    db: UsageDB, session_id: str, started: float, hours: float, groups: list[str], **totals: Any
) -> None:
    profile = totals.pop("profile", None)
    limit = totals.pop("limit", 4 * GIB)
    body = {
        "id": session_id,
        "started": started,
        "ended": started + hours * 3600,
        "ended_by": "stop",
        "totals": {"duration_seconds": hours * 3600, **totals},
        "meta": {"profile": profile, "limits": {"memory_limit_bytes": limit}},
    }
    db.upsert_session("u-" + session_id, parse_session(body), groups, started)


def test_memory_limits_oom_kills_throttling_and_peaks_by_profile(db: UsageDB) -> None:
    report(
        db,
        "a",
        MONDAY_10,
        1,
        ["physics"],
        oom_kills=2,
        peak_memory_bytes=4 * GIB,
        memory_near_limit_seconds=60,
        cpu_throttled_seconds=900,
        profile="small",
    )
    report(
        db,
        "b",
        MONDAY_10,
        2,
        ["physics"],
        peak_memory_bytes=GIB,
        cpu_throttled_seconds=0,
        profile="small",
    )
    report(
        db,
        "c",
        MONDAY_10 + 8 * 86400,
        1,
        ["biology"],
        oom_kills=1,
        peak_memory_bytes=3 * GIB,
        limit=6 * GIB,
        profile="large",
    )
    report(db, "d", MONDAY_10, 1, ["biology"], peak_memory_bytes=GIB, limit=None)
    HubSessions(db, lambda: MONDAY_10).record_poll(  # known from the hub: no figures
        [RunningServer("eve", "", MONDAY_10, None, ("physics",), None)]
    )

    body = sizing(db, MONDAY_10 - 3600, MONDAY_10 + 10 * 86400)
    assert body["sessions_with_figures"] == 4
    assert body["sessions_at_memory_limit"] == 2
    assert body["sessions_with_oom_kills"] == 2
    assert body["oom_kills_by_week"] == [
        {"week": "2026-W49", "oom_kills": 2},
        {"week": "2026-W50", "oom_kills": 1},
    ]
    hours = {row["hour_of_week"]: row for row in body["throttled_share_by_hour_of_week"]}
    # Hour 10: a (throttled a quarter of its hour) and b (not at all) -> 900 / 7200.
    assert hours[10]["throttled_share"] == pytest.approx(900 / 7200)
    assert hours[11]["throttled_share"] == 0.0  # b alone
    assert hours[12]["throttled_share"] is None
    profiles = {row["profile"]: row for row in body["peak_memory_to_limit_by_profile"]}
    assert profiles["small"]["sessions"] == 2
    assert profiles["small"]["p50"] == pytest.approx(0.625)  # between 1/4 and 4/4
    assert 0.99 < profiles["small"]["p99"] <= 1.0
    assert profiles["large"]["p50"] == pytest.approx(0.5)
    assert "(no profile)" not in profiles  # d has no known limit

    physics = sizing(db, MONDAY_10 - 3600, MONDAY_10 + 10 * 86400, group="physics")
    assert physics["sessions_with_figures"] == 2
    assert sizing(db, MONDAY_10 - 3600, MONDAY_10, group="nobody")["sessions_with_figures"] == 0
