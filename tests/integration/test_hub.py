"""The hub history service inside a real JupyterHub, with real single-user servers.

One hub per module: configurable-http-proxy, the dummy authenticator, the simple local
process spawner (as root: `--allow-root`), the usage service as a hub-managed service,
and users in two groups with different group rates. Sessions are posted with the real
single-user servers' tokens (read from the running servers' environment) through
`jupyter_usage.hubclient`, exactly as the extension does.
"""

from __future__ import annotations

import http.cookiejar
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.hub_process import (
    READ_ALL_SCOPE_CONFIG,
    Answer,
    NoRedirect,
    call,
    free_port,
    running_hub,
    service_command,
    services_config,
    singleuser_config,
    spawning_hub_config,
    user_tokens,
    wait_for,
)

from jupyter_usage.hub.intake.hub_servers import running_servers
from jupyter_usage.hubclient import HubClient, parse_hub_time
from jupyter_usage.store import SessionStore
from jupyter_usage.uploader import SessionUploader

ADMIN_TOKEN = uuid.uuid4().hex
HOUR = 3600.0
# Test sessions lie three days back, out of the way of any the real servers report.
T_TEST = time.time() - 3 * 86400
POLL_SECONDS = 2
REPORT_SECONDS = 10
GROUP_RATES = {"physics": {"server_hour": 2.0}, "biology": {"server_hour": 0.5}}


def is_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Hub:
    root: Path
    proxy_url: str
    api: str
    service_port: int
    process: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)
    server_envs: dict[str, dict[str, str]] = field(default_factory=dict)
    stopped_while_service_down: list[str] = field(default_factory=list)

    @property
    def service(self) -> str:
        return f"{self.proxy_url}/services/usage/"

    def admin(self, method: str, path: str, body: Any = None) -> Answer:
        return call(method, f"{self.api}/{path}", ADMIN_TOKEN, body)

    def start_server(self, user: str) -> None:
        answer = self.admin("POST", f"users/{user}/server")
        assert answer.status in (201, 202), answer.body

    def wait_ready(self, user: str, timeout: float = 60) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            model = self.admin("GET", f"users/{user}").json()
            server = model.get("servers", {}).get("")
            return server if server and server.get("ready") else None

        return wait_for(f"{user}'s server", ready, timeout)

    def stop_server(self, user: str) -> None:
        answer = self.admin("DELETE", f"users/{user}/server")
        assert answer.status in (202, 204), answer.body
        wait_for(
            f"{user}'s server to stop",
            lambda: not self.admin("GET", f"users/{user}").json().get("servers"),
            60,
        )

    def server_env(self, user: str) -> dict[str, str]:
        """The environment the hub gave the user's running server, its real token included."""
        if user not in self.server_envs:
            model = self.admin("GET", f"users/{user}").json()
            pid = model["servers"][""]["state"]["pid"]
            raw = Path(f"/proc/{pid}/environ").read_bytes()
            pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
            self.server_envs[user] = {k.decode(): v.decode() for k, v in pairs}
        return self.server_envs[user]

    def sessions(self, token: str, **params: str) -> Answer:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return call("GET", f"{self.service}api/v1/sessions?{query}", token)


def write_config(root: Path, ports: dict[str, int]) -> Path:
    singleuser = singleuser_config(
        root,
        {
            "CostModel": {"server_hour": 1.0, "group_rates": GROUP_RATES},
            "UsageApp": {
                "sample_interval": 0.5,
                "checkpoint_interval": 1,
                "report_interval": REPORT_SECONDS,
            },
        },
    )
    no_extension = singleuser_config(
        root,
        {"ServerApp": {"jpserver_extensions": {"jupyter_usage": False}}},
        "no-extension-config",
    )
    command = service_command(
        f"sqlite:///{root / 'usage.sqlite'}", f"--UsageService.hub_poll_interval={POLL_SECONDS}"
    )
    usage = {
        "url": f"http://127.0.0.1:{ports['service']}",
        "command": command,
        "oauth_client_allowed_scopes": ["custom:usage:read-all"],
        "oauth_no_confirm": True,
        "display": True,
    }
    config = (
        spawning_hub_config(root, ports, {"JUPYTER_CONFIG_PATH": str(singleuser)})
        # What docs/hub.md tells admins to set.
        + READ_ALL_SCOPE_CONFIG
        + services_config(ADMIN_TOKEN, **usage)
        + f"""
c.Authenticator.admin_users = {{"ada"}}
c.JupyterHub.load_groups = {{
    "physics": {{"users": ["alice"]}},
    "biology": {{"users": ["bob"]}},
    "usage-readers": {{"users": ["dana"]}},
    "nobody": {{"users": ["eve"]}},
}}
c.JupyterHub.load_roles = [
    {{
        "name": "test-admin",
        "scopes": [
            "admin:users", "admin:servers", "admin:groups", "tokens", "read:services",
            "access:servers", "access:services", "list:users", "read:users",
        ],
        "services": ["test-admin"],
    }},
    {{"name": "usage-readers", "scopes": ["custom:usage:read-all"], "groups": ["usage-readers"]}},
    {{
        "name": "usage-service",
        "scopes": ["list:users", "read:users:groups", "read:servers"],
        "services": ["usage"],
    }},
]

# eve's image lacks the extension: only the service's watch on the hub sees her server.
def _without_the_extension(spawner):
    if spawner.user.name == "eve":
        spawner.environment = {{**spawner.environment, "JUPYTER_CONFIG_PATH": "{no_extension}"}}

c.Spawner.pre_spawn_hook = _without_the_extension
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    return path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("hub")
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub", "service")}
    proxy_url = f"http://127.0.0.1:{ports['proxy']}"
    api = f"{proxy_url}/hub/api"
    with running_hub(root, write_config(root, ports), api) as process:
        hub = Hub(root, proxy_url, api, ports["service"], process)
        hub.tokens = user_tokens(api, ADMIN_TOKEN, ["alice", "bob", "ada", "dana", "eve"])
        for name in ("alice", "bob"):
            hub.start_server(name)
        for name in ("alice", "bob"):
            hub.wait_ready(name)
        wait_for(
            "the usage service",
            lambda: hub.sessions(hub.tokens["ada"]).status == 200,
            60,
        )
        yield hub


def extension_wired() -> bool:
    from jupyter_usage.app import UsageApp

    return "hub_service_name" in UsageApp.class_trait_names()


def post_session(
    hub: Hub, user: str, store: SessionStore, session_id: str, start: float, hours: float
) -> SessionUploader:
    """Record an ended session in a local store and deliver it with the server's own token."""
    env = hub.server_env(user)
    client = HubClient.from_env(env, timeout_seconds=5)
    assert client is not None
    rate = GROUP_RATES["physics" if user == "alice" else "biology"]["server_hour"]
    store.start_session(
        session_id,
        user=user,
        server_name="",
        started=start,
        meta={"groups": ["made-up"], "profile": None},
    )
    store.end_session(
        session_id,
        ended=start + hours * HOUR,
        ended_by="hub",
        totals={"duration_seconds": hours * HOUR, "cpu_core_seconds": 100.0 * hours},
        cost={
            "currency": "USD",
            "total": rate * hours,
            "basis": "allocated",
            "breakdown": {"server": rate * hours},
        },
        summary={"advice": []},
    )
    return SessionUploader(client, store, "usage")


# -- the single-user side ------------------------------------------------------------------


def test_the_hubs_running_servers_are_listed_page_by_page(hub: Hub) -> None:
    # A page of one user at a time: the paging that a hub of 10,000 users needs.
    servers = running_servers(HubClient(hub.api, ADMIN_TOKEN), page_size=1)
    by_user = {server.user: server for server in servers}
    assert {"alice", "bob"} <= set(by_user)
    assert by_user["alice"].groups == ("physics",)
    assert by_user["alice"].server_name == ""
    assert abs(by_user["alice"].started - time.time()) < 600


def test_a_server_without_the_extension_is_counted_from_the_hub(hub: Hub) -> None:
    def eves_sessions() -> list[dict[str, Any]]:
        sessions = hub.sessions(hub.tokens["ada"], user="eve").json()["sessions"]
        return [s for s in sessions if s["started"] > time.time() - HOUR]

    hub.start_server("eve")
    hub.wait_ready("eve")
    snapshot = f"{hub.proxy_url}/user/eve/api/usage/v1/snapshot"
    assert call("GET", snapshot, hub.tokens["eve"]).status == 404  # no extension there
    [running] = wait_for("eve's server in the service", eves_sessions, 30)
    assert running["ended"] is None
    assert running["meta"]["source"] == "hub"
    assert running["meta"]["groups"] == ["nobody"]
    assert running["totals"] == {}
    assert running["cost"] is None

    time.sleep(2 * POLL_SECONDS)  # seen running by a few more polls
    stop_asked = time.time()
    hub.stop_server("eve")
    stopped = time.time()
    [ended] = wait_for(
        "eve's session closed",
        lambda: [s for s in eves_sessions() if s["ended"] is not None],
        30,
    )
    assert ended["id"] == running["id"]
    assert ended["ended_by"] == "gone"
    # Closed when last seen running: within a poll (and its jitter) of the stop.
    assert stop_asked - 1.5 * POLL_SECONDS - 1 <= ended["ended"] <= stopped + 1

    # The servers that report themselves are not counted twice.
    for user in ("alice", "bob"):
        recent = hub.sessions(hub.tokens["ada"], user=user).json()["sessions"]
        assert not [s for s in recent if s["meta"].get("source") == "hub"], user
    window = f"since={stop_asked - HOUR:.0f}&until={time.time() + 60:.0f}"
    kpis = call("GET", f"{hub.service}api/v1/kpis?{window}", hub.tokens["ada"]).json()["kpis"]
    assert kpis["active_users"]["value"] == 3  # alice, bob and eve
    report = call("GET", f"{hub.service}api/v1/kpis?{window}", hub.tokens["ada"]).json()
    assert report["coverage"]["sessions_from_hub_only"] == 1
    assert report["coverage"]["sessions_with_figures"] == 2
    running_now = {s["user"]: s for s in report["running"]["servers"]}
    assert running_now["alice"]["source"] == "extension"
    # Running servers report every report_interval: hub-wide figures are that fresh.
    assert running_now["alice"]["last_report"] > time.time() - 2 * REPORT_SECONDS - 2
    assert "eve" not in running_now
    page = call("GET", f"{hub.service}?{window}", hub.tokens["ada"]).body.decode()
    assert "known from the hub only" in page
    assert "<h2>Running now</h2>" in page
    # Sizing covers the sessions with figures: alice's and bob's, not eve's.
    sized = call("GET", f"{hub.service}api/v1/sizing?{window}", hub.tokens["ada"])
    assert sized.status == 200, sized.body
    assert sized.json()["sizing"]["sessions_with_figures"] == 2
    assert call("GET", f"{hub.service}api/v1/sizing", hub.tokens["bob"]).status == 403
    assert "<h2>Sizing</h2>" in page


def test_the_real_server_token_reads_groups_start_and_the_service(hub: Hub) -> None:
    for user, group in (("alice", "physics"), ("bob", "biology")):
        env = hub.server_env(user)
        client = HubClient.from_env(env)
        assert client is not None
        info = client.user_model()
        assert info.available, info.reason
        assert info.name == user
        assert info.groups == [group]
        assert info.scopes_missing == []  # server_token_scopes as docs/hub.md says
        hub_started = hub.admin("GET", f"users/{user}").json()["servers"][""]["started"]
        assert info.started is not None
        assert info.started == parse_hub_time(hub_started)
        assert abs(info.started - time.time()) < 3600
        # The service's own address, from the hub (read:services!service=usage).
        assert client.service_url() == f"http://127.0.0.1:{hub.service_port}/services/usage/"


def test_the_extension_shows_hub_groups_and_group_rates(hub: Hub) -> None:
    for user, group in (("alice", "physics"), ("bob", "biology")):
        base = f"{hub.proxy_url}/user/{user}/api/usage/v1"
        answer = call("GET", f"{base}/hub", hub.tokens[user])
        if answer.status == 404:
            pytest.skip("GET /api/usage/v1/hub is not wired into the extension yet")
        assert answer.status == 200, answer.body
        info = answer.json()
        assert info["available"] is True
        assert info["groups"] == [group]
        assert info["started"] is not None
        config = call("GET", f"{base}/config", hub.tokens[user]).json()
        if "rates" not in config:
            pytest.skip("/api/usage/v1/config does not show the effective rates yet")
        assert config["rates"]["server_hour"] == GROUP_RATES[group]["server_hour"]
        assert f"group:{group}" in config["rates"]["sources"]


# -- the service ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def posted(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One ended session per user, delivered with each server's real token."""
    ids = {}
    for user, hours in (("alice", 1.0), ("bob", 0.5)):
        path = tmp_path_factory.mktemp(f"store-{user}") / "sessions.sqlite"
        with SessionStore(path) as store:
            session_id = f"{user}-{uuid.uuid4().hex[:8]}"
            uploader = post_session(hub, user, store, session_id, T_TEST, hours)
            assert uploader.deliver_pending() == 1, uploader.status()
            assert store.undelivered() == []
        ids[user] = session_id
    return ids


def test_sessions_land_with_the_user_and_groups_from_the_hub(
    hub: Hub, posted: dict[str, str]
) -> None:
    answer = hub.sessions(hub.tokens["alice"])
    assert answer.status == 200
    sessions = answer.json()["sessions"]
    assert {s["user"] for s in sessions} == {"alice"}
    [mine] = [s for s in sessions if s["id"] == posted["alice"]]
    assert mine["started"] == pytest.approx(T_TEST)
    assert mine["duration_seconds"] == pytest.approx(HOUR)
    assert mine["cost"]["total"] == pytest.approx(2.0)
    # The hub's groups, not the "made-up" ones the server claimed.
    assert mine["meta"]["groups"] == ["physics"]
    # What the extension's History tab reads, with the server's own token.
    client = HubClient.from_env(hub.server_env("alice"))
    assert client is not None
    history = client.service_sessions(limit=100)
    assert history is not None
    assert posted["alice"] in {s["id"] for s in history}
    assert posted["bob"] not in {s["id"] for s in history}


def test_a_user_is_refused_someone_elses_sessions(hub: Hub, posted: dict[str, str]) -> None:
    refused = hub.sessions(hub.tokens["alice"], user="bob")
    assert refused.status == 403
    assert "only your own" in refused.json()["message"]
    assert hub.sessions(hub.tokens["bob"], user="alice").status == 403
    bob = hub.sessions(hub.tokens["bob"]).json()["sessions"]
    assert posted["bob"] in {s["id"] for s in bob}
    assert posted["alice"] not in {s["id"] for s in bob}
    # eve's own server session, known from the hub, and nobody else's.
    assert {s["user"] for s in hub.sessions(hub.tokens["eve"]).json()["sessions"]} <= {"eve"}
    assert call("GET", f"{hub.service}api/v1/sessions").status == 403  # no token


def test_admins_and_scope_holders_see_everyone(hub: Hub, posted: dict[str, str]) -> None:
    for reader in ("ada", "dana"):  # an admin; a holder of custom:usage:read-all
        sessions = hub.sessions(hub.tokens[reader]).json()["sessions"]
        assert {posted["alice"], posted["bob"]} <= {s["id"] for s in sessions}, reader
        only_bob = hub.sessions(hub.tokens[reader], user="bob").json()["sessions"]
        assert {s["user"] for s in only_bob} == {"bob"}


def test_kpis_count_the_sessions(hub: Hub, posted: dict[str, str]) -> None:
    window = f"since={T_TEST - HOUR:.0f}&until={T_TEST + 2 * HOUR:.0f}"
    answer = call("GET", f"{hub.service}api/v1/kpis?{window}", hub.tokens["ada"])
    assert answer.status == 200, answer.body
    kpis = answer.json()["kpis"]
    assert kpis["active_users"]["value"] == 2
    assert kpis["sessions"]["value"] == 2
    assert kpis["peak_concurrent_servers"]["value"] == 2
    assert kpis["server_seconds"]["value"] == pytest.approx(1.5 * HOUR)
    assert kpis["cost"]["value"] == {"USD": pytest.approx(2.25)}
    by_group = {row["group"]: row for row in kpis["cost_by_group"]["value"]}
    assert by_group["physics"]["cost"] == {"USD": pytest.approx(2.0)}
    assert by_group["biology"]["cost"] == {"USD": pytest.approx(0.25)}
    assert all(item["explanation"] for item in kpis.values())
    physics = call("GET", f"{hub.service}api/v1/kpis?{window}&group=physics", hub.tokens["dana"])
    assert physics.json()["kpis"]["active_users"]["value"] == 1
    refused = call("GET", f"{hub.service}api/v1/kpis?{window}", hub.tokens["alice"])
    assert refused.status == 403
    csv = call("GET", f"{hub.service}api/v1/kpis.csv?{window}&table=groups", hub.tokens["ada"])
    assert csv.status == 200
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert b"physics" in csv.body
    assert b"biology" in csv.body
    sessions_csv = call("GET", f"{hub.service}api/v1/sessions.csv", hub.tokens["alice"])
    assert posted["alice"].encode() in sessions_csv.body
    assert posted["bob"].encode() not in sessions_csv.body


def test_every_export_honours_every_filter(hub: Hub, posted: dict[str, str]) -> None:
    window = f"since={T_TEST - HOUR:.0f}&until={T_TEST + 2 * HOUR:.0f}"

    def get(path: str) -> Answer:
        return call("GET", f"{hub.service}api/v1/{path}", hub.tokens["ada"])

    physics = get(f"sessions.csv?{window}&group=physics")
    assert posted["alice"].encode() in physics.body
    assert posted["bob"].encode() not in physics.body
    later = get(f"sessions.csv?since={T_TEST + 3 * HOUR:.0f}&group=physics")
    assert posted["alice"].encode() not in later.body
    one_user = get(f"kpis.csv?{window}&table=users&user=bob").body.decode().splitlines()
    assert [line.split(",")[0] for line in one_user[1:]] == ["bob"]
    biology_only = get(f"kpis.csv?{window}&table=users&group=biology").body.decode()
    assert "bob" in biology_only
    assert "alice" not in biology_only
    refused = get(f"kpis.csv?{window}&table=summary&user=bob")
    assert refused.status == 400
    assert "sessions.csv" in refused.json()["message"]


def test_the_drill_down_api(hub: Hub, posted: dict[str, str]) -> None:
    window = f"since={T_TEST - HOUR:.0f}&until={T_TEST + 2 * HOUR:.0f}"

    def get(path: str, user: str = "ada") -> Answer:
        return call("GET", f"{hub.service}api/v1/{path}", hub.tokens[user])

    activity = get(f"activity?{window}").json()
    assert max(activity["concurrency"]["servers"]) == 2
    assert len(activity["hour_of_week"]["hours"]) == 168
    assert sum(day["cost"].get("USD", 0) for day in activity["daily"]["days"]) == pytest.approx(
        2.25
    )
    users = get(f"users?{window}&group=physics").json()
    assert [row["user"] for row in users["users"]] == ["alice"]
    assert users["message"] is None
    unknown = get(f"users?{window}&group=no-such-group").json()
    assert unknown["users"] == []
    assert "no such group has reported" in unknown["message"]
    details = get(f"session-details?{window}&user=alice&group=physics").json()
    [alice] = [s for s in details["sessions"] if s["id"] == posted["alice"]]
    assert alice["duration_seconds"] == pytest.approx(HOUR)
    assert {"profile", "peak_cpu_cores", "idle_share", "idle_cost"} <= alice.keys()
    for bad in ("activity?since=2026-13-01", f"users?since={T_TEST:.0f}&until={T_TEST - 1:.0f}",
                "session-details?limit=0", "session-details?until=yesterday"):  # fmt: skip
        answer = get(bad)
        assert answer.status == 400, bad
        assert answer.json()["message"], bad
    for path in ("activity", "users", "session-details"):
        assert get(path, "alice").status == 403, path


def test_the_report_page(hub: Hub, posted: dict[str, str]) -> None:
    page = call("GET", hub.service, hub.tokens["ada"])
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert b"JupyterHub usage" in page.body
    assert b"<svg" in page.body
    text = page.body.decode()
    for section in ("active-users", "concurrency", "hour-of-week", "daily-use", "groups"):
        assert f'id="{section}"' in text, section
    # Scripts come from the service's files, which the strict policy allows.
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for asset in ("report.js", "theme.js", "report.css", "uplot/uPlot.iife.min.js"):
        assert call("GET", f"{hub.service}static/{asset}").status == 200, asset
    sessions_page = call("GET", f"{hub.service}sessions?user=alice", hub.tokens["ada"])
    assert sessions_page.status == 200
    assert b"Sessions of alice" in sessions_page.body
    assert call("GET", hub.service, hub.tokens["eve"]).status == 403
    # A browser without a login is sent to the hub's OAuth.
    anonymous = call("GET", hub.service)
    assert anonymous.status == 302
    assert "/hub/api/oauth2/authorize" in anonymous.headers["Location"]


class Browser:
    """Cookies and redirects, as a browser has them, without running any script."""

    def __init__(self) -> None:
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.cookies),
            NoRedirect(),
        )

    def open(self, url: str, form: dict[str, str] | None = None) -> Answer:
        """Follow redirects like a browser; returns the last answer."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        for _ in range(10):
            request = urllib.request.Request(url, data=data)
            try:
                with self.opener.open(request, timeout=30) as response:
                    return Answer(response.status, response.headers, response.read())
            except urllib.error.HTTPError as error:
                with error:
                    answer = Answer(error.code, error.headers, error.read())
                if answer.status not in (301, 302, 303, 307):
                    return answer
                url = urllib.parse.urljoin(url, answer.headers["Location"])
                data = None
        raise AssertionError(f"too many redirects, last {url}")

    def log_in(self, hub: Hub, user: str) -> None:
        self.open(f"{hub.proxy_url}/hub/login")
        xsrf = next(cookie.value for cookie in self.cookies if cookie.name == "_xsrf")
        assert xsrf is not None
        form = {"username": user, "password": "anything", "_xsrf": xsrf}
        answer = self.open(f"{hub.proxy_url}/hub/login", form)
        assert answer.status == 200, answer.body[:300]


def test_the_report_page_logs_browsers_in_through_the_hub(hub: Hub) -> None:
    for user in ("ada", "dana"):  # an admin; a holder of the scope, through OAuth
        browser = Browser()
        browser.log_in(hub, user)
        page = browser.open(hub.service)
        assert page.status == 200, (user, page.body[:500])
        assert b"JupyterHub usage" in page.body
        assert f"signed in as {user}".encode() in page.body
        csv = browser.open(f"{hub.service}api/v1/kpis.csv?table=summary")
        assert csv.status == 200
        assert csv.body.startswith(b"kpi,value,explanation")
    eve = Browser()
    eve.log_in(hub, "eve")
    refused = eve.open(hub.service)
    assert refused.status == 403
    assert b"custom:usage:read-all" in refused.body
    # A cookie never writes: reports need a token.
    posted = eve.open(f"{hub.service}api/v1/sessions", {"id": "x"})
    assert posted.status == 403


def test_posts_are_checked_and_the_user_comes_from_the_token(
    hub: Hub, posted: dict[str, str]
) -> None:
    url = f"{hub.service}api/v1/sessions"
    token = hub.server_env("alice")["JUPYTERHUB_API_TOKEN"]
    body = {"id": "forged", "user": "bob", "started": T_TEST, "ended": T_TEST + 1}
    forged = call("POST", url, token, body)
    assert forged.status == 403
    assert "bob" in forged.json()["message"]
    bad = call("POST", url, token, raw=b'{"id": "x", "started": NaN}')
    assert bad.status == 400
    assert "finite" in bad.json()["message"]
    missing = call("POST", url, token, {"id": "x"})
    assert missing.status == 400
    assert "'started' is required" in missing.json()["message"]
    assert call("POST", url, None, {"id": "x", "started": 1}).status == 403
    again = call("POST", url, token, {"id": posted["alice"], "started": T_TEST, "ended": T_TEST})
    assert again.status == 200  # an older report of a known session: the newer one is kept
    assert again.json()["status"] == "stale"


def test_the_service_down_during_a_stop_loses_nothing(
    hub: Hub, tmp_path: Path, posted: dict[str, str]
) -> None:
    service = hub.admin("GET", "services/usage").json()
    os.kill(service["pid"], signal.SIGTERM)
    wait_for("the service to stop", lambda: not is_listening(hub.service_port), 30)
    if extension_wired():
        hub.stop_server("bob")  # its final report meets a service that is down
        hub.stopped_while_service_down.append("bob")

    with SessionStore(tmp_path / "sessions.sqlite") as store:
        session_id = f"down-{uuid.uuid4().hex[:8]}"
        uploader = post_session(hub, "alice", store, session_id, T_TEST + 4 * HOUR, 0.25)
        assert uploader.deliver_pending() == 0
        assert [r["id"] for r in store.undelivered()] == [session_id]
        assert uploader.status()["last_error"]

        # The hub restarts its managed service at its next poll (about 30 s).
        wait_for("the hub to restart the service", lambda: is_listening(hub.service_port), 75)
        wait_for("the service", lambda: hub.sessions(hub.tokens["ada"]).status == 200, 30)
        assert uploader.deliver_pending(ignore_backoff=True) == 1
        assert store.undelivered() == []
    alice = hub.sessions(hub.tokens["ada"], user="alice").json()["sessions"]
    assert [s["id"] for s in alice].count(session_id) == 1
    assert posted["alice"] in {s["id"] for s in alice}  # the database survived


def test_a_server_stopped_while_the_service_was_down_delivers_later(hub: Hub) -> None:
    if not extension_wired():
        pytest.skip(
            "the stop path (server stops → its session reaches the service) needs the "
            "extension's uploader, not wired yet (no UsageApp.hub_service_name)"
        )
    assert hub.stopped_while_service_down == ["bob"]
    hub.start_server("bob")  # the next server delivers what the stopped one could not
    hub.wait_ready("bob")

    def bobs_ended_sessions() -> list[dict[str, Any]]:
        sessions = hub.sessions(hub.tokens["ada"], user="bob").json()["sessions"]
        return [s for s in sessions if s["ended"] is not None and s["started"] > T_TEST + HOUR]

    wait_for("bob's stopped session in the service", bobs_ended_sessions, 30)


def test_stopping_a_server_delivers_its_session(hub: Hub) -> None:
    if not extension_wired():
        pytest.skip(
            "needs the extension's uploader wired into UsageApp (no UsageApp.hub_service_name)"
        )
    # The hub's spawner stops the server with SIGINT and no terminal: the session must still
    # be closed by the server itself, at once, with its whole duration and cost.
    started = parse_hub_time(hub.admin("GET", "users/alice").json()["servers"][""]["started"])
    assert started is not None
    stop_asked = time.time()
    hub.stop_server("alice")

    def alices_ended_sessions() -> list[dict[str, Any]]:
        sessions = hub.sessions(hub.tokens["ada"], user="alice").json()["sessions"]
        # Only the real server's session: the posted test sessions lie days back.
        return [s for s in sessions if s["ended"] is not None and s["started"] > stop_asked - HOUR]

    [session] = wait_for("alice's stopped session in the service", alices_ended_sessions, 30)
    assert session["ended_by"] == "stop"
    assert session["ended"] >= stop_asked - 1
    assert session["duration_seconds"] >= stop_asked - started - 2
    assert session["summary"] is not None
    assert session["meta"]["groups"] == ["physics"]
    assert session["cost"]["currency"]
    # physics pays 2 an hour for the server. The duration counts from the hub's start of
    # the spawn, the cost from the extension's first sample (a spawn takes 5-15 s here, more
    # on a loaded machine): the cost covers the whole session since then, not the first
    # report's few seconds.
    duration = session["duration_seconds"]
    spawn_seconds = min(15.0 + max(os.getloadavg()[0] - 2, 0) * 5, duration / 2)
    cost = session["cost"]["total"]
    assert 2.0 * (duration - spawn_seconds) / HOUR <= cost <= 2.0 * duration / HOUR
