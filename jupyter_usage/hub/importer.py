"""Sessions in and out as JSON lines: one session per line, as a server POSTs it, plus `user`.

The import has the POST's semantics (idempotent on user and session id; an older report
than the stored one changes nothing) but writes a batch of lines per transaction, and
recomputes the rollups of the users it saw once at the end, so that it runs at thousands
of sessions per second. Running it again after an interruption completes it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from . import rollups
from .storage import (
    MAX_NAME_LENGTH,
    SessionInput,
    SessionRow,
    UsageDB,
    report_values,
    stored_is_newer,
)
from .validation import BadRequest, claimed_groups, parse_json_object, parse_session

BATCH = 2000


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
    user: str
    body: SessionInput
    groups: list[str]


def parse_line(text: str) -> _Line:
    body = parse_json_object(text.encode("utf-8"))
    user = body.get("user")
    if not isinstance(user, str) or not user or len(user) > MAX_NAME_LENGTH:
        raise BadRequest(f"'user' must be a non-empty string of at most {MAX_NAME_LENGTH}")
    return _Line(user, parse_session(body), claimed_groups(body))


def _lines(paths: Iterable[Path], result: ImportResult, errors: TextIO) -> Iterator[_Line]:
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as file:
            for number, text in enumerate(file, start=1):
                if not text.strip():
                    continue
                try:
                    yield parse_line(text)
                except BadRequest as error:
                    result.bad += 1
                    print(f"{path}:{number}: skipped: {error}", file=errors)


def import_files(
    db: UsageDB, paths: Iterable[Path], *, progress: TextIO = sys.stderr, batch: int = BATCH
) -> ImportResult:
    """Import JSON-lines files into `db` (migrated first); bad lines are reported and skipped."""
    db.upgrade()
    result = ImportResult()
    began = time.monotonic()
    pending: list[_Line] = []
    for line in _lines(paths, result, progress):
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
        rollups.refresh_ranges(connection, SessionRow.__table__, result.ranges)
    elapsed = time.monotonic() - began
    print(
        f"Done in {elapsed:.1f} s: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.bad} bad lines skipped",
        file=progress,
    )
    return result


def _write(db: UsageDB, lines: list[_Line], result: ImportResult) -> None:
    now = time.time()
    keys = {(line.user, line.body.session_id) for line in lines}
    with Session(db.engine) as session, session.begin():
        found = session.scalars(
            select(SessionRow).where(tuple_(SessionRow.user, SessionRow.session_id).in_(list(keys)))
        )
        rows: dict[tuple[str, str], SessionRow] = {(r.user, r.session_id): r for r in found}
        for line in lines:
            key = (line.user, line.body.session_id)
            row = rows.get(key)
            known = result.ranges.setdefault(line.user, [line.body.started, line.body.last_seen])
            known[0] = min(known[0], line.body.started)
            known[1] = max(known[1], line.body.last_seen)
            values = report_values(line.body, line.groups)
            if row is None:
                row = SessionRow(
                    user=line.user,
                    session_id=line.body.session_id,
                    received_at=now,
                    updated_at=now,
                    **values,
                )
                session.add(row)
                rows[key] = row
                result.created += 1
                continue
            # The stored extent's days need their rollups recomputed too.
            known[0] = min(known[0], row.started)
            known[1] = max(known[1], row.last_seen)
            if stored_is_newer(row, line.body) or row.report_digest == values["report_digest"]:
                result.unchanged += 1
                continue
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            result.updated += 1


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
