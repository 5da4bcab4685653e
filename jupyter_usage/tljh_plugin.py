"""A plugin for The Littlest JupyterHub (TLJH): the extension for every user, the usage
service on the hub, rates and budgets from `tljh-config`.

Install the hub with `--plugin "jupyter-usage[hub]"` (TLJH's installer); TLJH finds this
module through the package's `tljh` entry point and calls its hooks:

- `tljh_extra_user_pip_packages`: the package for the users' environment, the same one
  the hub has (the wheel it was installed from, else this version from PyPI), or
  `usage.user_package` of the TLJH config;
- `tljh_custom_jupyterhub_config`: the service (TLJH has just reset
  `c.JupyterHub.services`), its roles and scopes, the single-user servers' token scopes,
  the rates of the users' servers and the budget check at spawn.

The `usage` section of TLJH's config.yaml (`tljh-config set usage.rates.cpu_core_hour 0.04`):
`rates` (the users' `c.CostModel`), `port` (the service's, 10101), `db_url` (SQLite in
TLJH's state folder by default), `user_package`, and any `UsageService` setting by name
(`budgets`, `budget_enforcement`, `budget_timezone`, `hub_name`, …).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from ._version import __version__

hookimpl = pluggy.HookimplMarker("tljh")

SERVICE = "usage"
DEFAULT_PORT = 10101
OWN_KEYS = ("rates", "port", "db_url", "user_package")
"""Keys of the `usage` section this plugin reads; the others are UsageService settings."""
SERVICE_ROLE_SCOPES = ["list:users", "read:users:groups", "read:servers"]
SERVER_TOKEN_SCOPES = [
    "users:activity!user",
    "access:servers!server",
    "read:servers!user",
    f"access:services!service={SERVICE}",
    f"read:services!service={SERVICE}",
]
READ_ALL_SCOPE = "custom:usage:read-all"


class TljhConfigError(ValueError):
    """The `usage` section of TLJH's config cannot be used; the message says why."""


def install_prefix() -> Path:
    """TLJH's install prefix, as TLJH itself reads it."""
    return Path(os.environ.get("TLJH_INSTALL_PREFIX", "/opt/tljh"))


def usage_settings(prefix: Path) -> dict[str, Any]:
    """The `usage` section of TLJH's config.yaml under `prefix` (empty when unset)."""
    path = prefix / "config" / "config.yaml"
    if not path.exists():
        return {}
    import yaml  # TLJH's own environment has it; the plugin is imported only there

    config = yaml.safe_load(path.read_text()) or {}
    section = config.get("usage") or {}
    if not isinstance(section, Mapping):
        raise TljhConfigError(f"{path}: 'usage' must be a mapping, not {section!r}")
    return dict(section)


def user_package(settings: Mapping[str, Any]) -> str:
    """What the users' environment installs: the configured spec, else the wheel or folder
    this hub's copy was installed from (PEP 610), else this version from PyPI."""
    configured = settings.get("user_package")
    if configured:
        return str(configured)
    try:
        origin = metadata.distribution("jupyter_usage").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        origin = None
    if origin:
        url = str(json.loads(origin).get("url", ""))
        if url.startswith("file://"):
            return url.removeprefix("file://")
    return f"jupyter-usage=={__version__}"


def apply(c: Any, settings: Mapping[str, Any], state_dir: Path) -> None:
    """Add the usage service and its settings to the hub's config `c`."""
    rates = settings.get("rates") or {}
    if not isinstance(rates, Mapping):
        raise TljhConfigError(f"usage.rates must be a mapping of CostModel settings: {rates!r}")
    port = int(settings.get("port") or DEFAULT_PORT)
    db_url = str(settings.get("db_url") or f"sqlite:///{state_dir / 'jupyter_usage_hub.sqlite'}")
    service_settings = {k: v for k, v in settings.items() if k not in OWN_KEYS}

    folder = state_dir / "jupyter-usage"
    folder.mkdir(parents=True, exist_ok=True)
    service_config = folder / "jupyter_usage_hub_config.json"
    _write(service_config, {"UsageService": service_settings})
    # The users' servers run as the users: the folder and its file are readable by them.
    server_config = folder / "server"
    server_config.mkdir(exist_ok=True)
    server_config.chmod(0o755)
    folder.chmod(0o755)
    _write(server_config / "jupyter_server_config.json", {"CostModel": dict(rates)})

    c.JupyterHub.services.append(
        {
            "name": SERVICE,
            "url": f"http://127.0.0.1:{port}",
            "command": [
                sys.executable,
                "-m",
                "jupyter_usage.hub",
                f"--UsageService.db_url={db_url}",
                f"--UsageService.config_file={service_config}",
            ],
            "oauth_client_allowed_scopes": [READ_ALL_SCOPE],
            "oauth_no_confirm": True,
            "display": True,
            "info": {"description": "Usage and cost reports"},
        }
    )
    c.JupyterHub.custom_scopes.update(
        {READ_ALL_SCOPE: {"description": "Read everyone's usage history and KPIs"}}
    )
    c.JupyterHub.extra_user_scopes.update(SERVER_TOKEN_SCOPES[-2:])
    stops = str(service_settings.get("budget_enforcement", "none")).lower() == "stop"
    c.JupyterHub.load_roles.append(
        {
            "name": "usage-service",
            "scopes": SERVICE_ROLE_SCOPES + (["servers"] if stops else []),
            "services": [SERVICE],
        }
    )
    c.Spawner.server_token_scopes = SERVER_TOKEN_SCOPES
    c.Spawner.environment.update({"JUPYTER_CONFIG_PATH": str(server_config)})
    if service_settings.get("budgets"):
        from .hub.budgets import refuse_over_budget

        c.Spawner.pre_spawn_hook = refuse_over_budget
        # The hook reads these in the hub's process.
        for name in ("budget_timezone", "budget_fail_open", "service_name"):
            if name in service_settings:
                setattr(c.UsageService, name, service_settings[name])


def _write(path: Path, content: Mapping[str, Any]) -> None:
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(content, indent=1))
    partial.chmod(0o644)
    partial.replace(path)


def _state_dir(prefix: Path) -> Path:
    try:
        from tljh.config import STATE_DIR  # type: ignore[import-not-found]
    except ImportError:
        return prefix / "state"
    return Path(STATE_DIR)


@hookimpl
def tljh_extra_user_pip_packages() -> list[str]:
    return [user_package(usage_settings(install_prefix()))]


@hookimpl
def tljh_custom_jupyterhub_config(c: Any) -> None:
    prefix = install_prefix()
    apply(c, usage_settings(prefix), _state_dir(prefix))
