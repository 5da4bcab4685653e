"""Users' session reports stored in batches: the reports that arrive while one batch is
written are the next batch, written in one transaction.

Each report costs a few statements; each transaction costs a commit, which on SQLite is a
flush to disk (some 10 ms on a virtual disk) and on PostgreSQL a WAL flush. One commit for
every report that waited, instead of three for each (the report, its rollups, its check
against the hub), is what lets a hub of thousands of servers report every minute. A
report is answered only once its batch is committed, so an answer never promises what a
crash could lose. A report refused for lowering figures writes nothing but its count; any
other failure fails the batch, and each of its reports is answered with that error (the
servers retry).

Within a batch, per report: its figures bounded by the server's allocation
(report_limits.py, read before the batch's transaction), the store (storage.py, figures
that only grow), the check
against the hub's record (hub_check.py), the merge with the hub's copy of a new session
(hub_sessions.py); then, once per batch, the rollups of the days and hours touched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection, select

from jupyter_usage.hub.db import report_flags, watch_periods
from jupyter_usage.hub.db.allocation import Allocation
from jupyter_usage.hub.db.allocation_records import record_over_allocation
from jupyter_usage.hub.db.report_guard import LoweringRefused
from jupyter_usage.hub.db.schema import CONFIRMED, SessionRow
from jupyter_usage.hub.db.storage import SessionInput, UsageDB, changed_spans

from .hub_check import Known, Watched, check_in
from .hub_sessions import TWIN_TOLERANCE_SECONDS
from .report_limits import within_allocation

MAX_BATCH = 200
"""Reports in one transaction at most: a batch stays a fraction of a second."""

Answer = dict[str, Any]
AllocationOf = Callable[[str, str, float], Allocation | None]


@dataclass(frozen=True)
class Report:
    user: str
    session: SessionInput
    groups: tuple[str, ...]


class ReportIntake:
    """Queues reports and writes them a batch at a time through `run_db`."""

    def __init__(
        self,
        db: UsageDB,
        run_db: Callable[[Callable[[], list[Answer]]], Awaitable[list[Answer]]],
        watch_gap: Callable[[], float | None],
        allocation_of: AllocationOf | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self._run_db = run_db
        self._watch_gap = watch_gap
        self._allocation_of = allocation_of
        self._clock = clock
        self._waiting: list[tuple[Report, asyncio.Future[Answer]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        self.reports = 0

    async def store(self, report: Report) -> Answer:
        """The answer about `report` once its batch is committed; raises its batch's error."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((report, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            reports = [report for report, _ in batch]
            gap = self._watch_gap()
            now = self._clock()
            write = partial(write_batch, self.db, reports, now, gap, self._allocation_of)
            try:
                answers = await self._run_db(write)
            except Exception as error:  # each request answers with it (503, 500)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.batches += 1
            self.reports += len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)


def write_batch(
    db: UsageDB,
    reports: Sequence[Report],
    now: float,
    watch_gap: float | None,
    allocation_of: AllocationOf | None = None,
) -> list[Answer]:
    """Store `reports` in one transaction; one answer each, in order."""
    # Allocations are read (and cached) before the transaction, which then only writes.
    bounded = [_bounded(report, allocation_of) for report in reports]

    def work(connection: Connection) -> list[Answer]:
        read: list[Watched] = []

        def watched() -> Watched:
            if not read:
                read.append(watch_periods.covering(connection))
            return read[0]

        days: dict[str, list[float]] = {}
        hours: list[tuple[float, float]] = []
        answers = []
        for report, clipped in bounded:
            answer, touched = _one(db, connection, report, now, watch_gap, watched)
            if clipped and answer["status"] != "refused":
                record_over_allocation(connection, report.user, answer["id"], now, clipped)
                report_flags.record(connection, report.user, report_flags.ABOVE_ALLOCATION, now)
                answer["clipped"] = list(clipped)
                answer["message"] = (
                    f"{', '.join(clipped)} claimed more than the server's allocation allows; "
                    "stored at the most it allows"
                )
            answers.append(answer)
            for times, spans in touched:
                days.setdefault(report.user, []).extend(times)
                hours.extend(spans)
        if days:
            db.refresh_in(connection, days, hours)
        return answers

    return db.write_reports(work)


def _bounded(report: Report, allocation_of: AllocationOf | None) -> tuple[Report, tuple[str, ...]]:
    """`report` with its figures within its server's allocation, and those that were not."""
    if allocation_of is None:
        return report, ()
    session, clipped = within_allocation(report.user, report.session, allocation_of)
    return (dataclasses.replace(report, session=session), clipped) if clipped else (report, ())


Touched = list[tuple[list[float], list[tuple[float, float]]]]


def _one(
    db: UsageDB,
    connection: Connection,
    report: Report,
    now: float,
    watch_gap: float | None,
    watched: Callable[[], Watched],
) -> tuple[Answer, Touched]:
    user, session = report.user, report.session
    answer: Answer = {"id": session.session_id, "user": user}
    try:
        stored = db.store_report(connection, user, session, report.groups, now)
    except LoweringRefused as error:
        report_flags.record(connection, user, report_flags.LOWERING_REFUSED, now)
        return {**answer, "status": "refused", "message": str(error), "figures": error.figures}, []
    answer["status"] = outcome = stored.outcome
    if outcome not in ("created", "updated"):
        return answer, []
    touched: Touched = [changed_spans(stored.before, session, report.groups)]
    if watch_gap is not None and stored.hub_check == CONFIRMED:
        answer["hub_check"] = CONFIRMED  # once the hub ran it, it did
    elif watch_gap is not None:
        known = Known(
            session.server_name, session.started, session.last_seen, False, stored.hub_check
        )
        checked, span = check_in(
            connection, user, session.session_id, watch_gap, now, known, watched()
        )
        answer["hub_check"] = checked.after
        if span is not None:
            touched.append(([*span], [span]))
    if outcome == "created":
        # The hub's poll or its events may have known this session first.
        spans = db.delete_in(connection, user, _hub_twins(connection, user, session))
        touched += [([*span], [span]) for span in spans]
    return answer, touched


def _hub_twins(connection: Connection, user: str, session: SessionInput) -> list[str]:
    """The hub's copies of the session just reported (hub_sessions.HubSessions.twins)."""
    rows = connection.execute(
        select(SessionRow.session_id, SessionRow.started, SessionRow.ended).where(
            SessionRow.user == user,
            SessionRow.server_name == session.server_name,
            SessionRow.from_hub,
            SessionRow.started >= session.started - TWIN_TOLERANCE_SECONDS,
            SessionRow.started <= session.started + TWIN_TOLERANCE_SECONDS,
        )
    ).all()
    return [
        row.session_id
        for row in rows
        if row.started > session.started or row.ended is None or row.ended > session.started
    ]
