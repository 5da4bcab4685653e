"""The KPIs computed by the database equal the pure Python reference, on random data."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from support.approx import close
from support.hub_db import empty, kpi_sessions
from support.kpi_reference import compute_kpis

from jupyter_usage.hub.db import watch_periods as hub_watch
from jupyter_usage.hub.db.migrations import MIGRATIONS
from jupyter_usage.hub.db.schema import user_months
from jupyter_usage.hub.db.storage import SessionInput, UsageDB
from jupyter_usage.hub.intake.hub_check import check_session
from jupyter_usage.hub.intake.jsonl import import_files
from jupyter_usage.hub.kpis.database import database_kpis
from jupyter_usage.hub.kpis.model import MAU_SECONDS
from jupyter_usage.hub.periods import DAY_SECONDS

# Monday 2 November 2026, midnight UTC.
T0 = 1_793_577_600.0
SPAN = 12 * DAY_SECONDS


@pytest.fixture(scope="module")
def db(hub_db: UsageDB) -> UsageDB:
    return hub_db


times = st.floats(0, SPAN, allow_nan=False).map(lambda offset: T0 + offset)
stored = st.fixed_dictionaries(
    {
        "user": st.sampled_from(["ann", "bob", "cy", "dee"]),
        "start": times,
        "hours": st.one_of(st.just(0.0), st.floats(0, 80)),
        "ended": st.booleans(),
        "groups": st.lists(st.sampled_from(["chem", "phys", "bio"]), max_size=2, unique=True),
        "cost": st.one_of(st.none(), st.floats(0, 100)),
        "currency": st.sampled_from([None, "EUR", "USD"]),
        "cpu": st.floats(0, 1e6),
        # A session the hub never ran, reported while the service watched it.
        "fabricated": st.booleans(),
    }
)


def store(db: UsageDB, sessions: list[dict[str, Any]]) -> None:
    watched = False
    for number, item in enumerate(sessions):
        end = item["start"] + item["hours"] * 3600
        body = _body(number, item, end, item["ended"])
        db.upsert_session(item["user"], body, item["groups"], now=T0)
        if item.get("fabricated"):
            if not watched:
                # The service watched the hub all along, and the hub never listed these.
                with db.engine.begin() as connection:
                    connection.execute(
                        insert(hub_watch.periods).values(
                            started=T0 - 400 * DAY_SECONDS, ended=T0 + 400 * DAY_SECONDS
                        )
                    )
                watched = True
            check_session(db, item["user"], body.session_id, max_gap_seconds=60.0, now=T0)


def reference(db: UsageDB, **window: Any) -> dict[str, Any]:
    since, until = window["since"], window["until"]
    return compute_kpis(kpi_sessions(db, min(since, until - MAU_SECONDS), until), **window)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sessions=st.lists(stored, max_size=12),
    since=times,
    length=st.one_of(
        st.floats(60, 3 * DAY_SECONDS), st.sampled_from([DAY_SECONDS, 7 * DAY_SECONDS])
    ),
    aligned=st.booleans(),
    group=st.sampled_from([None, "chem", "phys", "nobody"]),
)
def test_the_database_gives_the_reference_kpis(
    db: UsageDB,
    sessions: list[dict[str, Any]],
    since: float,
    length: float,
    aligned: bool,
    group: str | None,
) -> None:
    empty(db)
    store(db, sessions)
    if aligned:
        since = math.floor(since / DAY_SECONDS) * DAY_SECONDS
    window = {"since": since, "until": since + length, "group": group}
    close(reference(db, **window), database_kpis(db, **window))


LONG_SPAN = 100 * DAY_SECONDS
long_stored = stored.map(
    lambda item: {
        **item,
        # Across calendar months, and some sessions across a month's end.
        "start": T0 - 20 * DAY_SECONDS + (item["start"] - T0) / SPAN * LONG_SPAN,
        "hours": item["hours"] * 10,
    }
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sessions=st.lists(long_stored, max_size=12),
    since_offset=st.floats(0, 40 * DAY_SECONDS),
    length=st.one_of(st.floats(DAY_SECONDS, 80 * DAY_SECONDS), st.just(62 * DAY_SECONDS)),
    aligned=st.booleans(),
    group=st.sampled_from([None, "chem", "phys"]),
)
def test_windows_over_whole_months_give_the_reference_kpis(
    db: UsageDB,
    sessions: list[dict[str, Any]],
    since_offset: float,
    length: float,
    aligned: bool,
    group: str | None,
) -> None:
    """Windows holding whole calendar months read the monthly rollups for them."""
    empty(db)
    store(db, sessions)
    since = T0 - 20 * DAY_SECONDS + since_offset
    if aligned:
        since = math.floor(since / DAY_SECONDS) * DAY_SECONDS
    window = {"since": since, "until": since + length, "group": group}
    close(reference(db, **window), database_kpis(db, **window))


def test_a_month_is_read_from_the_monthly_rollups(db: UsageDB) -> None:
    """December 2026, a whole month: its figures are the sums of its days."""
    empty(db)
    december = 1_796_083_200.0  # 2026-12-01 00:00 UTC
    items = [
        {**BASE_ITEM, "user": "ann", "start": december - 3600, "hours": 5.0},
        {**BASE_ITEM, "user": "bob", "start": december + 20 * DAY_SECONDS, "hours": 300.0},
    ]
    store(db, items)
    window = {"since": december, "until": december + 31 * DAY_SECONDS, "group": None}
    report = database_kpis(db, **window)
    close(reference(db, **window), report)
    assert report["kpis"]["monthly_active_users"]["value"] == [{"month": "2026-12", "users": 2}]
    with db.engine.connect() as connection:
        months = connection.execute(
            select(user_months.c.user_name, user_months.c.server_seconds).where(
                user_months.c.day == december,
                user_months.c.grouping == 0,
                user_months.c.filter_group == "",
            )
        ).all()
    assert sorted(months) == [("ann", 4 * 3600.0), ("bob", 11 * DAY_SECONDS)]


BASE_ITEM: dict[str, Any] = {
    "ended": True,
    "groups": [],
    "cost": 1.0,
    "currency": "EUR",
    "cpu": 1.0,
}


def test_the_migration_backfills_rollups_of_an_existing_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = UsageDB(url)
    old.upgrade(MIGRATIONS[:1])
    # Written before rollups existed: the v1 schema has no rollup or peak tables to refresh.
    old._refresh_rollups = lambda *refreshed: None  # type: ignore[method-assign]
    items = [
        {
            "user": "ann",
            "start": T0 + 3600,
            "hours": 30.0,
            "ended": True,
            "groups": ["chem"],
            "cost": 2.0,
            "currency": "EUR",
            "cpu": 10.0,
        },
        {
            "user": "bob",
            "start": T0 + 40000,
            "hours": 2.0,
            "ended": False,
            "groups": [],
            "cost": None,
            "currency": None,
            "cpu": 1.0,
        },
    ]
    store(old, items)
    old.close()
    db = UsageDB(url)
    assert db.upgrade() == len(MIGRATIONS)
    window = {"since": T0, "until": T0 + 3 * DAY_SECONDS, "group": None}
    report = database_kpis(db, **window)
    close(reference(db, **window), report)
    assert report["kpis"]["active_users"]["value"] == 2
    db.close()


def _body(number: int, item: dict[str, Any], end: float, ended: bool) -> SessionInput:
    return SessionInput(
        session_id=f"s{number}",
        server_name="",
        started=item["start"],
        ended=end if ended else None,
        last_checkpoint=None if ended else end,
        ended_by=None,
        totals={"cpu_core_seconds": item["cpu"], "memory_byte_seconds": item["hours"]},
        cost=None
        if item["cost"] is None
        else {"total": item["cost"], "currency": item["currency"]},
        summary=None,
        meta={},
        profile=None,
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sessions=st.lists(
        st.tuples(
            stored,
            st.floats(0, 1),
            st.lists(st.sampled_from(["chem", "phys"]), max_size=2, unique=True),
        ),
        max_size=10,
    ),
    since=times,
    length=st.floats(3600, 4 * DAY_SECONDS),
    group=st.sampled_from([None, "chem", "phys"]),
)
def test_reports_of_running_sessions_then_their_end_give_the_reference_kpis(
    db: UsageDB,
    sessions: list[tuple[dict[str, Any], float, list[str]]],
    since: float,
    length: float,
    group: str | None,
) -> None:
    """Each session is first reported running (a checkpoint part-way, possibly in other
    groups), then as it is now: the rollups and hour peaks of the days and hours the
    second report moves are recomputed, and nothing else is left behind."""
    empty(db)
    for number, (item, part, earlier_groups) in enumerate(sessions):
        end = item["start"] + item["hours"] * 3600
        checkpoint = item["start"] + (end - item["start"]) * part
        db.upsert_session(
            item["user"], _body(number, item, checkpoint, False), earlier_groups, now=T0
        )
        db.upsert_session(
            item["user"], _body(number, item, end, item["ended"]), item["groups"], now=T0
        )
    window = {"since": since, "until": since + length, "group": group}
    close(reference(db, **window), database_kpis(db, **window))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sessions=st.lists(stored, max_size=12),
    since=times,
    length=st.floats(3600, 4 * DAY_SECONDS),
    group=st.sampled_from([None, "chem", "nobody"]),
)
def test_imported_sessions_give_the_reference_kpis(
    db: UsageDB,
    tmp_path_factory: pytest.TempPathFactory,
    sessions: list[dict[str, Any]],
    since: float,
    length: float,
    group: str | None,
) -> None:
    """The import's own writes (many rows per statement, COPY on PostgreSQL) and its
    recomputation at the end give what the POSTs give."""
    empty(db)
    path = tmp_path_factory.mktemp("import") / "sessions.jsonl"
    with path.open("w") as out:
        for number, item in enumerate(sessions):
            end = item["start"] + item["hours"] * 3600
            body = _body(number, item, end, item["ended"])
            record = {
                "id": body.session_id,
                "user": item["user"],
                "started": body.started,
                "ended": body.ended,
                "last_checkpoint": body.last_checkpoint,
                "totals": body.totals,
                "cost": body.cost,
                "meta": {"groups": item["groups"]},
            }
            out.write(json.dumps(record) + "\n")
    result = import_files(db, [path], progress=io.StringIO(), batch=5)
    assert result.created == len(sessions)
    window = {"since": since, "until": since + length, "group": group}
    close(reference(db, **window), database_kpis(db, **window))
