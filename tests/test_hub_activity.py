"""Concurrency over time, the hour-of-week grid and use per day, computed by the database,
equal a plain Python reference on random sessions, on SQLite and on PostgreSQL."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.hub_db import empty

from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.hub.db.storage import SessionInput, UsageDB
from jupyter_usage.hub.kpis.activity import (
    concurrency_series,
    database_activity,
    group_exists,
    hour_of_week,
    known_groups,
    session_details,
)
from jupyter_usage.hub.kpis.model import Tally, in_group
from jupyter_usage.hub.periods import DAY_SECONDS

# Monday 2 November 2026, midnight UTC.
T0 = 1_793_577_600.0
HOUR = 3600.0
SPAN = 4 * DAY_SECONDS


@pytest.fixture(scope="module")
def db(hub_db: UsageDB) -> UsageDB:
    return hub_db


stored = st.fixed_dictionaries(
    {
        "user": st.sampled_from(["ann", "bob", "cy"]),
        # Whole seconds or quarter hours: starts and ends meet exactly at times.
        "start": st.one_of(
            st.integers(0, int(SPAN / 900)).map(lambda q: T0 + 900.0 * q),
            st.floats(0, SPAN, allow_nan=False).map(lambda offset: T0 + offset),
        ),
        "hours": st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 30)),
        "ended": st.booleans(),
        "groups": st.lists(st.sampled_from(["chem", "phys"]), max_size=2, unique=True),
        "cost": st.one_of(st.none(), st.floats(0, 50)),
    }
)


def store(db: UsageDB, sessions: list[dict[str, Any]]) -> list[KpiSession]:
    kept = []
    for number, item in enumerate(sessions):
        end = item["start"] + item["hours"] * 3600
        body = SessionInput(
            session_id=f"s{number}",
            server_name="",
            started=item["start"],
            ended=end if item["ended"] else None,
            last_checkpoint=None if item["ended"] else end,
            ended_by=None,
            totals={},
            cost=None if item["cost"] is None else {"total": item["cost"], "currency": "EUR"},
            summary=None,
            meta={},
            profile=None,
        )
        db.upsert_session(item["user"], body, item["groups"], now=T0)
        kept.append(
            KpiSession(
                user=item["user"],
                started=item["start"],
                end=end,
                groups=tuple(item["groups"]),
                cost_total=item["cost"],
                currency=None if item["cost"] is None else "EUR",
            )
        )
    return kept


def hourly_reference(
    sessions: list[KpiSession], since: float, until: float
) -> list[dict[str, Any]]:
    """Per hour, the most sessions overlapping at one instant, by brute force."""
    parts = [p for s in sessions if (p := s.overlap(since, until)) and p[1] > p[0]]
    rows = []
    for index in range(math.floor(since / HOUR), math.ceil(until / HOUR)):
        low, high = max(index * HOUR, since), min((index + 1) * HOUR, until)
        # The count only changes at starts; check each start in the hour, and its start.
        moments = [low] + [a for a, _ in parts if low <= a < high]
        most = max((sum(1 for a, b in parts if a <= t < b) for t in moments), default=0)
        rows.append({"time": index * HOUR, "servers": most})
    return rows


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    sessions=st.lists(stored, max_size=12),
    since_offset=st.floats(0, DAY_SECONDS),
    length=st.floats(HOUR / 2, 3 * DAY_SECONDS),
    group=st.sampled_from([None, "chem", "phys"]),
)
def test_activity_equals_the_reference(
    db: UsageDB, sessions: list[dict[str, Any]], since_offset: float, length: float, group: Any
) -> None:
    empty(db)
    kept = in_group(store(db, sessions), group)
    since = T0 + since_offset
    until = since + length
    answer = database_activity(db, since, until, group)

    hourly = hourly_reference(kept, since, until)
    assert answer["concurrency"]["servers"] == [row["servers"] for row in hourly]
    assert answer["concurrency"]["time"] == [row["time"] for row in hourly]
    assert answer["hour_of_week"]["hours"] == hour_of_week(hourly)

    days = answer["daily"]["days"]
    for day in days:
        low, high = max(day["time"], since), min(day["time"] + DAY_SECONDS, until)
        tally = Tally()
        for session in kept:
            tally.add(session, low, high)
        expected = tally.row()
        assert math.isclose(day["server_seconds"], expected["server_seconds"], abs_tol=1e-6)
        assert day["cost"].keys() == expected["cost"].keys()
        for currency, amount in expected["cost"].items():
            assert math.isclose(day["cost"][currency], amount, rel_tol=1e-9, abs_tol=1e-6)


def test_long_windows_merge_hours_into_longer_steps() -> None:
    hourly = [{"time": T0 + i * HOUR, "servers": i % 7} for i in range(100 * 24)]
    series = concurrency_series(hourly, T0 + 100 * DAY_SECONDS)
    assert series["step_seconds"] == 24 * HOUR
    assert len(series["time"]) == 100
    assert series["servers"][0] == 6  # the highest of the day's hours


def test_hour_of_week_starts_on_monday_utc() -> None:
    # T0 is a Monday midnight: its first hour is hour 0, a Sunday 23:00 is hour 167.
    hourly = [
        {"time": T0, "servers": 4},
        {"time": T0 + 7 * DAY_SECONDS, "servers": 2},
        {"time": T0 - HOUR, "servers": 9},
    ]
    cells = {cell["hour_of_week"]: cell for cell in hour_of_week(hourly)}
    assert cells[0] == {"hour_of_week": 0, "mean_servers": 3.0, "max_servers": 4}
    assert cells[167]["max_servers"] == 9
    assert cells[1]["mean_servers"] is None


def test_groups_are_known_from_the_rollups(db: UsageDB) -> None:
    empty(db)
    store(
        db,
        [
            {
                "user": "ann",
                "start": T0,
                "hours": 1.0,
                "ended": True,
                "groups": ["chem"],
                "cost": None,
            },
            {
                "user": "bob",
                "start": T0 + 3 * DAY_SECONDS,
                "hours": 1.0,
                "ended": True,
                "groups": ["phys"],
                "cost": None,
            },
        ],
    )
    with db.engine.connect() as connection:
        assert known_groups(connection) == ["chem", "phys"]
        assert known_groups(connection, T0 + 2 * DAY_SECONDS) == ["phys"]
        assert group_exists(connection, "chem")
        assert not group_exists(connection, "nobody")
    chem = db.list_sessions(user=None, group="chem", limit=10)
    assert [s["user"] for s in chem] == ["ann"]
    # A later report of ann's session in another group: chem has no session left.
    store(
        db,
        [
            {
                "user": "ann",
                "start": T0,
                "hours": 2.0,
                "ended": True,
                "groups": ["phys"],
                "cost": None,
            }
        ],
    )
    with db.engine.connect() as connection:
        assert known_groups(connection) == ["phys"]


def test_a_sessions_details_say_its_idle_share_and_idle_cost() -> None:
    record = {
        "id": "s1",
        "user": "ann",
        "server_name": "",
        "started": T0,
        "ended": T0 + 7200,
        "duration_seconds": 7200.0,
        "totals": {
            "duration_seconds": 7200.0,
            "idle_seconds": 5400.0,
            "peak_cpu_cores": 1.5,
            "peak_memory_bytes": 2**30,
        },
        "cost": {"total": 0.4, "currency": "EUR"},
        "meta": {"profile": "small", "groups": ["chem"], "limits": {"memory_limit_bytes": 2**31}},
    }
    details = session_details(record)
    assert details["idle_share"] == 0.75
    assert details["idle_cost"] == pytest.approx(0.3)
    assert details["profile"] == "small"
    assert details["memory_limit_bytes"] == 2**31
    assert details["source"] == "extension"
    unknown = session_details({"id": "s2", "started": T0, "totals": {}, "meta": {"source": "hub"}})
    assert unknown["idle_share"] is None
    assert unknown["idle_cost"] is None
    assert unknown["source"] == "hub"
