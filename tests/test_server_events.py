"""Sessions inferred from JupyterHub's server-action events, as its EventLogger writes them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import jupyterhub
import pytest
from jupyter_events import EventLogger

from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.intake.server_events import (
    SCHEMA,
    ServerAction,
    infer_sessions,
    read_events,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def event(action: str, user: str, at: float, server: str = "", **extra: Any) -> str:
    from datetime import datetime, timezone

    stamp = datetime.fromtimestamp(at, timezone.utc).isoformat() + "Z"
    body = {"__timestamp__": stamp, "__schema__": SCHEMA, "__schema_version__": "1"}
    return json.dumps({**body, "action": action, "username": user, "servername": server, **extra})


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_the_hubs_own_event_logger_output_is_read(tmp_path: Path) -> None:
    schema = Path(jupyterhub.__file__).parent / "event-schemas" / "server-actions" / "v1.yaml"
    logger = EventLogger()
    logger.register_event_schema(schema)
    handler = logging.FileHandler(tmp_path / "events.jsonl")
    logger.register_handler(handler)
    try:
        for action in ("start", "stop"):
            logger.emit(
                schema_id=SCHEMA, data={"action": action, "username": "ada", "servername": "gpu"}
            )
    finally:
        logger.remove_handler(handler)
        handler.close()

    read = read_events([tmp_path / "events.jsonl"])
    assert read.problems == []
    assert [(a.action, a.user, a.server_name) for a in read.actions] == [
        ("start", "ada", "gpu"),
        ("stop", "ada", "gpu"),
    ]
    [session] = infer_sessions(read.actions).sessions
    assert 0 <= session.ended - session.started < 5  # type: ignore[operator]
    assert session.flags == ()


def test_starts_pair_with_the_next_stop_of_the_same_server(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.jsonl",
        event("start", "ada", T0),
        event("start", "ada", T0 + 10, server="big"),
        event("start", "bob", T0 + 20),
        event("stop", "ada", T0 + 3600),
        event("stop", "bob", T0 + 7200),
        event("stop", "ada", T0 + 60, server="big"),
    )
    sessions = infer_sessions(read_events([path]).actions).sessions
    found = {(s.user, s.server_name): (s.ended - s.started, s.flags) for s in sessions}  # type: ignore[operator]
    assert found == {
        ("ada", ""): (3600, ()),
        ("ada", "big"): (50, ()),
        ("bob", ""): (7180, ()),
    }


def test_a_lost_stop_is_closed_at_the_next_start_and_flagged(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.jsonl",
        event("start", "ada", T0),
        event("start", "ada", T0 + 600),  # the hub restarted; the first stop never came
        event("stop", "ada", T0 + 900),
        event("start", "ada", T0 + 1000),  # still running at the end of the log
    )
    sessions = infer_sessions(read_events([path]).actions).sessions
    assert [(s.started - T0, s.ended and s.ended - T0, s.flags) for s in sessions] == [
        (0, 600, ("no-stop",)),
        (600, 900, ()),
        (1000, None, ("running",)),
    ]


def test_a_stop_without_a_start_is_reported_not_invented(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", event("stop", "ada", T0), event("start", "ada", T0 + 5))
    inferred = infer_sessions(read_events([path]).actions)
    assert [(a.user, a.line) for a in inferred.unmatched_stops] == [("ada", 1)]
    assert len(inferred.sessions) == 1


def test_events_spread_over_files_and_out_of_order_are_paired_by_time(tmp_path: Path) -> None:
    rotated = write(tmp_path / "events.jsonl.1", event("start", "ada", T0))
    current = write(tmp_path / "events.jsonl", event("stop", "ada", T0 + 120))
    [session] = infer_sessions(read_events([current, rotated]).actions).sessions
    assert (session.started, session.ended) == (T0, T0 + 120)


def test_other_schemas_are_counted_and_bad_lines_reported_with_file_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                event("start", "ada", T0).encode(),
                json.dumps({"__schema__": "https://example.org/other", "x": 1}).encode(),
                b"{not json",
                b"\xff\xfe",
                b"[1, 2]",
                event("reboot", "ada", T0 + 1).encode(),
                event("stop", "", T0 + 2).encode(),
                json.dumps(
                    {
                        "__schema__": SCHEMA,
                        "action": "stop",
                        "username": "ada",
                        "servername": "",
                        "__timestamp__": "yesterday",
                    }
                ).encode(),
                b"",
                event("stop", "ada", T0 + 60).encode(),
            ]
        )
    )
    read = read_events([path, tmp_path / "missing.jsonl"])
    assert read.other_schemas == 1
    assert [(p.line, p.reason.split(" ")[0]) for p in read.problems] == [
        (3, "not"),
        (4, "not"),
        (5, "not"),
        (6, "action"),
        (7, "username"),
        (8, "__timestamp__"),
        (0, "cannot"),
    ]
    assert str(read.problems[0]).startswith(f"{path}:3: not JSON")
    [session] = infer_sessions(read.actions).sessions  # the good lines all count
    assert session.ended == T0 + 60


def test_session_ids_are_stable_so_a_second_import_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", event("start", "ada", T0), event("stop", "ada", T0 + 9))
    first = infer_sessions(read_events([path]).actions).sessions
    again = infer_sessions(read_events([path]).actions).sessions
    assert [s.session_id for s in first] == [s.session_id for s in again]
    other = infer_sessions([ServerAction(T0 + 1, "start", "ada", "", "f", 1)]).sessions
    assert other[0].session_id != first[0].session_id


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-01-01T00:00:00+00:00Z",
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00",
        "2026-01-01T01:00:00+01:00",
    ],
)
def test_timestamps_in_each_form_hubs_have_written(tmp_path: Path, stamp: str) -> None:
    line = json.dumps(
        {
            "__timestamp__": stamp,
            "__schema__": SCHEMA,
            "action": "start",
            "username": "ada",
            "servername": "",
        }
    )
    [action] = read_events([write(tmp_path / "a.jsonl", line)]).actions
    assert action.time == T0


def test_the_import_command_reports_and_stores_and_a_second_run_changes_nothing(
    tmp_path: Path,
) -> None:
    events = write(
        tmp_path / "events.jsonl",
        event("stop", "bob", T0 - 5),
        event("start", "ada", T0),
        "{broken",
        json.dumps({"__schema__": "https://example.org/other"}),
        event("stop", "ada", T0 + 3600),
        event("start", "ada", T0 + 7200),
    )
    db_url = f"sqlite:///{tmp_path / 'usage.sqlite'}"
    command = [sys.executable, "-m", "jupyter_usage.hub", "import-events", "--db-url", db_url]
    first = subprocess.run([*command, str(events)], capture_output=True, text=True, check=True)
    assert "4 server events read; skipped: 1 lines of other events, 1 bad lines" in first.stderr
    assert f"skipped {events}:3: not JSON" in first.stderr
    assert f"{events}:1: a stop of bob/ without a start" in first.stderr
    assert "2 sessions inferred: 2 new" in first.stderr
    assert "flagged: 0 without a stop (closed at the server's next start), 1 still" in first.stderr
    again = subprocess.run([*command, str(events)], capture_output=True, text=True, check=True)
    assert "2 sessions inferred: 0 new, 0 updated, 2 already there" in again.stderr

    db = UsageDB(db_url)
    try:
        stored = sorted(db.list_sessions(user="ada"), key=lambda s: s["started"])
    finally:
        db.close()
    assert [(s["duration_seconds"], s["ended_by"]) for s in stored] == [
        (3600, "hub-stop"),
        (0, None),
    ]
    assert all(s["meta"]["source"] == "hub" for s in stored)


def test_the_import_command_needs_files(tmp_path: Path) -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "jupyter_usage.hub", "import-events"], capture_output=True, text=True
    )
    assert answer.returncode == 2
    assert "FILE" in answer.stderr
