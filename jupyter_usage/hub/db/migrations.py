"""The schema's versions, in order: `usage_schema_version` holds how many of MIGRATIONS
were applied, and a new version is one more function appended here (explicit DDL), never
an edit of an old one. A database newer than this list is left untouched
(storage.NewerSchemaError).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, bindparam, inspect, select, text, update

from . import concurrency, rollups
from .schema import (
    ALLOCATION_TABLES,
    CONCURRENCY_TABLES,
    DERIVED_COLUMNS,
    REFUSAL_TABLES,
    REPORT_CHECK_TABLES,
    ROLLUP_TABLES,
    Base,
    SessionRow,
    derived_values,
    hour_peaks,
    metadata,
    user_day_costs,
    user_days,
)

Migration = Callable[[Connection], None]


def _migrate_v1(connection: Connection) -> None:
    # Version 1 is the initial schema; later versions alter it with explicit DDL.
    Base.metadata.create_all(connection, tables=[SessionRow.__table__])  # type: ignore[list-item]


def _migrate_v2(connection: Connection) -> None:
    # Rollups for KPIs computed by the database; built from the sessions already stored.
    metadata.create_all(connection, tables=ROLLUP_TABLES)
    rollups.rebuild_rollups(connection, SessionRow.__table__)


def _migrate_v3(connection: Connection) -> None:
    # v1 creates the table from the current model, so a fresh database has the column
    # already; a database made by an older version gets it here.
    columns = {c["name"] for c in inspect(connection).get_columns(SessionRow.__tablename__)}
    if "report_digest" not in columns:
        connection.execute(text("ALTER TABLE usage_sessions ADD COLUMN report_digest VARCHAR(64)"))


def _migrate_v4(connection: Connection) -> None:
    # Peak concurrency per hour, so that a window's peak reads hours, not sessions; the
    # lengths in order, so that percentiles need no sort; the running sessions indexed.
    for index in Base.metadata.tables[SessionRow.__tablename__].indexes:
        if index.name in ("usage_sessions_lengths", "usage_sessions_ended"):
            index.create(connection, checkfirst=True)
    metadata.create_all(connection, tables=CONCURRENCY_TABLES)
    concurrency.rebuild(connection, SessionRow.__table__)


def _migrate_v5(connection: Connection) -> None:
    # Rollups per user per month beside those per day, so that a year reads months, and
    # on SQLite stored in key order; the source and sizing's figures of a session as
    # columns, and CPU throttling per hour with the hour peaks, so that coverage and
    # sizing are counted by the database.
    columns = {c["name"] for c in inspect(connection).get_columns(SessionRow.__tablename__)}
    if "from_hub" not in columns:
        connection.execute(
            text("ALTER TABLE usage_sessions ADD COLUMN from_hub BOOLEAN NOT NULL DEFAULT false")
        )
        for name in DERIVED_COLUMNS[1:]:
            connection.execute(text(f"ALTER TABLE usage_sessions ADD COLUMN {name} FLOAT"))
        _fill_derived(connection)
    hours = {c["name"] for c in inspect(connection).get_columns(hour_peaks.name)}
    if "figure_seconds" not in hours:
        for name in ("figure_seconds", "throttled_seconds"):
            connection.execute(
                text(f"ALTER TABLE {hour_peaks.name} ADD COLUMN {name} FLOAT NOT NULL DEFAULT 0")
            )
        concurrency.rebuild(connection, SessionRow.__table__)
    # Version 5's indexes on the spans and the peak ratios are version 7's wider ones.
    connection.execute(text("DROP INDEX IF EXISTS usage_sessions_last_seen"))
    if connection.dialect.name == "sqlite":
        # Recreated in key order (WITHOUT ROWID, see rollups.py), then refilled.
        for table in (user_days, user_day_costs):
            table.drop(connection, checkfirst=True)
    metadata.create_all(connection, tables=ROLLUP_TABLES)
    rollups.rebuild_rollups(connection, SessionRow.__table__)


def _fill_derived(connection: Connection) -> None:
    """The derived columns of every stored session, in batches of 5,000."""
    last = 0
    while True:
        rows = connection.execute(
            select(SessionRow.pk, SessionRow.totals, SessionRow.meta)
            .where(SessionRow.pk > last)
            .order_by(SessionRow.pk)
            .limit(5000)
        ).all()
        if not rows:
            return
        connection.execute(
            update(SessionRow).where(SessionRow.pk == bindparam("row_pk")),
            [{"row_pk": pk, **derived_values(totals, meta)} for pk, totals, meta in rows],
        )
        last = rows[-1][0]


def _migrate_v6(connection: Connection) -> None:
    # Spawns refused over a budget, so that their count survives a restart of the service.
    metadata.create_all(connection, tables=REFUSAL_TABLES)


def _migrate_v7(connection: Connection) -> None:
    # Sizing counted from covering indexes (see SessionRow): the two indexes of version 5
    # become wider ones; a year of a large hub is then read as index entries, not rows.
    connection.execute(text("DROP INDEX IF EXISTS usage_sessions_spans"))
    connection.execute(text("DROP INDEX IF EXISTS usage_sessions_peak_ratios"))
    for index in Base.metadata.tables[SessionRow.__tablename__].indexes:
        if index.name in ("usage_sessions_window_figures", "usage_sessions_profile_ratios"):
            index.create(connection, checkfirst=True)


def _migrate_v8(connection: Connection) -> None:
    # Rollups per user per ISO week, so that a window of a hub whose users come every day
    # reads a few rows per user, not one per day: the sums of the day rows already kept;
    # and the users of each day counted, so that daily active users read a row per day.
    metadata.create_all(connection, tables=ROLLUP_TABLES)
    rollups.fill_weeks_and_day_users(connection)


def _migrate_v9(connection: Connection) -> None:
    # What the hub's spawn hook says each server was given, and the reports that claimed
    # more: the base of the trusted cost (intake/trusted_cost.py).
    metadata.create_all(connection, tables=ALLOCATION_TABLES)


def _migrate_v10(connection: Connection) -> None:
    # Reports that cannot lie: each session's check against the hub's record, the periods
    # the service watched the hub, and what it noticed in reports, per user and kind.
    columns = {c["name"] for c in inspect(connection).get_columns(SessionRow.__tablename__)}
    if "hub_check" not in columns:
        connection.execute(text("ALTER TABLE usage_sessions ADD COLUMN hub_check VARCHAR(16)"))
    for index in Base.metadata.tables[SessionRow.__tablename__].indexes:
        if index.name == "usage_sessions_hub_check":
            index.create(connection, checkfirst=True)
    metadata.create_all(connection, tables=REPORT_CHECK_TABLES)


def _migrate_v11(connection: Connection) -> None:
    # The lengths' index holds the hub's check too: the percentiles leave out unconfirmed
    # sessions, and without it they read every row of the window instead of the index.
    connection.execute(text("DROP INDEX IF EXISTS usage_sessions_lengths"))
    for index in Base.metadata.tables[SessionRow.__tablename__].indexes:
        if index.name == "usage_sessions_lengths":
            index.create(connection)


MIGRATIONS: tuple[Migration, ...] = (
    _migrate_v1,
    _migrate_v2,
    _migrate_v3,
    _migrate_v4,
    _migrate_v5,
    _migrate_v6,
    _migrate_v7,
    _migrate_v8,
    _migrate_v9,
    _migrate_v10,
    _migrate_v11,
)
