"""Sessions known from the hub (its poll and its events), merged with extension reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.intake.hub_servers import RunningServer
from jupyter_usage.hub.intake.hub_sessions import CLOSED_BY_POLL, HubSessions
from jupyter_usage.hub.intake.server_events import InferredSession
from jupyter_usage.hub.intake.validation import parse_session
from jupyter_usage.hub.kpis.coverage import coverage
from jupyter_usage.hub.kpis.coverage import running as running_servers
from jupyter_usage.hub.kpis.database import database_kpis

T0 = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Iterator[UsageDB]:
    database = UsageDB(f"sqlite:///{tmp_path / 'usage.sqlite'}")
    database.upgrade()
    yield database
    database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(db: UsageDB, clock: Clock) -> HubSessions:
    return HubSessions(db, clock)


def running(user: str = "eve", started: float = T0, server_name: str = "") -> RunningServer:
    return RunningServer(user, server_name, started, None, ("biology",), "small", {"cpu": 2})


def extension_report(user: str = "eve", started: float = T0 + 20, **changes: Any) -> Any:
    body = {
        "id": "ext-1",
        "server_name": "",
        "started": started,
        "ended": None,
        "last_checkpoint": started + 60,
        "totals": {"duration_seconds": 60, "cpu_core_seconds": 30},
        "cost": {"currency": "EUR", "total": 0.1},
        "meta": {"groups": ["biology"]},
        **changes,
    }
    return parse_session(body)


def sessions(db: UsageDB, user: str = "eve") -> list[dict[str, Any]]:
    return db.list_sessions(user=user)


def test_a_server_without_the_extension_is_recorded_and_closed_when_gone(
    db: UsageDB, hub: HubSessions, clock: Clock
) -> None:
    assert hub.record_poll([running()]).opened == 1
    clock.now = T0 + 600
    assert hub.record_poll([running()]).opened == 0  # the same session, seen again
    [open_session] = sessions(db)
    assert open_session["ended"] is None
    assert open_session["meta"]["source"] == "hub"
    assert open_session["meta"]["groups"] == ["biology"]
    assert open_session["meta"]["profile"] == "small"
    assert open_session["totals"] == {}
    assert open_session["cost"] is None

    clock.now = T0 + 660
    assert hub.record_poll([]).closed == 1
    [closed] = sessions(db)
    # Closed when it was last seen running, not when the poll noticed.
    assert closed["ended"] == T0 + 600
    assert closed["duration_seconds"] == 600
    assert closed["ended_by"] == CLOSED_BY_POLL
    assert hub.record_poll([]).closed == 0


def test_the_extensions_report_and_the_hubs_view_are_one_session(
    db: UsageDB, hub: HubSessions, clock: Clock
) -> None:
    hub.record_poll([running()])
    report = extension_report()
    assert db.upsert_session("eve", report, ["biology"], clock.now) == "created"
    assert hub.absorb_twins("eve", report) == 1
    [only] = sessions(db)
    assert only["id"] == "ext-1"
    # The KPIs' rollups forget the hub's copy too.
    kpis = database_kpis(db, since=T0 - 86400, until=T0 + 86400)["kpis"]
    assert kpis["sessions"]["value"] == 1
    # Later polls see the extension's session and leave it alone.
    clock.now = T0 + 120
    result = hub.record_poll([running()])
    assert (result.opened, result.merged) == (0, 0)
    assert [s["id"] for s in sessions(db)] == ["ext-1"]
    # Gone from the hub: the extension closes its own sessions, the poll does not.
    assert hub.record_poll([]).closed == 0
    assert sessions(db)[0]["ended"] is None


def test_a_poll_racing_an_extension_report_heals_at_the_next_poll(
    db: UsageDB, hub: HubSessions, clock: Clock
) -> None:
    db.upsert_session("eve", extension_report(), ["biology"], clock.now)
    # The poll stored its copy after the report looked for it.
    hub._store(
        "eve", "hub-late", "", T0, ended=None, last_seen=T0, groups=(), profile=None, meta={}
    )
    assert len(sessions(db)) == 2
    assert hub.record_poll([running()]).merged == 1
    assert [s["id"] for s in sessions(db)] == ["ext-1"]


def test_a_quick_restart_of_the_same_server_is_a_second_session(
    db: UsageDB, hub: HubSessions, clock: Clock
) -> None:
    hub.record_poll([running()])
    clock.now = T0 + 60
    hub.record_poll([running()])
    clock.now = T0 + 90
    hub.record_poll([])  # stopped at about T0 + 60
    clock.now = T0 + 120
    assert hub.record_poll([running(started=T0 + 100)]).opened == 1
    assert len(sessions(db)) == 2


def test_named_servers_and_users_are_kept_apart(db: UsageDB, hub: HubSessions) -> None:
    result = hub.record_poll([running(), running(server_name="gpu"), running(user="ada")])
    assert result.opened == 3
    assert len(sessions(db)) == 2
    assert len(sessions(db, "ada")) == 1


def test_the_extension_cannot_claim_to_be_the_hub(db: UsageDB, hub: HubSessions) -> None:
    report = extension_report(meta={"source": "hub"})
    assert "source" not in report.meta
    db.upsert_session("eve", report, [], T0)
    assert hub.record_poll([]).closed == 0


def test_imported_events_merge_with_what_is_known_and_twice_changes_nothing(
    db: UsageDB, hub: HubSessions
) -> None:
    db.upsert_session("eve", extension_report(), ["biology"], T0)
    inferred = [
        InferredSession("eve", "", T0 + 5, T0 + 3600),  # the extension's session
        InferredSession("eve", "", T0 + 7200, T0 + 9000),  # before the install, say
        InferredSession("ada", "", T0, T0 + 60, ("no-stop",)),
    ]
    first = hub.import_sessions(inferred)
    assert (first.created, first.merged) == (2, 1)
    assert first.flagged == ["ada/: no-stop"]
    again = hub.import_sessions(inferred)
    assert (again.created, again.unchanged, again.merged) == (0, 2, 1)
    eve = sorted(sessions(db), key=lambda s: s["started"])
    assert eve[0]["id"] == "ext-1"
    assert eve[1]["duration_seconds"] == 1800
    assert eve[1]["meta"]["source"] == "hub"
    assert sessions(db, "ada")[0]["meta"]["flags"] == ["no-stop"]


def test_coverage_counts_sessions_by_source_in_the_database(
    db: UsageDB, hub: HubSessions, clock: Clock
) -> None:
    weird = 'a"b%_!\\c'
    db.upsert_session("ada", extension_report(started=T0), ["physics", weird], T0)
    hub.record_poll([running()])  # eve, known from the hub, group biology
    cover = coverage(db, T0 - 10, T0 + 3600)
    assert (cover["sessions"], cover["sessions_with_figures"], cover["sessions_from_hub_only"]) == (
        2,
        1,
        1,
    )
    assert cover["figures_share"] == 0.5
    assert coverage(db, T0 - 10, T0 + 3600, group="biology")["sessions_from_hub_only"] == 1
    assert coverage(db, T0 - 10, T0 + 3600, group=weird)["sessions"] == 1
    assert coverage(db, T0 - 10, T0 + 3600, group="a")["sessions"] == 0
    assert coverage(db, T0 - 10, T0 + 3600, group="phys%")["sessions"] == 0
    assert coverage(db, T0 - 9000, T0 - 7200)["figures_share"] is None


def test_running_servers_with_their_last_report(
    db: UsageDB, hub: HubSessions, clock: Clock
) -> None:
    db.upsert_session("ada", extension_report(started=T0), ["physics"], T0 + 60)
    clock.now = T0 + 100
    hub.record_poll([running()])
    now = running_servers(db, T0 + 500)
    by_user = {s["user"]: s for s in now["servers"]}
    assert by_user["ada"]["source"] == "extension"
    assert by_user["ada"]["last_report"] == T0 + 60
    assert by_user["eve"]["source"] == "hub"
    assert by_user["eve"]["last_report"] == T0 + 100
    assert not by_user["ada"]["stale"]
    assert running_servers(db, T0 + 3600)["servers"][0]["stale"]
    assert [s["user"] for s in running_servers(db, T0, group="biology")["servers"]] == ["eve"]
