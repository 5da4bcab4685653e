"""Faults in the session store of a running server: its disk full (a small tmpfs), its
files read-only (`chattr +i`) mid-run or from the start, garbage in its file. The tmpfs
and `chattr` ones need root and are skipped without it. See support/fault_injection.py
and conftest.py for what they share."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fault_injection import (
    CHECKPOINT_SECONDS,
    Api,
    CostWatch,
    as_awaitable,
    check_kept,
    data_dir,
    session_costing,
    started,
    stored_rows,
    subprocess_server,
    until,
    wait_for,
)
from support.reliability_log import record

from jupyter_usage.store import SessionStore

# -- the store's disk full or read-only -------------------------------------------------


def needs_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root on this machine")


@pytest.fixture
def tmpfs_data_dir(tmp_path: Path) -> Iterator[Path]:
    """The server's data directory on a 4 MiB tmpfs of its own, to fill up."""
    needs_root("mounting a small tmpfs")
    path = data_dir(tmp_path)
    path.mkdir(parents=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem has no byte left."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as file:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            chunk = b"\0" * size
            while True:
                try:
                    file.write(chunk)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
    return filler


async def test_store_disk_full_then_freed(tmpfs_data_dir: Path, usage_app: Any, api: Api) -> None:
    costs = CostWatch(api)
    await started(api)
    store_file = tmpfs_data_dir / "sessions.sqlite"
    session_id = usage_app.recorder.id
    await until(
        lambda: as_awaitable(stored_rows(store_file)[session_id]["totals"] is not None),
        "a checkpoint on disk",
    )

    filler = fill(tmpfs_data_dir)
    record("faults_injected", detail="store disk full (tmpfs filled)")

    async def store_status(contains: str, present: bool) -> str | None:
        status: str = (await api.get("config"))["store"]["status"]
        return status if (contains in status) == present else None

    status = await until(lambda: store_status("writes are failing", True), "failing writes")
    assert "database or disk is full" in status
    await api.alive()
    await costs.read()
    await asyncio.sleep(CHECKPOINT_SECONDS * 2)
    held = usage_app.store.get(session_id)  # in memory, not on disk
    on_disk = stored_rows(store_file)[session_id]
    assert held["last_checkpoint"] > on_disk["last_checkpoint"]
    listed = await api.get("sessions")
    assert session_id in {s["id"] for s in listed["sessions"]}

    filler.unlink()
    await until(lambda: store_status("writes are failing", False), "writes to succeed again")
    rows = check_kept(store_file, {session_id})
    assert rows[session_id]["last_checkpoint"] >= held["last_checkpoint"]
    await api.alive()
    await costs.read()


def chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


def immutable_supported(tmp_path: Path) -> None:
    needs_root("making files read-only for root (chattr +i)")
    probe = tmp_path / "chattr-probe"
    probe.write_text("x")
    result = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False)
    if result.returncode:
        pytest.skip("chattr +i is not supported on this filesystem")
    chattr("-i", probe)


def test_store_read_only_mid_run_then_writable(tmp_path: Path) -> None:
    # A subprocess: should SQLite meet the read-only files in a mapped page, only the
    # server under test goes down, not the test.
    immutable_supported(tmp_path)
    server = subprocess_server(tmp_path)
    usage_dir = tmp_path / "usage"
    store_file = usage_dir / "sessions.sqlite"
    with server:
        session = session_costing(server, 2.0)
        wait_for(lambda: stored_rows(store_file)[session["id"]]["totals"], "a checkpoint")
        # The database, its write-ahead log and the directory become immutable: every
        # write fails as on a filesystem remounted read-only (root ignores file modes).
        protected = [usage_dir, store_file, Path(f"{store_file}-wal")]
        chattr("+i", *protected)
        record("faults_injected", detail="store files read-only (chattr +i)")
        try:

            def failing() -> str | None:
                record("requests")
                status: str = server.get("api/usage/v1/config")["store"]["status"]
                return status if "writes are failing" in status else None

            status = wait_for(failing, "failing writes")
            during = session_costing(server, session["cost"]["total"] + 2)
            record("requests")
            assert server.get("api/usage/v1/snapshot")["memory"]["used_bytes"] > 0
        finally:
            chattr("-i", *protected)

        def writing() -> str | None:
            record("requests")
            status: str = server.get("api/usage/v1/config")["store"]["status"]
            return status if "writes are failing" not in status else None

        wait_for(writing, "writes to succeed again")
        assert server.stop(signal.SIGTERM) == 0
    assert "readonly" in status or "I/O error" in status, status
    rows = check_kept(store_file, {session["id"]})
    assert rows[session["id"]]["ended_by"] == "stop"
    assert rows[session["id"]]["cost"]["total"] >= during["cost"]["total"]


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[bytes]:
    """A store holding one past session, read-only before the server starts."""
    immutable_supported(tmp_path)
    directory = data_dir(tmp_path)
    with SessionStore(directory / "sessions.sqlite") as store:
        store.start_session("past", user=None, server_name=None, started=time.time() - 3600)
        store.end_session(
            "past",
            ended=time.time() - 1800,
            ended_by="stop",
            totals={"duration_seconds": 1800.0},
            cost={"currency": "USD", "total": 1800.0},
            summary=None,
        )
    content = (directory / "sessions.sqlite").read_bytes()
    chattr("+i", directory, directory / "sessions.sqlite")
    try:
        yield content
    finally:
        chattr("-i", directory, directory / "sessions.sqlite")


async def test_store_read_only_at_start(
    read_only_store: bytes, usage_app: Any, api: Api, tmp_path: Path
) -> None:
    record("faults_injected", detail="store read-only at start (chattr +i)")
    costs = CostWatch(api)
    await started(api)
    store = (await api.get("config"))["store"]
    assert store["persistent"] is False
    assert store["status"].startswith("in memory")
    # The session is kept (in memory) and served; the file is left as it was.
    session = await costs.read()
    listed = await api.get("sessions")
    assert session["id"] in {s["id"] for s in listed["sessions"]}
    assert (data_dir(tmp_path) / "sessions.sqlite").read_bytes() == read_only_store
    await api.alive()


# -- a corrupt store file ---------------------------------------------------------------


@pytest.fixture
def corrupt_store(tmp_path: Path) -> bytes:
    garbage = os.urandom(64 * 1024)
    directory = data_dir(tmp_path)
    directory.mkdir(parents=True)
    (directory / "sessions.sqlite").write_bytes(garbage)
    return garbage


async def test_corrupt_store_file_is_moved_aside(
    corrupt_store: bytes, usage_app: Any, api: Api, tmp_path: Path
) -> None:
    record("faults_injected", detail="garbage bytes in the store file")
    costs = CostWatch(api)
    await started(api)
    store = (await api.get("config"))["store"]
    assert store["persistent"] is True
    assert "a corrupt store was moved to sessions.sqlite.corrupt-" in store["status"]
    # The damaged file is kept, byte for byte, for whoever wants to rescue it.
    (moved,) = data_dir(tmp_path).glob("sessions.sqlite.corrupt-*[0-9]")
    assert moved.read_bytes() == corrupt_store
    session = await costs.read()
    await until(
        lambda: as_awaitable(
            (stored_rows(data_dir(tmp_path) / "sessions.sqlite").get(session["id"]) or {}).get(
                "totals"
            )
            is not None
        ),
        "a checkpoint in the fresh store",
    )
    await api.alive()
    check_kept(data_dir(tmp_path) / "sessions.sqlite", {session["id"]})
