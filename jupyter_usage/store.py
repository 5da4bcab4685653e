"""SQLite persistence of sessions: one file per user, one writer, never in the way.

The store must not take the server down with it: a corrupt file is moved aside and a
fresh one started, an unwritable location falls back to an in-memory database, and a
write that fails (disk full, I/O error, a lock held too long) is kept in memory and
retried with the next write, so nothing recorded is lost while the process lives.
Totals, cost, summary and meta are stored as JSON text; this module never looks inside.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .logonce import LogOnce
from .records import SessionRecord

log = logging.getLogger(__name__)

Migration = Callable[[sqlite3.Connection], None]

# Result codes (low byte of sqlite_errorcode, which only exists from Python 3.11 on).
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_CORRUPT_MESSAGES = ("file is not a database", "database disk image is malformed")

_JSON_COLUMNS = ("totals", "cost", "summary", "meta")
_WRITABLE_COLUMNS = (
    "user",
    "server_name",
    "started",
    "ended",
    "ended_by",
    "last_checkpoint",
    *_JSON_COLUMNS,
    "delivered",
)
_SELECT = (
    "SELECT id, user, server_name, started, ended, ended_by, last_checkpoint,"
    " totals, cost, summary, meta, delivered FROM sessions"
)


def _migrate_v1(connection: sqlite3.Connection) -> None:
    connection.execute(
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            user TEXT,
            server_name TEXT,
            started REAL,
            ended REAL,
            ended_by TEXT,
            last_checkpoint REAL,
            totals TEXT,
            cost TEXT,
            summary TEXT,
            meta TEXT,
            delivered INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    connection.execute("CREATE INDEX sessions_started ON sessions (started)")


MIGRATIONS: tuple[Migration, ...] = (_migrate_v1,)
"""Schema migrations in order; the file's `PRAGMA user_version` counts those applied.
A new schema version is one more function appended here, never an edit of an old one."""


def _is_corruption(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return any(message in str(error) for message in _CORRUPT_MESSAGES)


class _CorruptStore(Exception):
    """The file is not a usable database (its header or its pages are damaged)."""


class _NewerSchema(Exception):
    """The file was written by a newer version of this extension."""


def _encode(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _record(row: dict[str, Any]) -> SessionRecord:
    """A stored row as callers see it: JSON decoded, duration derived."""
    started = row.get("started")
    end = row.get("ended")
    if end is None:
        end = row.get("last_checkpoint")
    duration_seconds = 0.0
    if started is not None and end is not None:
        duration_seconds = max(0.0, end - started)
    return {
        "id": row["id"],
        "user": row.get("user"),
        "server_name": row.get("server_name"),
        "started": started,
        "ended": row.get("ended"),
        "ended_by": row.get("ended_by"),
        "last_checkpoint": row.get("last_checkpoint"),
        "duration_seconds": duration_seconds,
        "totals": _decode(row.get("totals")),
        "cost": _decode(row.get("cost")),
        "summary": _decode(row.get("summary")),
        "meta": _decode(row.get("meta")),
    }


class SessionStore:
    """Sessions in a SQLite file (WAL), written through one lock-guarded connection."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retention_seconds: float = 365 * 86400,
        log: logging.Logger | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
        busy_timeout_seconds: float = 5.0,
    ) -> None:
        if not retention_seconds > 0:
            raise ValueError(f"retention_seconds must be positive, not {retention_seconds!r}")
        self.path = Path(path)
        self.retention_seconds = retention_seconds
        self.log = log or logging.getLogger(__name__)
        self._migrations = tuple(migrations)
        self._busy_timeout_seconds = busy_timeout_seconds
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._persistent = False
        self._status = "closed"
        # Column values not yet written, by session id; flushed before every write.
        self._pending: dict[str, dict[str, Any]] = {}
        self._write_error: str | None = None
        self._log_once = LogOnce(self.log)

    # -- opening ---------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating or migrating) the file, or fall back to memory; never raises."""
        with self._lock:
            if self._connection is not None:
                return
            note = ""
            try:
                try:
                    self._connection = self._open_file()
                except _CorruptStore as corrupt:
                    moved_to = self._move_aside(str(corrupt))
                    note = f" (a corrupt store was moved to {moved_to.name})"
                    self._connection = self._open_file()
            except _NewerSchema as newer:
                self._fall_back_to_memory(str(newer))
                return
            except (OSError, sqlite3.Error, _CorruptStore) as error:
                self._fall_back_to_memory(f"cannot use {self.path}: {error}")
                return
            self._persistent = True
            self._status = f"persistent: {self.path}{note}"

    def _open_file(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connect(str(self.path))
        try:
            connection.execute("PRAGMA journal_mode=WAL").fetchone()
            connection.execute("PRAGMA synchronous=NORMAL")
            check = [row[0] for row in connection.execute("PRAGMA quick_check").fetchall()]
            if check != ["ok"]:
                raise _CorruptStore(f"quick_check failed: {'; '.join(map(str, check[:3]))}")
            self._migrate(connection)
            self._probe_write(connection)
        except sqlite3.DatabaseError as error:
            connection.close()
            if _is_corruption(error):
                raise _CorruptStore(str(error)) from error
            raise
        except BaseException:
            connection.close()
            raise
        return connection

    def _connect(self, database: str) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE … COMMIT).
        connection = sqlite3.connect(
            database,
            timeout=self._busy_timeout_seconds,
            isolation_level=None,
            check_same_thread=False,
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_seconds * 1000)}")
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version > len(self._migrations):
            raise _NewerSchema(
                f"{self.path} has schema version {version}, newer than this version of "
                f"jupyter_usage understands ({len(self._migrations)}); it was left untouched"
            )
        for number, migration in enumerate(self._migrations[version:], start=version + 1):
            connection.execute("BEGIN IMMEDIATE")
            try:
                migration(connection)
                connection.execute(f"PRAGMA user_version = {number}")
                connection.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                raise

    @staticmethod
    def _probe_write(connection: sqlite3.Connection) -> None:
        """Fail now, not at the first checkpoint, on a file SQLite opened read-only."""
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(f"PRAGMA user_version = {version}")
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise

    def _move_aside(self, reason: str) -> Path:
        moved_to = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                os.replace(source, f"{moved_to}{suffix}")
        self.log.error(
            "The usage store %s is corrupt (%s): moved it to %s and started a fresh one",
            self.path,
            reason,
            moved_to,
        )
        return moved_to

    def _fall_back_to_memory(self, reason: str) -> None:
        self.log.error(
            "Cannot keep usage sessions on disk: %s. They are kept in memory until the "
            "server stops.",
            reason,
        )
        connection = self._connect(":memory:")
        self._migrate(connection)
        self._connection = connection
        self._persistent = False
        self._status = f"in memory: {reason}"

    # -- state -----------------------------------------------------------------------

    @property
    def persistent(self) -> bool:
        """True when sessions reach the file (possibly late, after a failed write)."""
        return self._persistent

    @property
    def status(self) -> str:
        """Where sessions are kept, in words, for logs and the config endpoint."""
        if self._write_error is not None:
            return (
                f"{self._status}; writes are failing ({self._write_error}): "
                f"{len(self._pending)} session(s) held in memory until a write succeeds"
            )
        return self._status

    def close(self) -> None:
        """Make a last attempt to write what is pending, then close the file."""
        with self._lock:
            if self._connection is None:
                return
            self._flush()
            if self._pending:
                self.log.error(
                    "Closing the usage store with %d session(s) not written to %s",
                    len(self._pending),
                    self.path,
                )
            self._connection.close()
            self._connection = None
            self._persistent = False
            self._status = "closed"

    def __enter__(self) -> SessionStore:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------

    def start_session(
        self,
        session_id: str,
        *,
        user: str | None,
        server_name: str | None,
        started: float,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """SessionRecord a new open session (its last checkpoint is its start)."""
        self._write(
            session_id,
            {
                "user": user,
                "server_name": server_name,
                "started": started,
                "ended": None,
                "ended_by": None,
                "last_checkpoint": started,
                "meta": _encode(meta or {}),
                "delivered": 0,
            },
        )

    def checkpoint(
        self,
        session_id: str,
        *,
        time: float,
        totals: dict[str, Any],
        cost: dict[str, Any],
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Save the running totals (and the facts they ran under, in `meta`); a crash
        after this loses only what came later."""
        fields = {"last_checkpoint": time, "totals": _encode(totals), "cost": _encode(cost)}
        if meta is not None:
            fields["meta"] = _encode(meta)
        self._write(session_id, fields)

    def end_session(
        self,
        session_id: str,
        *,
        ended: float,
        ended_by: str,
        totals: dict[str, Any],
        cost: dict[str, Any],
        summary: dict[str, Any] | None,
    ) -> None:
        """Close a session with its final totals, cost and summary."""
        self._write(
            session_id,
            {
                "ended": ended,
                "ended_by": ended_by,
                "last_checkpoint": ended,
                "totals": _encode(totals),
                "cost": _encode(cost),
                "summary": _encode(summary),
            },
        )

    def restart_at(self, session_id: str, *, started: float, meta: dict[str, Any]) -> None:
        """Correct a stored session's start (the hub knew better) and its meta."""
        self._write(session_id, {"started": started, "meta": _encode(meta)})

    def update_meta(self, session_id: str, **fields: Any) -> None:
        """Merge `fields` into a stored session's meta (e.g. that its summary was shown)."""
        with self._lock:
            row = self._read_one(session_id)
            if row is None:
                return
            meta = {**(_decode(row.get("meta")) or {}), **fields}
            self._pending.setdefault(session_id, {})["meta"] = _encode(meta)
            self._flush()

    def mark_delivered(self, ids: Iterable[str]) -> None:
        """Note that these sessions reached the hub history service."""
        with self._lock:
            for session_id in ids:
                self._pending.setdefault(session_id, {})["delivered"] = 1
            self._flush()

    def recover_open_sessions(
        self,
        exclude_id: str,
        build_summary: Callable[[SessionRecord], dict[str, Any]] | None = None,
    ) -> builtins.list[SessionRecord]:
        """Close sessions a crash left open, at their last checkpoint.

        When the current session (`exclude_id`) is already stored, only sessions of the
        same user and server name are recovered: another named server of the same user
        may share this file and still be running.
        """
        with self._lock:
            current = self._read_one(exclude_id)
            rows = self._read_rows(f"{_SELECT} WHERE ended IS NULL AND id != ?", (exclude_id,))
            rows = [
                row
                for row in self._overlay(rows, keep=lambda row: row.get("ended") is None)
                if row["id"] != exclude_id
                and (
                    current is None
                    or (row.get("user"), row.get("server_name"))
                    == (current.get("user"), current.get("server_name"))
                )
            ]
        recovered: builtins.list[SessionRecord] = []
        for row in rows:
            ended = row.get("last_checkpoint")
            if ended is None:
                ended = row.get("started")
            record = _record({**row, "ended": ended, "ended_by": "recovered"})
            if build_summary is not None:
                try:
                    record["summary"] = build_summary(record)
                except Exception:
                    self.log.exception("Could not build the summary of session %s", row["id"])
            recovered.append(record)
        with self._lock:
            for record in recovered:
                self._pending.setdefault(record["id"], {}).update(
                    ended=record["ended"], ended_by="recovered", summary=_encode(record["summary"])
                )
            self._flush()
        for record in recovered:
            self.log.info(
                "Recovered session %s, left open by a crash, at its last checkpoint", record["id"]
            )
        return recovered

    def prune(self, now: float) -> int:
        """Delete ended sessions older than the retention period; returns how many."""
        cutoff = now - self.retention_seconds
        if math.isinf(cutoff):
            return 0
        with self._lock:
            connection = self._require_open()
            try:
                deleted = connection.execute(
                    "DELETE FROM sessions WHERE ended IS NOT NULL AND ended < ?", (cutoff,)
                ).rowcount
            except sqlite3.Error as error:
                self.log.warning("Could not prune old usage sessions: %s", error)
                return 0
            for session_id in [
                key
                for key, columns in self._pending.items()
                if columns.get("ended") is not None and columns["ended"] < cutoff
            ]:
                del self._pending[session_id]
            return max(deleted, 0)

    def _write(self, session_id: str, columns: dict[str, Any]) -> None:
        with self._lock:
            self._pending.setdefault(session_id, {}).update(columns)
            self._flush()

    def _flush(self) -> None:
        """Write every pending change in one transaction; on failure keep them pending."""
        if not self._pending:
            return
        connection = self._require_open()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                for session_id, columns in self._pending.items():
                    self._upsert(connection, session_id, columns)
                connection.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            if self._write_error is None:
                self.log.error(
                    "Could not write usage sessions to %s (%s): keeping them in memory and "
                    "retrying with the next write",
                    self.path,
                    error,
                )
            else:
                self.log.debug("Writing usage sessions still fails: %s", error)
            self._write_error = str(error)
            return
        self._pending.clear()
        if self._write_error is not None:
            self.log.info("Usage sessions are written to %s again", self.path)
            self._write_error = None

    @staticmethod
    def _upsert(connection: sqlite3.Connection, session_id: str, columns: dict[str, Any]) -> None:
        names = [name for name in _WRITABLE_COLUMNS if name in columns]
        values = [columns[name] for name in names]
        if not names:
            return
        if "started" in columns:
            updates = ", ".join(f"{name} = excluded.{name}" for name in names)
            connection.execute(
                f"INSERT INTO sessions (id, {', '.join(names)})"
                f" VALUES (?{', ?' * len(names)})"
                f" ON CONFLICT (id) DO UPDATE SET {updates}",
                (session_id, *values),
            )
        else:
            # A change to a session never started here (or pruned meanwhile) is dropped.
            assignments = ", ".join(f"{name} = ?" for name in names)
            connection.execute(
                f"UPDATE sessions SET {assignments} WHERE id = ?", (*values, session_id)
            )

    # -- reads -----------------------------------------------------------------------

    def get(self, session_id: str) -> SessionRecord | None:
        """One session, or None when there is no such session."""
        with self._lock:
            row = self._read_one(session_id)
        return None if row is None else _record(row)

    def list(self, limit: int = 50, before: float | None = None) -> builtins.list[SessionRecord]:
        """Up to `limit` sessions, newest first; `before`: only those started earlier."""
        if limit <= 0:
            return []
        with self._lock:
            # Pending changes may drop rows from the page: read enough to fill it anyway.
            window = limit + len(self._pending)
            if before is None:
                rows = self._read_rows(f"{_SELECT} ORDER BY started DESC LIMIT ?", (window,))
            else:
                rows = self._read_rows(
                    f"{_SELECT} WHERE started < ? ORDER BY started DESC LIMIT ?",
                    (before, window),
                )
            rows = self._overlay(
                rows,
                keep=lambda row: (
                    before is None or (row.get("started") is not None and row["started"] < before)
                ),
            )
        rows.sort(key=lambda row: row.get("started") or 0.0, reverse=True)
        return [_record(row) for row in rows[:limit]]

    def undelivered(self, limit: int = 100) -> builtins.list[SessionRecord]:
        """Ended sessions not yet delivered to the hub history service, oldest first."""
        if limit <= 0:
            return []
        with self._lock:
            rows = self._read_rows(
                f"{_SELECT} WHERE ended IS NOT NULL AND delivered = 0 ORDER BY started ASC LIMIT ?",
                (limit + len(self._pending),),
            )
            rows = self._overlay(
                rows, keep=lambda row: row.get("ended") is not None and not row.get("delivered")
            )
        rows.sort(key=lambda row: row.get("started") or 0.0)
        return [_record(row) for row in rows[:limit]]

    def _require_open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("the session store is not open: call open() first")
        return self._connection

    def _read_rows(self, sql: str, parameters: tuple[Any, ...]) -> builtins.list[dict[str, Any]]:
        connection = self._require_open()
        try:
            cursor = connection.execute(sql, parameters)
            names = [description[0] for description in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        except sqlite3.Error as error:
            # Reads serve the live API: answer with what is held in memory instead.
            self._log_once(
                "read", logging.ERROR, "Could not read usage sessions from %s: %s", self.path, error
            )
            return []
        return rows

    def _read_one(self, session_id: str) -> dict[str, Any] | None:
        rows = self._read_rows(f"{_SELECT} WHERE id = ?", (session_id,))
        pending = self._pending.get(session_id)
        if pending is None:
            return rows[0] if rows else None
        if not rows and "started" not in pending:
            return None
        return {**(rows[0] if rows else {"id": session_id}), **pending}

    def _overlay(
        self,
        rows: builtins.list[dict[str, Any]],
        keep: Callable[[dict[str, Any]], bool],
    ) -> builtins.list[dict[str, Any]]:
        """Rows as they will be once pending writes land, filtered again by `keep`."""
        if not self._pending:
            return rows
        by_id = {row["id"]: row for row in rows}
        for session_id in self._pending:
            row = self._read_one(session_id)
            if row is not None:
                by_id[session_id] = row
        return [row for row in by_id.values() if keep(row)]
