"""Users' reports written a batch per transaction (intake/report_intake.py): each report gets
the answer it would get alone, and the rollups match the sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event
from support.hub_db import kpi_sessions
from support.kpi_reference import compute_kpis

from jupyter_usage.hub.db import report_flags
from jupyter_usage.hub.db import watch_periods as hub_watch
from jupyter_usage.hub.db.allocation import Allocation
from jupyter_usage.hub.db.allocation_records import over_allocation_counts
from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.intake.hub_servers import RunningServer
from jupyter_usage.hub.intake.hub_sessions import HubSessions
from jupyter_usage.hub.intake.report_intake import Report, ReportIntake, write_batch
from jupyter_usage.hub.intake.trusted_cost import allowed_figures
from jupyter_usage.hub.intake.validation import parse_session
from jupyter_usage.hub.kpis.coverage import coverage
from jupyter_usage.hub.kpis.database import database_kpis

T0 = 1_793_577_600.0
GAP = 20.0


@pytest.fixture
def db(db_url: str) -> Iterator[UsageDB]:
    database = UsageDB(db_url)
    database.upgrade()
    yield database
    database.close()


def report(user: str, session_id: str, seconds: float, cost: float, **changes: Any) -> Report:
    body: dict[str, Any] = {
        "id": session_id,
        "server_name": "",
        "started": T0,
        "ended": None,
        "last_checkpoint": T0 + seconds,
        "totals": {"duration_seconds": seconds, "cpu_core_seconds": seconds / 2},
        "cost": {"currency": "EUR", "total": cost},
        "meta": {},
    }
    body.update(changes)
    return Report(user, parse_session(body), ("physics",))


def commits(db: UsageDB) -> Callable[[], int]:
    count = [0]
    event.listen(db.engine, "commit", lambda _connection: count.__setitem__(0, count[0] + 1))
    return lambda: count[0]


def test_a_batch_is_one_commit_with_each_reports_own_answer(db: UsageDB) -> None:
    assert [a["status"] for a in write_batch(db, [report("alice", "a", 60, 0.1)], T0, None)] == [
        "created"
    ]
    counted = commits(db)
    answers = write_batch(
        db,
        [
            report("alice", "a", 120, 0.2),
            report("bob", "b", 60, 0.1),
            report("alice", "a", 180, 0.0),  # lowers the cost: refused, the rest stored
            report("alice", "a", 120, 0.2),  # the same report again
            report("carol", "c", 30, 0.1, ended=T0 + 30),
        ],
        T0 + 200,
        None,
    )
    assert counted() == 1
    assert [a["status"] for a in answers] == [
        "updated",
        "created",
        "refused",
        "unchanged",
        "created",
    ]
    assert "cost.total" in answers[2]["figures"]
    assert "only grow" in answers[2]["message"]
    [alice] = db.list_sessions(user="alice")
    assert (alice["last_checkpoint"], alice["cost"]["total"]) == (T0 + 120, 0.2)
    with db.engine.connect() as connection:
        assert report_flags.by_user(connection)["alice"]["lowering_refused"] == 1
    # The rollups of the batch are those of the sessions it left.
    window = {"since": T0 - 86400, "until": T0 + 86400}
    reference = compute_kpis(kpi_sessions(db, T0 - 40 * 86400, T0 + 86400), **window)
    assert database_kpis(db, **window)["kpis"] == reference["kpis"]


def test_a_batch_merges_the_hubs_copy_and_checks_each_session(db: UsageDB) -> None:
    with db.engine.begin() as connection:
        for at in range(int(T0) - 100, int(T0) + 700, 10):
            hub_watch.record_poll(connection, float(at), GAP)
    HubSessions(db, clock=lambda: T0 + 30).record_poll(
        [RunningServer("alice", "", T0 - 5, None, ("physics",), None)]
    )
    answers = write_batch(
        db,
        [report("alice", "real", 600, 0.5), report("mallory", "made-up", 600, 0.5)],
        T0 + 600,
        GAP,
    )
    assert [(a["status"], a["hub_check"]) for a in answers] == [
        ("created", "confirmed"),
        ("created", "unconfirmed"),
    ]
    assert [s["id"] for s in db.list_sessions(user="alice")] == ["real"]  # merged
    window = {"since": T0 - 86400, "until": T0 + 86400}
    assert coverage(db, **window)["unconfirmed"] == 1
    kpis = database_kpis(db, **window)["kpis"]
    assert kpis["active_users"]["value"] == 1
    assert kpis == compute_kpis(kpi_sessions(db, T0 - 40 * 86400, T0 + 86400), **window)["kpis"]


async def test_reports_arriving_together_share_a_batch(db: UsageDB) -> None:
    calls: list[int] = []

    async def run_db(function: Callable[[], Any]) -> Any:
        calls.append(1)
        return await asyncio.get_running_loop().run_in_executor(None, function)

    intake = ReportIntake(db, run_db, lambda: None, clock=lambda: T0 + 100)
    answers = await asyncio.gather(
        *(intake.store(report(f"user{i}", f"s{i}", 60, 0.1)) for i in range(10))
    )
    assert [a["status"] for a in answers] == ["created"] * 10
    assert intake.reports == 10
    # All ten were queued before the writer ran: one batch, one transaction.
    assert intake.batches == len(calls) == 1
    # One that comes later is a batch of its own.
    assert (await intake.store(report("user0", "s0", 120, 0.2)))["status"] == "updated"
    assert intake.batches == 2


async def test_a_failed_batch_answers_each_of_its_reports_with_the_error(db: UsageDB) -> None:
    async def run_db(function: Callable[[], Any]) -> Any:
        raise RuntimeError("the database went away")

    intake = ReportIntake(db, run_db, lambda: None)
    with pytest.raises(RuntimeError, match="went away"):
        await intake.store(report("alice", "a", 60, 0.1))
    # The next report is tried afresh.
    intake._run_db = lambda function: asyncio.get_running_loop().run_in_executor(None, function)  # type: ignore[method-assign]
    assert (await intake.store(report("alice", "a", 60, 0.1)))["status"] == "created"


def test_a_report_above_its_allocation_is_clipped_counted_and_flagged(db: UsageDB) -> None:
    # Half a core for 600 s allows 300 core-seconds; the report claims 600.
    def allocation_of(user: str, server_name: str, started: float) -> Allocation | None:
        return Allocation(cpu_limit_cores=0.5) if user == "alice" else None

    claimed = report("alice", "a", 600, 0.1, totals={"cpu_core_seconds": 600.0})
    fine = report("bob", "b", 600, 0.1, totals={"cpu_core_seconds": 600.0})
    answers = write_batch(db, [claimed, fine], T0 + 600, None, allocation_of)
    assert answers[0]["clipped"] == ["cpu_core_seconds"]
    assert "allocation" in answers[0]["message"]
    assert "clipped" not in answers[1]
    [alice] = db.list_sessions(user="alice")
    [bob] = db.list_sessions(user="bob")
    bound = allowed_figures(Allocation(cpu_limit_cores=0.5), 600)["cpu_core_seconds"]
    assert 300.0 <= bound < 600.0
    assert alice["totals"]["cpu_core_seconds"] == pytest.approx(bound)
    assert bob["totals"]["cpu_core_seconds"] == pytest.approx(600.0)
    with db.engine.connect() as connection:
        assert over_allocation_counts(connection) == {"alice": 1}
        flags = report_flags.by_user(connection)
    assert flags["alice"]["above_allocation"] == 1
    assert "bob" not in flags
