"""A real Prometheus (Debian's package) scrapes a real server on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.server_process import ServerProcess, free_port

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="prometheus is not installed"
)


def query(port: int, promql: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def test_prometheus_scrapes_the_extension_with_the_server_token(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, f"--UsageApp.data_dir={tmp_path / 'usage'}") as server:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: jupyter-usage
    metrics_path: /api/usage/v1/metrics
    authorization:
      type: token
      credentials: {server.token}
    static_configs:
      - targets: ["127.0.0.1:{server.port}"]
"""
        )
        check = subprocess.run(
            ["promtool", "check", "config", str(config)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        log = (tmp_path / "prometheus.log").open("w")
        prometheus = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            result: list[dict[str, object]] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not result:
                time.sleep(1)
                try:
                    result = query(port, "jupyter_usage_memory_bytes")
                except OSError:
                    continue
            assert result, (tmp_path / "prometheus.log").read_text()
            value = float(result[0]["value"][1])  # type: ignore[index]
            assert value > 10 * 2**20
            up = query(port, 'up{job="jupyter-usage"}')
            assert up[0]["value"][1] == "1"  # type: ignore[index]
        finally:
            prometheus.terminate()
            prometheus.wait(30)
            log.close()
