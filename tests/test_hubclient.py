"""HubClient and SessionUploader against a small real HTTP server on loopback.

The server answers what each test scripts (200, 403, 500, slow, a redirect); clocks are
injected, so backoff is checked without sleeping.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jupyter_usage.hub.db.availability import UNAVAILABLE
from jupyter_usage.hubclient import (
    Backoff,
    HubClient,
    parse_hub_time,
)
from jupyter_usage.store import SessionStore
from jupyter_usage.uploader import SessionUploader

TOKEN = "secret-token"
STARTED = "2026-11-22T10:00:00.123456Z"
STARTED_UNIX = 1795341600.123456


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    delay_seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeHub:
    """Scripted answers by path (the last one repeats); records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self.release = threading.Event()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                hub.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        dict(self.headers.items()),
                        json.loads(raw) if raw else None,
                    )
                )
                replies = hub.routes.get(self.path.split("?")[0]) or [Reply(404, {"message": "no"})]
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
                if reply.delay_seconds:
                    hub.release.wait(reply.delay_seconds)
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = _answer
            do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def on(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path.split("?")[0] == path]


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    fake = FakeHub()
    fake.thread.start()
    yield fake
    fake.release.set()
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def client_for(hub: FakeHub, clock: Clock, **kwargs: Any) -> HubClient:
    return HubClient(
        f"{hub.url}/hub/api",
        TOKEN,
        user="alice",
        server_name="",
        clock=clock,
        rng=lambda: 0.5,
        **kwargs,
    )


def user_model(**changes: Any) -> dict[str, Any]:
    model: dict[str, Any] = {
        "kind": "user",
        "name": "alice",
        "admin": False,
        "groups": ["physics", "staff"],
        "last_activity": "2026-11-22T10:05:00Z",
        "servers": {
            "": {
                "name": "",
                "started": STARTED,
                "last_activity": "2026-11-22T10:04:00Z",
                "ready": True,
                "url": "/user/alice/",
                "user_options": {"profile": "gpu-small", "image": "x"},
            },
            "big": {
                "name": "big",
                "started": "2026-11-22T09:00:00Z",
                "ready": True,
                "url": "/user/alice/big/",
                "user_options": {"profile_slug": "large"},
            },
        },
    }
    model.update(changes)
    return model


# -- the pieces ----------------------------------------------------------------------------


def test_hub_times_parse_to_unix_seconds() -> None:
    assert parse_hub_time(STARTED) == pytest.approx(STARTED_UNIX)
    assert parse_hub_time("2026-11-22T10:00:00+00:00") == pytest.approx(1795341600.0)
    assert parse_hub_time(None) is None
    assert parse_hub_time("yesterday") is None


def test_backoff_doubles_with_jitter_and_caps(clock: Clock) -> None:
    low = Backoff(base_seconds=2, max_seconds=10, clock=clock, rng=lambda: 0.0)
    high = Backoff(base_seconds=2, max_seconds=10, clock=clock, rng=lambda: 1.0)
    assert [low.failed() for _ in range(5)] == [1, 2, 4, 5, 5]
    assert [high.failed() for _ in range(5)] == [2, 4, 8, 10, 10]
    assert not low.ready()
    clock.now += 5
    assert low.ready()
    low.succeeded()
    assert low.failures == 0
    assert low.ready()


def test_from_env_needs_a_url_and_a_token() -> None:
    assert HubClient.from_env({}) is None
    assert HubClient.from_env({"JUPYTERHUB_API_URL": "http://h/hub/api"}) is None
    client = HubClient.from_env(
        {
            "JUPYTERHUB_API_URL": "http://h:8081/hub/api/",
            "JUPYTERHUB_API_TOKEN": "t",
            "JUPYTERHUB_USER": "alice",
            "JUPYTERHUB_SERVER_NAME": "big",
            "JUPYTERHUB_BASE_URL": "/jh/",
        }
    )
    assert client is not None
    assert client.api_url == "http://h:8081/hub/api"
    assert (client.user, client.server_name, client.base_url) == ("alice", "big", "/jh/")


# -- the user model -----------------------------------------------------------------------


def test_user_model_reads_groups_start_and_profile(hub: FakeHub, clock: Clock) -> None:
    hub.on("/hub/api/user", Reply(200, user_model()))
    info = client_for(hub, clock).user_model()
    assert info.available
    assert info.name == "alice"
    assert info.admin is False
    assert info.groups == ["physics", "staff"]
    assert info.started == pytest.approx(STARTED_UNIX)
    assert info.profile == "gpu-small"
    assert info.user_options == {"profile": "gpu-small", "image": "x"}
    assert info.scopes_missing == []
    assert [(s["name"], s["profile"]) for s in info.other_servers] == [("big", "large")]
    [request] = hub.seen
    assert request.headers["Authorization"] == f"token {TOKEN}"
    body = info.to_json()
    assert body["available"] is True
    assert body["groups"] == ["physics", "staff"]
    json.dumps(body, allow_nan=False)


def test_user_model_is_cached(hub: FakeHub, clock: Clock) -> None:
    hub.on("/hub/api/user", Reply(200, user_model()))
    client = client_for(hub, clock)
    client.user_model(max_age_seconds=60)
    clock.now += 59
    client.user_model(max_age_seconds=60)
    assert len(hub.seen) == 1
    clock.now += 2
    client.user_model(max_age_seconds=60)
    assert len(hub.seen) == 2


def test_a_missing_servers_scope_is_named_and_logged_once(
    hub: FakeHub, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    model = user_model()
    del model["servers"]
    hub.on("/hub/api/user", Reply(200, model))
    client = client_for(hub, clock)
    with caplog.at_level(logging.DEBUG, logger="jupyter_usage.hubclient"):
        info = client.user_model(max_age_seconds=0)
        client.user_model(max_age_seconds=0)
    assert info.available
    assert info.groups == ["physics", "staff"]
    assert info.started is None
    assert info.profile is None
    assert info.scopes_missing == ["read:servers!user"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "scope not granted" in warnings[0].getMessage()
    assert "c.Spawner.server_token_scopes" in warnings[0].getMessage()


def test_403_is_scope_not_granted_logged_once(
    hub: FakeHub, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    hub.on("/hub/api/user", Reply(403, {"message": "Action is not authorized"}))
    client = client_for(hub, clock)
    with caplog.at_level(logging.DEBUG, logger="jupyter_usage.hubclient"):
        first = client.user_model()
        clock.now += 1000  # past any backoff
        second = client.user_model()
    assert not first.available
    assert first.reason is not None
    assert "scope not granted" in first.reason
    assert first.to_json() == {"available": False, "reason": first.reason}
    assert not second.available
    assert len(hub.seen) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "scope not granted" in warnings[0].getMessage()


def test_failures_back_off_and_keep_the_last_good_answer(hub: FakeHub, clock: Clock) -> None:
    hub.on(
        "/hub/api/user",
        Reply(200, user_model()),
        Reply(500, {"message": "boom"}),
        Reply(500, {"message": "boom"}),
        Reply(200, user_model(groups=["biology"])),
    )
    client = client_for(hub, clock)
    assert client.user_model(max_age_seconds=10).groups == ["physics", "staff"]
    clock.now += 11
    stale = client.user_model(max_age_seconds=10)
    assert stale.available
    assert stale.groups == ["physics", "staff"]  # the hub failed: the last good answer
    assert len(hub.seen) == 2
    # Backing off (2 s ±50 %): no request now.
    client.user_model(max_age_seconds=10)
    assert len(hub.seen) == 2
    clock.now += 2
    client.user_model(max_age_seconds=10)  # 500 again: the backoff doubles
    assert len(hub.seen) == 3
    clock.now += 2
    client.user_model(max_age_seconds=10)
    assert len(hub.seen) == 3
    clock.now += 2
    assert client.user_model(max_age_seconds=10).groups == ["biology"]
    assert len(hub.seen) == 4


def test_a_slow_hub_times_out(hub: FakeHub, clock: Clock) -> None:
    hub.on("/hub/api/user", Reply(200, user_model(), delay_seconds=30))
    client = client_for(hub, clock, timeout_seconds=0.3)
    began = time.monotonic()
    info = client.user_model()
    # Generous bound on a loaded machine; the hub would answer only after 30 s.
    assert time.monotonic() - began < 10
    assert not info.available
    assert info.reason is not None
    assert "did not answer" in info.reason


def test_a_hub_that_is_not_there(clock: Clock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = HubClient(f"http://127.0.0.1:{port}/hub/api", TOKEN, clock=clock)
    info = client.user_model()
    assert not info.available
    assert "did not answer" in (info.reason or "")


def test_a_non_json_answer_is_a_failure(hub: FakeHub, clock: Clock) -> None:
    hub.on("/hub/api/user", Reply(200, raw=b"<html>login</html>"))
    assert not client_for(hub, clock).user_model().available


# -- finding the service ------------------------------------------------------------------


def test_service_url_from_the_hub(hub: FakeHub, clock: Clock) -> None:
    hub.on(
        "/hub/api/services/usage",
        Reply(200, {"name": "usage", "url": "http://10.0.0.5:10101", "prefix": "/services/usage/"}),
    )
    client = client_for(hub, clock)
    assert client.service_url() == "http://10.0.0.5:10101/services/usage/"
    assert client.service_url() == "http://10.0.0.5:10101/services/usage/"
    assert len(hub.seen) == 1  # cached


def test_service_url_without_the_scope_falls_back_to_the_proxy_path(
    hub: FakeHub, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    hub.on("/hub/api/services/usage", Reply(403, {"message": "not allowed"}))
    client = client_for(hub, clock, base_url="/jh/")
    with caplog.at_level(logging.WARNING, logger="jupyter_usage.hubclient"):
        assert client.service_url() == f"{hub.url}/jh/services/usage/"
    assert "read:services!service=usage" in caplog.text
    public = client_for(hub, clock, public_url="https://hub.example.org/hub/")
    assert public.service_url() == "https://hub.example.org/services/usage/"


def test_service_url_unknown_service_and_override(hub: FakeHub, clock: Clock) -> None:
    hub.on("/hub/api/services/usage", Reply(404, {"message": "No such service"}))
    assert client_for(hub, clock).service_url() is None
    override = client_for(hub, clock, service_url_override="http://svc:1/services/usage")
    assert override.service_url() == "http://svc:1/services/usage/"
    assert len(hub.seen) == 1


def test_service_url_backs_off_when_the_hub_fails(hub: FakeHub, clock: Clock) -> None:
    hub.on("/hub/api/services/usage", Reply(502, None))
    client = client_for(hub, clock)
    assert client.service_url() is None
    assert client.service_url() is None
    assert len(hub.seen) == 1


def test_redirects_are_not_followed(hub: FakeHub, clock: Clock) -> None:
    hub.on("/hub/api/user", Reply(302, None, headers={"Location": "/hub/login"}))
    hub.on("/hub/login", Reply(200, user_model()))
    assert not client_for(hub, clock).user_model().available
    assert [seen.path for seen in hub.seen] == ["/hub/api/user"]


# -- delivering sessions --------------------------------------------------------------------


SESSIONS = "/services/usage/api/v1/sessions"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    with SessionStore(tmp_path / "sessions.sqlite") as opened:
        for index in range(2):
            opened.start_session(f"s{index}", user="alice", server_name="", started=100.0 + index)
            opened.end_session(
                f"s{index}",
                ended=200.0 + index,
                ended_by="hub",
                totals={"duration_seconds": 100.0},
                cost={"currency": "USD", "total": 0.1},
                summary=None,
            )
        opened.start_session("running", user="alice", server_name="", started=300.0)
        yield opened


def uploader_for(hub: FakeHub, clock: Clock, store: SessionStore) -> SessionUploader:
    client = client_for(hub, clock, service_url_override=f"{hub.url}/services/usage/")
    return SessionUploader(client, store, "usage")


def accept(hub: FakeHub) -> None:
    hub.on(SESSIONS, *[Reply(201, {"id": i, "status": "created"}) for i in ("s0", "s1", "running")])


def test_pending_sessions_are_delivered_and_marked(
    hub: FakeHub, clock: Clock, store: SessionStore
) -> None:
    accept(hub)
    uploader = uploader_for(hub, clock, store)
    current = store.get("running")
    assert uploader.deliver_pending(current) == 3
    posted = hub.requests_to(SESSIONS)
    assert [seen.body["id"] for seen in posted] == ["s0", "s1", "running"]
    assert all(seen.headers["Authorization"] == f"token {TOKEN}" for seen in posted)
    assert posted[0].body["ended"] == 200.0
    assert posted[0].body["totals"] == {"duration_seconds": 100.0}
    assert store.undelivered() == []
    # The running session is never marked: its final version comes when it ends.
    store.end_session("running", ended=400.0, ended_by="hub", totals={}, cost={}, summary=None)
    assert [r["id"] for r in store.undelivered()] == ["running"]
    assert uploader.status()["delivered"] == 3
    assert uploader.status()["last_error"] is None


def test_a_down_service_loses_nothing(hub: FakeHub, clock: Clock, store: SessionStore) -> None:
    hub.on(SESSIONS, Reply(503, {"message": "down"}))
    uploader = uploader_for(hub, clock, store)
    assert uploader.deliver_pending() == 0
    assert [r["id"] for r in store.undelivered()] == ["s0", "s1"]
    assert len(hub.requests_to(SESSIONS)) == 1  # stops at the first failure
    assert uploader.deliver_pending() == 0  # backing off: no request
    assert len(hub.requests_to(SESSIONS)) == 1
    assert uploader.status()["last_error"] is not None
    accept(hub)
    clock.now += 10
    assert uploader.deliver_pending() == 2
    assert store.undelivered() == []


def test_the_services_database_outage_is_retry_later(
    hub: FakeHub, clock: Clock, store: SessionStore
) -> None:
    # What the history service answers while its database is down or not ready yet.
    hub.on(SESSIONS, Reply(503, {"message": UNAVAILABLE}))
    uploader = uploader_for(hub, clock, store)
    assert uploader.deliver_pending() == 0
    assert [r["id"] for r in store.undelivered()] == ["s0", "s1"]
    assert UNAVAILABLE in (uploader.status()["last_error"] or "")
    assert uploader.status()["retry_in_seconds"] > 0
    # A 503 is the service's own answer: its address is kept, not asked of the hub again.
    assert uploader.client.service_url("usage") == f"{hub.url}/services/usage/"
    # "stale": the service holds a newer report of the session; this one is done with.
    hub.on(SESSIONS, *[Reply(200, {"id": i, "status": "stale"}) for i in ("s0", "s1")])
    clock.now += 10
    assert uploader.deliver_pending() == 2
    assert store.undelivered() == []


def test_a_timeout_keeps_the_session(hub: FakeHub, clock: Clock, store: SessionStore) -> None:
    hub.on(SESSIONS, Reply(201, {"id": "s0"}, delay_seconds=30))
    uploader = uploader_for(hub, clock, store)
    assert uploader.deliver_pending(timeout_seconds=0.3) == 0
    assert [r["id"] for r in store.undelivered()] == ["s0", "s1"]


def test_only_the_services_own_answer_counts(
    hub: FakeHub, clock: Clock, store: SessionStore
) -> None:
    # A proxy's or login page's 200 is not a delivery.
    hub.on(SESSIONS, Reply(200, raw=b"<html>JupyterHub</html>"))
    uploader = uploader_for(hub, clock, store)
    assert uploader.deliver_pending() == 0
    assert len(store.undelivered()) == 2


def test_a_rejected_session_does_not_block_the_others(
    hub: FakeHub, clock: Clock, store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    hub.on(SESSIONS, Reply(400, {"message": "'started' is required"}), Reply(201, {"id": "s1"}))
    uploader = uploader_for(hub, clock, store)
    with caplog.at_level(logging.WARNING, logger="jupyter_usage.hubclient"):
        assert uploader.deliver_pending() == 1
    assert [r["id"] for r in store.undelivered()] == ["s0"]  # kept locally, not marked
    assert "rejected session s0" in caplog.text
    clock.now += 1000
    assert uploader.deliver_pending() == 0
    assert len(hub.requests_to(SESSIONS)) == 2  # s0 is not posted again by this process


def test_a_session_the_service_refuses_as_lowering_does_not_block_the_others(
    hub: FakeHub, clock: Clock, store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    refused = {"message": "The report lowers figures of the stored session (cost.total)"}
    hub.on(SESSIONS, Reply(409, {**refused, "status": "refused"}), Reply(201, {"id": "s1"}))
    uploader = uploader_for(hub, clock, store)
    with caplog.at_level(logging.WARNING, logger="jupyter_usage.hubclient"):
        assert uploader.deliver_pending() == 1
    assert [r["id"] for r in store.undelivered()] == ["s0"]
    assert "rejected session s0" in caplog.text
    assert uploader.status()["last_error"] is None


def test_403_names_the_scope_once(
    hub: FakeHub, clock: Clock, store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    hub.on(SESSIONS, Reply(403, {"message": "user alice may not use this service"}))
    uploader = uploader_for(hub, clock, store)
    with caplog.at_level(logging.WARNING, logger="jupyter_usage.hubclient"):
        assert uploader.deliver_pending() == 0
        clock.now += 1000
        assert uploader.deliver_pending() == 0
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "scope not granted" in warnings[0]
    assert "access:services!service=usage" in warnings[0]
    assert len(store.undelivered()) == 2


def test_the_last_attempt_at_stop_ignores_the_backoff(
    hub: FakeHub, clock: Clock, store: SessionStore
) -> None:
    hub.on(SESSIONS, Reply(500, None))
    uploader = uploader_for(hub, clock, store)
    uploader.deliver_pending()
    accept(hub)
    assert uploader.deliver_pending() == 0
    assert uploader.deliver_pending(ignore_backoff=True, timeout_seconds=1) == 2


def test_nothing_to_deliver_asks_nobody(hub: FakeHub, clock: Clock, tmp_path: Path) -> None:
    with SessionStore(tmp_path / "empty.sqlite") as empty:
        uploader = uploader_for(hub, clock, empty)
        assert uploader.deliver_pending() == 0
    assert hub.seen == []


def test_the_service_is_found_through_the_hub(
    hub: FakeHub, clock: Clock, store: SessionStore
) -> None:
    hub.on(
        "/hub/api/services/usage",
        Reply(200, {"name": "usage", "url": hub.url, "prefix": "/services/usage/"}),
    )
    accept(hub)
    uploader = SessionUploader(client_for(hub, clock), store, "usage")
    assert uploader.deliver_pending() == 2
    assert [seen.path for seen in hub.seen] == ["/hub/api/services/usage", SESSIONS, SESSIONS]


def test_the_history_tab_reads_the_service_when_it_answers(hub: FakeHub, clock: Clock) -> None:
    client = client_for(hub, clock, service_url_override=f"{hub.url}/services/usage/")
    hub.on(
        SESSIONS,
        Reply(200, {"sessions": [{"id": "a"}, {"id": "b"}]}),
        Reply(503, {"message": "down"}),
    )
    assert client.service_sessions(limit=2, before=1790000000.5) == [{"id": "a"}, {"id": "b"}]
    assert hub.seen[0].path == f"{SESSIONS}?limit=2&until=1790000000.5"
    assert client.service_sessions() is None  # down: the local store answers
    assert client.service_sessions() is None  # backing off: not asked again
    assert len(hub.seen) == 2


def test_the_running_session_is_posted_at_most_every_interval(
    hub: FakeHub, clock: Clock, tmp_path: Path
) -> None:
    hub.on(SESSIONS, Reply(200, {"id": "running"}))
    with SessionStore(tmp_path / "one.sqlite") as store:
        store.start_session("running", user="alice", server_name="", started=1.0)
        client = client_for(hub, clock, service_url_override=f"{hub.url}/services/usage/")
        uploader = SessionUploader(client, store, current_every_seconds=300)
        current = store.get("running")
        assert uploader.deliver_pending(current) == 1
        clock.now += 299
        assert uploader.deliver_pending(current) == 0
        clock.now += 1
        assert uploader.deliver_pending(current) == 1
    assert len(hub.requests_to(SESSIONS)) == 2


def test_the_running_session_as_the_service_last_accepted_it(
    hub: FakeHub, clock: Clock, tmp_path: Path
) -> None:
    # Budgets add what came after the report the service had counted when it answered.
    import time

    hub.on(SESSIONS, Reply(200, {"id": "running"}))
    with SessionStore(tmp_path / "one.sqlite") as store:
        store.start_session("running", user="alice", server_name="", started=1.0)
        client = client_for(hub, clock, service_url_override=f"{hub.url}/services/usage/")
        uploader = SessionUploader(client, store, current_every_seconds=300)
        before = time.time()
        assert uploader.current_reported_by(before) is None
        current = store.get("running")
        assert uploader.deliver_pending(current) == 1
        assert uploader.current_reported_by(before - 1) is None
        assert uploader.current_reported_by(time.time()) is current
        # Refused: what the service holds is unchanged.
        hub.on(SESSIONS, Reply(503, {}))
        clock.now += 300
        assert uploader.deliver_pending({**current, "last_checkpoint": 9.0}) == 0
        assert uploader.current_reported_by(time.time()) is current
