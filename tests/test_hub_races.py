"""Overlapping reports of the same sessions: the newest report wins, whole, on SQLite and
on a real PostgreSQL, with threads of one process and with two processes.

No timing: every poster waits at a barrier before each session, so the reports of one
session are in flight together; the check is on what is stored at the end.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter

import pytest
from support.hub_db import kpi_sessions
from support.kpi_reference import compute_kpis
from support.race_reports import REPORTS_PER_SESSION, post_all, process_main, torn
from support.reliability_log import record

from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.kpis.database import database_kpis

SESSIONS = 150


def check_stored(url: str, outcomes: list[str]) -> None:
    db = UsageDB(url)
    try:
        rows = db.list_sessions(user="alice", limit=10000)
        # The KPIs' rollups, recomputed by each racing write, agree with the rows.
        since = min(row["started"] for row in rows) - 86400
        until = max(row["started"] + row["duration_seconds"] for row in rows) + 86400
        from_rollups = database_kpis(db, since=since, until=until)["kpis"]
        reference = compute_kpis(
            kpi_sessions(db, since - 40 * 86400, until), since=since, until=until
        )
    finally:
        db.close()
    for name in ("sessions", "server_seconds", "cpu_core_seconds"):
        assert from_rollups[name]["value"] == pytest.approx(reference["kpis"][name]["value"]), name
    torn_rows = [row["id"] for row in rows if torn(row)]
    record("races_tried", SESSIONS)
    record("torn_rows", len(torn_rows), detail=", ".join(torn_rows[:5]))
    assert len(rows) == SESSIONS
    assert torn_rows == []
    counts = Counter(outcomes)
    assert counts["created"] == SESSIONS
    assert sum(counts.values()) == SESSIONS * REPORTS_PER_SESSION
    assert set(counts) <= {"created", "updated", "unchanged", "stale"}


def session_ids(name: str) -> list[str]:
    return [f"{name}-{n}" for n in range(SESSIONS)]


def upgraded(url: str) -> None:
    db = UsageDB(url)
    db.upgrade()
    db.close()


def test_threads_of_one_process(db_url: str) -> None:
    upgraded(db_url)
    barrier = threading.Barrier(REPORTS_PER_SESSION)
    outcomes = post_all(db_url, session_ids("threads"), REPORTS_PER_SESSION, 0, barrier)
    check_stored(db_url, outcomes)


def test_two_processes(db_url: str) -> None:
    upgraded(db_url)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(REPORTS_PER_SESSION)
    queue = context.Queue()
    ids = session_ids("processes")
    half = REPORTS_PER_SESSION // 2
    other = context.Process(target=process_main, args=(db_url, ids, half, half, barrier, queue))
    other.start()
    try:
        outcomes = post_all(db_url, ids, half, 0, barrier)
        theirs = queue.get(timeout=300)
    finally:
        other.join(60)
    assert isinstance(theirs, list), theirs
    check_stored(db_url, outcomes + theirs)
