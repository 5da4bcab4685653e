"""The configuration blocks of README.md, docs/hub.md and docs/admins.md, run as written.

Each block the docs mark `<!-- tested: NAME -->` is taken from the Markdown
(tests/support/doc_blocks.py) and run here; the only changes are the substitutions listed
next to each use (ports, paths, secrets), and each fails when its text is no longer in the
block. What comes before and after a block is the test's own and said so: the hub's
addresses, proxy, database and authenticator (the docs leave them to the admin), and an
admin service whose token drives the hub's API.

- The documented hub: docs/hub.md's setup, its event log, docs/admins.md's budget hook
  and Prometheus service in one `jupyterhub_config.py`; docs/admins.md's budgets as the
  service's config file; docs/hub.md's rates as the single-user servers' config.
- The Helm values of docs/hub.md and docs/admins.md: validated against the chart's schema,
  then their hub and single-user parts run as the chart's hub image would run them.
- The rates of README.md and docs/admins.md, and docs/admins.md's session event log, in a
  plain `jupyter server`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from support.doc_blocks import doc_block, substitute
from support.hub_process import (
    VENV_BIN,
    Answer,
    call,
    configurable_http_proxy,
    free_port,
    loopback_hub_config,
    running_hub,
    service_pid,
    user_tokens,
    wait_for,
)
from support.server_process import ServerProcess
from support.z2jh_values import hub_config, schema_errors, server_files
from traitlets.config import Config

from jupyter_usage.hub.service import UsageService

ADMIN_TOKEN = uuid.uuid4().hex
PROMETHEUS_TOKEN = uuid.uuid4().hex
GROUPS = {"students": ["lea"], "physics": ["noor"]}


@dataclass
class Hub:
    root: Path
    proxy_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    service_pid: int = 0

    def service_scopes(self) -> set[str]:
        """The scopes of the usage service's own token (the hub gave it in its
        environment), as the hub answers them."""
        raw = Path(f"/proc/{self.service_pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
        answer = call("GET", f"{self.api}/user", env["JUPYTERHUB_API_TOKEN"])
        assert answer.status == 200, answer.body
        return set(answer.json()["scopes"])

    @property
    def api(self) -> str:
        return f"{self.proxy_url}/hub/api"

    def admin(self, method: str, path: str, body: Any = None) -> Answer:
        return call(method, f"{self.api}/{path}", ADMIN_TOKEN, body)

    def log(self) -> str:
        return (self.root / "hub.log").read_text(errors="replace")

    def spawn(self, user: str) -> None:
        answer = self.admin("POST", f"users/{user}/server")
        assert answer.status in (201, 202), answer.body

        def ready() -> bool:
            server = self.admin("GET", f"users/{user}").json().get("servers", {}).get("")
            return bool(server and server.get("ready"))

        wait_for(f"{user}'s server", ready, 90)

    def server(self, user: str, path: str, token: str | None = ADMIN_TOKEN) -> Answer:
        return call("GET", f"{self.proxy_url}/user/{user}/{path}", token)


def hub_prefix(root: Path, ports: dict[str, int], environment: dict[str, str]) -> str:
    """What the test puts before the docs' blocks: a hub on loopback, single-user servers
    as local processes (as root), with `environment`."""
    return loopback_hub_config(root, ports, configurable_http_proxy()) + (
        f"""
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"
c.Spawner.cmd = [{str(VENV_BIN / "jupyterhub-singleuser")!r}]
c.Spawner.args = ["--allow-root"]
c.Spawner.http_timeout = 90
c.Spawner.environment = {environment!r}
PROMETHEUS_TOKEN = {PROMETHEUS_TOKEN!r}  # the docs' placeholder for a secret
"""
    )


TEST_SUFFIX = f"""
# The tests' own admin service, after the docs' blocks (which set the lists).
c.JupyterHub.services.append({{"name": "test-admin", "api_token": {ADMIN_TOKEN!r}}})
c.JupyterHub.load_roles.append({{
    "name": "test-admin",
    "scopes": ["admin:users", "admin:groups", "admin:servers", "tokens", "access:servers"],
    "services": ["test-admin"],
}})
"""


def start(root: Path, config: str, ports: dict[str, int]) -> Iterator[Hub]:
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    hub = Hub(root, f"http://127.0.0.1:{ports['proxy']}")
    with running_hub(root, path, hub.api) as process:
        hub.service_pid = service_pid(process)
        users = ["lea", "noor", "alice"]
        for user in users:
            assert hub.admin("POST", f"users/{user}").status == 201
        hub.tokens = user_tokens(hub.api, ADMIN_TOKEN, users)
        for group, members in GROUPS.items():
            answer = hub.admin("POST", f"groups/{group}", {"users": members})
            assert answer.status in (200, 201), answer.body
        yield hub


def hub_ports() -> dict[str, int]:
    return {name: free_port() for name in ("proxy", "proxy_api", "hub", "service")}


# -- docs/hub.md's setup, with docs/admins.md's budgets and Prometheus service ------------


@pytest.fixture(scope="module")
def documented_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("documented-hub")
    ports = hub_ports()
    rates = root / "singleuser-config"
    rates.mkdir()
    (rates / "jupyter_server_config.py").write_text(doc_block("hub-rates").text)
    # The service runs in the hub's working directory and reads its config file there.
    (root / "jupyter_usage_hub_config.py").write_text(doc_block("budgets").text)
    config = (
        hub_prefix(root, ports, {"JUPYTER_CONFIG_PATH": str(rates)})
        + substitute(
            doc_block("hub-setup"),
            {
                "http://127.0.0.1:10101": f"http://127.0.0.1:{ports['service']}",
                "sqlite:////srv/jupyterhub/": f"sqlite:///{root}/",
            },
        )
        + substitute(doc_block("hub-events"), {"/srv/jupyterhub/": f"{root}/"})
        + doc_block("budget-hook").text
        + doc_block("prometheus-service").text
        + TEST_SUFFIX
    )
    yield from start(root, config, ports)


def test_the_documented_hub_starts_with_its_roles(documented_hub: Hub) -> None:
    log = documented_hub.log()
    assert "multiply defined" not in log
    # Quiet when healthy: no warning of the service's on a clean start.
    assert re.findall(r"^\[W [^\]]* UsageService\].*", log, re.MULTILINE) == []
    # The budget config of docs/admins.md, as the service answers a student.
    answer = call(
        "GET",
        f"{documented_hub.proxy_url}/services/usage/api/v1/budget",
        documented_hub.tokens["lea"],
    )
    assert answer.status == 200, answer.body
    budgets = {(b["scope"], str(b["period"])): b for b in answer.json()["budgets"]}
    assert budgets[("group:students", "month")]["limit"] == 20
    assert budgets[("group:students", "month")]["currency"] == "EUR"
    assert budgets[("group:students", "month")]["enforcement"] == "stop"
    assert budgets[("group:students", "week")]["unit"] == "gpu_seconds"
    # The role of docs/hub.md's step 5, with the scope docs/admins.md adds for "stop".
    scopes = documented_hub.service_scopes()
    assert {"list:users", "read:users:groups", "read:servers", "servers"} <= scopes


@pytest.fixture(scope="module")
def noor(documented_hub: Hub) -> str:
    """noor (group physics) with a running server, spawned through the budget hook."""
    documented_hub.spawn("noor")
    return "noor"


def test_a_spawned_server_prices_at_the_documented_rates(documented_hub: Hub, noor: str) -> None:
    assert "without a budget check" not in documented_hub.log()
    config = documented_hub.server("noor", "api/usage/v1/config").json()
    rates = config["rates"]
    assert rates["currency"] == "EUR"
    assert rates["cpu_core_hour"] == pytest.approx(0.04)
    assert rates["memory_gib_hour"] == pytest.approx(0.005)
    # noor is in physics: the group's GPU rate, from the hub's groups.
    assert rates["gpu_hour"] == pytest.approx(1.80)
    # The hub's event log of docs/hub.md has the start.
    events = (documented_hub.root / "events.jsonl").read_text()
    assert "server-action" in events
    assert '"action": "start"' in events


def test_the_documented_prometheus_service_lists_the_servers(
    documented_hub: Hub, noor: str
) -> None:
    answer = call("GET", f"{documented_hub.api}/users?state=ready", PROMETHEUS_TOKEN)
    assert answer.status == 200, answer.body
    [user] = answer.json()
    assert user["name"] == noor
    assert user["servers"][""]["url"] == f"/user/{noor}/"
    # It may reach the server (to scrape it), and nothing of the hub's admin.
    metrics = call("GET", f"{documented_hub.proxy_url}/user/{noor}/metrics", PROMETHEUS_TOKEN)
    assert metrics.status == 200
    assert call("POST", f"{documented_hub.api}/users/x", PROMETHEUS_TOKEN).status == 403


# -- the Helm values of docs/hub.md and docs/admins.md -------------------------------------


def helm_values(service: str, root: Path) -> dict[str, Any]:
    """docs/hub.md's values with docs/admins.md's metrics values merged over them, as
    `helm install -f hub.yaml -f metrics.yaml` would."""
    values = substitute(
        doc_block("z2jh-values"),
        {
            "http://hub:10101": service,
            "- python3\n": f"- {sys.executable}\n",
            "sqlite:////srv/jupyterhub/": f"sqlite:///{root}/",
            "mountPath: /usr/local/etc/jupyter/": f"mountPath: {root}/usr-local-etc-jupyter/",
        },
    )
    metrics = substitute(
        doc_block("z2jh-metrics"),
        {"mountPath: /etc/jupyter/": f"mountPath: {root}/etc-jupyter/"},
    )
    merged: dict[str, Any] = yaml.safe_load(values)
    for key, value in yaml.safe_load(metrics)["singleuser"].items():
        existing = merged["singleuser"].get(key)
        merged["singleuser"][key] = {**existing, **value} if isinstance(existing, dict) else value
    return merged


def test_the_helm_values_follow_the_charts_schema() -> None:
    for name in ("z2jh-values", "z2jh-metrics"):
        assert schema_errors(yaml.safe_load(doc_block(name).text)) == [], name


def test_a_wrong_helm_value_is_caught_by_the_schema() -> None:
    values = yaml.safe_load(doc_block("z2jh-values").text)
    values["hub"]["networkPolicy"]["ingress"] = "everyone"
    values["singleuser"]["extraFiles"]["jupyter-usage-rates"]["mountpath"] = "/x"
    errors = schema_errors(values)
    assert any(error.startswith("hub.networkPolicy.ingress:") for error in errors), errors
    assert any("mountpath" in error for error in errors), errors


@pytest.fixture(scope="module")
def helm_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("helm-hub")
    ports = hub_ports()
    values = helm_values(f"http://127.0.0.1:{ports['service']}", root)
    assert schema_errors(values) == []
    for path, content in server_files(values).items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(content)
    # Both mount folders are config directories of the servers, as /usr/local/etc/jupyter
    # and /etc/jupyter are in a pod.
    config_path = f"{root}/usr-local-etc-jupyter:{root}/etc-jupyter"
    config = (
        hub_prefix(root, ports, {"JUPYTER_CONFIG_PATH": config_path})
        + hub_config(values, {"usage": uuid.uuid4().hex})
        + TEST_SUFFIX
    )
    yield from start(root, config, ports)


def test_the_helm_values_run_as_a_hub_with_rates_and_open_metrics(helm_hub: Hub) -> None:
    assert {"list:users", "read:users:groups", "read:servers"} <= helm_hub.service_scopes()
    helm_hub.spawn("alice")
    rates = helm_hub.server("alice", "api/usage/v1/config").json()["rates"]
    assert rates["currency"] == "EUR"
    assert rates["cpu_core_hour"] == pytest.approx(0.04)
    assert rates["server_hour"] == pytest.approx(0.01)
    # authenticate_prometheus = false (docs/admins.md): /metrics answers without a token.
    metrics = helm_hub.server("alice", "metrics", token=None)
    assert metrics.status == 200, metrics.body[:500]
    assert b"jupyter_usage_cpu_cores" in metrics.body
    # The server found the service at JUPYTER_USAGE_SERVICE_URL.
    hub_view = helm_hub.server("alice", "api/usage/v1/hub").json()
    assert "usage" in json.dumps(hub_view.get("delivery", {}))


# -- rates and the session event log in a plain jupyter server ----------------------------


@pytest.mark.parametrize(("name", "currency"), [("readme-rates", "USD"), ("admins-rates", "EUR")])
def test_documented_rates_price_a_server(tmp_path: Path, name: str, currency: str) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    config = doc_block(name).text
    events = tmp_path / "usage-events.jsonl"
    if name == "admins-rates":  # and docs/admins.md's session event log, beside the rates
        config += substitute(
            doc_block("server-events"), {"/var/log/jupyter/usage-events.jsonl": str(events)}
        )
    (folder / "jupyter_server_config.py").write_text(config)
    server = ServerProcess(
        tmp_path,
        f"--UsageApp.data_dir={tmp_path / 'usage-data'}",
        env={"JUPYTER_CONFIG_PATH": str(folder)},
    )
    with server:
        rates = server.get("api/usage/v1/config")["rates"]
        assert rates["currency"] == currency
        assert rates["cpu_core_hour"] == pytest.approx(0.04)
        assert rates["server_hour"] == pytest.approx(0.01)
        assert rates["basis"] == "max"
        assert server.stop() == 0
    if name == "admins-rates":
        lines = [json.loads(line) for line in events.read_text().splitlines()]
        assert any("session-summary" in line.get("__schema__", "") for line in lines), lines


# -- docs/admins.md's price list and allocations of the usage service -------------------


def test_the_services_price_list_and_profile_allocations_load(tmp_path: Path) -> None:
    path = tmp_path / "jupyter_usage_hub_config.py"
    path.write_text(doc_block("service-rates").text + doc_block("profile-allocations").text)
    service = UsageService(config_file=str(path))
    service.load_config_file(str(path))
    assert service.metering.configured
    assert service.metering.rates([], None).cpu_core_hour == pytest.approx(0.04)
    assert service.metering.rates(["students"], None).cpu_core_hour == 0.0
    assert service.metering.rates([], "gpu-large").server_hour == pytest.approx(0.05)
    allocations = service.parsed_profile_allocations
    assert allocations["small"].memory_limit_bytes == 2 * 2**30
    assert allocations["gpu-large"].gpus == 1


def test_the_allocation_hook_chains_with_an_admins_own(tmp_path: Path) -> None:
    seen: list[object] = []
    # The admin's own hook, which the block chains first.
    namespace: dict[str, object] = {"c": Config(), "my_hook": seen.append}
    exec(doc_block("allocation-hook").text, namespace)
    hook = namespace["c"].Spawner.pre_spawn_hook  # type: ignore[attr-defined]
    assert inspect.iscoroutinefunction(hook)
    # A hub without the service: the admin's hook runs, and the spawn goes on (fail-open).
    spawner = SimpleNamespace(
        user=SimpleNamespace(name="ada", settings={}),
        name="",
        config=Config(),
        log=logging.getLogger("test-hook"),
    )
    asyncio.run(hook(spawner))
    assert seen == [spawner]
