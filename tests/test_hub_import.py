"""`python -m jupyter_usage.hub import|export`: JSON lines in and out, bad lines skipped."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from jupyter_usage.hub.db.schema import ROLLUP_TABLES, hour_peaks
from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.intake import jsonl
from jupyter_usage.hub.intake.jsonl import default_workers, export_sessions, import_files
from jupyter_usage.hub.kpis.database import database_kpis

T0 = 1_790_000_000.0


def line(user: str, session_id: str, **changes: Any) -> str:
    body: dict[str, Any] = {
        "id": session_id,
        "user": user,
        "started": T0,
        "ended": T0 + 3600,
        "totals": {"cpu_core_seconds": 10.0},
        "cost": {"currency": "EUR", "total": 1.5},
        "meta": {"groups": ["chem"], "profile": "small"},
    }
    return json.dumps(body | changes) + "\n"


@pytest.fixture(params=[0, 1], ids=["in process", "one worker process"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Lines parsed here, or by a worker a line at a time (order across chunks matters)."""
    if request.param:
        monkeypatch.setattr(jsonl, "CHUNK", 1)
    return int(request.param)


def test_bad_lines_are_named_and_skipped_and_the_rest_imported(
    tmp_path: Path, workers: int
) -> None:
    good = tmp_path / "a.jsonl"
    good.write_text(line("ann", "s1") + "{not json\n" + "\n" + line("bob", "s2"))
    other = tmp_path / "b.jsonl"
    other.write_text(json.dumps({"id": "s3", "started": T0}) + "\n" + line("cy", "s4"))
    db = UsageDB(f"sqlite:///{tmp_path / 'usage.sqlite'}")
    errors = io.StringIO()
    result = import_files(db, [good, other], progress=errors, batch=2, workers=workers)
    assert (result.created, result.bad) == (3, 2)
    assert f"{good}:2: skipped: the body is not valid JSON" in errors.getvalue()
    assert f"{other}:1: skipped: 'user' must be a non-empty string" in errors.getvalue()
    report = database_kpis(db, since=T0 - 86400, until=T0 + 86400)
    assert report["kpis"]["active_users"]["value"] == 3
    assert report["kpis"]["cost"]["value"] == {"EUR": 4.5}
    db.close()


def test_importing_twice_or_an_older_report_changes_nothing(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(line("ann", "s1") + line("ann", "s1", ended=None, last_checkpoint=T0 + 60))
    db = UsageDB(f"sqlite:///{tmp_path / 'usage.sqlite'}")
    first = import_files(db, [path], progress=io.StringIO(), workers=workers)
    again = import_files(db, [path], progress=io.StringIO(), workers=workers)
    assert (first.created, first.unchanged) == (1, 1)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert db.list_sessions(user="ann")[0]["ended"] == T0 + 3600
    db.close()


def test_export_then_import_moves_a_database(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(line("ann", "s1") + line("bob", "s2", meta={"groups": []}))
    source = UsageDB(f"sqlite:///{tmp_path / 'old.sqlite'}")
    import_files(source, [path], progress=io.StringIO())
    out = io.StringIO()
    assert export_sessions(source, out) == 2
    moved = tmp_path / "moved.jsonl"
    moved.write_text(out.getvalue())
    target = UsageDB(f"sqlite:///{tmp_path / 'new.sqlite'}")
    assert import_files(target, [moved], progress=io.StringIO()).created == 2
    window = {"since": T0 - 86400, "until": T0 + 86400}
    assert database_kpis(target, **window) == database_kpis(source, **window)
    for db in (source, target):
        db.close()


def test_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(line("ann", "s1") + "[1]\n")
    url = f"sqlite:///{tmp_path / 'usage.sqlite'}"
    command = [sys.executable, "-m", "jupyter_usage.hub"]
    imported = subprocess.run(
        [*command, "import", "--db-url", url, str(path)], capture_output=True, text=True
    )
    assert imported.returncode == 1
    assert f"{path}:2: skipped: the body must be a JSON object" in imported.stderr
    exported = subprocess.run(
        [*command, "export", "--db-url", url], capture_output=True, text=True, check=True
    )
    assert json.loads(exported.stdout)["user"] == "ann"
    missing = subprocess.run(
        [*command, "import", "--db-url", url, str(tmp_path / "nope.jsonl")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2


def test_only_large_files_are_parsed_by_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(line("ann", "s1"))
    assert default_workers([path]) == 0
    monkeypatch.setattr(jsonl, "PARALLEL_BYTES", 1)
    monkeypatch.setattr(jsonl.os, "cpu_count", lambda: 2)
    assert default_workers([path]) == 1


def test_worker_processes_write_the_same_rollups(tmp_path: Path) -> None:
    # 450 users: three rounds of the rollup refresh, computed while the one before is written.
    path = tmp_path / "a.jsonl"
    path.write_text(
        "".join(
            line(
                f"u{n:03d}",
                f"s{n}",
                started=T0 + n * 7000.0,
                ended=T0 + n * 7000.0 + 3600 * (1 + n % 50),
                meta={"groups": [f"g{n % 3}"] if n % 4 else []},
            )
            for n in range(900)
        )
    )
    tables = {}
    for workers in (0, 1):
        db = UsageDB(f"sqlite:///{tmp_path / f'usage-{workers}.sqlite'}")
        import_files(db, [path], progress=io.StringIO(), workers=workers)
        with db.engine.connect() as connection:
            tables[workers] = {
                table.name: sorted(
                    tuple(row) for row in connection.execute(sqlalchemy.select(table))
                )
                for table in (*ROLLUP_TABLES, hour_peaks)
            }
        db.close()
    assert tables[0]["usage_rollup_days"]
    assert tables[1] == tables[0]
