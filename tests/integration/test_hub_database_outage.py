"""The hub service on a real PostgreSQL that is down when a real JupyterHub starts, is
stopped mid-run, and a service stopped while reports are posted.

One hub for the whole story, in order: the hub must stay up while the database is late,
the service must answer 503 (with its message and `Retry-After`) rather than 500 or
tracebacks, recover without a restart, and lose nothing it acknowledged when it stops.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.hub_process import Hub, service_pid, start_hub, wait_for
from support.postgres_server import PostgresServer, Unavailable, running_postgres
from support.reliability_log import record

from jupyter_usage.hub.db.availability import NOT_READY, UNAVAILABLE
from jupyter_usage.hub.db.storage import UsageDB

SESSIONS_BEFORE = 10
SESSIONS_DURING = 10
POSTERS = 4
POSTS_EACH = 40


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A server of this module's own, unlike the shared one of conftest: these tests stop
    and start it."""
    try:
        with running_postgres() as server:
            yield server
    except Unavailable as why:
        pytest.skip(f"PostgreSQL tests skipped: {why}")


def body(session_id: str) -> dict[str, Any]:
    started = time.time() - 86400
    return {"id": session_id, "started": started, "ended": started + 600, "ended_by": "stop"}


def stored_ids(url: str) -> set[str]:
    db = UsageDB(url)
    try:
        return {row["id"] for row in db.list_sessions(user="alice", limit=10000)}
    finally:
        db.close()


def database_lines(hub: Hub) -> list[str]:
    """The service's lines about its database, above debug (at which this hub's service
    also logs each request)."""
    return [
        line
        for line in hub.log().splitlines()
        if "usage database" in line and not line.startswith("[D ")
    ]


def check_unavailable(answer: Any, message: str) -> None:
    assert answer.status == 503, answer.body
    assert answer.json() == {"message": message, "reason": None}
    assert int(answer.headers["Retry-After"]) > 0


def test_database_down_at_start_mid_run_and_a_stop_during_posts(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    with postgres.database() as url:
        postgres.pause()
        record("faults_injected", detail="PostgreSQL down when the hub starts")
        hub = start_hub(tmp_path, url, service_ready=False)
        try:
            run_story(hub, postgres, url)
        finally:
            hub.stop()
            postgres.resume()  # for the database's removal


def run_story(hub: Hub, postgres: PostgresServer, url: str) -> None:
    # 1. Late database: the hub is up, the service answers 503 and keeps retrying.
    early = hub.api("POST", "sessions", "alice", body("early"))
    check_unavailable(early, NOT_READY)
    wait_for("two connection attempts", lambda: len(database_lines(hub)) >= 2, 60)
    assert hub.process.poll() is None
    assert hub.admin("GET", "").status == 200
    record("hub_restarts_survived")
    postgres.resume()
    wait_for("the service", lambda: hub.api("GET", "sessions", "ada").status == 200, 120)
    assert hub.api("POST", "sessions", "alice", body("early")).status == 201

    # 2. The database stopped mid-run: 503s with the message, then recovery.
    delivered = {"early"}
    for n in range(SESSIONS_BEFORE):
        session_id = f"before-{n}"
        assert hub.api("POST", "sessions", "alice", body(session_id)).status == 201
        delivered.add(session_id)
    lines_before = len(database_lines(hub))
    postgres.pause()
    record("faults_injected", detail="PostgreSQL stopped mid-run, then started again")
    pending = [f"during-{n}" for n in range(SESSIONS_DURING)]
    for session_id in pending:
        answer = hub.api("POST", "sessions", "alice", body(session_id))
        check_unavailable(answer, UNAVAILABLE)
        record("outage_answers")
    for path in ("sessions", "kpis"):
        check_unavailable(hub.api("GET", path, "ada"), UNAVAILABLE)
        record("outage_answers")
    postgres.resume()
    for session_id in pending:
        # What a server's uploader does with a 503: try again later.
        wait_for(
            f"{session_id} to be accepted",
            lambda sid=session_id: hub.api("POST", "sessions", "alice", body(sid)).status == 201,
            60,
        )
        delivered.add(session_id)
    assert stored_ids(url) >= delivered
    outage_lines = database_lines(hub)[lines_before:]
    assert len(outage_lines) == 2, outage_lines  # one when it went, one when it came back
    assert "Traceback" not in hub.log()
    assert " 500 " not in hub.log()

    # 3. The service stopped (SIGTERM) while reports are posted.
    acknowledged: list[str] = []
    failures: list[int] = []
    go = threading.Barrier(POSTERS + 1)

    def poster(number: int) -> None:
        go.wait(30)
        for n in range(POSTS_EACH):
            session_id = f"stop-{number}-{n}-{uuid.uuid4().hex[:6]}"
            try:
                answer = hub.api("POST", "sessions", "alice", body(session_id))
            except OSError:
                return  # the service is gone: the server keeps the report and retries
            if answer.status in (200, 201):
                acknowledged.append(session_id)
            else:
                failures.append(answer.status)

    threads = [threading.Thread(target=poster, args=(n,)) for n in range(POSTERS)]
    for thread in threads:
        thread.start()
    go.wait(30)
    wait_for("some reports acknowledged", lambda: len(acknowledged) >= POSTERS, 60)
    os.kill(service_pid(hub.process), signal.SIGTERM)
    record("faults_injected", detail="usage service stopped (SIGTERM) during posts")
    for thread in threads:
        thread.join(120)
    assert acknowledged
    lost = set(acknowledged) - stored_ids(url)
    if lost:
        record("sessions_lost", len(lost), detail=", ".join(sorted(lost)[:5]))
    assert not lost
    assert set(failures) <= {503}, failures
    wait_for("the service's stop", lambda: "Stopping the jupyter_usage" in hub.log(), 30)
    assert " 500 " not in hub.log()
    assert hub.process.poll() is None
