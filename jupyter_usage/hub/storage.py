"""Session history of the hub service: SQLAlchemy 2, SQLite by default, PostgreSQL supported.

The schema is versioned: `usage_schema_version` holds the number of migrations applied,
and `MIGRATIONS` lists them in order. A new schema version is one more function appended
there (explicit DDL), never an edit of an old one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Float,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from jupyter_usage.records import LIMITS_KEY

from . import concurrency, rollups
from .kpis import KpiSession
from .report_guard import LoweringRefused, lowered_figures
from .session_query import active_in
from .sqlite_lock import SingleProcessLock, sqlite_path

log = logging.getLogger(__name__)

_T = TypeVar("_T")

Extent = tuple[float, float, list[str]]
"""A stored session's start, end and groups."""

Upsert = Literal["created", "updated", "unchanged", "stale"]
"""What storing a report did: a new session, a newer report, the same report again, or an
older report than the stored one (which is kept)."""

_GUARDED_TRIES = 20
"""Reports of one session racing each other: each round one of them wins."""

MAX_NAME_LENGTH = 255
MAX_ID_LENGTH = 200
SOURCE_KEY = "source"
HUB_SOURCE = "hub"
"""`meta.source` of a session known from the hub alone (its server has no extension)."""


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    """One server session of one user, as its server last reported it."""

    __tablename__ = "usage_sessions"
    __table_args__ = (
        UniqueConstraint("user_name", "session_id", name="usage_sessions_user_session"),
        Index("usage_sessions_started", "started"),
        # Session lengths in order, for the percentiles, without reading the rows.
        Index("usage_sessions_lengths", "duration_seconds", "started", "ended"),
        # The running sessions (`ended` NULL) without a scan of every session.
        Index("usage_sessions_ended", "ended"),
        # Sessions overlapping a window, counted by source and by sizing's memory figures
        # from the index alone: a session's row is ~1 KiB of JSON, its entry here 40 bytes
        # (and the sessions seen since a time: it replaces an index on last_seen alone).
        Index(
            "usage_sessions_window_figures",
            "last_seen",
            "started",
            "from_hub",
            "oom_kills",
            "memory_near_limit_seconds",
        ),
        # Each profile's peak memory to limit in order, for sizing's percentiles: an
        # offset into one profile's entries, without reading rows.
        Index(
            "usage_sessions_profile_ratios",
            "profile",
            "memory_peak_ratio",
            "last_seen",
            "started",
            "from_hub",
        ),
        # Coverage's counts of the sessions checked against the hub, as a range of entries.
        Index("usage_sessions_hub_check", "hub_check", "last_seen", "started"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column("user_name", String(MAX_NAME_LENGTH))
    session_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    server_name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), default="")
    started: Mapped[float] = mapped_column(Float)
    ended: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_checkpoint: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_seen: Mapped[float] = mapped_column(Float)
    """`ended`, else `last_checkpoint`, else `started`: the end of the known activity."""
    ended_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duration_seconds: Mapped[float] = mapped_column(Float)
    groups: Mapped[list[str]] = mapped_column(JSON)
    profile: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH), nullable=True)
    cost_total: Mapped[float | None] = mapped_column(Float, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(16), nullable=True)
    totals: Mapped[dict[str, Any]] = mapped_column(JSON)
    cost: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    from_hub: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """`meta.source` is the hub's: a session without the extension's figures."""
    # Sizing's figures, copied out of `totals` and `meta.limits` so that SQL reads them.
    oom_kills: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_near_limit_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_throttled_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_peak_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    """`totals.peak_memory_bytes` over `meta.limits.memory_limit_bytes`."""
    report_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """SHA-256 of the stored report: tells "the same report again" from "a different one
    of the same moment" inside the UPDATE's WHERE (PostgreSQL's `json` has no `=`)."""
    hub_check: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """`confirmed` or `unconfirmed` by the hub's record (hub_check.py); NULL unchecked."""

    def to_json(self) -> dict[str, Any]:
        """The record as the single-user store shows it, plus `received_at`."""
        return {
            "id": self.session_id,
            "user": self.user,
            "server_name": self.server_name,
            "started": self.started,
            "ended": self.ended,
            "ended_by": self.ended_by,
            "last_checkpoint": self.last_checkpoint,
            "duration_seconds": self.duration_seconds,
            "totals": self.totals,
            "cost": self.cost,
            "summary": self.summary,
            "meta": {**self.meta, "groups": list(self.groups), "profile": self.profile},
            "received_at": self.received_at,
        }

    def kpi_session(self) -> KpiSession:
        return KpiSession(
            user=self.user,
            started=self.started,
            end=self.last_seen,
            ended=self.ended is not None,
            server_name=self.server_name,
            groups=tuple(self.groups or ()),
            cost_total=self.cost_total,
            currency=self.currency,
            totals=self.totals or {},
            unconfirmed=self.hub_check == "unconfirmed",
        )


class SchemaVersion(Base):
    __tablename__ = "usage_schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)


Migration = Callable[[Connection], None]


def _migrate_v1(connection: Connection) -> None:
    # Version 1 is the initial schema; later versions alter it with explicit DDL.
    Base.metadata.create_all(connection, tables=[SessionRow.__table__])  # type: ignore[list-item]


def _migrate_v2(connection: Connection) -> None:
    # Rollups for KPIs computed by the database; built from the sessions already stored.
    rollups.create_tables(connection)
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
    concurrency.create_tables(connection)
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
    hours = {c["name"] for c in inspect(connection).get_columns(concurrency.hour_peaks.name)}
    if "figure_seconds" not in hours:
        for name in ("figure_seconds", "throttled_seconds"):
            connection.execute(
                text(
                    f"ALTER TABLE {concurrency.hour_peaks.name} ADD COLUMN {name} FLOAT "
                    "NOT NULL DEFAULT 0"
                )
            )
        concurrency.rebuild(connection, SessionRow.__table__)
    # Version 5's indexes on the spans and the peak ratios are version 7's wider ones.
    connection.execute(text("DROP INDEX IF EXISTS usage_sessions_last_seen"))
    if connection.dialect.name == "sqlite":
        # Recreated in key order (WITHOUT ROWID, see rollups.py), then refilled.
        for table in (rollups.user_days, rollups.user_day_costs):
            table.drop(connection, checkfirst=True)
    rollups.create_tables(connection)
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
    from . import budget_refusals

    budget_refusals.create_tables(connection)


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
    rollups.create_tables(connection)
    rollups.fill_weeks_and_day_users(connection)


def _migrate_v9(connection: Connection) -> None:
    # What the hub's spawn hook says each server was given, and the reports that claimed
    # more: the base of the trusted cost (trusted_cost.py).
    from . import allocation_records

    allocation_records.create_tables(connection)


def _migrate_v10(connection: Connection) -> None:
    # Reports that cannot lie: each session's check against the hub's record, the periods
    # the service watched the hub, and what it noticed in reports, per user and kind.
    from . import hub_watch, report_flags

    columns = {c["name"] for c in inspect(connection).get_columns(SessionRow.__tablename__)}
    if "hub_check" not in columns:
        connection.execute(text("ALTER TABLE usage_sessions ADD COLUMN hub_check VARCHAR(16)"))
    for index in Base.metadata.tables[SessionRow.__tablename__].indexes:
        if index.name == "usage_sessions_hub_check":
            index.create(connection, checkfirst=True)
    hub_watch.create_tables(connection)
    report_flags.create_tables(connection)


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
)


class NewerSchemaError(RuntimeError):
    """The database was written by a newer version of jupyter_usage."""


@dataclass(frozen=True)
class SessionInput:
    """A validated session report, ready to store (see `validation.parse_session`)."""

    session_id: str
    server_name: str
    started: float
    ended: float | None
    last_checkpoint: float | None
    ended_by: str | None
    totals: dict[str, Any]
    cost: dict[str, Any] | None
    summary: dict[str, Any] | None
    meta: dict[str, Any]
    profile: str | None

    @property
    def last_seen(self) -> float:
        for value in (self.ended, self.last_checkpoint):
            if value is not None:
                return max(value, self.started)
        return self.started


@dataclass(frozen=True)
class Stored:
    """What storing a user's report did, and what was stored before it."""

    outcome: Upsert
    before: Extent | None
    """Start, end and groups of the stored session, None when the report created it."""
    hub_check: str | None
    """The session's check against the hub (hub_check.py) before the report."""


@dataclass(frozen=True)
class _Guarded:
    read: Any
    insert: Any
    update: Any


class UsageDB:
    """The service's database: sessions in, sessions and KPI rows out."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        connect_args: dict[str, Any] = {}
        if url.startswith("postgresql+psycopg"):
            # No server-side prepared statements: a plan cached while a table was empty
            # (a new rollup table, an import) would stay a sequential scan as it grows
            # to millions of rows; planning each statement afresh costs far less.
            connect_args["prepare_threshold"] = None
        self.engine: Engine = create_engine(
            url, echo=echo, pool_pre_ping=True, connect_args=connect_args
        )
        self._write_lock: AbstractContextManager[Any] = contextlib.nullcontext()
        self._guarded: _Guarded | None = None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # SQLite has one writer at a time anyway; queueing here avoids "database is
            # locked" when two reports of this process race for it.
            self._write_lock = threading.Lock()
        path = sqlite_path(url)
        self.process_lock = SingleProcessLock(path) if path is not None else None

    def close(self) -> None:
        self.engine.dispose()
        if self.process_lock is not None:
            self.process_lock.release()

    # -- schema ----------------------------------------------------------------------

    def schema_version(self) -> int:
        with self.engine.connect() as connection:
            if not self.engine.dialect.has_table(connection, SchemaVersion.__tablename__):
                return 0
            version = connection.execute(select(func.max(SchemaVersion.version))).scalar()
            return int(version or 0)

    def upgrade(self, migrations: Sequence[Migration] = MIGRATIONS) -> int:
        """Create or migrate the schema; returns the version reached."""
        with self.engine.begin() as connection:
            Base.metadata.create_all(
                connection,
                tables=[SchemaVersion.__table__],  # type: ignore[list-item]
            )
            version = int(connection.execute(select(func.max(SchemaVersion.version))).scalar() or 0)
            if version > len(migrations):
                raise NewerSchemaError(
                    f"The usage database has schema version {version}, newer than this version "
                    f"of jupyter_usage understands ({len(migrations)}); it was left untouched."
                )
            for number, migration in enumerate(migrations[version:], start=version + 1):
                log.info("Migrating the usage database to schema version %d", number)
                migration(connection)
                connection.execute(insert(SchemaVersion).values(version=number))
            return len(migrations)

    # -- writes ----------------------------------------------------------------------

    def upsert_session(
        self,
        user: str,
        body: SessionInput,
        groups: Sequence[str],
        now: float,
        *,
        only_adds: bool = False,
    ) -> Upsert:
        """Store a session report unless the stored one is newer; say what happened.

        Each step is one statement whose WHERE the database checks against the row as it
        is when the statement runs (PostgreSQL re-checks it after waiting for a row lock),
        so racing reports, threads, processes and replicas alike, leave the newest one
        whole: never one report's end with another's figures. The KPIs' rollups of the
        days the session covered before and covers now are then recomputed from the raw
        sessions (see rollups.py), which no race can make drift.

        `only_adds` (a user's report): a newer report that lowers a cumulative figure
        raises `LoweringRefused` and writes nothing (report_guard.py).
        """
        before = self._extent(user, body.session_id)
        outcome = self._store(user, body, groups, now, only_adds)
        if outcome in ("created", "updated"):
            times, changed = changed_spans(before, body, groups)
            self._refresh_rollups(user, times, changed)
        return outcome

    def _store(
        self,
        user: str,
        body: SessionInput,
        groups: Sequence[str],
        now: float,
        only_adds: bool = False,
    ) -> Upsert:
        values = _values(body, groups)
        with self._write_lock, self.engine.begin() as connection:
            if only_adds:
                return self._store_only_adds(connection, user, body, values, now).outcome
            inserted = connection.execute(
                self._insert()
                .values(
                    user=user,
                    session_id=body.session_id,
                    received_at=now,
                    updated_at=now,
                    **values,
                )
                .on_conflict_do_nothing(index_elements=["user_name", "session_id"])
                .returning(SessionRow.pk)
            )
            if inserted.first() is not None:
                return "created"
            updated = connection.execute(
                update(SessionRow)
                .where(
                    SessionRow.user == user,
                    SessionRow.session_id == body.session_id,
                    _not_newer_than(body),
                    or_(
                        SessionRow.report_digest.is_(None),
                        SessionRow.report_digest != values["report_digest"],
                    ),
                )
                .values(updated_at=now, **values)
            )
            if updated.rowcount == 1:
                return "updated"
            digest = connection.execute(
                select(SessionRow.report_digest).where(
                    SessionRow.user == user, SessionRow.session_id == body.session_id
                )
            ).scalar()
            return "unchanged" if digest == values["report_digest"] else "stale"

    def store_report(
        self,
        connection: Connection,
        user: str,
        body: SessionInput,
        groups: Sequence[str],
        now: float,
    ) -> Stored:
        """A user's report inside the caller's transaction (a batch of them, see
        report_intake.py): `_store_only_adds`, with what was stored before it."""
        return self._store_only_adds(connection, user, body, _values(body, groups), now)

    def _store_only_adds(
        self,
        connection: Connection,
        user: str,
        body: SessionInput,
        values: dict[str, Any],
        now: float,
    ) -> Stored:
        """`_store`, checking the newer report against the stored one first: the UPDATE
        then requires the stored report to be the one checked (its digest), so a report
        that lands in between sends this one round again. The statements are built once
        (`_guarded_statements`): building them per report cost more than running them."""
        statements = self._guarded_statements()
        key = {"key_user": user, "key_session": body.session_id}
        for _ in range(_GUARDED_TRIES):
            stored = connection.execute(statements.read, key).first()
            if stored is None:
                inserted = connection.execute(
                    statements.insert,
                    {"user_name": user, "session_id": body.session_id, "received_at": now}
                    | {"updated_at": now, "hub_check": None}
                    | values,
                )
                if inserted.first() is not None:
                    return Stored("created", None, None)
                continue  # created by a report in between: check against it
            before = (stored.started, stored.last_seen, list(stored.groups or ()))
            if stored.report_digest == values["report_digest"]:
                return Stored("unchanged", before, stored.hub_check)
            if stored_is_newer(stored, body):
                return Stored("stale", before, stored.hub_check)
            lowered = lowered_figures(
                stored.duration_seconds,
                stored.totals,
                stored.cost,
                values["duration_seconds"],
                body.totals,
                body.cost,
            )
            if lowered:
                raise LoweringRefused(lowered)
            updated = connection.execute(
                statements.update,
                {**key, "key_digest": stored.report_digest, "updated_at": now, **values},
            )
            if updated.rowcount == 1:
                return Stored("updated", before, stored.hub_check)
        raise RuntimeError(f"session {body.session_id!r} kept changing while it was stored")

    def _guarded_statements(self) -> _Guarded:
        if self._guarded is None:
            table = cast(Table, SessionRow.__table__)
            c = table.c
            written = [*REPORT_COLUMNS, "updated_at"]
            where = (c.user_name == bindparam("key_user"), c.session_id == bindparam("key_session"))
            self._guarded = _Guarded(
                read=select(
                    c.started,
                    c.groups,
                    c.report_digest,
                    c.ended,
                    c.last_seen,
                    c.duration_seconds,
                    c.totals,
                    c.cost,
                    c.hub_check,
                ).where(*where),
                insert=self._insert()
                .values(
                    {
                        name: bindparam(name)
                        for name in (
                            *written,
                            "user_name",
                            "session_id",
                            "received_at",
                            "hub_check",
                        )
                    }
                )
                .on_conflict_do_nothing(index_elements=["user_name", "session_id"])
                .returning(c.pk),
                update=update(table)
                .where(*where, c.report_digest.is_not_distinct_from(bindparam("key_digest")))
                .values({name: bindparam(name) for name in written}),
            )
        return self._guarded

    def write_reports(self, work: Callable[[Connection], _T]) -> _T:
        """`work` in one transaction: a batch of reports, one commit (one flush to disk)."""
        with self._write_lock, self.engine.begin() as connection:
            return work(connection)

    def refresh_in(
        self,
        connection: Connection,
        days: Mapping[str, Sequence[float]],
        hours: Sequence[tuple[float, float]],
    ) -> None:
        """`_refresh_rollups` of several users inside the caller's transaction; on
        PostgreSQL every user's lock is taken, in order, before the hour peaks' lock."""
        rollups.lock_users(connection, sorted(days))
        # Users whose reports touched the same days (checkpoints of now, mostly) are
        # refreshed together: a handful of statements for all of them.
        by_days: dict[tuple[float, float], list[str]] = {}
        for user, times in days.items():
            span = (rollups.day_of(min(times)), rollups.day_of(max(times)))
            by_days.setdefault(span, []).append(user)
        for (first, last), users in sorted(by_days.items()):
            rollups.refresh_many(connection, SessionRow.__table__, sorted(users), first, last)
        concurrency.refresh_hours(connection, SessionRow.__table__, hours)

    def delete_in(
        self, connection: Connection, user: str, session_ids: Sequence[str]
    ) -> list[tuple[float, float]]:
        """`delete_sessions` inside the caller's transaction, rollups left to the caller:
        the spans of the sessions removed."""
        where = (SessionRow.user == user, SessionRow.session_id.in_(list(session_ids)))
        found = connection.execute(
            select(SessionRow.pk, SessionRow.started, SessionRow.last_seen).where(*where)
        ).all()
        if not found:
            return []
        connection.execute(
            delete(rollups.session_groups).where(
                rollups.session_groups.c.session_pk.in_([row.pk for row in found])
            )
        )
        connection.execute(delete(SessionRow).where(*where))
        return [(row.started, row.last_seen) for row in found]

    def _insert(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(SessionRow)
        return sqlite.insert(SessionRow)

    def _extent(self, user: str, session_id: str) -> tuple[float, float, list[str]] | None:
        """Start, end and groups of the stored session, so that the days and hours it
        leaves are refreshed."""
        query = select(SessionRow.started, SessionRow.last_seen, SessionRow.groups).where(
            SessionRow.user == user, SessionRow.session_id == session_id
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).one_or_none()
        return None if row is None else (row.started, row.last_seen, list(row.groups or ()))

    def delete_sessions(self, user: str, session_ids: Sequence[str]) -> int:
        """Remove sessions of `user` (a merge of two views of one session), rollups
        included; returns how many there were."""
        if not session_ids:
            return 0
        where = (SessionRow.user == user, SessionRow.session_id.in_(list(session_ids)))
        with self._write_lock:
            with self.engine.begin() as connection:
                found = connection.execute(
                    select(SessionRow.pk, SessionRow.started, SessionRow.last_seen).where(*where)
                ).all()
                if not found:
                    return 0
                connection.execute(
                    delete(rollups.session_groups).where(
                        rollups.session_groups.c.session_pk.in_([row.pk for row in found])
                    )
                )
                connection.execute(delete(SessionRow).where(*where))
            times = [t for row in found for t in (row.started, row.last_seen)]
            self._refresh_rollups(user, times, [(row.started, row.last_seen) for row in found])
        return len(found)

    def _refresh_rollups(
        self, user: str, times: Sequence[float], hours: Sequence[tuple[float, float]] = ()
    ) -> None:
        """The user's rollups of the days of `times`; the hour peaks of `hours` ranges.

        One transaction (one commit) for both; on PostgreSQL the user's lock is taken
        before the hour peaks' lock, in every transaction, so none waits on another."""
        with self.engine.begin() as connection:
            rollups.refresh_rollups(connection, SessionRow.__table__, user, min(times), max(times))
            concurrency.refresh_hours(connection, SessionRow.__table__, hours)

    # -- reads -----------------------------------------------------------------------

    def list_sessions(
        self,
        *,
        user: str | None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 200,
        group: str | None = None,
    ) -> list[dict[str, Any]]:
        """Sessions active in `[since, until)` (of one user, or everyone's; of one group,
        or all), newest first."""
        query = select(SessionRow)
        if user is not None:
            query = query.where(SessionRow.user == user)
        if group is not None:
            link = rollups.session_groups.c
            query = query.where(
                SessionRow.pk.in_(select(link.session_pk).where(link.group_name == group))
            )
        if since is not None:
            query = query.where(SessionRow.last_seen >= since)
        if until is not None:
            query = query.where(SessionRow.started < until)
        query = query.order_by(SessionRow.started.desc(), SessionRow.pk.desc()).limit(limit)
        with Session(self.engine) as session:
            return [row.to_json() for row in session.scalars(query)]

    def kpi_sessions(self, since: float, until: float) -> list[KpiSession]:
        """Sessions overlapping `[since, until)`, instants at `since` included."""
        query = select(SessionRow).where(active_in(SessionRow, since, until))
        with Session(self.engine) as session:
            return [row.kpi_session() for row in session.scalars(query)]

    def groups(self, since: float | None = None) -> list[str]:
        """Groups seen in sessions active since `since` (all when None), sorted."""
        query = select(SessionRow.groups)
        if since is not None:
            query = query.where(SessionRow.last_seen >= since)
        seen: set[str] = set()
        with Session(self.engine) as session:
            for groups in session.scalars(query):
                seen.update(groups or ())
        return sorted(seen)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the report read while a server's report is written.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


def _not_newer_than(body: SessionInput) -> Any:
    """Stored rows that `body` may replace: those whose order is not after its own.

    Order: `last_seen` (ended, else checkpoint, else started), then ended over running,
    and a final report is never replaced by a checkpoint, whatever its time says.
    """
    if body.ended is not None:
        return SessionRow.last_seen <= body.last_seen
    return and_(SessionRow.ended.is_(None), SessionRow.last_seen <= body.last_seen)


def changed_spans(
    before: Extent | None, body: SessionInput, groups: Sequence[str]
) -> tuple[list[float], list[tuple[float, float]]]:
    """What a stored report changes: the times whose days' rollups and the ranges whose
    hour peaks are recomputed."""
    times = (body.started, body.last_seen)
    if before is None:
        return list(times), [times]
    if before[0] == body.started and before[2] == sorted(set(groups)):
        # Only the end moved (a checkpoint): only the hours it crossed change.
        ends = sorted((before[1], body.last_seen))
        return [*before[:2], *times], [(ends[0], ends[1])]
    return [*before[:2], *times], [before[:2], times]


class StoredExtent(Protocol):
    ended: float | None
    last_seen: float


def stored_is_newer(row: StoredExtent, body: SessionInput) -> bool:
    """`_not_newer_than` in Python, for a row already read (the batched import)."""
    if row.ended is not None and body.ended is None:
        return True
    return body.last_seen < row.last_seen


DERIVED_COLUMNS = (
    "from_hub",
    "oom_kills",
    "memory_near_limit_seconds",
    "cpu_throttled_seconds",
    "memory_peak_ratio",
)
"""Columns copied out of a report's `totals` and `meta` (see `derived_values`)."""

REPORT_COLUMNS = (
    "server_name",
    "started",
    "ended",
    "last_checkpoint",
    "last_seen",
    "ended_by",
    "duration_seconds",
    "groups",
    "profile",
    "totals",
    "cost",
    "summary",
    "meta",
    "cost_total",
    "currency",
    "report_digest",
    *DERIVED_COLUMNS,
)
"""The columns `report_values` sets, in its order."""


def report_values(body: SessionInput, groups: Sequence[str]) -> dict[str, Any]:
    """The columns a report sets, its digest among them, with the JSON columns
    (`JSON_COLUMNS`) already encoded as text: the import writes them as they are."""
    return _values(body, groups, encoded=True)


JSON_COLUMNS = frozenset(("groups", "totals", "cost", "summary", "meta"))
"""The report's columns stored as JSON."""


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _values(body: SessionInput, groups: Sequence[str], *, encoded: bool = False) -> dict[str, Any]:
    """The columns a report sets, its digest among them."""
    total = (body.cost or {}).get("total")
    cost_total = None
    if isinstance(total, (int, float)) and not isinstance(total, bool) and math.isfinite(total):
        cost_total = float(total)
    currency = (body.cost or {}).get("currency")
    values: dict[str, Any] = {
        "server_name": body.server_name,
        "started": body.started,
        "ended": body.ended,
        "last_checkpoint": body.last_checkpoint,
        "last_seen": body.last_seen,
        "ended_by": body.ended_by,
        "duration_seconds": max(0.0, body.last_seen - body.started),
        "groups": sorted(set(groups)),
        "profile": body.profile,
        "totals": body.totals,
        "cost": body.cost,
        "summary": body.summary,
        "meta": body.meta,
        "cost_total": cost_total,
        "currency": currency[:16] if isinstance(currency, str) else None,
    }
    # The digest of the whole as `_json(values)` writes it, joined from each value's
    # text, so that the import's JSON columns are encoded once, not twice.
    texts = {name: _json(value) for name, value in values.items()}
    canonical = "{" + ",".join(f'"{name}":{texts[name]}' for name in sorted(texts)) + "}"
    values["report_digest"] = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    if encoded:
        values.update((name, texts[name]) for name in JSON_COLUMNS)
    # Derived, so outside the digest: replays of older reports stay "unchanged".
    values.update(derived_values(body.totals, body.meta))
    return values


def derived_values(totals: Any, meta: Any) -> dict[str, Any]:
    """The columns SQL reads instead of the JSON of `totals` and `meta`."""
    totals = totals if isinstance(totals, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    limits = meta.get(LIMITS_KEY)
    peak = _number(totals.get("peak_memory_bytes"))
    limit = _number(limits.get("memory_limit_bytes")) if isinstance(limits, dict) else None
    return {
        "from_hub": meta.get(SOURCE_KEY) == HUB_SOURCE,
        "oom_kills": _number(totals.get("oom_kills")),
        "memory_near_limit_seconds": _number(totals.get("memory_near_limit_seconds")),
        "cpu_throttled_seconds": _number(totals.get("cpu_throttled_seconds")),
        "memory_peak_ratio": peak / limit if peak is not None and limit else None,
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
