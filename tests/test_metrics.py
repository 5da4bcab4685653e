"""Prometheus exposition: our endpoint, the server's /metrics, promtool's lint."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from test_api import wait_for_sample


async def test_metrics_endpoint_serves_our_figures_only(jp_fetch: Any, usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    response = await jp_fetch("api", "usage", "v1", "metrics")
    text = response.body.decode()
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "jupyter_usage_memory_bytes " in text
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert names
    assert all(name.startswith("jupyter_usage_") for name in names)


async def test_collector_is_on_the_servers_metrics(jp_fetch: Any, usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    text = (await jp_fetch("metrics")).body.decode()
    assert text.count("# TYPE jupyter_usage_memory_bytes gauge") == 1


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
async def test_promtool_finds_no_lint_problems(jp_fetch: Any, usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    text = (await jp_fetch("api", "usage", "v1", "metrics")).body
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_hub_labels_come_from_the_spawner_environment() -> None:
    from jupyter_usage.metrics import hub_labels

    assert hub_labels({}) == {}
    assert hub_labels({"JUPYTERHUB_USER": "alice", "JUPYTERHUB_SERVER_NAME": "gpu"}) == {
        "username": "alice",
        "servername": "gpu",
    }
    assert hub_labels({"JUPYTERHUB_USER": "bob"}) == {"username": "bob", "servername": ""}
