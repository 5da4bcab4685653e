"""The TLJH plugin's hooks, called as The Littlest JupyterHub calls them.

TLJH's plugin manager is built from its hook specifications (vendored in
tests/support/tljh/) and the installed package's `tljh` entry point; its config is a
config.yaml under a TLJH_INSTALL_PREFIX of the test's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pluggy
import pytest
import yaml
from support.tljh import hooks
from traitlets.config import Config

from jupyter_usage.hub.budgets import refuse_over_budget
from jupyter_usage.tljh_plugin import TljhConfigError

BUDGETS = [{"group": "students", "period": "month", "limit": 20, "currency": "EUR"}]


def plugin_manager() -> pluggy.PluginManager:
    """What tljh.utils.get_plugin_manager returns."""
    manager = pluggy.PluginManager("tljh")
    manager.add_hookspecs(hooks)
    manager.load_setuptools_entrypoints("tljh")
    return manager


def tljh_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usage: Any) -> Path:
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "state").mkdir()
    config = {"users": {"admin": ["ada"]}}
    if usage is not None:
        config["usage"] = usage
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path))
    return tmp_path


def hub_config() -> Config:
    """The config as TLJH hands it to the hook: services just reset by update_services."""
    c = Config()
    c.JupyterHub.services = [{"name": "cull-idle", "admin": True, "command": ["cull"]}]
    return c


def test_the_package_is_a_tljh_plugin() -> None:
    manager = plugin_manager()
    names = {manager.get_name(plugin) for plugin in manager.get_plugins()}
    assert "jupyter_usage" in names


def test_the_hub_config_gets_the_service_its_roles_rates_and_budgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = {
        "rates": {"currency": "EUR", "cpu_core_hour": 0.04},
        "budgets": BUDGETS,
        "budget_enforcement": "stop",
        "budget_timezone": "Europe/Berlin",
        "port": 10555,
    }
    prefix = tljh_prefix(tmp_path, monkeypatch, usage)
    c = hub_config()
    plugin_manager().hook.tljh_custom_jupyterhub_config(c=c)

    cull, service = c.JupyterHub.services
    assert cull["name"] == "cull-idle"  # TLJH's own service is kept
    assert service["name"] == "usage"
    assert service["url"] == "http://127.0.0.1:10555"
    state = prefix / "state"
    assert f"--UsageService.db_url=sqlite:///{state}/jupyter_usage_hub.sqlite" in service["command"]
    service_config = state / "jupyter-usage" / "jupyter_usage_hub_config.json"
    assert f"--UsageService.config_file={service_config}" in service["command"]
    assert json.loads(service_config.read_text()) == {
        "UsageService": {
            "budgets": BUDGETS,
            "budget_enforcement": "stop",
            "budget_timezone": "Europe/Berlin",
        }
    }
    [role] = c.JupyterHub.load_roles.to_dict()["extend"]
    assert role == {
        "name": "usage-service",
        "scopes": ["list:users", "read:users:groups", "read:servers", "servers"],
        "services": ["usage"],
    }
    assert "access:services!service=usage" in c.Spawner.server_token_scopes
    # The rates, for the users' servers (which run as the users: readable by all).
    folder = Path(c.Spawner.environment.to_dict()["update"]["JUPYTER_CONFIG_PATH"])
    rates = folder / "jupyter_server_config.json"
    assert json.loads(rates.read_text()) == {
        "CostModel": {"currency": "EUR", "cpu_core_hour": 0.04}
    }
    assert rates.stat().st_mode & 0o777 == 0o644
    assert c.Spawner.pre_spawn_hook is refuse_over_budget
    assert c.UsageService.budget_timezone == "Europe/Berlin"


def test_without_a_usage_section_the_service_runs_without_budgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tljh_prefix(tmp_path, monkeypatch, None)
    c = hub_config()
    plugin_manager().hook.tljh_custom_jupyterhub_config(c=c)
    assert [s["name"] for s in c.JupyterHub.services] == ["cull-idle", "usage"]
    assert "pre_spawn_hook" not in c.Spawner
    [role] = c.JupyterHub.load_roles.to_dict()["extend"]
    assert "servers" not in role["scopes"]


def test_a_usage_section_that_is_not_a_mapping_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tljh_prefix(tmp_path, monkeypatch, {"rates": 0.04})
    with pytest.raises(TljhConfigError, match=r"usage\.rates must be a mapping"):
        plugin_manager().hook.tljh_custom_jupyterhub_config(c=hub_config())


def test_the_users_environment_gets_the_hubs_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tljh_prefix(tmp_path, monkeypatch, {})
    [[package]] = plugin_manager().hook.tljh_extra_user_pip_packages()
    # This checkout (an editable install) or a wheel: what the hub was installed from.
    assert Path(package).exists() or package.startswith("jupyter-usage==")
    tljh_prefix(tmp_path / "pinned", monkeypatch, {"user_package": "jupyter-usage==1.0"})
    assert plugin_manager().hook.tljh_extra_user_pip_packages() == [["jupyter-usage==1.0"]]
