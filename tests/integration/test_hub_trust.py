"""Reports that cannot lie, through a real JupyterHub, on SQLite and on PostgreSQL.

One hub per database, run as tests/integration/test_hub_budgets.py runs its own (the
proxy, the dummy authenticator, the simple local process spawner, the service as a
managed service), polling the hub every 10 s, with money budgets under "stop" enforcement
and a 4 s grace. The single-user servers price a server-hour at 36 EUR (a cent a
second), so that a budget is spent within seconds:

- alice (1000 EUR a day) lowers her own running session with her own token;
- bob (0.05 EUR a day) spends his budget, and his server stops when the countdown ends;
- carol (no server) posts a session the hub never ran, in a period the service watched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.hub_process import (
    Answer,
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
from support.postgres_server import PostgresServer

ADMIN_TOKEN = uuid.uuid4().hex
GRACE_SECONDS = 4
POLL_SECONDS = 10
REPORT_SECONDS = 10
STOP_TOLERANCE_SECONDS = 5.0
"""From `stop_at` to the hub saying the server is gone: the service's request and the
spawner's stop of a local process."""
BUDGETS = [
    {"user": "alice", "period": "day", "limit": 1000.0, "currency": "EUR"},
    {"user": "bob", "period": "day", "limit": 0.05, "currency": "EUR"},
    {"user": "carol", "period": "day", "limit": 1000.0, "currency": "EUR"},
]


@dataclass
class Hub:
    root: Path
    proxy_url: str
    api: str
    service_ready_at: float = 0.0
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return f"{self.proxy_url}/services/usage/api/v1"

    def admin(self, method: str, path: str, body: Any = None) -> Answer:
        return call(method, f"{self.api}/{path}", ADMIN_TOKEN, body)

    def running(self, user: str) -> bool:
        return bool(self.admin("GET", f"users/{user}").json().get("servers"))

    def budget(self, user: str) -> dict[str, Any]:
        answer = call("GET", f"{self.service}/budget", self.tokens[user])
        assert answer.status == 200, answer.body
        [entry] = answer.json()["budgets"]
        return entry  # type: ignore[no-any-return]

    def report(self, user: str, body: dict[str, Any]) -> Answer:
        return call("POST", f"{self.service}/sessions", self.tokens[user], body)

    def log(self) -> str:
        return (self.root / "hub.log").read_text(errors="replace")


def write_config(root: Path, ports: dict[str, int], db_url: str) -> Path:
    singleuser = singleuser_config(
        root,
        {
            "UsageApp": {
                "sample_interval": 0.5,
                "checkpoint_interval": 1,
                "report_interval": REPORT_SECONDS,
            },
            "CostModel": {"currency": "EUR", "server_hour": 36.0},
        },
    )
    service_config = root / "usage_service_config.py"
    service_config.write_text(
        f"c.UsageService.budgets = {BUDGETS!r}\n"
        'c.UsageService.budget_enforcement = "stop"\n'
        f"c.UsageService.budget_grace_seconds = {GRACE_SECONDS}\n"
    )
    command = service_command(
        db_url,
        f"--UsageService.hub_poll_interval={POLL_SECONDS}",
        f"--UsageService.config_file={service_config}",
    )
    config = (
        spawning_hub_config(root, ports, {"JUPYTER_CONFIG_PATH": str(singleuser)})
        + services_config(ADMIN_TOKEN, url=f"http://127.0.0.1:{ports['service']}", command=command)
        + """
c.Authenticator.admin_users = {"ada"}
c.Authenticator.allowed_users = {"alice", "bob", "carol"}
c.JupyterHub.load_roles = [
    {
        "name": "test-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "list:users"],
        "services": ["test-admin"],
    },
    {
        "name": "usage-service",
        "scopes": ["list:users", "read:users:groups", "read:servers", "servers"],
        "services": ["usage"],
    },
]
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp(f"trust-hub-{request.param}")
    if request.param == "sqlite":
        yield from _hub(root, f"sqlite:///{root / 'usage.sqlite'}")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    with server.database() as url:
        yield from _hub(root, url)


def _hub(root: Path, db_url: str) -> Iterator[Hub]:
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub", "service")}
    proxy_url = f"http://127.0.0.1:{ports['proxy']}"
    api = f"{proxy_url}/hub/api"
    with running_hub(root, write_config(root, ports, db_url), api):
        hub = Hub(root, proxy_url, api)
        hub.tokens = user_tokens(api, ADMIN_TOKEN, ["alice", "bob", "carol", "ada"])
        wait_for(
            "the usage service",
            lambda: call("GET", f"{hub.service}/budget", hub.tokens["carol"]).status == 200,
            60,
        )
        hub.service_ready_at = time.time()
        answer = hub.admin("POST", "users/alice/server")
        assert answer.status in (201, 202), answer.body
        yield hub


def test_a_user_cannot_lower_her_own_running_session(hub: Hub) -> None:
    def costed() -> dict[str, Any] | None:
        answer = call("GET", f"{hub.service}/sessions", hub.tokens["alice"])
        running = [s for s in answer.json()["sessions"] if s["ended"] is None]
        return running[0] if running and (running[0]["cost"] or {}).get("total") else None

    session = wait_for("alice's running session, with its cost", costed, 120)
    used = wait_for("alice's budget in use", lambda: hub.budget("alice")["used"], 30)
    zeroed = {
        key: session[key]
        for key in ("id", "server_name", "started", "ended", "ended_by", "meta", "summary")
    }
    zeroed |= {
        "last_checkpoint": session["last_checkpoint"] + 5,
        "totals": dict.fromkeys(session["totals"], 0),
        "cost": {**session["cost"], "total": 0.0, "breakdown": {}},
    }
    answer = hub.report("alice", zeroed)
    assert answer.status == 409, answer.body
    body = answer.json()
    assert body["status"] == "refused"
    assert "cost.total" in body["figures"]
    assert "only grow" in body["message"]
    # As the final report of her session too: the stored one is kept all the same.
    assert hub.report("alice", {**zeroed, "ended": zeroed["last_checkpoint"]}).status == 409
    assert hub.budget("alice")["used"] >= used
    # Her server's own reports go on being stored.
    wait_for(
        "alice's next report",
        lambda: hub.budget("alice")["used"] > used,
        3 * REPORT_SECONDS,
    )


def test_the_admin_sees_the_refused_reports(hub: Hub) -> None:
    answer = call("GET", f"{hub.service}/metrics", hub.tokens["ada"])
    assert answer.status == 200, answer.body
    samples = {
        (sample.labels["user"], sample.labels["kind"]): sample.value
        for family in text_string_to_metric_families(answer.body.decode())
        for sample in family.samples
        if sample.name == "jupyter_usage_report_flags"
    }
    assert samples[("alice", "lowering_refused")] == 2.0
    assert samples[("alice", "unconfirmed")] == 0.0
    page = call("GET", f"{hub.proxy_url}/services/usage/", hub.tokens["ada"])
    assert page.status == 200, page.body[:300]
    text = page.body.decode()
    section = text[text.index('<section id="report-checks">') :].split("</section>")[0]
    [alice] = [row for row in section.split("<tr") if ">alice</a></td>" in row]
    assert "</a></td><td>2</td><td>0</td><td>0</td>" in alice


def test_the_stop_comes_when_the_countdown_ends(hub: Hub) -> None:
    # Started here: his first report spends his budget, and the test watches for it.
    answer = hub.admin("POST", "users/bob/server")
    assert answer.status in (201, 202), answer.body

    def stop_at() -> float | None:
        entry = hub.budget("bob")
        return entry["stop_at"] if entry["exhausted"] else None

    when = wait_for("bob's budget spent, his stop scheduled", stop_at, 120)
    assert when <= time.time() + GRACE_SECONDS + 1
    assert hub.running("bob")
    wait_for("bob's server stopped", lambda: not hub.running("bob"), 60)
    stopped = time.time()
    # Not at the budget check after it (every POLL_SECONDS), but at its time.
    assert when - 1 <= stopped <= when + STOP_TOLERANCE_SECONDS, (stopped - when, hub.log()[-3000:])
    assert "Stopped bob's server" in hub.log()


def test_a_session_the_hub_never_ran_is_unconfirmed(hub: Hub) -> None:
    # The fabricated session claims a stretch that the service watched from its first
    # complete poll (the one before it may have found the database not ready yet).
    started = hub.service_ready_at + 1.5 * POLL_SECONDS
    wait_for(
        "a watched stretch long enough to check",
        lambda: time.time() >= started + 10 + 1.5 * POLL_SECONDS + 5 + 1,
        90,
    )
    fake = {
        "id": "fabricated-1",
        "server_name": "",
        "started": started,
        "ended": time.time(),
        "ended_by": "shutdown",
        "totals": {"duration_seconds": time.time() - started, "cpu_core_seconds": 1.0},
        "cost": {"currency": "EUR", "total": 0.5},
        "meta": {},
    }
    answer = hub.report("carol", fake)
    assert answer.status == 201, answer.body
    # Checked at once when a poll already reached past the stretch it claims, else at
    # the poll after it.
    assert answer.json()["hub_check"] in ("unconfirmed", None)
    # Her budget counts it all the same: no session she posts lowers her use.
    assert hub.budget("carol")["used"] == pytest.approx(0.5)
    since = started - 3600

    def checked() -> dict[str, Any] | None:
        until = time.time() + 60
        kpis = call("GET", f"{hub.service}/kpis?since={since}&until={until}", hub.tokens["ada"])
        assert kpis.status == 200, kpis.body
        report: dict[str, Any] = kpis.json()
        return report if report["coverage"]["unconfirmed"] else None

    wait_for("carol's session unconfirmed", checked, 3 * POLL_SECONDS)
    # Asked again: the KPIs and coverage of one answer are read at once, in two
    # transactions, and the check may have landed between them.
    report = checked()
    assert report is not None
    assert report["coverage"]["unconfirmed"] == 1
    users = {row["user"] for row in report["kpis"]["cost_by_user"]["value"]}
    assert "carol" not in users
    assert {"alice", "bob"} <= users
    assert report["kpis"]["active_users"]["value"] == 2  # alice and bob, not carol
    metrics = call("GET", f"{hub.service}/metrics", hub.tokens["ada"]).body.decode()
    assert 'jupyter_usage_report_flags{kind="unconfirmed",user="carol"} 1.0' in metrics
