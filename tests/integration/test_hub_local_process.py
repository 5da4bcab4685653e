"""JupyterHub's default spawner, LocalProcessSpawner, as it is (not the "simple" test one).

It runs each server as the system user of the same name (setuid) and stops it with
SIGINT, then SIGTERM after `interrupt_timeout`; the session must be closed by the server
at the SIGINT, whole, and reach the service. The hub user is `root`: this machine's Python
lives under /root (mode 0700), which no other system user may run, and the test does not
loosen the host's permissions to make one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.hub_process import (
    call,
    free_port,
    running_hub,
    service_command,
    services_config,
    singleuser_config,
    spawning_hub_config,
    wait_for,
)

from jupyter_usage.hubclient import parse_hub_time

USER = "root"
ADMIN_TOKEN = uuid.uuid4().hex
HOUR = 3600.0

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the hub user is root: run as root")


def write_config(root: Path, ports: dict[str, int]) -> Path:
    singleuser = singleuser_config(
        root,
        {
            "CostModel": {"server_hour": 3600.0},  # one unit a second: easy to check
            # A store of its own: root's home holds other servers' sessions.
            "UsageApp": {
                "sample_interval": 0.5,
                "checkpoint_interval": 1,
                "data_dir": str(root / "usage-data"),
            },
        },
    )
    command = service_command(f"sqlite:///{root / 'usage.sqlite'}")
    config = (
        spawning_hub_config(
            root, ports, {"JUPYTER_CONFIG_PATH": str(singleuser)}, spawner="localprocess"
        )
        + services_config(ADMIN_TOKEN, url=f"http://127.0.0.1:{ports['service']}", command=command)
        + """
c.JupyterHub.load_roles = [
    {
        "name": "test-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "read:users", "list:users"],
        "services": ["test-admin"],
    },
]
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    return path


@pytest.fixture(scope="module")
def hub() -> Iterator[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="jupyter-usage-lp-"))
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub", "service")}
    api = f"http://127.0.0.1:{ports['proxy']}/hub/api"
    try:
        with running_hub(root, write_config(root, ports), api):
            yield {"api": api, "root": root, "service": f"http://127.0.0.1:{ports['service']}"}
    finally:
        if not os.environ.get("KEEP_HUB"):
            shutil.rmtree(root, ignore_errors=True)


def admin(hub: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    return call(method, f"{hub['api']}/{path}", ADMIN_TOKEN, body)


def test_a_hub_stop_of_a_local_process_server_closes_its_session_whole(
    hub: dict[str, Any],
) -> None:
    assert admin(hub, "POST", f"users/{USER}").status in (201, 409)
    assert admin(hub, "POST", f"users/{USER}/server").status in (201, 202)

    def ready() -> dict[str, Any] | None:
        server = admin(hub, "GET", f"users/{USER}").json().get("servers", {}).get("")
        return server if server and server.get("ready") else None

    server = wait_for("the user's server", ready, 90)
    pid = server["state"]["pid"]
    assert Path(f"/proc/{pid}").stat().st_uid == pwd.getpwnam(USER).pw_uid  # really the user
    started = parse_hub_time(server["started"])
    assert started is not None
    time.sleep(3)  # a few samples and a checkpoint

    stop_asked = time.time()
    assert admin(hub, "DELETE", f"users/{USER}/server").status in (202, 204)
    wait_for("the stop", lambda: not admin(hub, "GET", f"users/{USER}").json().get("servers"), 60)
    token = admin(hub, "POST", f"users/{USER}/tokens", {"expires_in": 600}).json()["token"]

    def ended() -> list[dict[str, Any]]:
        answer = call("GET", f"{hub['service']}/services/usage/api/v1/sessions", token)
        return [s for s in answer.json()["sessions"] if s["ended"] is not None]

    [session] = wait_for("the closed session in the service", ended, 30)
    assert session["ended_by"] == "stop"
    assert session["ended"] >= stop_asked - 1
    # It stopped at the SIGINT, not at the SIGTERM interrupt_timeout (10 s) later.
    assert session["ended"] < stop_asked + 5
    assert session["duration_seconds"] >= stop_asked - started - 2
    assert session["summary"] is not None
    # A unit a second of server time from the extension's first sample to the stop.
    assert (
        session["duration_seconds"] - 20 <= session["cost"]["total"] <= session["duration_seconds"]
    )
