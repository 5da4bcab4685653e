"""The service's watch on the hub through an outage: nothing closed, one warning, resumed."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.intake.hub_sessions import HubSessions
from jupyter_usage.hub.intake.hub_watch import HubPoller
from jupyter_usage.hubclient import HubClient


class HubApi:
    """A loopback stand-in for `GET /hub/api/users` that can be made to fail on cue."""

    def __init__(self) -> None:
        self.status = 200
        self.users: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(api.users if api.status == 200 else {"message": "down"})
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hub/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def run_server(self, user: str, started: str) -> None:
        self.users = [{"name": user, "groups": [], "servers": {"": {"started": started}}}]


@pytest.fixture
def api() -> Iterator[HubApi]:
    hub = HubApi()
    yield hub
    hub.server.shutdown()
    hub.server.server_close()


@pytest.fixture
def poller(api: HubApi, tmp_path: Path) -> Iterator[HubPoller]:
    db = UsageDB(f"sqlite:///{tmp_path / 'usage.sqlite'}")
    db.upgrade()

    async def run_db(function: Callable[[], Any]) -> Any:
        return function()

    yield HubPoller(HubSessions(db), HubClient(api.url, "t", timeout_seconds=2), 1.0, run_db)
    db.close()


def open_sessions(poller: HubPoller) -> list[dict[str, Any]]:
    return poller.sessions.open_hub_sessions()


def test_an_outage_closes_nothing_warns_once_and_polling_resumes(
    api: HubApi, poller: HubPoller, caplog: pytest.LogCaptureFixture
) -> None:
    api.run_server("eve", "2026-11-30T09:00:00Z")
    assert poller.poll_once() is not None
    assert len(open_sessions(poller)) == 1

    caplog.set_level(logging.INFO, logger="jupyter_usage.hub.intake.hub_watch")
    for status in (500, 503, 502):
        api.status = status
        assert poller.poll_once() is None
    assert len(open_sessions(poller)) == 1  # an error is not an empty hub
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HTTP 500" in warnings[0].getMessage()

    api.status = 200
    assert poller.poll_once() is not None
    assert "Watching the hub's servers again" in caplog.text
    assert len(open_sessions(poller)) == 1
    api.users = []
    assert poller.poll_once().closed == 1  # type: ignore[union-attr]


def test_the_loop_keeps_polling_and_stops_when_cancelled(api: HubApi, poller: HubPoller) -> None:
    poller.interval_seconds = 0.05
    api.run_server("eve", "2026-11-30T09:00:00Z")

    async def run_a_while() -> None:
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_a_while())
    assert poller.last_poll is not None
    assert len(open_sessions(poller)) == 1


def test_the_loop_outlives_a_database_that_is_not_there(api: HubApi, poller: HubPoller) -> None:
    calls = []

    async def unavailable(function: Callable[[], Any]) -> Any:
        calls.append(function)
        raise RuntimeError("the usage database is unavailable")

    poller._run_db = unavailable
    poller.interval_seconds = 0.02

    async def run_a_while() -> None:
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(0.3)
        assert not task.done()
        task.cancel()

    asyncio.run(run_a_while())
    assert len(calls) > 3
