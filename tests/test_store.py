"""The session store against real SQLite files, real crashes and real failures."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from jupyter_usage import store as store_module
from jupyter_usage.store import MIGRATIONS, SessionStore

TOTALS = {"duration_seconds": 60.0, "cpu_core_seconds": 12.5, "samples": 60}
COST = {"currency": "USD", "total": 0.25, "basis": "used", "breakdown": {"cpu": 0.25}}


def open_store(path: Path, **kwargs: Any) -> SessionStore:
    store = SessionStore(path, **kwargs)
    store.open()
    return store


def start(store: SessionStore, session_id: str, started: float, **kwargs: Any) -> None:
    store.start_session(
        session_id,
        user=kwargs.pop("user", "alice"),
        server_name=kwargs.pop("server_name", ""),
        started=started,
        meta=kwargs.pop("meta", {"limits": {"cpu_limit_cores": 2.0}}),
    )


def test_round_trip_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "store.sqlite"
    store = open_store(path)
    assert store.persistent
    assert store.status == f"persistent: {path}"
    start(store, "s1", 1000.0)
    store.checkpoint("s1", time=1060.0, totals=TOTALS, cost=COST)

    running = store.get("s1")
    assert running == {
        "id": "s1",
        "user": "alice",
        "server_name": "",
        "started": 1000.0,
        "ended": None,
        "ended_by": None,
        "last_checkpoint": 1060.0,
        "duration_seconds": 60.0,
        "totals": TOTALS,
        "cost": COST,
        "summary": None,
        "meta": {"limits": {"cpu_limit_cores": 2.0}},
    }
    store.end_session(
        "s1", ended=1090.0, ended_by="stop", totals=TOTALS, cost=COST, summary={"advice": []}
    )
    store.close()
    assert store.status == "closed"

    reopened = open_store(path)
    ended = reopened.get("s1")
    assert ended is not None
    assert (ended["ended"], ended["ended_by"], ended["duration_seconds"]) == (1090.0, "stop", 90.0)
    assert ended["summary"] == {"advice": []}
    assert reopened.get("missing") is None
    reopened.close()


def test_wal_mode_is_really_on(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = open_store(path)
    start(store, "s1", 1.0)
    other = sqlite3.connect(path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        other.close()
    assert Path(f"{path}-wal").exists()
    store.close()


def test_methods_need_open(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "store.sqlite")
    with pytest.raises(RuntimeError, match="open"):
        store.get("s1")
    with pytest.raises(ValueError, match="retention_seconds"):
        SessionStore(tmp_path / "store.sqlite", retention_seconds=0)


def test_second_instance_recovers_a_session_left_open(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    crashed = open_store(path)
    start(crashed, "old", 1000.0)
    crashed.checkpoint("old", time=1030.0, totals=TOTALS, cost=COST)
    start(crashed, "other-server", 1000.0, server_name="gpu")
    start(crashed, "never-checkpointed", 900.0)
    # The first instance is never closed: as after a crash, its rows stay open.

    restarted = open_store(path)
    start(restarted, "new", 2000.0)
    seen: list[dict[str, Any]] = []

    def summarize(record: dict[str, Any]) -> dict[str, Any]:
        seen.append(record)
        return {"duration_seconds": record["duration_seconds"]}

    recovered = restarted.recover_open_sessions("new", summarize)

    assert sorted(record["id"] for record in recovered) == ["never-checkpointed", "old"]
    old = restarted.get("old")
    assert old is not None
    assert (old["ended"], old["ended_by"]) == (1030.0, "recovered")
    assert (old["totals"], old["cost"]) == (TOTALS, COST)
    assert old["summary"] == {"duration_seconds": 30.0}
    assert {record["id"]: record["ended"] for record in seen} == {
        "old": 1030.0,
        "never-checkpointed": 900.0,
    }
    # Another named server of the same user may still be running: left alone.
    other = restarted.get("other-server")
    assert other is not None
    assert other["ended"] is None
    current = restarted.get("new")
    assert current is not None
    assert current["ended"] is None
    assert restarted.recover_open_sessions("new") == []
    restarted.close()
    crashed.close()


def test_summary_callback_failure_still_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path / "store.sqlite")
    start(store, "old", 1000.0)

    def broken(record: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("totals")

    with caplog.at_level(logging.ERROR):
        recovered = store.recover_open_sessions("new", broken)
    assert [record["id"] for record in recovered] == ["old"]
    old = store.get("old")
    assert old is not None
    assert (old["ended_by"], old["summary"]) == ("recovered", None)
    assert "Could not build the summary of session old" in caplog.text
    store.close()


CRASHING_SERVER = """
import os, signal, sys
from jupyter_usage.store import SessionStore
store = SessionStore(sys.argv[1])
store.open()
store.start_session("crashed", user="alice", server_name="", started=1000.0, meta={})
store.checkpoint("crashed", time=1010.0, totals={"cpu_core_seconds": 5.0}, cost={"total": 0.1})
store.checkpoint("crashed", time=1020.0, totals={"cpu_core_seconds": 7.5}, cost={"total": 0.2})
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_process_is_recovered_at_its_last_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    package_root = str(Path(store_module.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package_root}
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_SERVER, str(path)],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()

    store = open_store(path)
    start(store, "next", 2000.0)
    recovered = store.recover_open_sessions("next", lambda record: {"id": record["id"]})
    assert len(recovered) == 1
    record = recovered[0]
    assert record["id"] == "crashed"
    assert (record["ended"], record["ended_by"], record["duration_seconds"]) == (
        1020.0,
        "recovered",
        20.0,
    )
    assert record["totals"] == {"cpu_core_seconds": 7.5}
    assert record["cost"] == {"total": 0.2}
    assert store.get("crashed") == record
    store.close()


def test_a_file_that_is_not_a_database_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.sqlite"
    garbage = b"this is not sqlite\n" * 500
    path.write_bytes(garbage)

    with caplog.at_level(logging.ERROR):
        store = open_store(path)

    assert store.persistent
    assert "corrupt store was moved to store.sqlite.corrupt-" in store.status
    moved = sorted(tmp_path.glob("store.sqlite.corrupt-*"))
    assert [item.name.split("-", 1)[1].isdigit() for item in moved] == [True]
    assert [item.read_bytes() for item in moved] == [garbage]
    assert "is corrupt (file is not a database)" in caplog.text
    start(store, "fresh", 1.0)
    assert [record["id"] for record in store.list()] == ["fresh"]
    store.close()


def test_damaged_pages_fail_the_check_and_are_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = open_store(path)
    for number in range(200):
        start(store, f"s{number}", float(number), meta={"padding": "x" * 300})
    store.close()
    with path.open("r+b") as file:
        file.seek(2 * 4096)
        file.write(b"\xa5" * (3 * 4096))

    store = open_store(path)
    assert store.persistent
    assert "corrupt store was moved" in store.status
    assert store.list() == []
    assert len(list(tmp_path.glob("store.sqlite.corrupt-*"))) == 1
    store.close()


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("under-a-file", id="parent-is-a-file"),
        pytest.param("is-a-directory", id="path-is-a-directory"),
        pytest.param("proc", id="proc"),
    ],
)
def test_unwritable_location_falls_back_to_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    if where == "under-a-file":
        (tmp_path / "afile").write_text("x")
        path = tmp_path / "afile" / "store.sqlite"
    elif where == "is-a-directory":
        path = tmp_path / "store.sqlite"
        path.mkdir()
    else:
        path = Path("/proc/jupyter-usage-test/store.sqlite")

    with caplog.at_level(logging.ERROR):
        store = open_store(path)

    assert not store.persistent
    assert store.status.startswith(f"in memory: cannot use {path}")
    assert "kept in memory until the server stops" in caplog.text
    start(store, "s1", 5.0)
    store.checkpoint("s1", time=65.0, totals=TOTALS, cost=COST)
    assert [record["duration_seconds"] for record in store.list()] == [60.0]
    store.close()


def test_a_read_only_file_falls_back_to_memory(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with open_store(path) as store:
        start(store, "s1", 1.0)
    # Root ignores file modes, but not the immutable attribute: SQLite opens it read-only.
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode:
        pytest.skip("chattr +i is not supported here")
    try:
        store = open_store(path)
        assert not store.persistent
        assert "attempt to write a readonly database" in store.status
        start(store, "s2", 2.0)
        assert [record["id"] for record in store.list()] == ["s2"]
        store.close()
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_list_is_newest_first_with_limit_and_before(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.sqlite")
    for started in (300.0, 100.0, 500.0, 200.0, 400.0):
        start(store, f"s{int(started)}", started)

    assert [record["id"] for record in store.list()] == ["s500", "s400", "s300", "s200", "s100"]
    assert [record["id"] for record in store.list(limit=2)] == ["s500", "s400"]
    assert [record["id"] for record in store.list(limit=2, before=400.0)] == ["s300", "s200"]
    assert [record["id"] for record in store.list(before=100.0)] == []
    assert store.list(limit=0) == []
    store.close()


def test_prune_deletes_only_old_ended_sessions(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.sqlite", retention_seconds=1000.0)
    for session_id, started in (("old", 0.0), ("recent", 9500.0), ("open-old", 0.0)):
        start(store, session_id, started)
    store.end_session("old", ended=100.0, ended_by="stop", totals={}, cost={}, summary=None)
    store.end_session("recent", ended=9600.0, ended_by="stop", totals={}, cost={}, summary=None)

    assert store.prune(now=10_000.0) == 1
    assert sorted(record["id"] for record in store.list()) == ["open-old", "recent"]
    assert store.prune(now=10_000.0) == 0
    store.close()


def test_delivery_bookkeeping(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.sqlite")
    for number in range(3):
        start(store, f"s{number}", float(number))
        store.end_session(
            f"s{number}", ended=number + 10.0, ended_by="stop", totals={}, cost={}, summary=None
        )
    start(store, "open", 50.0)

    assert [record["id"] for record in store.undelivered(limit=10)] == ["s0", "s1", "s2"]
    store.mark_delivered(["s0", "s2", "unknown"])
    assert [record["id"] for record in store.undelivered(limit=10)] == ["s1"]
    assert store.get("unknown") is None
    store.close()


def _add_notes_column(connection: sqlite3.Connection) -> None:
    connection.execute("ALTER TABLE sessions ADD COLUMN notes TEXT DEFAULT 'none'")


def test_a_v1_file_is_migrated_to_v2(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    old = open_store(path)
    start(old, "kept", 1.0)
    old.close()

    v2 = (*MIGRATIONS, _add_notes_column)
    store = open_store(path, migrations=v2)
    assert store.persistent
    start(store, "after", 2.0)
    store.close()
    # Opening again runs nothing twice (ALTER TABLE would fail on a duplicate column).
    store = open_store(path, migrations=v2)
    assert store.status == f"persistent: {path}"
    assert [record["id"] for record in store.list()] == ["after", "kept"]
    store.close()

    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 2
        assert check.execute("SELECT notes FROM sessions WHERE id = 'kept'").fetchone() == ("none",)
    finally:
        check.close()


def test_a_file_from_a_newer_version_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    newer = open_store(path, migrations=(*MIGRATIONS, _add_notes_column))
    start(newer, "kept", 1.0)
    newer.close()
    before = path.read_bytes()

    store = open_store(path)
    assert not store.persistent
    assert "schema version 2, newer than" in store.status
    start(store, "in-memory", 2.0)
    store.close()
    assert path.read_bytes() == before


def test_disk_full_keeps_writes_in_memory_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.sqlite"
    store = open_store(path)
    start(store, "s1", 1000.0)
    connection = store._connection
    assert connection is not None
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    # SQLite's own page cap makes writes fail exactly as a full disk does (SQLITE_FULL).
    connection.execute(f"PRAGMA max_page_count = {pages}")
    big_totals = {**TOTALS, "padding": "x" * 20_000}

    with caplog.at_level(logging.DEBUG, logger="jupyter_usage.store"):
        store.checkpoint("s1", time=1060.0, totals=big_totals, cost=COST)
        start(store, "s2", 1100.0, meta={"padding": "y" * 20_000})
        store.checkpoint("s2", time=1110.0, totals=TOTALS, cost=COST)

    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "database or disk is full" in errors[0].getMessage()
    assert "writes are failing (database or disk is full): 2 session(s)" in store.status
    # Reads see what is held in memory.
    s1 = store.get("s1")
    assert s1 is not None
    assert s1["totals"] == big_totals
    assert [record["id"] for record in store.list()] == ["s2", "s1"]

    connection.execute("PRAGMA max_page_count = 1073741823")
    store.checkpoint("s2", time=1120.0, totals=TOTALS, cost=COST)
    assert store.status == f"persistent: {path}"
    store.close()

    reopened = open_store(path)
    s1 = reopened.get("s1")
    s2 = reopened.get("s2")
    assert s1 is not None
    assert s2 is not None
    assert (s1["totals"], s1["last_checkpoint"]) == (big_totals, 1060.0)
    assert (s2["meta"], s2["last_checkpoint"]) == ({"padding": "y" * 20_000}, 1120.0)
    reopened.close()


def test_a_lock_held_elsewhere_delays_writes_without_losing_them(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = open_store(path, busy_timeout_seconds=0.05)
    start(store, "s1", 1000.0)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        store.checkpoint("s1", time=1060.0, totals=TOTALS, cost=COST)
        assert "database is locked" in store.status
        s1 = store.get("s1")
        assert s1 is not None
        assert s1["last_checkpoint"] == 1060.0
        other.execute("ROLLBACK")
    finally:
        other.close()
    store.end_session("s1", ended=1070.0, ended_by="stop", totals=TOTALS, cost=COST, summary={})
    store.close()

    reopened = open_store(path)
    s1 = reopened.get("s1")
    assert s1 is not None
    assert (s1["ended"], s1["totals"]) == (1070.0, TOTALS)
    reopened.close()


def test_threads_share_the_one_connection(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.sqlite")
    failures: list[BaseException] = []

    def work(number: int) -> None:
        try:
            start(store, f"t{number}", float(number))
            for tick in range(50):
                store.checkpoint(f"t{number}", time=number + tick, totals=TOTALS, cost=COST)
                store.list(limit=5)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert [record["last_checkpoint"] for record in store.list()] == [52.0, 51.0, 50.0, 49.0]
    store.close()
