"""Storage of the hub history service, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, inspect, text
from support.hub_db import kpi_sessions

from jupyter_usage.hub.db.migrations import MIGRATIONS
from jupyter_usage.hub.db.schema import DERIVED_COLUMNS
from jupyter_usage.hub.db.storage import (
    JSON_COLUMNS,
    REPORT_COLUMNS,
    NewerSchemaError,
    SessionInput,
    UsageDB,
    report_values,
)
from jupyter_usage.hub.intake.validation import parse_session
from jupyter_usage.hub.kpis.coverage import coverage
from jupyter_usage.hub.kpis.database import database_kpis
from jupyter_usage.hub.kpis.sizing import sizing
from jupyter_usage.hub.periods import month_of, next_month

T0 = 1_790_000_000.0


@pytest.fixture
def db(db_url: str) -> Iterator[UsageDB]:
    database = UsageDB(db_url)
    database.upgrade()
    yield database
    database.close()


def record(session_id: str = "s1", **changes: Any) -> SessionInput:
    body: dict[str, Any] = {
        "id": session_id,
        "user": "alice",
        "server_name": "",
        "started": T0,
        "ended": T0 + 3600,
        "ended_by": "hub",
        "last_checkpoint": T0 + 3600,
        "duration_seconds": 3600,
        "totals": {"duration_seconds": 3600, "cpu_core_seconds": 1800.5, "gpu_seconds": 0},
        "cost": {"currency": "EUR", "total": 0.42, "basis": "max", "breakdown": {"cpu": 0.42}},
        "summary": {"advice": ["Ünïcode ✓"]},
        "meta": {"groups": ["physics"], "profile": "gpu-small"},
    }
    body.update(changes)
    return parse_session(body)


def test_upgrade_creates_a_versioned_schema_once(db_url: str) -> None:
    database = UsageDB(db_url)
    try:
        assert database.schema_version() == 0
        assert database.upgrade() == len(MIGRATIONS) == 11
        assert database.upgrade() == 11  # again: nothing to do
        assert database.schema_version() == 11
    finally:
        database.close()


def test_a_newer_schema_is_left_alone(db: UsageDB) -> None:
    newer = len(MIGRATIONS) + 1
    with db.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO usage_schema_version (version) VALUES (:v)"), {"v": newer}
        )
    with pytest.raises(NewerSchemaError, match=f"schema version {newer}"):
        db.upgrade()
    assert db.schema_version() == newer


def test_a_session_round_trips(db: UsageDB) -> None:
    assert db.upsert_session("alice", record(), ["physics"], now=T0 + 4000) == "created"
    [stored] = db.list_sessions(user="alice")
    assert stored["id"] == "s1"
    assert stored["user"] == "alice"
    assert stored["started"] == T0
    assert stored["ended"] == T0 + 3600
    assert stored["duration_seconds"] == 3600
    assert stored["totals"]["cpu_core_seconds"] == 1800.5
    assert stored["cost"]["total"] == 0.42
    assert stored["summary"] == {"advice": ["Ünïcode ✓"]}
    assert stored["meta"]["groups"] == ["physics"]
    assert stored["meta"]["profile"] == "gpu-small"
    assert stored["received_at"] == T0 + 4000
    # The record has the keys of the single-user store's records, so the History tab
    # can show either.
    assert set(stored) >= {
        "id",
        "user",
        "server_name",
        "started",
        "ended",
        "ended_by",
        "last_checkpoint",
        "duration_seconds",
        "totals",
        "cost",
        "summary",
        "meta",
    }


def test_reposting_is_idempotent(db: UsageDB) -> None:
    assert db.upsert_session("alice", record(), ["physics"], now=T0) == "created"
    assert db.upsert_session("alice", record(), ["physics"], now=T0 + 1) == "unchanged"
    assert len(db.list_sessions(user=None)) == 1
    assert db.list_sessions(user="alice")[0]["received_at"] == T0


def test_the_digest_is_of_the_whole_report_and_the_json_columns_are_its_parts() -> None:
    # Digests stored by earlier versions must stay equal, or every replay would rewrite rows.
    values = report_values(record(), ["physics"])
    columns = {name: values[name] for name in REPORT_COLUMNS if name not in DERIVED_COLUMNS}
    decoded = {
        name: json.loads(value) if name in JSON_COLUMNS else value
        for name, value in columns.items()
        if name != "report_digest"
    }
    canonical = json.dumps(decoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert values["report_digest"] == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert decoded["summary"] == {"advice": ["Ünïcode ✓"]}
    assert decoded["groups"] == ["physics"]


def test_a_later_report_updates_and_an_older_one_does_not(db: UsageDB) -> None:
    running = record(ended=None, ended_by=None, last_checkpoint=T0 + 600, cost={"total": 0.1})
    assert db.upsert_session("alice", running, [], now=T0 + 600) == "created"
    assert db.upsert_session("alice", record(), [], now=T0 + 3700) == "updated"
    # A checkpoint delivered late, after the end: ignored.
    late = record(ended=None, ended_by=None, last_checkpoint=T0 + 1200)
    assert db.upsert_session("alice", late, [], now=T0 + 3800) == "stale"
    # Even a checkpoint stamped after the end never replaces part of the final report.
    after = record(ended=None, ended_by=None, last_checkpoint=T0 + 9000)
    assert db.upsert_session("alice", after, [], now=T0 + 3900) == "stale"
    [stored] = db.list_sessions(user="alice")
    assert stored["ended"] == T0 + 3600
    assert stored["cost"]["total"] == 0.42


def test_session_ids_are_unique_per_user_only(db: UsageDB) -> None:
    assert db.upsert_session("alice", record("same"), [], now=T0) == "created"
    assert db.upsert_session("bob", record("same"), [], now=T0) == "created"
    assert {s["user"] for s in db.list_sessions(user=None)} == {"alice", "bob"}
    assert len(db.list_sessions(user="bob")) == 1


@contextlib.contextmanager
def schema_of_version(db_url: str, version: int) -> Iterator[Connection]:
    """A transaction on a database of the schema `version`, to make it what that version
    had: the migrations up to it create what the current schema has (version 7's indexes
    among them, dropped here from older ones)."""
    old = UsageDB(db_url)
    old.upgrade(MIGRATIONS[:version])
    try:
        with old.engine.begin() as connection:
            if version < 7:
                connection.execute(text("DROP INDEX usage_sessions_window_figures"))
                connection.execute(text("DROP INDEX usage_sessions_profile_ratios"))
            yield connection
    finally:
        old.close()


def test_a_version_1_database_is_migrated_and_keeps_its_sessions(db_url: str) -> None:
    with schema_of_version(db_url, 1) as connection:
        connection.execute(text("ALTER TABLE usage_sessions DROP COLUMN report_digest"))
        connection.execute(
            text(
                "INSERT INTO usage_sessions (user_name, session_id, server_name, started, "
                "last_seen, duration_seconds, groups, totals, meta, received_at, updated_at) "
                "VALUES ('alice', 'old', '', :t, :t, 0, '[]', '{}', '{}', :t, :t)"
            ),
            {"t": T0},
        )
    database = UsageDB(db_url)
    try:
        assert database.upgrade() == len(MIGRATIONS)
        assert database.upsert_session("alice", record("old"), [], now=T0 + 1) == "updated"
        assert database.upsert_session("alice", record("old"), [], now=T0 + 2) == "unchanged"
    finally:
        database.close()


def test_a_version_6_database_gets_the_covering_indexes_of_sizing(db_url: str) -> None:
    with schema_of_version(db_url, 6) as connection:
        # What version 6 had: narrower indexes under other names.
        connection.execute(
            text("CREATE INDEX usage_sessions_spans ON usage_sessions (last_seen, started)")
        )
        connection.execute(
            text(
                "CREATE INDEX usage_sessions_peak_ratios ON usage_sessions "
                "(memory_peak_ratio, profile)"
            )
        )
    database = UsageDB(db_url)
    try:
        assert database.upgrade() == len(MIGRATIONS)
        with database.engine.connect() as connection:
            found = {
                index["name"]: index["column_names"]
                for index in inspect(connection).get_indexes("usage_sessions")
            }
        assert "usage_sessions_spans" not in found
        assert "usage_sessions_peak_ratios" not in found
        assert found["usage_sessions_window_figures"][-2:] == [
            "oom_kills",
            "memory_near_limit_seconds",
        ]
        assert found["usage_sessions_profile_ratios"][:2] == ["profile", "memory_peak_ratio"]
    finally:
        database.close()


TOTALS = '{"oom_kills": 1, "peak_memory_bytes": 3, "cpu_throttled_seconds": 60}'


def test_a_version_4_database_gets_its_sources_and_monthly_rollups(db_url: str) -> None:
    with schema_of_version(db_url, 4) as connection:
        # What version 4 had: no source column, no monthly rollups.
        for column in DERIVED_COLUMNS:
            connection.execute(text(f"ALTER TABLE usage_sessions DROP COLUMN {column}"))
        for column in ("figure_seconds", "throttled_seconds"):
            connection.execute(text(f"ALTER TABLE usage_concurrency_hours DROP COLUMN {column}"))
        connection.execute(text("DROP TABLE usage_rollup_months"))
        connection.execute(text("DROP TABLE usage_rollup_month_costs"))
        for number, meta in enumerate(
            ('{"source": "hub"}', '{"limits": {"memory_limit_bytes": 4}}')
        ):
            connection.execute(
                text(
                    "INSERT INTO usage_sessions (user_name, session_id, server_name, started, "
                    "ended, last_seen, duration_seconds, groups, totals, meta, received_at, "
                    "updated_at) VALUES (:user, :id, '', :t, :end, :end, 3600, '[]', :totals, "
                    ":meta, :t, :t)"
                ),
                {
                    "user": f"u{number}",
                    "id": f"s{number}",
                    "t": T0,
                    "end": T0 + 3600,
                    "meta": meta,
                    "totals": TOTALS if number else "{}",
                },
            )
    database = UsageDB(db_url)
    try:
        assert database.upgrade() == len(MIGRATIONS)
        cover = coverage(database, T0 - 10, T0 + 7200)
        assert (cover["sessions"], cover["sessions_from_hub_only"]) == (2, 1)
        sized = sizing(database, T0 - 10, T0 + 7200)
        assert sized["sessions_with_oom_kills"] == 1
        assert sized["peak_memory_to_limit_by_profile"][0]["p50"] == 0.75
        assert sum(h["server_seconds"] for h in sized["throttled_share_by_hour_of_week"]) == 3600
        month = month_of(T0)
        report = database_kpis(database, since=month, until=next_month(month))
        assert report["kpis"]["monthly_active_users"]["value"][0]["users"] == 2
        with database.engine.connect() as connection:
            rows = connection.execute(text("SELECT COUNT(*) FROM usage_rollup_months")).scalar()
        assert rows
    finally:
        database.close()


def test_racing_reports_of_a_new_session_store_it_once(db: UsageDB) -> None:
    outcomes: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def post() -> None:
        try:
            start.wait()
            outcomes.append(db.upsert_session("alice", record("race"), [], now=T0))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sorted(outcomes) == ["created"] + ["unchanged"] * 5
    assert len(db.list_sessions(user="alice")) == 1


def test_list_filters_and_orders_newest_first(db: UsageDB) -> None:
    for index, user in enumerate(["alice", "bob", "alice", "alice"]):
        body = record(f"s{index}", started=T0 + index * 7200, ended=T0 + index * 7200 + 3600)
        db.upsert_session(user, body, [], now=T0)
    alice = db.list_sessions(user="alice")
    assert [s["id"] for s in alice] == ["s3", "s2", "s0"]
    assert [s["id"] for s in db.list_sessions(user="alice", limit=2)] == ["s3", "s2"]
    # A session counts from its start to its end: s0 (T0..T0+1h) overlaps since=T0+1800.
    window = db.list_sessions(user=None, since=T0 + 1800, until=T0 + 7200 * 2)
    assert [s["id"] for s in window] == ["s1", "s0"]


def test_kpi_sessions_are_those_overlapping_the_window(db: UsageDB) -> None:
    bodies = {
        "before": record("before", started=T0 - 7200, ended=T0 - 3600),
        "crossing": record("crossing", started=T0 - 1800, ended=T0 + 1800),
        "inside": record("inside", started=T0 + 100, ended=T0 + 200),
        "instant": record("instant", started=T0, ended=T0),
        "after": record("after", started=T0 + 3600, ended=T0 + 7200),
    }
    for body in bodies.values():
        db.upsert_session("alice", body, ["physics"], now=T0)
    sessions = kpi_sessions(db, T0, T0 + 3600)
    assert sorted(s.started for s in sessions) == [T0 - 1800, T0, T0 + 100]
    crossing = next(s for s in sessions if s.started == T0 - 1800)
    assert crossing.groups == ("physics",)
    assert crossing.cost_total == 0.42
    assert crossing.currency == "EUR"
    assert crossing.totals["cpu_core_seconds"] == 1800.5


def test_groups_seen(db: UsageDB) -> None:
    db.upsert_session("alice", record("a"), ["physics", "staff"], now=T0)
    db.upsert_session("bob", record("b"), ["biology"], now=T0)
    db.upsert_session("carol", record("c"), [], now=T0)
    db.upsert_session("dave", record("d", started=T0 - 9000, ended=T0 - 8000), ["old"], now=T0)
    assert db.groups() == ["biology", "old", "physics", "staff"]
    assert db.groups(since=T0) == ["biology", "physics", "staff"]


def test_a_second_process_on_one_sqlite_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'usage.sqlite'}"
    first = UsageDB(url)
    # flock locks belong to an open file, so a second opening here stands for a second
    # process.
    second = UsageDB(url)
    try:
        assert first.process_lock is not None
        assert first.process_lock.held
        assert second.process_lock is not None
        assert not second.process_lock.held
        assert "ANOTHER PROCESS HAS THE USAGE DATABASE" in caplog.text
        assert "use PostgreSQL" in caplog.text
    finally:
        second.close()
        first.close()
    third = UsageDB(url)
    try:
        assert third.process_lock is not None
        assert third.process_lock.held
    finally:
        third.close()
