"""The rollups a window reads instead of one row per user and day: ISO weeks, and the
users of each day counted; kept right by every write, race and migration."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from support.approx import close
from support.hub_db import empty, kpi_sessions
from support.kpi_reference import compute_kpis

from jupyter_usage.hub.db import rollups
from jupyter_usage.hub.db.migrations import MIGRATIONS
from jupyter_usage.hub.db.rollups import TOTAL
from jupyter_usage.hub.db.schema import (
    ROLLUP_TABLES,
    SessionRow,
    day_users,
    session_groups,
    user_days,
    user_weeks,
)
from jupyter_usage.hub.db.storage import SessionInput, UsageDB
from jupyter_usage.hub.kpis.database import _Window, database_kpis
from jupyter_usage.hub.kpis.model import MAU_SECONDS
from jupyter_usage.hub.periods import DAY_SECONDS, week_of

# Monday 2 November 2026, midnight UTC.
MONDAY = 1_793_577_600.0


@pytest.fixture(scope="module")
def db(hub_db: UsageDB) -> UsageDB:
    return hub_db


def session(number: int, started: float, hours: float, ended: bool = True) -> SessionInput:
    end = started + hours * 3600
    return SessionInput(
        session_id=f"s{number}",
        server_name="",
        started=started,
        ended=end if ended else None,
        last_checkpoint=None if ended else end,
        ended_by=None,
        totals={"cpu_core_seconds": hours, "memory_byte_seconds": 1e9 * hours},
        cost={"total": hours / 10, "currency": "EUR"},
        summary=None,
        meta={},
        profile=None,
    )


def reference(db: UsageDB, since: float, until: float, group: str | None = None) -> Any:
    sessions = kpi_sessions(db, min(since, until - MAU_SECONDS), until)
    return compute_kpis(sessions, since=since, until=until, group=group)


def counted_from_rows(db: UsageDB) -> dict[tuple[str, float], int]:
    c = user_days.c
    query = (
        select(c.filter_group, c.day, func.count())
        .where(c.grouping == TOTAL, c.group_name == "")
        .group_by(c.filter_group, c.day)
    )
    with db.engine.connect() as connection:
        return {(g, float(d)): int(n) for g, d, n in connection.execute(query)}


def kept_counts(db: UsageDB) -> dict[tuple[str, float], int]:
    c = day_users.c
    with db.engine.connect() as connection:
        rows = connection.execute(select(c.filter_group, c.day, c.users)).all()
    return {(g, float(d)): int(n) for g, d, n in rows if n}


def test_weeks_start_on_monday() -> None:
    assert week_of(MONDAY) == MONDAY
    assert week_of(MONDAY + 6 * DAY_SECONDS + 86399) == MONDAY
    assert week_of(MONDAY - 1) == MONDAY - 7 * DAY_SECONDS


def test_a_window_reads_at_most_twelve_days_on_each_side_of_its_weeks_and_months() -> None:
    # Saturday 3 October to Monday 2 November 2026: two days, then four weeks.
    spans = _Window.spans((MONDAY - 30 * DAY_SECONDS, MONDAY))
    tables = [(tables[0].name, (high - low) / DAY_SECONDS) for tables, (low, high) in spans]
    assert tables == [("usage_rollup_days", 2), ("usage_rollup_weeks", 28)]
    for offset in range(7):
        since = MONDAY - 30 * DAY_SECONDS + offset * DAY_SECONDS
        for length in (7, 30, 60, 365):
            spans = _Window.spans((since, since + length * DAY_SECONDS))
            days = sum(
                (high - low) / DAY_SECONDS
                for tables, (low, high) in spans
                if tables[0] is user_days
            )
            months = sum(1 for tables, _ in spans if tables[0].name.endswith("months"))
            assert days <= (24 if months else 12)
            # The spans cover the window once, in order.
            edges = [span for _, span in spans]
            assert edges[0][0] == since
            assert edges[-1][1] == since + length * DAY_SECONDS
            assert all(a[1] == b[0] for a, b in itertools.pairwise(edges))


def test_a_users_weeks_are_the_sums_of_her_days(db: UsageDB) -> None:
    empty(db)
    # Across a month's end: Wednesday 28 October to Wednesday 4 November.
    for number in range(8):
        db.upsert_session(
            "ann",
            session(number, MONDAY - 5 * DAY_SECONDS + number * DAY_SECONDS + 3600, 2.0),
            [],
            now=MONDAY,
        )
    c = user_weeks.c
    with db.engine.connect() as connection:
        weeks = connection.execute(
            select(c.day, c.sessions, c.server_seconds)
            .where(c.filter_group == "", c.grouping == TOTAL, c.user_name == "ann")
            .order_by(c.day)
        ).all()
    assert [tuple(row) for row in weeks] == [
        (MONDAY - 7 * DAY_SECONDS, 5, 5 * 7200.0),
        (MONDAY, 3, 3 * 7200.0),
    ]
    window = (MONDAY - 14 * DAY_SECONDS, MONDAY + 14 * DAY_SECONDS)
    close(reference(db, *window), database_kpis(db, since=window[0], until=window[1]))


def test_the_users_of_each_day_follow_every_write(db: UsageDB) -> None:
    empty(db)
    db.upsert_session("ann", session(1, MONDAY + 3600, 2.0, ended=False), ["chem"], now=MONDAY)
    db.upsert_session("bob", session(1, MONDAY + 7200, 1.0), [], now=MONDAY)
    assert kept_counts(db) == counted_from_rows(db)
    assert kept_counts(db)[("", MONDAY)] == 2
    assert kept_counts(db)[("chem", MONDAY)] == 1
    # The session ends the next day, reported in another group.
    db.upsert_session("ann", session(1, MONDAY + 3600, 30.0), ["phys"], now=MONDAY)
    assert kept_counts(db) == counted_from_rows(db)
    assert ("chem", MONDAY) not in kept_counts(db)
    assert kept_counts(db)[("phys", MONDAY + DAY_SECONDS)] == 1
    db.delete_sessions("bob", ["s1"])
    db.delete_sessions("ann", ["s1"])
    assert kept_counts(db) == counted_from_rows(db) == {}


def test_racing_reports_of_many_users_keep_the_counts(db: UsageDB) -> None:
    """Users report the same days at once: each refresh adds its own users' change to
    the shared counts, none is lost."""
    empty(db)
    errors: list[BaseException] = []

    def post(user: str) -> None:
        try:
            for number in range(6):
                start = MONDAY + number * 0.4 * DAY_SECONDS
                db.upsert_session(user, session(number, start, 12.0, ended=False), ["g"], MONDAY)
                db.upsert_session(user, session(number, start, 5.0), ["g"], MONDAY)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=post, args=(f"u{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert kept_counts(db) == counted_from_rows(db)
    assert kept_counts(db)[("", MONDAY)] == 6
    window = (MONDAY, MONDAY + 4 * DAY_SECONDS)
    close(reference(db, *window), database_kpis(db, since=window[0], until=window[1]))


def test_a_version_7_database_gets_its_weeks_and_daily_counts(db_url: str) -> None:
    old = UsageDB(db_url)
    old.upgrade(MIGRATIONS[:7])
    for number in range(20):
        start = MONDAY - 40 * DAY_SECONDS + number * 2.3 * DAY_SECONDS
        old.upsert_session(f"u{number % 3}", session(number, start, 30.0), ["chem"], now=MONDAY)
    with old.engine.begin() as connection:
        # What version 7 had: neither table (the current model made them empty here).
        for table in ("usage_rollup_weeks", "usage_rollup_week_costs", "usage_rollup_day_users"):
            connection.execute(text(f"DROP TABLE {table}"))
    old.close()
    db = UsageDB(db_url)
    try:
        assert db.upgrade() == len(MIGRATIONS) == 11
        assert kept_counts(db) == counted_from_rows(db)
        with db.engine.begin() as connection:
            weeks = connection.execute(select(func.count()).select_from(user_weeks)).scalar()
        assert weeks
        for group in (None, "chem"):
            window = (MONDAY - 45 * DAY_SECONDS + 5000, MONDAY + 3 * DAY_SECONDS)
            report = database_kpis(db, since=window[0], until=window[1], group=group)
            close(reference(db, *window, group=group), report)
        # Recomputed from scratch, the rollups are what the migration filled.
        with db.engine.begin() as connection:
            before = connection.execute(select(user_weeks).order_by(*user_weeks.primary_key)).all()
            connection.execute(delete(user_weeks))
            rollups.rebuild_rollups(connection, rollups_sessions())
            after = connection.execute(select(user_weeks).order_by(*user_weeks.primary_key)).all()
        assert len(before) == len(after)
        for old_row, new_row in zip(before, after, strict=True):
            close(list(old_row), list(new_row))
        assert kept_counts(db) == counted_from_rows(db)
    finally:
        db.close()


def rollups_sessions() -> Any:
    return SessionRow.__table__


def test_the_edges_of_a_window_find_long_sessions_by_their_length(db: UsageDB) -> None:
    """A partial day at a window's edge reads the sessions of a day or less by their start
    and the longer ones by their length: a server running for weeks is still counted."""
    empty(db)
    since = MONDAY - 20 * DAY_SECONDS + 5 * 3600
    db.upsert_session("ann", session(1, since - 21 * DAY_SECONDS, 24 * 30.0), ["chem"], MONDAY)
    db.upsert_session("bob", session(1, since - 3600, 24.0), [], MONDAY)
    # Just longer than a day, and exactly a day: each found by one of the two.
    db.upsert_session("cy", session(1, since - 23 * 3600, 24.0 + 1 / 3600), [], MONDAY)
    db.upsert_session("dee", session(1, since - 23 * 3600, 24.0), [], MONDAY)
    db.upsert_session("eve", session(1, since - 25 * 3600, 24.0), [], MONDAY)
    window = (since, MONDAY - 3 * 3600)
    for group in (None, "chem"):
        report = database_kpis(db, since=window[0], until=window[1], group=group)
        close(reference(db, *window, group=group), report)
    report = database_kpis(db, since=window[0], until=window[1])
    assert report["kpis"]["active_users"]["value"] == 4
    assert report["kpis"]["peak_concurrent_servers"]["value"] == 4


def test_an_import_and_a_report_of_one_of_its_users_do_not_deadlock(db: UsageDB) -> None:
    """A report holds its user's lock while the import (one transaction, users by rounds
    of 200) moves the counts of users per day: the import takes every user's lock first,
    so the report gets the counts and the import waits for it, not both for each other."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing to deadlock")
    empty(db)
    users = [f"u{n:03d}" for n in range(201)]
    for user in users:
        db.upsert_session(user, session(1, MONDAY + 3600, 1.0), [], now=MONDAY)
    with db.engine.begin() as connection:
        # As an import finds them: sessions without rollups, so each round moves counts.
        for table in ROLLUP_TABLES:
            if table is not session_groups:
                connection.execute(delete(table))
    ranges = {user: [MONDAY, MONDAY] for user in users}
    errors: list[BaseException] = []

    def run_import() -> None:
        try:
            with db.engine.begin() as connection:
                rollups.refresh_ranges(connection, SessionRow.__table__, ranges)
        except BaseException as error:
            errors.append(error)

    with db.engine.begin() as report:
        # The report of the last user: her lock first, as `refresh_rollups` takes it.
        report.execute(text("SELECT pg_advisory_xact_lock(hashtext('jupyter_usage:u200'))"))
        importer = threading.Thread(target=run_import)
        importer.start()
        importer.join(2)  # the import's first round, had it not waited for u200
        rollups.refresh_rollups(report, SessionRow.__table__, "u200", MONDAY, MONDAY)
    importer.join(60)
    assert errors == []
    assert kept_counts(db) == counted_from_rows(db) == {("", MONDAY): 201}
