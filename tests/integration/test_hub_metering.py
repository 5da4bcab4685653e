"""Metering from the hub: the service's price list, the spawn hook's allocations, trusted
costs in budgets, reports bounded by their allocation. A real JupyterHub as
tests/integration/test_hub_budgets.py runs it, once on SQLite and once on PostgreSQL.

- The rates are set only in the service's config (EUR): 360 per server-hour (0.1 a
  second) and 36 per CPU core-hour; every server is given one core (`c.Spawner.cpu_limit`),
  which `record_allocation`, chained with the budget check and a hook of the test's own,
  tells the service.
- alice's server runs the extension with no `CostModel` of its own: it prices with the
  service's rates.
- bob's server runs without the extension, under a 3 EUR daily budget with "stop"
  enforcement: only the hub knows his server, and its time is charged.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.hub_process import (
    Answer,
    call,
    free_port,
    running_hub,
    service_command,
    service_pid,
    services_config,
    singleuser_config,
    spawning_hub_config,
    user_tokens,
    wait_for,
)

ADMIN_TOKEN = uuid.uuid4().hex
POLL_SECONDS = 2
SERVER_HOUR = 360.0
CPU_CORE_HOUR = 36.0
PER_SECOND = (SERVER_HOUR + CPU_CORE_HOUR) / 3600  # one core given
BOB_LIMIT = 3.0
BUDGETS = [
    {"user": "bob", "period": "day", "limit": BOB_LIMIT, "currency": "EUR"},
    {"user": "alice", "period": "day", "limit": 1_000_000, "currency": "EUR"},
]


@dataclass
class Hub:
    root: Path
    proxy_url: str
    api: str
    service_port: int
    process: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    def service_token(self) -> str:
        """The token the hub gave the service, which its spawn hook sends allocations with."""
        environ = Path(f"/proc/{service_pid(self.process)}/environ").read_bytes()
        pairs = dict(item.split(b"=", 1) for item in environ.split(b"\0") if b"=" in item)
        return pairs[b"JUPYTERHUB_API_TOKEN"].decode()

    @property
    def service(self) -> str:
        return f"{self.proxy_url}/services/usage/api/v1/"

    def admin(self, method: str, path: str, body: Any = None) -> Answer:
        return call(method, f"{self.api}/{path}", ADMIN_TOKEN, body)

    def as_user(self, user: str, method: str, path: str, body: Any = None) -> Answer:
        return call(method, f"{self.service}{path}", self.tokens[user], body)

    def server_api(self, user: str, path: str) -> dict[str, Any]:
        answer = call("GET", f"{self.proxy_url}/user/{user}/api/usage/v1/{path}", ADMIN_TOKEN)
        assert answer.status == 200, answer.body
        return answer.json()  # type: ignore[no-any-return]

    def budget(self, user: str) -> dict[str, Any]:
        answer = self.as_user(user, "GET", "budget")
        assert answer.status == 200, answer.body
        [entry] = answer.json()["budgets"]
        return entry  # type: ignore[no-any-return]

    def server(self, user: str) -> dict[str, Any] | None:
        return self.admin("GET", f"users/{user}").json().get("servers", {}).get("")  # type: ignore[no-any-return]

    def log(self) -> str:
        return (self.root / "hub.log").read_text(errors="replace")


def write_config(root: Path, ports: dict[str, int], db_url: str) -> Path:
    singleuser = singleuser_config(
        root, {"UsageApp": {"sample_interval": 0.5, "checkpoint_interval": 1, "report_interval": 2}}
    )
    no_extension = singleuser_config(
        root,
        {"ServerApp": {"jpserver_extensions": {"jupyter_usage": False}}},
        "no-extension-config",
    )
    service_config = root / "usage_service_config.py"
    service_config.write_text(
        f"c.CostModel.server_hour = {SERVER_HOUR}\n"
        f"c.CostModel.cpu_core_hour = {CPU_CORE_HOUR}\n"
        'c.CostModel.currency = "EUR"\n'
        f"c.UsageService.budgets = {BUDGETS!r}\n"
        'c.UsageService.budget_enforcement = "stop"\n'
        "c.UsageService.budget_grace_seconds = 2\n"
    )
    command = service_command(
        db_url,
        f"--UsageService.hub_poll_interval={POLL_SECONDS}",
        f"--UsageService.config_file={service_config}",
    )
    config = (
        spawning_hub_config(root, ports, {"JUPYTER_CONFIG_PATH": str(singleuser)})
        + services_config(ADMIN_TOKEN, url=f"http://127.0.0.1:{ports['service']}", command=command)
        + f"""
from jupyter_usage.hub.budgets import chain_hooks, record_allocation, refuse_over_budget

c.JupyterHub.load_groups = {{"metered": {{"users": ["alice", "bob"]}}}}
c.Spawner.cpu_limit = 1
c.Spawner.mem_limit = "1G"
c.JupyterHub.load_roles = [
    {{
        "name": "test-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "list:users"],
        "services": ["test-admin"],
    }},
    {{
        "name": "usage-service",
        "scopes": ["list:users", "read:users:groups", "read:servers", "servers"],
        "services": ["usage"],
    }},
]

# bob's image lacks the extension.
def _without_the_extension(spawner):
    if spawner.user.name == "bob":
        spawner.environment = {{**spawner.environment, "JUPYTER_CONFIG_PATH": "{no_extension}"}}

c.Spawner.pre_spawn_hook = chain_hooks(
    _without_the_extension, record_allocation, refuse_over_budget
)
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp(f"metering-hub-{request.param}")
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub", "service")}
    proxy_url = f"http://127.0.0.1:{ports['proxy']}"
    api = f"{proxy_url}/hub/api"
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(_database(request, root))
        process = stack.enter_context(running_hub(root, write_config(root, ports, db_url), api))
        hub = Hub(root, proxy_url, api, ports["service"], process)
        hub.tokens = user_tokens(api, ADMIN_TOKEN, ["alice", "bob"])
        wait_for(
            "the usage service", lambda: hub.as_user("alice", "GET", "rates").status == 200, 60
        )
        for name in ("alice", "bob"):
            answer = hub.admin("POST", f"users/{name}/server")
            assert answer.status in (201, 202), answer.body
        for name in ("alice", "bob"):
            wait_for(f"{name}'s server", lambda n=name: (hub.server(n) or {}).get("ready"), 90)
        yield hub


def _database(request: pytest.FixtureRequest, root: Path) -> Any:
    if request.param == "sqlite":
        return contextlib.nullcontext(f"sqlite:///{root / 'usage.sqlite'}")
    return request.getfixturevalue("postgres").database()


def test_the_service_tells_a_server_its_rates(hub: Hub) -> None:
    answer = hub.as_user("alice", "GET", "rates")
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["user"] == "alice"
    assert body["rates"]["server_hour"] == SERVER_HOUR
    assert body["rates"]["currency"] == "EUR"


def test_rates_set_only_in_the_service_price_the_servers_session(hub: Hub) -> None:
    config = wait_for(
        "alice's server to take the service's rates",
        lambda: (c := hub.server_api("alice", "config"))["rates_source"] == "service" and c,
        60,
    )
    assert config["rates"]["server_hour"] == SERVER_HOUR
    assert config["rates"]["cpu_core_hour"] == CPU_CORE_HOUR
    assert config["rates"]["currency"] == "EUR"
    session = hub.server_api("alice", "session")
    assert session["cost"]["currency"] == "EUR"
    assert session["rates"]["server_hour"] == SERVER_HOUR
    # Its server-hours at the service's rate: 0.1 EUR a second it has run.
    assert 0 < session["cost"]["breakdown"]["server"] <= session["duration_seconds"] * 0.1 + 1e-9
    assert session["cost"]["per_hour"] >= SERVER_HOUR
    assert "pricing with the hub usage service's rates" in hub.log()


def test_the_hook_records_the_allocation_and_the_trusted_cost_follows(hub: Hub) -> None:
    """alice's server measures little CPU (no cgroup limit here), so what she reports costs
    less than the core she was given: her budget counts the trusted cost."""

    def charged() -> tuple[float, dict[str, Any]] | None:
        sessions = hub.as_user("alice", "GET", "sessions").json()["sessions"]
        running = [s for s in sessions if s["ended"] is None and s["cost"]]
        if not running or running[0]["duration_seconds"] < 5:
            return None
        return hub.budget("alice")["used"], running[0]

    used, session = wait_for("alice's session reported", charged, 60)
    trusted = session["duration_seconds"] * PER_SECOND
    assert session["cost"]["total"] < trusted  # what her server says
    assert used >= trusted * 0.99  # what the hub charges: at least one core's time


def test_a_report_above_its_allocation_is_clipped(hub: Hub) -> None:
    server = hub.server("alice")
    assert server is not None
    started = datetime.fromisoformat(server["started"].replace("Z", "+00:00")).timestamp()
    report = {
        "id": "claims-a-thousand-cores",
        "started": started,
        "last_checkpoint": started + 60,
        "totals": {"cpu_core_seconds": 60_000.0, "duration_seconds": 60.0},
    }
    answer = hub.as_user("alice", "POST", "sessions", report)
    assert answer.status == 201, answer.body
    body = answer.json()
    assert body["clipped"] == ["cpu_core_seconds"]
    assert "more than the server's allocation allows" in body["message"]
    stored = [
        s
        for s in hub.as_user("alice", "GET", "sessions").json()["sessions"]
        if s["id"] == "claims-a-thousand-cores"
    ]
    assert stored[0]["totals"]["cpu_core_seconds"] <= 1 * 70 * 1.02


def test_a_user_cannot_record_an_allocation(hub: Hub) -> None:
    forged = {"user": "bob", "server_name": "", "allocation": {"cpu_limit_cores": 0.001}}
    answer = hub.as_user("bob", "POST", "allocations", forged)
    assert answer.status == 403, answer.body
    assert "spawn hook" in answer.json()["message"]


def test_a_server_without_the_extension_is_charged_and_stopped_when_spent(hub: Hub) -> None:
    entry = wait_for(
        "bob's budget spent",
        lambda: (e := hub.budget("bob"))["exhausted"] and e,
        BOB_LIMIT / PER_SECOND + 60,
    )
    assert entry["currency"] == "EUR"
    assert entry["used"] >= BOB_LIMIT
    wait_for("bob's server stopped", lambda: hub.server("bob") is None, 60)
    # And it stays spent: no report of his lowers it.
    assert hub.budget("bob")["used"] >= BOB_LIMIT


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"server_name": "", "allocation": {}}, "'user' must be a user's name"),
        ({"user": "", "allocation": {}}, "'user' must be a user's name"),
        ({"user": "bob", "server_name": 3, "allocation": {}}, "'server_name' must be"),
        ({"user": "bob", "allocation": []}, "'allocation' must be an object"),
        ({"user": "bob", "allocation": {"cpus": 1}}, "unknown keys ['cpus']"),
        ({"user": "bob", "allocation": {"gpus": -1}}, "'gpus' must be a finite number >= 0"),
        ({"user": "bob", "allocation": {"mem_limit": "1G"}}, "unknown keys ['mem_limit']"),
    ],
)
def test_a_bad_allocation_gets_a_400_that_says_why(hub: Hub, body: Any, says: str) -> None:
    answer = call("POST", f"{hub.service}allocations", hub.service_token(), body)
    assert answer.status == 400, answer.body
    assert says in answer.json()["message"]


def test_the_services_own_token_records_an_allocation(hub: Hub) -> None:
    given = {"cpu_limit_cores": 2, "gpus": 1, "profile": "gpu"}
    body = {"user": "carol", "server_name": "lab", "allocation": given}
    answer = call("POST", f"{hub.service}allocations", hub.service_token(), body)
    assert answer.status == 201, answer.body
    assert answer.json()["allocation"]["gpus"] == 1


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("server_name=a%0Ab", 400, "'server_name' must be"),
        ("profile=" + "x" * 300, 400, "'profile' must be"),
        ("user=bob", 403, "only the rates of your own servers"),
    ],
)
def test_bad_rates_requests_are_refused_with_the_reason(
    hub: Hub, query: str, status: int, says: str
) -> None:
    answer = hub.as_user("alice", "GET", f"rates?{query}")
    assert answer.status == status, answer.body
    assert says in answer.json()["message"]
