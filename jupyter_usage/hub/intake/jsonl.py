"""Sessions in and out as JSON lines: one session per line, as a server POSTs it, plus `user`.

The import has the POST's semantics (idempotent on user and session id; an older report
than the stored one changes nothing) but writes a batch of lines per transaction, and
recomputes the rollups of the users it saw once at the end, so that it runs at thousands
of sessions per second. Running it again after an interruption completes it. Worker
processes parse the lines and compute the rollups while the command's process writes:
those are more than half of the work, and the writing is one connection's.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import event, select, tuple_
from sqlalchemy.orm import Session

from jupyter_usage.hub.db import concurrency, rollups
from jupyter_usage.hub.db.schema import MAX_NAME_LENGTH, SessionRow
from jupyter_usage.hub.db.storage import (
    JSON_COLUMNS,
    REPORT_COLUMNS,
    UsageDB,
    report_values,
    stored_is_newer,
)

from .validation import BadRequest, claimed_groups, parse_json_object, parse_session

BATCH = 20_000
"""Lines per transaction."""
CHUNK = 2000
"""Lines a worker process parses at a time."""
PARALLEL_BYTES = 8 * 2**20
"""Files smaller than this together are parsed in this process."""
LOOKUP = 2000
"""Keys per lookup of stored sessions (each key is two bound parameters)."""


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: int = 0
    ranges: dict[str, list[float]] = field(default_factory=dict)

    @property
    def good(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass(frozen=True)
class _Line:
    """One line, validated, with the columns it sets (`report_values`) already computed."""

    user: str
    session_id: str
    started: float
    last_seen: float
    ended: float | None
    values: dict[str, Any]


def parse_line(text: str) -> _Line:
    body = parse_json_object(text.encode("utf-8"))
    user = body.get("user")
    if not isinstance(user, str) or not user or len(user) > MAX_NAME_LENGTH:
        raise BadRequest(f"'user' must be a non-empty string of at most {MAX_NAME_LENGTH}")
    session = parse_session(body)
    return _Line(
        user,
        session.session_id,
        session.started,
        session.last_seen,
        session.ended,
        report_values(session, claimed_groups(body)),
    )


def _parse_chunk(texts: list[tuple[int, str]]) -> list[tuple[int, _Line | str]]:
    """Each numbered line parsed, or the reason it is skipped (run in a worker process)."""
    parsed: list[tuple[int, _Line | str]] = []
    for number, text in texts:
        try:
            parsed.append((number, parse_line(text)))
        except BadRequest as error:
            parsed.append((number, str(error)))
    return parsed


def _chunks(path: Path) -> Iterator[list[tuple[int, str]]]:
    with path.open(encoding="utf-8", errors="replace") as file:
        chunk: list[tuple[int, str]] = []
        for number, text in enumerate(file, start=1):
            if text.strip():
                chunk.append((number, text))
                if len(chunk) >= CHUNK:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk


def _parsed(
    paths: Iterable[Path], pool: Executor | None, workers: int
) -> Iterator[tuple[Path, list[tuple[int, _Line | str]]]]:
    """The files' lines parsed in order: by the `pool`'s processes while this one writes
    (parsing and encoding are half of an import's work), or here without one."""
    if pool is None:
        for path in paths:
            for chunk in _chunks(path):
                yield path, _parse_chunk(chunk)
        return
    # A few chunks ahead of the writer, not the whole file in memory.
    ahead: deque[tuple[Path, Future[list[tuple[int, _Line | str]]]]] = deque()
    for path in paths:
        for chunk in _chunks(path):
            ahead.append((path, pool.submit(_parse_chunk, chunk)))
            if len(ahead) > 2 * workers:
                done_path, future = ahead.popleft()
                yield done_path, future.result()
    while ahead:
        done_path, future = ahead.popleft()
        yield done_path, future.result()


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Executor | None]:
    """`workers` processes (none: None), spawned, not forked: this process holds
    database connections and may hold threads."""
    if workers == 0:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool


def _lines(
    paths: Iterable[Path], result: ImportResult, errors: TextIO, pool: Executor | None, workers: int
) -> Iterator[_Line]:
    for path, chunk in _parsed(paths, pool, workers):
        for number, line in chunk:
            if isinstance(line, str):
                result.bad += 1
                print(f"{path}:{number}: skipped: {line}", file=errors)
            else:
                yield line


def default_workers(paths: Sequence[Path]) -> int:
    """Worker processes for parsing: none for small files (starting one costs more than
    it saves), else one per core but the one this process writes with."""
    size = sum(path.stat().st_size for path in paths if path.is_file())
    if size < PARALLEL_BYTES:
        return 0
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def import_files(
    db: UsageDB,
    paths: Iterable[Path],
    *,
    progress: TextIO = sys.stderr,
    batch: int = BATCH,
    workers: int | None = None,
) -> ImportResult:
    """Import JSON-lines files into `db` (migrated first); bad lines are reported and skipped.
    `workers`: processes parsing the lines and computing the rollups (None:
    `default_workers`, 0: this one does)."""
    paths = list(paths)
    if workers is None:
        workers = default_workers(paths)
    if db.engine.dialect.name == "sqlite":
        event.listen(db.engine, "connect", _import_pragmas)
        db.engine.dispose()  # connections opened before get them too
    db.upgrade()
    result = ImportResult()
    began = time.monotonic()
    with worker_pool(workers) as pool:
        pending: list[_Line] = []
        for line in _lines(paths, result, progress, pool, workers):
            pending.append(line)
            if len(pending) >= batch:
                _write(db, pending, result)
                pending = []
                rate = result.good / max(time.monotonic() - began, 1e-9)
                print(f"{result.good} sessions imported ({rate:.0f}/s)", file=progress)
        if pending:
            _write(db, pending, result)
        print(f"Recomputing the rollups of {len(result.ranges)} users", file=progress)
        with db.engine.begin() as connection:
            rollups.refresh_ranges(connection, SessionRow.__table__, result.ranges, pool)
    print("Recomputing the peak concurrency of their hours", file=progress)
    with db.engine.begin() as connection:
        concurrency.refresh_hours(
            connection, SessionRow.__table__, _merged(list(result.ranges.values()))
        )
    if db.engine.dialect.name == "postgresql":
        # Statistics and the visibility map of the tables just filled, before the first
        # report: the planner would otherwise guess, and index-only scans read the rows.
        print("Updating PostgreSQL's statistics", file=progress)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE)")
    elapsed = time.monotonic() - began
    print(
        f"Done in {elapsed:.1f} s: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.bad} bad lines skipped",
        file=progress,
    )
    return result


_COLUMNS = (
    "user_name",
    "session_id",
    "received_at",
    "updated_at",
    *REPORT_COLUMNS,
)


def _placeholder(dialect: Any, column: str) -> str:
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    # psycopg sends text as 'unknown', but a cast says what the JSON columns take.
    return (
        f"CAST({mark} AS JSON)" if column in JSON_COLUMNS and dialect.name == "postgresql" else mark
    )


def _update_sql(dialect: Any) -> str:
    quote = dialect.identifier_preparer.quote
    columns = ("updated_at", *REPORT_COLUMNS)
    sets = ", ".join(f"{quote(name)} = {_placeholder(dialect, name)}" for name in columns)
    return f"UPDATE usage_sessions SET {sets} WHERE pk = {_placeholder(dialect, 'pk')}"


def _params(values: dict[str, Any], columns: Iterable[str]) -> tuple[Any, ...]:
    # The JSON columns are text already (`report_values`; None as JSON null, as the ORM).
    return tuple(values[c] for c in columns)


@dataclass
class _Stored:
    """What the import compares a line with: the stored row, or a line of this batch."""

    pk: int | None
    started: float
    last_seen: float
    ended: float | None
    report_digest: str | None
    values: dict[str, Any] | None = None


def _existing(connection: Any, keys: list[tuple[str, str]]) -> dict[tuple[str, str], _Stored]:
    c = SessionRow.__table__.c
    found: dict[tuple[str, str], _Stored] = {}
    for start in range(0, len(keys), LOOKUP):
        query = select(
            c.pk, c.user_name, c.session_id, c.started, c.last_seen, c.ended, c.report_digest
        ).where(tuple_(c.user_name, c.session_id).in_(keys[start : start + LOOKUP]))
        for row in connection.execute(query):
            found[(row.user_name, row.session_id)] = _Stored(
                row.pk, row.started, row.last_seen, row.ended, row.report_digest
            )
    return found


def _merged(ranges: list[list[float]]) -> list[tuple[float, float]]:
    """Overlapping (low, high) ranges joined."""
    merged: list[tuple[float, float]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _import_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """For this process only: a lost import is run again, so commits need not wait for
    the disk (WAL with synchronous=NORMAL stays consistent), a large page cache keeps
    the index of (user, session id) in memory, and the file is read through a memory map
    (the operating system's cache, not a copy per page read)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA mmap_size=8589934592")
    finally:
        cursor.close()


def _write(db: UsageDB, lines: list[_Line], result: ImportResult) -> None:
    """One transaction: look the batch's keys up, then one INSERT and one UPDATE
    statement executed for many rows (the rollups are recomputed at the end)."""
    now = time.time()
    keys = list(dict.fromkeys((line.user, line.session_id) for line in lines))
    with db.engine.begin() as connection:
        rows = _existing(connection, keys)
        for line in lines:
            key = (line.user, line.session_id)
            row = rows.get(key)
            known = result.ranges.setdefault(line.user, [line.started, line.last_seen])
            known[0] = min(known[0], line.started)
            known[1] = max(known[1], line.last_seen)
            values = line.values
            if row is None:
                rows[key] = _Stored(
                    None,
                    line.started,
                    line.last_seen,
                    line.ended,
                    values["report_digest"],
                    {"user_name": line.user, "session_id": key[1], **values},
                )
                result.created += 1
                continue
            # The stored extent's days need their rollups recomputed too.
            known[0] = min(known[0], row.started)
            known[1] = max(known[1], row.last_seen)
            if stored_is_newer(row, line) or row.report_digest == values["report_digest"]:
                result.unchanged += 1
                continue
            if row.values is not None and row.pk is None:
                # A newer line of a session first seen in this batch: inserted instead.
                row.values = {"user_name": line.user, "session_id": key[1], **values}
            else:
                row.values = {"pk": row.pk, **values}
            result.updated += 1
            row.started, row.last_seen = line.started, line.last_seen
            row.ended, row.report_digest = line.ended, values["report_digest"]
        dialect = connection.dialect
        inserts = [
            _params({**row.values, "received_at": now, "updated_at": now}, _COLUMNS)
            for row in rows.values()
            if row.pk is None and row.values is not None
        ]
        updates = [
            _params({**row.values, "updated_at": now}, ("updated_at", *REPORT_COLUMNS, "pk"))
            for row in rows.values()
            if row.pk is not None and row.values is not None
        ]
        rollups.insert_rows(connection, "usage_sessions", _COLUMNS, inserts)
        if updates:
            connection.exec_driver_sql(_update_sql(dialect), updates)


def export_sessions(db: UsageDB, out: TextIO) -> int:
    """Every stored session as one JSON line, in the format `import_files` reads."""
    count = 0
    with Session(db.engine) as session:
        query = select(SessionRow).order_by(SessionRow.pk).execution_options(yield_per=2000)
        for row in session.scalars(query):
            record: dict[str, Any] = row.to_json()
            del record["received_at"]
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count
