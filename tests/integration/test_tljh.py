"""A real JupyterHub configured as The Littlest JupyterHub configures one, with the plugin.

The hub's jupyterhub_config.py does what TLJH's own does around the plugin: its services
reset (`update_services`), then `tljh_custom_jupyterhub_config` of every plugin found
through the `tljh` entry point (this package), with TLJH's config.yaml holding rates and a
budget. Only the hub's addresses, proxy, authenticator and spawner are the test's: TLJH's
own (traefik, systemd) are not on this machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.hub_process import (
    VENV_BIN,
    call,
    configurable_http_proxy,
    free_port,
    loopback_hub_config,
    running_hub,
    user_tokens,
    wait_for,
)

ADMIN_TOKEN = uuid.uuid4().hex
TESTS = Path(__file__).resolve().parents[1]
USAGE = {
    "rates": {"currency": "EUR", "cpu_core_hour": 0.04, "server_hour": 0.02},
    "budgets": [{"group": "students", "period": "month", "server_hours": 0.0001}],
    "budget_enforcement": "spawn",
    "budget_timezone": "Europe/Berlin",
    "hub_poll_interval": 2,
}
"""`tljh-config set usage.rates.cpu_core_hour 0.04` and so on; students may run servers
for a third of a second a month, so a student's second spawn is refused."""


def write_config(root: Path, ports: dict[str, int]) -> Path:
    (root / "config").mkdir()
    (root / "state").mkdir()
    (root / "config" / "config.yaml").write_text(yaml.safe_dump({"usage": USAGE}))
    config = (
        loopback_hub_config(root, ports, configurable_http_proxy())
        + f"""
import os, sys

import pluggy

sys.path.insert(0, {str(TESTS)!r})
from support.tljh import hooks

os.environ["TLJH_INSTALL_PREFIX"] = {str(root)!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"
c.Spawner.cmd = [{str(VENV_BIN / "jupyterhub-singleuser")!r}]
c.Spawner.args = ["--allow-root"]
c.Spawner.http_timeout = 90

# What TLJH's jupyterhub_config.py does: update_services, then the plugins' hook.
c.JupyterHub.services = []
manager = pluggy.PluginManager("tljh")
manager.add_hookspecs(hooks)
manager.load_setuptools_entrypoints("tljh")
manager.hook.tljh_custom_jupyterhub_config(c=c)

# The test's admin service, as jupyterhub_config.d/ would add one.
c.JupyterHub.services.append({{"name": "test-admin", "api_token": {ADMIN_TOKEN!r}}})
c.JupyterHub.load_roles.append({{
    "name": "test-admin",
    "scopes": ["admin:users", "admin:groups", "admin:servers", "tokens", "access:servers"],
    "services": ["test-admin"],
}})
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    return path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("tljh-hub")
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub")}
    proxy = f"http://127.0.0.1:{ports['proxy']}"
    with running_hub(root, write_config(root, ports), f"{proxy}/hub/api"):
        yield proxy


def admin(hub: str, method: str, path: str, body: object = None) -> tuple[int, object]:
    answer = call(method, f"{hub}/hub/api/{path}", ADMIN_TOKEN, body)
    return answer.status, answer.json() if answer.body else None


def test_a_tljh_hub_runs_the_service_prices_servers_and_refuses_a_spent_budget(
    hub: str,
) -> None:
    assert admin(hub, "POST", "users/lea")[0] == 201
    assert admin(hub, "POST", "groups/students", {"users": ["lea"]})[0] in (200, 201)
    [token] = user_tokens(f"{hub}/hub/api", ADMIN_TOKEN, ["lea"]).values()
    wait_for(
        "the usage service",
        lambda: call("GET", f"{hub}/services/usage/api/v1/budget", token).status == 200,
        60,
    )
    # Her first server starts (nothing spent yet) with the rates of TLJH's config.
    assert admin(hub, "POST", "users/lea/server")[0] in (201, 202)

    def ready() -> bool:
        model = admin(hub, "GET", "users/lea")[1]
        server = model.get("servers", {}).get("") if isinstance(model, dict) else None
        return bool(server and server.get("ready"))

    wait_for("lea's server", ready, 90)
    rates = call("GET", f"{hub}/user/lea/api/usage/v1/config", ADMIN_TOKEN).json()["rates"]
    assert (rates["currency"], rates["cpu_core_hour"], rates["server_hour"]) == ("EUR", 0.04, 0.02)

    # The service's poll (its role's scopes) counts her server: the budget is spent.
    def spent() -> bool:
        answer = call("GET", f"{hub}/services/usage/api/v1/budget", token).json()
        return any(b["exhausted"] for b in answer["budgets"])

    wait_for("lea's budget to be spent", spent, 60)
    assert admin(hub, "DELETE", "users/lea/server")[0] in (202, 204)
    wait_for("lea's server to stop", lambda: not admin(hub, "GET", "users/lea")[1]["servers"], 60)
    status, body = admin(hub, "POST", "users/lea/server")
    assert status == 403, body
    assert isinstance(body, dict)
    assert "Your monthly budget (group:students) is spent" in body["message"]
