"""Sizing figures of the hub service, from the sessions' own pressure figures, on SQLite
and on a real PostgreSQL server (the JSON paths differ between the two)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.approx import close
from support.hub_db import empty

from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.intake.hub_servers import RunningServer
from jupyter_usage.hub.intake.hub_sessions import HubSessions
from jupyter_usage.hub.intake.validation import parse_session
from jupyter_usage.hub.kpis.sizing import sizing, sizing_reference

GIB = 2**30
# Monday 2026-11-30 10:00 UTC: hour of week 10.
MONDAY_10 = datetime(2026, 11, 30, 10, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def db(db_url: str) -> Iterator[UsageDB]:
    database = UsageDB(db_url)
    database.upgrade()
    yield database
    database.close()


@pytest.fixture(scope="module")
def shared_db(hub_db: UsageDB) -> UsageDB:
    return hub_db


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


T0 = MONDAY_10 - 10 * 3600  # Monday 2026-11-30, midnight UTC
figure = st.one_of(st.none(), st.just(0.0), st.floats(0, 5000))
sized_session = st.fixed_dictionaries(
    {
        # Quarter hours as well as anywhere: ends and starts on hour boundaries.
        "start": st.one_of(
            st.integers(0, 4 * 24 * 4).map(lambda q: T0 + 900.0 * q),
            st.floats(0, 4 * 86400, allow_nan=False).map(lambda offset: T0 + offset),
        ),
        "hours": st.one_of(st.just(0.0), st.floats(0, 40)),
        "groups": st.lists(st.sampled_from(["chem", "phys"]), max_size=2, unique=True),
        "oom_kills": st.one_of(st.none(), st.integers(0, 3)),
        "near": figure,
        "throttled": figure,
        "peak": st.one_of(st.none(), st.floats(0, 8 * GIB)),
        "limit": st.one_of(st.none(), st.just(0), st.sampled_from([GIB, 4 * GIB])),
        "profile": st.sampled_from([None, "small", "large"]),
        "from_hub": st.booleans(),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sessions=st.lists(sized_session, max_size=10),
    since_offset=st.one_of(st.floats(0, 2 * 86400), st.integers(0, 48).map(lambda h: h * 3600.0)),
    length=st.one_of(st.floats(600, 3 * 86400), st.integers(1, 72).map(lambda h: h * 3600.0)),
    group=st.sampled_from([None, "chem", "phys"]),
)
def test_the_database_gives_the_reference_sizing(
    shared_db: UsageDB,
    sessions: list[dict[str, Any]],
    since_offset: float,
    length: float,
    group: str | None,
) -> None:
    db = shared_db
    empty(db)
    for number, item in enumerate(sessions):
        totals = {
            name: item[key]
            for name, key in (
                ("oom_kills", "oom_kills"),
                ("memory_near_limit_seconds", "near"),
                ("cpu_throttled_seconds", "throttled"),
                ("peak_memory_bytes", "peak"),
            )
            if item[key] is not None
        }
        meta: dict[str, Any] = {
            "limits": {"memory_limit_bytes": item["limit"]},
            "profile": item["profile"],
        }
        if item["from_hub"]:
            totals, meta = {}, {"source": "hub"}
        body = {
            "id": f"s{number}",
            "started": item["start"],
            "ended": item["start"] + item["hours"] * 3600,
            "ended_by": "stop",
            "totals": totals,
            "meta": meta,
        }
        db.upsert_session(f"u{number % 3}", parse_session(body), item["groups"], T0)
    since = T0 + since_offset
    window = (since, since + length, group)
    close(sizing_reference(db, *window), sizing(db, *window))
