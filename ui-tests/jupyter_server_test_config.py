"""Server for the Galata UI tests: Galata's defaults, demo cost rates, a store that
holds one earlier session which ended while JupyterLab was closed (the idle culler
stopped it), as a previous server of this user would have left it, and a real JupyterHub
with the usage service and a budget (budget_hub.py) whose user this server acts as.
`JUPYTER_USAGE_UI_HUB=0` leaves the hub out (the budget tests then skip)."""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

from jupyter_usage.store import SessionStore
from jupyter_usage.summary import build_summary

c = get_config()  # type: ignore[name-defined]  # noqa: F821
configure_jupyter_server(c)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.allow_root = True
c.UsageApp.sample_interval = 0.5
c.UsageApp.checkpoint_interval = 2
c.CostModel.currency = "USD"
c.CostModel.cpu_core_hour = 0.05
c.CostModel.memory_gib_hour = 0.01
c.CostModel.server_hour = 0.02


def _earlier_session(data_dir: str) -> None:
    ended = time.time() - 3600
    started = ended - 2 * 3600
    gib = 2**30
    record = {
        "id": uuid.uuid4().hex,
        "started": started,
        "ended": ended,
        "totals": {
            "duration_seconds": 7200.0,
            "idle_seconds": 5400.0,
            "cpu_core_seconds": 1800.0,
            "memory_byte_seconds": 7200.0 * 1.2 * gib,
            "peak_memory_bytes": int(1.5 * gib),
            "peak_cpu_cores": 1.0,
        },
        "cost": {
            "currency": "USD",
            "total": 0.26,
            "basis": "max",
            "breakdown": {"cpu": 0.2, "memory": 0.02, "gpu": 0.0, "disk": 0.0, "server": 0.04},
        },
    }
    limits = {"cpu_limit_cores": 2.0, "memory_limit_bytes": 8 * gib, "gpu_count": 0}
    with SessionStore(f"{data_dir}/sessions.sqlite") as store:
        store.start_session(record["id"], user=None, server_name=None, started=started)
        store.end_session(
            record["id"],
            ended=ended,
            ended_by="stop",
            totals=record["totals"],
            cost=record["cost"],
            summary=build_summary(record, limits=limits),
        )


c.UsageApp.data_dir = tempfile.mkdtemp(prefix="jupyter-usage-ui-tests-")
_earlier_session(c.UsageApp.data_dir)


def _budget_hub() -> None:
    """Start budget_hub.py and take the hub's environment, as a spawner would give it."""
    info = Path(tempfile.mkdtemp(prefix="jupyter-usage-ui-hub-info-")) / "hub.json"
    log = info.with_name("budget_hub.log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("budget_hub.py")),
                str(os.getpid()),
                str(info),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while not info.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the budget hub did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    hub = json.loads(info.read_text())
    os.environ.update(
        {
            "JUPYTERHUB_API_URL": hub["hub_api"],
            "JUPYTERHUB_API_TOKEN": hub["token"],
            "JUPYTERHUB_USER": hub["user"],
        }
    )


if os.environ.get("JUPYTER_USAGE_UI_HUB", "1") != "0":
    _budget_hub()
    c.UsageApp.report_interval = 10
