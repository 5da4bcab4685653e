"""A real JupyterHub with the usage history service, for the access and fuzzing tests.

The hub runs configurable-http-proxy and manages `python -m jupyter_usage.hub` as a service,
as in production; no single-user server is spawned (tokens come from the hub's admin API).
Start it with `shared_hub(request)`: one hub per pytest session, stopped at its end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import pytest

_T = TypeVar("_T")

VENV_BIN = Path(sys.executable).parent
# The same cache as tests/integration/test_hub.py: installed once per machine.
CHP_VERSION = "5.3.0"
CHP_CACHE = Path.home() / ".cache" / "jupyter-usage-tests" / "chp"
SERVICE_PREFIX = "/services/usage/"
RUNNING = "JupyterHub is now running"
"""What the hub logs once it has started everything and handles SIGTERM."""
HTML_NAME = "<img src=x onerror=alert(1)>"
"""A user and a group named like this must come back as text, never as markup."""
USERS = ("alice", "bob", "ada", "dana", "eve", "mallory", HTML_NAME)
GROUPS = {
    "physics": ["alice"],
    "biology": ["bob"],
    "usage-readers": ["dana"],
    HTML_NAME: [HTML_NAME],
}

BUDGETS = [
    {"group": "physics", "period": "month", "server_hours": 1000},
    {"default": True, "period": {"rolling_days": 7}, "limit": 100, "currency": "USD"},
]
"""Budgets the service shows (never spent: nothing is enforced in this hub)."""


def configurable_http_proxy() -> Path:
    """configurable-http-proxy from npm, installed once per machine into a cache."""
    binary = CHP_CACHE / "node_modules" / ".bin" / "configurable-http-proxy"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node and npm are needed to install configurable-http-proxy")
    CHP_CACHE.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "install", "--prefix", str(CHP_CACHE), f"configurable-http-proxy@{CHP_VERSION}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0 or not binary.exists():
        pytest.skip(f"cannot install configurable-http-proxy: {result.stderr[-500:]}")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Answer:
    status: int
    headers: Message  # case-insensitive: the proxy lower-cases header names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, as the tests want to see it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())


def call(
    method: str,
    url: str,
    token: str | None = None,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Answer:
    """One request; HTTP errors are answers too."""
    sent = {"Accept": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"token {token}"
    data = raw if body is None else json.dumps(body).encode()
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, error.headers, error.read())


def wait_for(what: str, check: Callable[[], _T | None], timeout: float) -> _T:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Hub:
    root: Path
    hub_api: str
    service_port: int
    admin_token: str
    process: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str:
        """The service's own address (where the single-user servers post)."""
        return f"http://127.0.0.1:{self.service_port}{SERVICE_PREFIX}"

    @property
    def db_path(self) -> Path:
        return self.root / "usage.sqlite"

    def admin(self, method: str, path: str, body: Any = None) -> Answer:
        return call(method, f"{self.hub_api}/{path}", self.admin_token, body)

    def api(self, method: str, path: str, user: str | None, body: Any = None, **kw: Any) -> Answer:
        """A request to the service's API as `user` (None: without credentials)."""
        token = self.tokens[user] if user else None
        return call(method, f"{self.service}api/v1/{path}", token, body, **kw)

    def stored_rows(self) -> list[tuple[Any, ...]]:
        """Every stored session row, read straight from the service's database."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)) as db:
            return db.execute("SELECT * FROM usage_sessions ORDER BY pk").fetchall()

    def log(self) -> str:
        return (self.root / "hub.log").read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as the hub's own shutdown expects; SIGKILL after a minute."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def loopback_hub_config(root: Path, ports: dict[str, int], chp: Path) -> str:
    """The start of a jupyterhub_config.py for a hub on loopback: its ports, the proxy,
    its database and cookie secret under `root`, and the dummy authenticator (any
    password; every user allowed)."""
    return f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {ports["proxy"]}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {ports["hub"]}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports["proxy_api"]}"
c.ConfigurableHTTPProxy.command = [{str(chp)!r}]
c.JupyterHub.db_url = "sqlite:///{root / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = "{root / "cookie_secret"}"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
"""


SERVICE_SCOPES = ["access:services!service=usage", "read:services!service=usage"]
"""What docs/hub.md adds to users' tokens (`extra_user_scopes`) for the usage service."""
SERVER_TOKEN_SCOPES = [
    "users:activity!user",
    "access:servers!server",
    "read:servers!user",
    *SERVICE_SCOPES,
]
"""A single-user server's token scopes, as docs/hub.md sets them: its own server, and the
usage service (to post sessions, ask budgets)."""


def singleuser_config(
    root: Path, settings: dict[str, Any], name: str = "singleuser-config"
) -> Path:
    """A folder for `JUPYTER_CONFIG_PATH` whose jupyter_server_config.json is `settings`."""
    folder = root / name
    folder.mkdir()
    (folder / "jupyter_server_config.json").write_text(json.dumps(settings))
    return folder


def service_command(db_url: str, *options: str) -> list[str]:
    """The hub's command for the usage service on `db_url`, with more `--Class.trait=…`."""
    return [sys.executable, "-m", "jupyter_usage.hub", f"--UsageService.db_url={db_url}", *options]


def services_config(admin_token: str, **usage: Any) -> str:
    """`c.JupyterHub.services`: the usage service (`usage`: its url, command, …) and the
    tests' own admin service, whose token is `admin_token`."""
    services = [{"name": "usage", **usage}, {"name": "test-admin", "api_token": admin_token}]
    return f"c.JupyterHub.services = {services!r}\n"


def spawning_hub_config(
    root: Path,
    ports: dict[str, int],
    environment: dict[str, str],
    *,
    spawner: str = "simple",
    http_timeout: int = 60,
) -> str:
    """`loopback_hub_config`, and real single-user servers of this environment (as root:
    `--allow-root`) whose tokens reach the usage service, with `environment`. The simple
    spawner gives each user a home under root/home."""
    config = (
        loopback_hub_config(root, ports, configurable_http_proxy())
        + f"""
c.JupyterHub.spawner_class = {spawner!r}
c.Spawner.cmd = [{str(VENV_BIN / "jupyterhub-singleuser")!r}]
c.Spawner.args = ["--allow-root"]
c.Spawner.http_timeout = {http_timeout}
c.Spawner.environment = {environment!r}
c.Spawner.server_token_scopes = {SERVER_TOKEN_SCOPES!r}
c.JupyterHub.extra_user_scopes = set({SERVICE_SCOPES!r})
"""
    )
    if spawner == "simple":
        config += f'c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"\n'
    return config


@contextlib.contextmanager
def running_hub(root: Path, config: Path, api: str) -> Iterator[subprocess.Popen[bytes]]:
    """The hub of `config`, once its REST API (`api`) answers; the tail of its log printed
    when the block fails; stopped at the end."""
    process = launch_hub(root, config)
    try:
        wait_for("the hub", lambda: call("GET", f"{api}/").status == 200, 90)
        yield process
    except BaseException:
        print((root / "hub.log").read_text(errors="replace")[-5000:], file=sys.stderr)
        raise
    finally:
        stop_process(process)


def user_tokens(api: str, admin_token: str, users: Sequence[str]) -> dict[str, str]:
    """A fresh API token of each of `users` (made by the hub on first use), for an hour."""
    tokens = {}
    for name in users:
        quoted = urllib.parse.quote(name, safe="")
        answer = call("POST", f"{api}/users/{quoted}/tokens", admin_token, {"expires_in": 3600})
        assert answer.status == 201, answer.body
        tokens[name] = answer.json()["token"]
    return tokens


def service_pid(hub: subprocess.Popen[bytes]) -> int:
    """The usage service that the hub `hub` started (and restarts when it ends)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if int(parent) == hub.pid and b"jupyter_usage.hub" in command:
            return int(entry.name)
    raise AssertionError("the usage service process was not found")


READ_ALL_SCOPE_CONFIG = """
c.JupyterHub.custom_scopes = {
    "custom:usage:read-all": {"description": "Read everyone's usage history and KPIs"},
}
"""
"""The admin scope of the service, as docs/hub.md defines it."""


def _write_config(
    root: Path, chp: Path, ports: dict[str, int], admin_token: str, db_url: str | None
) -> Path:
    url = db_url or f"sqlite:///{root / 'usage.sqlite'}"
    service_config = root / "usage_service_config.py"
    service_config.write_text(f"c.UsageService.budgets = {BUDGETS!r}\n")
    command = service_command(
        url, f"--UsageService.config_file={service_config}", "--log-level=DEBUG"
    )
    usage = {
        "url": f"http://127.0.0.1:{ports['service']}",
        "command": command,
        "oauth_client_allowed_scopes": ["custom:usage:read-all"],
        "oauth_no_confirm": True,
    }
    config = (
        loopback_hub_config(root, ports, chp)
        + READ_ALL_SCOPE_CONFIG
        + services_config(admin_token, **usage)
        + f"""
c.Authenticator.admin_users = {{"ada"}}
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.extra_user_scopes = set({SERVICE_SCOPES!r})
c.JupyterHub.load_roles = [
    {{
        "name": "test-admin",
        "scopes": ["admin:users", "admin:groups", "tokens", "read:services", "list:users"],
        "services": ["test-admin"],
    }},
    {{"name": "usage-readers", "scopes": ["custom:usage:read-all"], "groups": ["usage-readers"]}},
]
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    return path


def launch_hub(root: Path, config: Path) -> subprocess.Popen[bytes]:
    """`jupyterhub -f config` in `root`, logging to root/hub.log, with the venv's commands
    first on PATH and none of this process's JUPYTERHUB_* or JUPYTER_USAGE_* variables."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in list(env):
        if name.startswith(("JUPYTERHUB_", "JUPYTER_USAGE_")):
            del env[name]
    with (root / "hub.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def start_hub(root: Path, db_url: str | None = None, *, service_ready: bool = True) -> Hub:
    """A hub with the service, users (tokens in `hub.tokens`) and groups (`GROUPS`).

    `db_url`: the service's database (default: SQLite in `root`); `service_ready=False`
    starts the hub without waiting for the service to answer 200 (its database is down).
    """
    chp = configurable_http_proxy()
    admin_token = uuid.uuid4().hex
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub", "service")}
    process = launch_hub(root, _write_config(root, chp, ports, admin_token, db_url))
    hub = Hub(
        root, f"http://127.0.0.1:{ports['hub']}/hub/api", ports["service"], admin_token, process
    )
    try:
        wait_for("the hub", lambda: hub.admin("GET", "").status == 200, 90)
        for name in USERS:
            quoted = urllib.parse.quote(name, safe="")
            answer = hub.admin("POST", f"users/{quoted}")
            assert answer.status in (201, 409), answer.body
            answer = hub.admin("POST", f"users/{quoted}/tokens", {"expires_in": 3600})
            assert answer.status == 201, answer.body
            hub.tokens[name] = answer.json()["token"]
        for group, members in GROUPS.items():
            quoted = urllib.parse.quote(group, safe="")
            answer = hub.admin("POST", f"groups/{quoted}", {"users": members})
            if answer.status == 409:  # made by a role in load_roles, without its members
                answer = hub.admin("POST", f"groups/{quoted}/users", {"users": members})
            assert answer.status in (200, 201), answer.body
        if service_ready:
            wait_for(
                "the usage service", lambda: hub.api("GET", "sessions", "ada").status == 200, 60
            )
        # Only then does the hub handle SIGTERM (stopping the proxy and the service with it):
        # stopped before, it dies alone and leaves them running.
        wait_for("the hub to finish starting", lambda: RUNNING in hub.log(), 60)
    except BaseException:
        print(hub.log()[-4000:], file=sys.stderr)
        hub.stop()
        raise
    return hub


_shared: dict[str, Hub] = {}


def shared_hub(request: pytest.FixtureRequest) -> Hub:
    """The pytest session's hub, started on first use and stopped when the session ends."""
    if "hub" not in _shared:
        root = request.getfixturevalue("tmp_path_factory").mktemp("hub")
        hub = start_hub(root)
        _shared["hub"] = hub

        def stop() -> None:
            hub.stop()
            _shared.pop("hub", None)

        request.config.add_cleanup(stop)
    return _shared["hub"]
