"""A real JupyterHub with the usage service and a budget, for the Galata server.

`python budget_hub.py PARENT_PID INFO_FILE` starts the hub of tests/support/hub_process.py (the
proxy, the service, its users) with a monthly budget for alice, gives the service one
earlier session of hers (another server of hers, as the hub would have heard of it),
writes what the Galata server needs to act as alice's server (the hub's API, her token)
to INFO_FILE, and stops the hub once PARENT_PID is gone. It runs in a session of its own:
Playwright ends its web server with a SIGKILL to the server's process group, which no
cleanup in the server itself would survive.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support import hub_process

USER = "alice"
HOUR = 3600.0
BUDGET = {
    "user": USER,
    "period": "month",
    "limit": 15,
    "currency": "USD",
    "gpu_hours": 10,
    "cpu_core_hours": 1,
}
"""Money at about 80 % once her earlier sessions are counted, GPU at 35 %, CPU spent."""


def earlier_session(now: float) -> dict[str, object]:
    """A session of another server of hers that ended an hour ago, on two GPUs."""
    started, ended = now - 3 * HOUR, now - HOUR
    return {
        "id": f"ui-earlier-{uuid.uuid4().hex}",
        "started": started,
        "ended": ended,
        "last_checkpoint": ended,
        "ended_by": "stop",
        "server_name": "gpu",
        "totals": {
            "duration_seconds": 2 * HOUR,
            "cpu_core_seconds": 1800.0,
            "gpu_seconds": 3.5 * HOUR,
        },
        "cost": {"currency": "USD", "total": 12.0},
        "meta": {"groups": ["physics"], "profile": "gpu"},
    }


def main(parent: int, info_file: Path) -> None:
    hub_process.BUDGETS = [BUDGET]
    root = Path(tempfile.mkdtemp(prefix="jupyter-usage-ui-hub-"))
    hub = hub_process.start_hub(root)
    try:
        answer = hub.api("POST", "sessions", USER, earlier_session(time.time()))
        assert answer.status in (200, 201, 204), answer.body
        info = {"hub_api": hub.hub_api, "token": hub.tokens[USER], "user": USER}
        partial = info_file.with_suffix(".tmp")
        partial.write_text(json.dumps(info))
        partial.replace(info_file)
        while _alive(parent):
            time.sleep(1)
    finally:
        hub.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
