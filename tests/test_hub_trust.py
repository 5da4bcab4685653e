"""Reports that cannot lie: figures that only grow, sessions checked against the hub's
record, and the counts an admin sees (report_guard, hub_watch, hub_check, report_flags)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_usage.hub.db import report_flags
from jupyter_usage.hub.db import watch_periods as hub_watch
from jupyter_usage.hub.db.report_guard import LoweringRefused, lowered_figures
from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.intake.hub_check import CONFIRMED, UNCONFIRMED, check_session, confirm
from jupyter_usage.hub.intake.hub_servers import RunningServer
from jupyter_usage.hub.intake.hub_sessions import HubSessions
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


def report(seconds: float, cost: float, *, session_id: str = "s1", **changes: Any) -> Any:
    body: dict[str, Any] = {
        "id": session_id,
        "server_name": "",
        "started": T0,
        "ended": None,
        "last_checkpoint": T0 + seconds,
        "totals": {
            "duration_seconds": seconds,
            "cpu_core_seconds": seconds / 2,
            "gpu_seconds_by_model": {"A100": seconds},
            "peak_memory_bytes": 1000,
        },
        "cost": {"currency": "EUR", "total": cost, "breakdown": {"cpu": cost}},
        "meta": {},
    }
    body.update(changes)
    return parse_session(body)


# -- only adds -------------------------------------------------------------------------


def test_nothing_is_lowered_by_a_report_that_grows() -> None:
    stored = report(60, 0.1)
    newer = report(120, 0.2)
    assert lowered_figures(60, stored.totals, stored.cost, 120, newer.totals, newer.cost) == []


def test_each_lowered_figure_is_named() -> None:
    stored = report(60, 0.1)
    zeroed = report(61, 0.0, totals={"duration_seconds": 61, "cpu_core_seconds": 0})
    assert lowered_figures(60, stored.totals, stored.cost, 61, zeroed.totals, zeroed.cost) == [
        "totals.cpu_core_seconds",
        "totals.gpu_seconds_by_model.A100",
        "totals.peak_memory_bytes",
        "cost.total",
        "cost.breakdown.cpu",
    ]
    assert lowered_figures(60, {}, None, 59, {}, None) == ["duration_seconds"]
    # A figure the stored report did not have, or had as null, lowers nothing.
    assert lowered_figures(None, {"x": None}, {}, 0, {}, None) == []
    # Rounding of a re-serialised float is not a lowering.
    assert lowered_figures(60, {"x": 0.30000000000000004}, None, 60, {"x": 0.3}, None) == []


def test_a_lowering_report_is_refused_and_the_stored_one_kept(db: UsageDB) -> None:
    assert db.upsert_session("alice", report(60, 0.148), [], T0 + 60, only_adds=True) == "created"
    with pytest.raises(LoweringRefused, match=r"cost\.total") as refused:
        db.upsert_session("alice", report(120, 0.0), [], T0 + 120, only_adds=True)
    assert "cost.total" in refused.value.figures
    [stored] = db.list_sessions(user="alice")
    assert stored["cost"]["total"] == 0.148
    assert stored["last_checkpoint"] == T0 + 60
    # The final report with every figure zeroed is refused too: ending beats running.
    with pytest.raises(LoweringRefused):
        db.upsert_session("alice", report(120, 0.0, ended=T0 + 120), [], T0 + 120, only_adds=True)
    assert db.upsert_session("alice", report(120, 0.3), [], T0 + 120, only_adds=True) == "updated"
    assert db.upsert_session("alice", report(120, 0.3), [], T0 + 121, only_adds=True) == "unchanged"
    # An older report (a late retry) is stale, as before: kept out, not a lowering.
    assert db.upsert_session("alice", report(60, 0.148), [], T0 + 122, only_adds=True) == "stale"
    [stored] = db.list_sessions(user="alice")
    assert stored["cost"]["total"] == 0.3


def test_refused_reports_are_counted_per_user(db: UsageDB) -> None:
    report_flags.record_flag(db, "alice", report_flags.LOWERING_REFUSED, T0)
    report_flags.record_flag(db, "alice", report_flags.LOWERING_REFUSED, T0 + 5)
    report_flags.record_flag(db, "bob", report_flags.ABOVE_ALLOCATION, T0 + 1)
    with db.engine.connect() as connection:
        counts = report_flags.by_user(connection)
    assert counts["alice"] == {
        "lowering_refused": 2,
        "unconfirmed": 0,
        "above_allocation": 0,
        "latest": T0 + 5,
    }
    assert counts["bob"]["above_allocation"] == 1


# -- watched periods ---------------------------------------------------------------------


def test_polls_close_together_make_one_watched_period(db: UsageDB) -> None:
    with db.engine.begin() as connection:
        for at in (T0, T0 + 10, T0 + 25, T0 + 100, T0 + 110):
            hub_watch.record_poll(connection, at, GAP)
    with db.engine.connect() as connection:
        assert hub_watch.watched_throughout(connection, T0, T0 + 25)
        # The gap of 75 s between two polls was not watched.
        assert not hub_watch.watched_throughout(connection, T0 + 20, T0 + 105)
        assert hub_watch.watched_throughout(connection, T0 + 100, T0 + 110)
        assert hub_watch.first_watched(connection) == T0


# -- sessions checked against the hub ---------------------------------------------------------


def watch(db: UsageDB, since: float, until: float) -> None:
    with db.engine.begin() as connection:
        at = since
        while at <= until:
            hub_watch.record_poll(connection, at, GAP)
            at += GAP / 2


def test_a_session_the_hub_never_ran_in_a_watched_period_is_unconfirmed(db: UsageDB) -> None:
    watch(db, T0 - 100, T0 + 3600)
    db.upsert_session("alice", report(600, 0.5, session_id="fake"), ["physics"], T0 + 600)
    checked = check_session(db, "alice", "fake", GAP, T0 + 600)
    assert (checked.before, checked.after) == (None, UNCONFIRMED)
    window = {"since": T0 - 86400, "until": T0 + 86400}
    kpis = database_kpis(db, **window)
    assert kpis["kpis"]["active_users"]["value"] == 0
    assert kpis["kpis"]["sessions"]["value"] == 0
    cover = coverage(db, **window)
    assert (cover["sessions"], cover["unconfirmed"], cover["confirmed"]) == (1, 1, 0)
    with db.engine.connect() as connection:
        assert report_flags.by_user(connection)["alice"]["unconfirmed"] == 1
    # The hub finds it running after all (a late first poll): confirmed, back in the KPIs.
    assert confirm(db, "alice", ["fake"], T0 + 700) == 1
    assert database_kpis(db, **window)["kpis"]["sessions"]["value"] == 1
    assert coverage(db, **window)["unconfirmed"] == 0
    with db.engine.connect() as connection:
        assert report_flags.by_user(connection) == {}


def test_a_session_the_hub_listed_is_confirmed(db: UsageDB) -> None:
    watch(db, T0 - 100, T0 + 3600)
    hub = HubSessions(db, clock=lambda: T0 + 30)
    hub.record_poll([RunningServer("alice", "", T0 - 5, None, ("physics",), None)])
    db.upsert_session("alice", report(600, 0.5), ["physics"], T0 + 600)
    assert check_session(db, "alice", "s1", GAP, T0 + 600).after == CONFIRMED
    hub.absorb_twins("alice", report(600, 0.5))
    window = {"since": T0 - 86400, "until": T0 + 86400}
    assert coverage(db, **window)["confirmed"] == 1
    assert database_kpis(db, **window)["kpis"]["sessions"]["value"] == 1


def test_a_poll_confirms_a_session_reported_before_it(db: UsageDB) -> None:
    watch(db, T0 - 100, T0 + 3600)
    db.upsert_session("alice", report(600, 0.5), [], T0 + 600)
    assert check_session(db, "alice", "s1", GAP, T0 + 600).after == UNCONFIRMED
    hub = HubSessions(db, clock=lambda: T0 + 620)
    hub.record_poll([RunningServer("alice", "", T0 - 5, None, (), None)])
    assert coverage(db, T0 - 86400, T0 + 86400)["confirmed"] == 1


def test_sessions_of_a_time_not_watched_cannot_be_checked(db: UsageDB) -> None:
    watch(db, T0 + 7200, T0 + 9000)
    # A late delivery of a session before the service watched, and a session too short
    # for a poll to have fallen inside it.
    db.upsert_session("alice", report(3600, 0.5, session_id="old"), [], T0 + 8000)
    db.upsert_session("alice", report(5, 0.0, session_id="short", started=T0 + 8000), [], T0 + 8005)
    for session_id in ("old", "short"):
        assert check_session(db, "alice", session_id, GAP, T0 + 8005).after is None
    cover = coverage(db, T0 - 86400, T0 + 86400)
    assert (cover["not_checkable"], cover["unconfirmed"]) == (2, 0)
    assert database_kpis(db, since=T0 - 86400, until=T0 + 86400)["kpis"]["sessions"]["value"] == 2


def test_a_session_posted_right_after_its_end_is_checked_at_the_next_poll(db: UsageDB) -> None:
    watch(db, T0 - 100, T0 + 590)
    db.upsert_session("alice", report(600, 0.5, started=T0 + 570, ended=T0 + 600), [], T0 + 600)
    # The watched period ends at its last poll, before the stretch the session claims.
    assert check_session(db, "alice", "s1", GAP, T0 + 600).after is None
    hub = HubSessions(db, clock=lambda: T0 + 605)
    hub.record_poll([])
    hub.record_watch(T0 + 605, GAP)
    assert coverage(db, T0 - 86400, T0 + 86400)["unconfirmed"] == 1
