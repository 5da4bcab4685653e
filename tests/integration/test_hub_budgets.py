"""Budgets kept by a real JupyterHub: the service's answer, the stop, the spawn refusal.

One hub for the module, run as tests/integration/test_hub.py runs its own (the proxy, the
dummy authenticator, the simple local process spawner, the service as a managed service),
with "stop" enforcement and a 5 s grace. Three users with their real single-user servers:

- alice (students: 0.005 CPU core-hours a day) runs a kernel that burns a core;
- bob (staff: 1000 CPU core-hours a day) is unaffected by her budget;
- carol (gpu-users: 0.002 GPU-hours a week) has a GPU through the fake NVML.

`refuse_over_budget` is the hub's pre-spawn hook, chained with a hook of the test's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
    service_pid,
    services_config,
    singleuser_config,
    spawning_hub_config,
    user_tokens,
    wait_for,
)

ADMIN_TOKEN = uuid.uuid4().hex
TESTS = Path(__file__).resolve().parents[1]
GRACE_SECONDS = 5
POLL_SECONDS = 2
REPORT_SECONDS = 10
GROUPS = {"students": ["alice"], "staff": ["bob"], "gpu-users": ["carol"]}
BUDGETS = [
    {"group": "students", "period": "day", "cpu_core_hours": 0.005},
    {"group": "staff", "period": "day", "cpu_core_hours": 1000},
    {"group": "gpu-users", "period": "week", "gpu_hours": 0.002},
]
GPU_SHIM = """
import sys
from support.fake_nvml import FakeDevice, FakeNvml

sys.modules[__name__] = FakeNvml(
    [FakeDevice(utilization_percent=100, memory_used_bytes=2**30, name="Tesla T4")]
)
"""
BURN_KERNEL = """
import sys, threading

def burn():
    while True:
        pass

threading.Thread(target=burn, daemon=True).start()
from ipykernel import kernelapp

kernelapp.launch_new_instance(["-f", sys.argv[1]])
"""


@dataclass
class Hub:
    root: Path
    proxy_url: str
    api: str
    process: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    def admin(self, method: str, path: str, body: Any = None) -> Answer:
        return call(method, f"{self.api}/{path}", ADMIN_TOKEN, body)

    def log(self) -> str:
        return (self.root / "hub.log").read_text(errors="replace")

    def budget(self, user: str, *, reader: str | None = None) -> dict[str, Any]:
        query = f"?user={user}" if reader else ""
        answer = call(
            "GET",
            f"{self.proxy_url}/services/usage/api/v1/budget{query}",
            self.tokens[reader or user],
        )
        assert answer.status == 200, answer.body
        return answer.json()  # type: ignore[no-any-return]

    def running(self, user: str) -> bool:
        return bool(self.admin("GET", f"users/{user}").json().get("servers"))

    def wait_ready(self, user: str, timeout: float = 90) -> None:
        def ready() -> bool:
            server = self.admin("GET", f"users/{user}").json().get("servers", {}).get("")
            return bool(server and server.get("ready"))

        wait_for(f"{user}'s server", ready, timeout)


def write_config(root: Path, ports: dict[str, int]) -> Path:
    singleuser = singleuser_config(
        root,
        {
            "UsageApp": {
                "sample_interval": 0.5,
                "checkpoint_interval": 1,
                "report_interval": REPORT_SECONDS,
            }
        },
    )
    kernels = root / "jupyter-path" / "kernels" / "burn"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-c", BURN_KERNEL, "{connection_file}"],
                "display_name": "Burns a core",
                "language": "python",
            }
        )
    )
    shim = root / "gpu-shim"
    shim.mkdir()
    (shim / "pynvml.py").write_text(GPU_SHIM)
    service_config = root / "usage_service_config.py"
    service_config.write_text(
        f"c.UsageService.budgets = {BUDGETS!r}\n"
        'c.UsageService.budget_enforcement = "stop"\n'
        f"c.UsageService.budget_grace_seconds = {GRACE_SECONDS}\n"
    )
    command = service_command(
        f"sqlite:///{root / 'usage.sqlite'}",
        f"--UsageService.hub_poll_interval={POLL_SECONDS}",
        f"--UsageService.config_file={service_config}",
    )
    environment = {
        "JUPYTER_CONFIG_PATH": str(singleuser),
        "JUPYTER_PATH": str(root / "jupyter-path"),
    }
    config = (
        spawning_hub_config(root, ports, environment, http_timeout=90)
        + services_config(ADMIN_TOKEN, url=f"http://127.0.0.1:{ports['service']}", command=command)
        + f"""
from jupyter_usage.hub.budgets import chain_hooks, refuse_over_budget

c.Authenticator.admin_users = {{"ada"}}
c.JupyterHub.load_groups = {{name: {{"users": users}} for name, users in {GROUPS!r}.items()}}
c.JupyterHub.load_roles = [
    {{
        "name": "test-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "list:users"],
        "services": ["test-admin"],
    }},
    # What docs/admins.md gives the service for "stop" enforcement.
    {{
        "name": "usage-service",
        "scopes": ["list:users", "read:users:groups", "read:servers", "servers"],
        "services": ["usage"],
    }},
]

# Only carol's server sees a GPU: a fake NVML, as this machine has none.
def _gpu_for_carol(spawner):
    if spawner.user.name == "carol":
        path = {f"{shim}{os.pathsep}{TESTS}"!r}
        spawner.environment = {{**spawner.environment, "PYTHONPATH": path}}

c.Spawner.pre_spawn_hook = chain_hooks(refuse_over_budget, _gpu_for_carol)
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    return path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("budget-hub")
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub", "service")}
    proxy_url = f"http://127.0.0.1:{ports['proxy']}"
    api = f"{proxy_url}/hub/api"
    with running_hub(root, write_config(root, ports), api) as process:
        hub = Hub(root, proxy_url, api, process)
        hub.tokens = user_tokens(api, ADMIN_TOKEN, ["alice", "bob", "carol", "ada"])
        wait_for(
            "the usage service",
            lambda: (
                call("GET", f"{proxy_url}/services/usage/api/v1/budget", hub.tokens["bob"]).status
                == 200
            ),
            60,
        )
        for name in ("alice", "bob", "carol"):
            answer = hub.admin("POST", f"users/{name}/server")
            assert answer.status in (201, 202), answer.body
        for name in ("alice", "bob", "carol"):
            hub.wait_ready(name)
        yield hub


def metric_samples(hub: Hub) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The service's metrics, by sample name, as Prometheus would read them."""
    answer = call("GET", f"{hub.proxy_url}/services/usage/api/v1/metrics", hub.tokens["ada"])
    assert answer.status == 200, answer.body
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def cpu_budget(body: dict[str, Any]) -> dict[str, Any]:
    [entry] = [b for b in body["budgets"] if b.get("unit") == "cpu_core_seconds"]
    return entry


def test_a_member_burning_cpu_spends_her_group_budget(hub: Hub) -> None:
    answer = call("POST", f"{hub.proxy_url}/user/alice/api/kernels", ADMIN_TOKEN, {"name": "burn"})
    assert answer.status == 201, answer.body
    spent = wait_for(
        "alice's budget spent",
        lambda: (entry := cpu_budget(hub.budget("alice")))["exhausted"] and entry,
        180,
    )
    assert spent["scope"] == "group:students"
    assert spent["period"] == "day"
    assert spent["limit"] == pytest.approx(18.0)
    assert spent["used"] >= spent["limit"]
    assert spent["remaining"] == 0
    assert spent["enforcement"] == "stop"
    assert spent["starts_at"] <= time.time() < spent["resets_at"]
    assert spent["resets_at"] - spent["starts_at"] == 86400
    # An admin sees the same through ?user=.
    assert cpu_budget(hub.budget("alice", reader="ada"))["exhausted"] is True


def test_with_stop_enforcement_her_server_is_stopped_after_the_grace(hub: Hub) -> None:
    scheduled = wait_for(
        "alice's stop scheduled",
        lambda: cpu_budget(hub.budget("alice"))["stop_at"] or not hub.running("alice"),
        60,
    )
    if scheduled is not True:  # seen before the stop: it lies within the grace
        assert scheduled <= time.time() + GRACE_SECONDS + 1
    wait_for("alice's server stopped", lambda: not hub.running("alice"), 60)
    assert "budget group:students spent" in hub.log() or "Stopped alice" in hub.log()


def test_her_next_spawn_is_refused_with_the_reason(hub: Hub) -> None:
    wait_for("alice's server stopped", lambda: not hub.running("alice"), 60)
    answer = hub.admin("POST", "users/alice/server")
    assert answer.status == 403, answer.body
    message = answer.json()["message"]
    assert "Your daily budget (group:students) is spent" in message
    assert "CPU core-hours used of 0.005 CPU core-hours" in message
    assert "It resets at" in message
    assert message.endswith(" UTC.")
    assert not hub.running("alice")
    refused = metric_samples(hub)["jupyter_usage_budget_spawns_refused_total"]
    assert refused == [({"scope": "group:students"}, 1.0)]
    # The report page lists her as over, with the refusal.
    page = call("GET", f"{hub.proxy_url}/services/usage/", hub.tokens["ada"])
    assert page.status == 200, page.body[:300]
    text = page.body.decode()
    (hub.root / "report.html").write_text(text)  # kept with the hub's files, for a look
    budgets = text[text.index('<section id="budgets">') :].split("</section>")[0]
    assert "Spawns refused in this window: 1 (group:students: 1)." in budgets
    [alice] = [row for row in budgets.split("<tr") if ">alice</a></td>" in row]
    assert "</a></td><td>group:students</td><td>daily</td>" in alice
    assert "over, frees up" in alice
    assert "<td>1</td>" in alice


def test_her_refused_spawn_is_kept_across_a_restart_of_the_service(hub: Hub) -> None:
    def refusals() -> dict[str, Any] | None:
        answer = call(
            "GET", f"{hub.proxy_url}/services/usage/api/v1/budget/refusals", hub.tokens["ada"]
        )
        return answer.json() if answer.status == 200 else None  # type: ignore[no-any-return]

    before = refusals()
    assert before is not None
    assert (before["total"], before["by_user"]) == (1, {"alice": 1})
    [refusal] = before["latest"]
    assert refusal["scope"] == "group:students"
    assert refusal["message"].startswith("Your daily budget (group:students) is spent")
    pid = service_pid(hub.process)

    def restarted() -> dict[str, Any] | None:
        try:
            if service_pid(hub.process) == pid:
                return None
        except AssertionError:  # between the two processes
            return None
        return refusals()

    os.kill(pid, signal.SIGTERM)
    # The hub starts it again (its poll of the process, then the start).
    after = wait_for("the service restarted", restarted, 120)
    assert after["latest"] == before["latest"]
    refused = metric_samples(hub)["jupyter_usage_budget_spawns_refused_total"]
    assert refused == [({"scope": "group:students"}, 1.0)]


def test_a_user_of_another_group_is_unaffected(hub: Hub) -> None:
    assert hub.running("bob")
    entry = cpu_budget(hub.budget("bob"))
    assert entry["scope"] == "group:staff"
    assert entry["exhausted"] is False
    assert entry["stop_at"] is None
    metrics = call("GET", f"{hub.proxy_url}/services/usage/api/v1/metrics", hub.tokens["ada"])
    text = metrics.body.decode()
    assert (
        'jupyter_usage_budget_limit{period="day",scope="group:staff",unit="cpu_core_seconds"'
        in (text.replace('user="bob",', ""))
    )


def test_a_gpu_hour_budget_counts_the_gpu(hub: Hub) -> None:
    def gpu_entry() -> dict[str, Any]:
        [entry] = [b for b in hub.budget("carol")["budgets"] if b.get("unit") == "gpu_seconds"]
        return entry

    spent = wait_for("carol's GPU budget spent", lambda: (e := gpu_entry())["exhausted"] and e, 90)
    assert spent["scope"] == "group:gpu-users"
    assert spent["period"] == "week"
    assert spent["limit"] == pytest.approx(7.2)
    assert spent["used"] >= 7.2
    # She is stopped as alice was.
    wait_for("carol's server stopped", lambda: not hub.running("carol"), 60)


def test_spawns_go_through_while_the_service_is_down(hub: Hub) -> None:
    """Fail-open: with the service frozen, even alice's spent budget lets her start."""
    wait_for("alice's server stopped", lambda: not hub.running("alice"), 60)
    pid = service_pid(hub.process)
    os.kill(pid, signal.SIGSTOP)
    try:
        answer = hub.admin("POST", "users/alice/server")
        assert answer.status in (201, 202), answer.body
        hub.wait_ready("alice")
        assert "Starting alice's server without a budget check" in hub.log()
    finally:
        os.kill(pid, signal.SIGCONT)
    # Back, the service stops her again.
    wait_for("alice's server stopped again", lambda: not hub.running("alice"), 90)
