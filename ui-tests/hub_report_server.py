"""A real JupyterHub with the usage service and 90 days of imported sessions, for the
report page's UI test (playwright-hub.config.js starts it as its web server).

The sessions go through the import command (`python -m jupyter_usage.hub import`) into
the service's SQLite database before the hub starts; the hub runs configurable-http-proxy,
the dummy authenticator (any password) with `ada` as admin, and the service as a managed
service named "usage", as tests/support/hub_process.py runs it for the integration tests.
Runs until SIGTERM or SIGINT, then stops the hub (which stops the proxy and the service).

    python hub_report_server.py PORT
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.hub_process import (  # noqa: E402
    configurable_http_proxy,
    free_port,
    launch_hub,
    loopback_hub_config,
    service_command,
    stop_process,
    wait_for,
)

HUB_NAME = "Physics Hub"
OVER_BUDGET = "judy"
BUDGETS = [{"user": OVER_BUDGET, "period": {"rolling_days": 30}, "server_hours": 0.5}]
"""A budget judy's imported sessions have spent: her spawn is refused (the spawn page's
test), and the report's Budgets section lists her."""


def config(root: Path, port: int, db_url: str) -> Path:
    ports = {"proxy": port, "proxy_api": free_port(), "hub": free_port()}
    service = free_port()
    service_config = root / "usage_service_config.py"
    service_config.write_text(
        f"c.UsageService.budgets = {BUDGETS!r}\n"
        'c.UsageService.budget_enforcement = "spawn"\n'
        'c.UsageService.budget_timezone = "Europe/Berlin"\n'
    )
    command = service_command(
        db_url,
        f"--UsageService.config_file={service_config}",
        f"--UsageService.hub_name={HUB_NAME}",
        # No poll: the imported sessions are the whole story of this hub.
        "--UsageService.hub_poll_interval=0",
    )
    text = (
        loopback_hub_config(root, ports, configurable_http_proxy())
        + f"""
c.Authenticator.admin_users = {{"ada"}}
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.services = [
    {{
        "name": "usage",
        "url": "http://127.0.0.1:{service}",
        "command": {command!r},
        "oauth_no_confirm": True,
    }},
]
c.JupyterHub.extra_user_scopes = {{"access:services!service=usage"}}
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "access:services!service=usage",
]
c.UsageService.budget_timezone = "Europe/Berlin"

from jupyter_usage.hub.budgets import refuse_over_budget

c.Spawner.pre_spawn_hook = refuse_over_budget
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(text)
    return path


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8887
    root = Path(tempfile.mkdtemp(prefix="jupyter-usage-hub-report-"))
    lines = root / "sessions.jsonl"
    db_url = f"sqlite:///{root / 'usage.sqlite'}"
    python = sys.executable
    subprocess.run([python, str(HERE / "hub_report_sessions.py"), str(lines)], check=True)
    subprocess.run(
        [python, "-m", "jupyter_usage.hub", "import", "--db-url", db_url, str(lines)], check=True
    )
    hub = launch_hub(root, config(root, port, db_url))
    stop = False

    def stopping(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    try:
        login = f"http://127.0.0.1:{port}/hub/login"
        wait_for("the hub", lambda: urllib.request.urlopen(login, timeout=5).status == 200, 90)
        print(f"Hub with the usage service at http://127.0.0.1:{port}/ ({root})", flush=True)
        while not stop and hub.poll() is None:
            time.sleep(0.5)
    finally:
        if hub.poll() is None:
            stop_process(hub)
        else:
            print((root / "hub.log").read_text(errors="replace")[-3000:], file=sys.stderr)


if __name__ == "__main__":
    main()
