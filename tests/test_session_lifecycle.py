"""Sessions survive stops and kills: real servers in subprocesses, stopped for real."""

from __future__ import annotations

import os
import pty
import signal
import time
from pathlib import Path

import pytest
from support.server_process import ServerProcess


def server(tmp_path: Path) -> ServerProcess:
    return ServerProcess(
        tmp_path,
        f"--UsageApp.data_dir={tmp_path / 'usage'}",
        "--UsageApp.sample_interval=0.2",
        "--UsageApp.checkpoint_interval=1",
        # One currency unit a second of server time: easy to check against durations.
        "--CostModel.server_hour=3600",
    )


def wait_for_cost(process: ServerProcess, at_least: float) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        session = process.get("api/usage/v1/session")
        if session["cost"]["total"] >= at_least:
            return session  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError("the session's cost did not grow")


def test_a_stopped_server_leaves_its_session_closed_with_a_summary(tmp_path: Path) -> None:
    first = server(tmp_path).start()
    session = wait_for_cost(first, 2.0)
    assert first.stop(signal.SIGTERM) == 0
    assert "could not close the session" not in first.log()

    with server(tmp_path) as second:
        sessions = second.get("api/usage/v1/sessions")["sessions"]
        previous = next(s for s in sessions if s["id"] == session["id"])
        assert previous["ended_by"] == "stop"
        assert previous["summary"] is not None
        # Cost is server time at 1/s: at least what we saw, and about the duration.
        total = previous["cost"]["total"]
        assert total >= session["cost"]["total"]
        assert total == pytest.approx(previous["totals"]["duration_seconds"], rel=0.05)
        # It was never shown to the user: the next JupyterLab start offers it.
        unseen = second.get("api/usage/v1/summary?last_unseen=1")
        assert unseen["session_id"] == session["id"]
        second.request("api/usage/v1/summary/seen", "POST", {"session": session["id"]})
        with pytest.raises(Exception, match="404"):
            second.get("api/usage/v1/summary?last_unseen=1")


def test_a_killed_server_is_recovered_at_its_last_checkpoint(tmp_path: Path) -> None:
    first = server(tmp_path).start()
    wait_for_cost(first, 2.5)
    time.sleep(1.2)  # let a checkpoint land after the cost we saw
    seen = first.get("api/usage/v1/session")
    first.stop(signal.SIGKILL)

    with server(tmp_path) as second:
        sessions = second.get("api/usage/v1/sessions")["sessions"]
        previous = next(s for s in sessions if s["id"] == seen["id"])
        assert previous["ended_by"] == "recovered"
        total = previous["cost"]["total"]
        # At most one checkpoint interval (1 s = 1 unit) lost, and nothing invented.
        assert seen["cost"]["total"] - 1.5 <= total <= seen["cost"]["total"] + 1.5
        assert previous["summary"]["cost"]["total"] == pytest.approx(total)
        assert "was not closed" in second.log()


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_every_stop_signal_closes_the_session_without_a_terminal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    # JupyterHub's local spawners send SIGINT, KubeSpawner SIGTERM, a closed ssh session
    # SIGHUP; none of them gives the server a terminal.
    first = server(tmp_path).start()
    session = wait_for_cost(first, 1.0)
    assert first.stop(sig) == 0
    assert "Shutting down" in first.log()
    assert "could not close the session" not in first.log()

    with server(tmp_path) as second:
        sessions = second.get("api/usage/v1/sessions")["sessions"]
        previous = next(s for s in sessions if s["id"] == session["id"])
        assert previous["ended_by"] == "stop"
        assert previous["summary"] is not None
        assert previous["cost"]["total"] >= session["cost"]["total"]
        assert "was not closed" not in second.log()


def test_interrupting_twice_at_a_terminal_closes_the_session(tmp_path: Path) -> None:
    # At a terminal jupyter_server asks "Shutdown this Jupyter server?" on the first ^C and
    # stops on the second; that path is its own and must still close the session.
    controller, terminal = pty.openpty()
    try:
        first = ServerProcess(
            tmp_path,
            f"--UsageApp.data_dir={tmp_path / 'usage'}",
            "--UsageApp.sample_interval=0.2",
            "--UsageApp.checkpoint_interval=1",
            "--CostModel.server_hour=3600",
            stdin=terminal,
        ).start()
        session = wait_for_cost(first, 1.0)
        assert first.process is not None
        first.process.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert first.process.poll() is None  # only asked
        assert first.stop(signal.SIGINT) == 0
    finally:
        os.close(terminal)
        os.close(controller)

    with server(tmp_path) as second:
        sessions = second.get("api/usage/v1/sessions")["sessions"]
        previous = next(s for s in sessions if s["id"] == session["id"])
        assert previous["ended_by"] == "stop"
