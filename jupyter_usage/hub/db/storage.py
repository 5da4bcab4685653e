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
    Connection,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from jupyter_usage.hub.db.migrations import MIGRATIONS, Migration
from jupyter_usage.hub.db.queries import of_group
from jupyter_usage.hub.db.schema import (
    DERIVED_COLUMNS,
    Base,
    SchemaVersion,
    SessionRow,
    derived_values,
    session_groups,
)
from jupyter_usage.hub.periods import day_of

from . import concurrency, rollups
from .report_guard import LoweringRefused, lowered_figures
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
            span = (day_of(min(times)), day_of(max(times)))
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
            delete(session_groups).where(session_groups.c.session_pk.in_([row.pk for row in found]))
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
                    delete(session_groups).where(
                        session_groups.c.session_pk.in_([row.pk for row in found])
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
            query = query.where(of_group(SessionRow.pk, group))
        if since is not None:
            query = query.where(SessionRow.last_seen >= since)
        if until is not None:
            query = query.where(SessionRow.started < until)
        query = query.order_by(SessionRow.started.desc(), SessionRow.pk.desc()).limit(limit)
        with Session(self.engine) as session:
            return [row.to_json() for row in session.scalars(query)]

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


class ReportedExtent(Protocol):
    @property
    def ended(self) -> float | None: ...
    @property
    def last_seen(self) -> float: ...


def stored_is_newer(row: StoredExtent, body: ReportedExtent) -> bool:
    """`_not_newer_than` in Python, for a row already read (the batched import)."""
    if row.ended is not None and body.ended is None:
        return True
    return body.last_seen < row.last_seen


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
    # Most of a report's values are plain numbers, strings or nothing: written as
    # json.dumps writes them, without its machinery (the import encodes millions).
    kind = type(value)
    if value is None:
        return "null"
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if kind is int:
        return int.__repr__(value)
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
