"""The shipped Grafana dashboard and Prometheus rules, against a real Prometheus.

Every PromQL expression of `jupyter_usage/grafana/jupyter-usage.json` (panel targets and
template-variable queries) is extracted, written as recording rules and checked with
`promtool check rules`; the shipped `rules.yml` is checked and its alert unit-tested with
`promtool test rules`. Then a real JupyterHub spawns two real servers (alice in groups
physics and gpu-users, with a fake NVML as this machine has no GPU; bob in biology), a real
Prometheus finds them through a file_sd file generated from the hub's REST API (the recipe
in docs/admins.md) and scrapes them through the proxy with a hub service token, and every
expression must return data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.hub_process import (
    call,
    configurable_http_proxy,
    free_port,
    loopback_hub_config,
    singleuser_config,
    stop_process,
    wait_for,
)

import jupyter_usage

PACKAGE = Path(jupyter_usage.__file__).parent
DASHBOARD = PACKAGE / "grafana" / "jupyter-usage.json"
RULES = PACKAGE / "prometheus" / "rules.yml"
TESTS = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ADMIN_TOKEN = uuid.uuid4().hex
PROMETHEUS_TOKEN = uuid.uuid4().hex
GROUPS = {"physics": ["alice"], "gpu-users": ["alice"], "biology": ["bob"]}

# Grafana's variables, as a test fixes them: the "All" value of multi-value variables is
# the regex `.*`; the windows are short because the servers have run for seconds only.
VARIABLES = {
    "__rate_interval": "10s",
    "__interval": "2s",
    "__range": "5m",
    "datasource": "prometheus",
    "currency": "USD",
    "group": ".*",
    "user": ".*",
}
VARIABLE = re.compile(r"\$\{?(\w+)\}?")
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<metric>.+?)\s*,\s*(?P<label>\w+)\s*\)\s*$")
QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.+)\)\s*$", re.DOTALL)

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed"
)


# -- what the dashboard asks Prometheus ---------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    where: str
    promql: str
    """With Grafana's variables still in it."""

    def concrete(self) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in VARIABLES, f"{self.where}: unknown variable ${name}"
            return VARIABLES[name]

        return VARIABLE.sub(value, self.promql)


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def variable_query(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def as_promql(grafana_query: str) -> str:
    """A template variable's query in plain PromQL: `label_values(m, l)` (Grafana's own
    syntax) asks for the values of label l among the series m, i.e. `group by (l) (m)`."""
    if match := LABEL_VALUES.match(grafana_query):
        return f"group by ({match['label']}) ({match['metric']})"
    if match := QUERY_RESULT.match(grafana_query):
        return match["expr"]
    raise AssertionError(f"a variable query this test cannot turn into PromQL: {grafana_query}")


def expressions() -> list[Expression]:
    """Every PromQL expression of the dashboard, wherever it sits."""
    found: list[Expression] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            title = node.get("title", where)
            if isinstance(node.get("expr"), str):
                found.append(Expression(f"{title} [{node.get('refId')}]", node["expr"]))
            for key, child in node.items():
                if key != "templating":
                    walk(child, title)
        elif isinstance(node, list):
            for child in node:
                walk(child, where)

    board = dashboard()
    walk(board, board["title"])
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            found.append(Expression(f"${variable['name']}", as_promql(variable_query(variable))))
    return found


def returned_labels(result: list[dict[str, Any]], label: str) -> set[str]:
    return {row["metric"].get(label, "") for row in result}


def test_dashboard_is_grafana_json_with_a_datasource_variable() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("group", "user"):
        assert variables[name]["multi"] is True
        assert variables[name]["includeAll"] is True
        assert variables[name]["allValue"] == ".*"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(panel["title"].lower() for panel in board["panels"])
    for topic in ("by group", "gpu", "idle cost", "top users", "limit"):
        assert topic in titles
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"


def test_every_variable_used_is_defined() -> None:
    defined = {v["name"] for v in dashboard()["templating"]["list"]}
    for expression in expressions():
        for name in VARIABLE.findall(expression.promql):
            assert name in defined or name.startswith("__"), (expression.where, name)


@needs_promtool
def test_every_dashboard_expression_passes_promtool(tmp_path: Path) -> None:
    found = expressions()
    assert len(found) >= 20
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expression_{i}:check", "expr": e.concrete()}
                    for i, e in enumerate(found)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(found)} rules found" in result.stdout


def docs_promql() -> list[str]:
    """The PromQL examples of docs/admins.md (its ```promql blocks)."""
    text = (TESTS.parent / "docs" / "admins.md").read_text()
    return re.findall(r"```promql\n(.*?)```", text, re.DOTALL)


@needs_promtool
def test_the_promql_in_the_admin_guide_passes_promtool(tmp_path: Path) -> None:
    examples = docs_promql()
    assert len(examples) >= 2
    rules = [{"record": f"docs:example_{i}:check", "expr": e} for i, e in enumerate(examples)]
    path = tmp_path / "docs-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "docs", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_shipped_rules_pass_promtool_check() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


ALERT_TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # alice's server: idle throughout, 2.5 an hour; bob's: idle and cheap;
      # carol's: expensive but busy for one minute in the middle.
      - series: 'jupyter_usage_idle{{username="alice", instance="a"}}'
        values: '1x200'
      - series: 'jupyter_usage_cost_rate_per_hour{{username="alice", instance="a",
          resource="cpu", currency="EUR"}}'
        values: '2x200'
      - series: 'jupyter_usage_cost_rate_per_hour{{username="alice", instance="a",
          resource="server", currency="EUR"}}'
        values: '0.5x200'
      - series: 'jupyter_usage_idle{{username="bob", instance="b"}}'
        values: '1x200'
      - series: 'jupyter_usage_cost_rate_per_hour{{username="bob", instance="b",
          resource="cpu", currency="EUR"}}'
        values: '0.2x200'
      - series: 'jupyter_usage_idle{{username="carol", instance="c"}}'
        values: '1x60 0 1x139'
      - series: 'jupyter_usage_cost_rate_per_hour{{username="carol", instance="c",
          resource="gpu", currency="EUR"}}'
        values: '3x200'
    alert_rule_test:
      - eval_time: 100m
        alertname: JupyterServerIdleAtHighCost
        exp_alerts: []
      - eval_time: 150m
        alertname: JupyterServerIdleAtHighCost
        exp_alerts:
          - exp_labels:
              severity: warning
              username: alice
              currency: EUR
            exp_annotations:
              summary: "alice's server has been idle for 2 hours"
              description: >-
                The server "" of alice has been idle for at least 2 hours and costs 2.50
                EUR an hour. Stop it, or let the idle culler do so.
      - eval_time: 190m
        alertname: JupyterServerIdleAtHighCost
        exp_alerts:
          - exp_labels: {{severity: warning, username: alice, currency: EUR}}
            exp_annotations:
              summary: "alice's server has been idle for 2 hours"
              description: >-
                The server "" of alice has been idle for at least 2 hours and costs 2.50
                EUR an hour. Stop it, or let the idle culler do so.
          - exp_labels: {{severity: warning, username: carol, currency: EUR}}
            exp_annotations:
              summary: "carol's server has been idle for 2 hours"
              description: >-
                The server "" of carol has been idle for at least 2 hours and costs 3.00
                EUR an hour. Stop it, or let the idle culler do so.
    promql_expr_test:
      - expr: username_servername:jupyter_usage_idle_cost_rate_per_hour:sum
        eval_time: 10m
        exp_samples:
          - labels: '{{__name__="username_servername:jupyter_usage_idle_cost_rate_per_hour:sum",
              username="alice", currency="EUR"}}'
            value: 2.5
          - labels: '{{__name__="username_servername:jupyter_usage_idle_cost_rate_per_hour:sum",
              username="bob", currency="EUR"}}'
            value: 0.2
          - labels: '{{__name__="username_servername:jupyter_usage_idle_cost_rate_per_hour:sum",
              username="carol", currency="EUR"}}'
            value: 3
"""


@needs_promtool
def test_the_idle_alert_fires_after_two_idle_hours_at_a_high_rate(tmp_path: Path) -> None:
    tests = tmp_path / "alert-tests.yml"
    tests.write_text(ALERT_TESTS.format(rules=json.dumps(str(RULES))))
    result = subprocess.run(
        ["promtool", "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- two real servers under a real hub, scraped by a real Prometheus -----------------------------


def query(port: int, promql: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    answer = call("GET", url)
    body = answer.json()
    assert answer.status == 200, (promql, body)
    assert body["status"] == "success", (promql, body)
    return body["data"]["result"]  # type: ignore[no-any-return]


def file_sd_from_hub(hub_api: str, proxy: str, token: str) -> list[dict[str, Any]]:
    """The file_sd targets docs/admins.md generates: every ready server, through the proxy."""
    answer = call("GET", f"{hub_api}/users?state=ready", token)
    assert answer.status == 200, answer.body
    groups = []
    for user in answer.json():
        for name, server in sorted(user.get("servers", {}).items()):
            if not server.get("ready"):
                continue
            groups.append(
                {
                    "targets": [proxy],
                    "labels": {
                        "__metrics_path__": f"{server['url']}api/usage/v1/metrics",
                        "instance": f"{user['name']}/{name}",
                    },
                }
            )
    return groups


GPU_SHIM = """
import sys
from support.fake_nvml import FakeDevice, FakeNvml

sys.modules[__name__] = FakeNvml(
    [FakeDevice(utilization_percent=40, memory_used_bytes=3 * 2**30, name="Tesla T4")]
)
"""


def write_hub_config(root: Path, ports: dict[str, int]) -> Path:
    singleuser = singleuser_config(
        root,
        {
            "CostModel": {
                "currency": "USD",
                "basis": "allocated",
                "cpu_core_hour": 0.05,
                "memory_gib_hour": 0.01,
                "gpu_hour": 0.35,
                "server_hour": 1.0,
                "group_rates": {"biology": {"server_hour": 0.5}},
            },
            "UsageApp": {
                "sample_interval": 0.5,
                "idle_after_seconds": 1,
                "memory_limit_bytes": 4 * 2**30,
                "cpu_limit_cores": 2,
                "hub_service_name": "",
            },
        },
    )
    shim = root / "gpu-shim"
    shim.mkdir()
    (shim / "pynvml.py").write_text(GPU_SHIM)
    gpu_path = f"{shim}{os.pathsep}{TESTS}"
    config = (
        loopback_hub_config(root, ports, configurable_http_proxy())
        + f"""
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"
c.Spawner.cmd = [{str(VENV_BIN / "jupyterhub-singleuser")!r}]
c.Spawner.args = ["--allow-root"]
c.Spawner.http_timeout = 60
c.Spawner.server_token_scopes = [
    "users:activity!user", "access:servers!server", "read:servers!user",
]
# Only alice's server sees a GPU: a fake NVML, as this machine has none.
c.Spawner.environment = {{
    "JUPYTER_CONFIG_PATH": "{singleuser}",
    "PYTHONPATH": lambda spawner: {gpu_path!r} if spawner.user.name == "alice" else "",
}}
c.JupyterHub.load_groups = {{name: {{"users": users}} for name, users in {GROUPS!r}.items()}}
c.JupyterHub.services = [
    {{"name": "test-admin", "api_token": {ADMIN_TOKEN!r}}},
    # What docs/admins.md gives Prometheus.
    {{"name": "prometheus", "api_token": {PROMETHEUS_TOKEN!r}}},
]
c.JupyterHub.load_roles = [
    {{
        "name": "test-admin",
        "scopes": ["admin:users", "admin:servers", "list:users", "read:users"],
        "services": ["test-admin"],
    }},
    {{
        "name": "prometheus",
        "scopes": ["list:users", "read:users:name", "read:servers", "access:servers"],
        "services": ["prometheus"],
    }},
]
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    return path


@dataclass
class Scraped:
    port: int
    root: Path

    def log(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.root.glob("*.log"))
        )


def start(args: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **kwargs)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.skip("prometheus is not installed")
    root = tmp_path_factory.mktemp("scraped")
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub", "prometheus")}
    config = write_hub_config(root, ports)
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in list(env):
        if name.startswith(("JUPYTERHUB_", "JUPYTER_USAGE_")):
            del env[name]
    hub = start(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)], root / "hub.log", cwd=root, env=env
    )
    prometheus: subprocess.Popen[bytes] | None = None
    scraped = Scraped(ports["prometheus"], root)
    proxy = f"127.0.0.1:{ports['proxy']}"
    api = f"http://{proxy}/hub/api"
    try:
        wait_for("the hub", lambda: call("GET", f"{api}/").status == 200, 90)
        for user in ("alice", "bob"):
            answer = call("POST", f"{api}/users/{user}/server", ADMIN_TOKEN)
            assert answer.status in (201, 202), answer.body
        for user in ("alice", "bob"):
            wait_for(
                f"{user}'s server",
                lambda user=user: (
                    call("GET", f"{api}/users/{user}", ADMIN_TOKEN)
                    .json()
                    .get("servers", {})
                    .get("", {})
                    .get("ready")
                ),
                90,
            )
        targets = file_sd_from_hub(api, proxy, PROMETHEUS_TOKEN)
        assert {t["labels"]["instance"] for t in targets} == {"alice/", "bob/"}
        (root / "targets.json").write_text(json.dumps(targets))
        (root / "prometheus-token").write_text(PROMETHEUS_TOKEN)
        prometheus_config = root / "prometheus.yml"
        prometheus_config.write_text(
            yaml.safe_dump(
                {
                    "global": {
                        "scrape_interval": "1s",
                        "scrape_timeout": "1s",
                        "evaluation_interval": "1s",
                    },
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {
                            "job_name": "jupyter-usage",
                            "authorization": {"credentials_file": str(root / "prometheus-token")},
                            "file_sd_configs": [
                                {"files": [str(root / "targets.json")], "refresh_interval": "5s"}
                            ],
                        }
                    ],
                }
            )
        )
        check = subprocess.run(
            ["promtool", "check", "config", str(prometheus_config)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        prometheus = start(
            [
                "prometheus",
                f"--config.file={prometheus_config}",
                f"--storage.tsdb.path={root / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            ],
            root / "prometheus.log",
        )

        # Until its TSDB is open Prometheus answers queries with a plain-text 503.
        wait_for(
            "Prometheus to be ready",
            lambda: call("GET", f"http://127.0.0.1:{ports['prometheus']}/-/ready").status == 200,
            60,
        )

        def both_up() -> bool:
            up = query(ports["prometheus"], 'up{job="jupyter-usage"} == 1')
            groups = query(ports["prometheus"], "jupyter_usage_user_group_info")
            return len(up) == 2 and returned_labels(groups, "group") == set(GROUPS)

        wait_for("Prometheus to scrape both servers and their groups", both_up, 90)
        time.sleep(3)  # a few more scrapes, for rate() and increase()
        yield scraped
    except BaseException:
        print(scraped.log(), file=sys.stderr)
        raise
    finally:
        if prometheus is not None:
            stop_process(prometheus)
        stop_process(hub)


def test_every_dashboard_expression_returns_data(scraped: Scraped) -> None:
    found = expressions()
    empty: list[Expression] = found
    results: dict[Expression, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + 60
    while empty and time.monotonic() < deadline:
        for expression in empty:
            results[expression] = query(scraped.port, expression.concrete())
        empty = [e for e in found if not results[e]]
        if empty:
            time.sleep(1)
    assert not empty, (
        "no data for:\n" + "\n".join(f"{e.where}: {e.concrete()}" for e in empty) + scraped.log()
    )

    by_where = {e.where: results[e] for e in found}
    assert returned_labels(by_where["$user"], "username") == {"alice", "bob"}
    assert returned_labels(by_where["$group"], "group") == set(GROUPS)
    assert returned_labels(by_where["$currency"], "currency") == {"USD"}
    cost_by_group = by_where["Cost by group in the time range ($currency) [A]"]
    costs = {row["metric"]["group"]: float(row["value"][1]) for row in cost_by_group}
    assert set(costs) == set(GROUPS)
    assert all(cost > 0 for cost in costs.values()), costs
    assert costs["physics"] == pytest.approx(costs["gpu-users"])  # alice alone in both
    gpu = by_where["GPU utilization, by user and device [A]"]
    assert [(row["metric"]["username"], float(row["value"][1])) for row in gpu] == [("alice", 0.4)]
    memory = by_where["Memory use / limit, by user [A]"]
    assert returned_labels(memory, "username") == {"alice", "bob"}
    for row in memory:
        assert 0 < float(row["value"][1]) < 1


def test_recording_rules_return_data(scraped: Scraped) -> None:
    rules = yaml.safe_load(RULES.read_text())
    records = [r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r]
    assert records
    missing = records
    deadline = time.monotonic() + 30
    while missing and time.monotonic() < deadline:
        missing = [r for r in missing if not query(scraped.port, r)]
        if missing:
            time.sleep(1)
    assert not missing, missing
    per_group = query(scraped.port, "group:jupyter_usage_cost:rate5m")
    assert returned_labels(per_group, "group") == set(GROUPS)
    # biology's server_hour is 0.5 against 1.0, and bob has no GPU: biology spends less.
    rate = {row["metric"]["group"]: float(row["value"][1]) for row in per_group}
    assert 0 < rate["biology"] < rate["physics"]


def test_the_admin_guides_cost_by_group_answers(scraped: Scraped) -> None:
    (ours,) = [e for e in docs_promql() if "jupyter_usage_user_group_info" in e]
    rows = query(scraped.port, ours.replace('currency="EUR"', 'currency="USD"'))
    costs = {row["metric"]["group"]: float(row["value"][1]) for row in rows}
    assert set(costs) == set(GROUPS)
    assert all(cost > 0 for cost in costs.values()), costs


def test_no_series_has_a_kernel_id_by_default(scraped: Scraped) -> None:
    assert query(scraped.port, '{__name__=~"jupyter_usage_.*", kernel_id!=""}') == []
    users = query(scraped.port, "count by (username, servername) (jupyter_usage_cpu_cores)")
    assert returned_labels(users, "username") == {"alice", "bob"}
