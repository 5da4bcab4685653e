"""What a real `jupyter server` does with a config mistake: the rest stays in force.

jupyter_server applies an extension's config in one step and, when one value is refused,
starts the extension with every setting at its default; it reads only the extension
switches from `jupyter_server_config.d`. These tests start real servers with such files,
as an admin would write them, and read what the server then says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.server_process import ServerProcess

from jupyter_usage.config_errors import ignored_in_confd, take_out_refused


def start(tmp_path: Path, config_dir: Path) -> ServerProcess:
    """A server reading `config_dir` as an admin's config folder (start it with `with`)."""
    return ServerProcess(
        tmp_path,
        f"--UsageApp.data_dir={tmp_path / 'usage'}",
        env={"JUPYTER_CONFIG_PATH": str(config_dir)},
    )


def write(path: Path, settings: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))
    return path


def test_one_bad_value_keeps_every_other_setting(tmp_path: Path) -> None:
    config = tmp_path / "config"
    write(
        config / "jupyter_server_config.json",
        {
            "UsageApp": {"report_interval": 3, "idle_after_seconds": 120},
            "CostModel": {"currency": "EUR", "cpu_core_hour": 36},
        },
    )
    with start(tmp_path, config) as server:
        answer = server.get("api/usage/v1/config")
        log = server.log()
    assert answer["rates"]["currency"] == "EUR"
    assert answer["rates"]["cpu_core_hour"] == 36
    assert answer["idle_after_seconds"] == 120
    [error] = answer["config_errors"]
    assert error["trait"] == "UsageApp.report_interval"
    assert error["kind"] == "refused"
    assert error["value"] == "3"
    assert "between 10 and 86400" in error["message"]
    assert "using the default, 60.0" in error["message"]
    assert "UsageApp.report_interval must be between 10 and 86400, got 3" in log
    assert "error linking extension" not in log


def test_a_bad_rate_keeps_the_other_rates(tmp_path: Path) -> None:
    config = tmp_path / "config"
    write(
        config / "jupyter_server_config.json",
        {"CostModel": {"currency": "EUR", "cpu_core_hour": -1, "memory_gib_hour": 0.5}},
    )
    with start(tmp_path, config) as server:
        answer = server.get("api/usage/v1/config")
    assert answer["rates"]["currency"] == "EUR"
    assert answer["rates"]["memory_gib_hour"] == 0.5
    assert answer["rates"]["cpu_core_hour"] == 0
    assert [e["trait"] for e in answer["config_errors"]] == ["CostModel.cpu_core_hour"]


def test_rates_in_a_confd_file_are_reported_as_ignored(tmp_path: Path) -> None:
    config = tmp_path / "config"
    confd = write(
        config / "jupyter_server_config.d" / "usage-rates.json",
        {
            "ServerApp": {"jpserver_extensions": {"jupyter_usage": True}},
            "CostModel": {"currency": "EUR", "cpu_core_hour": 36},
        },
    )
    with start(tmp_path, config) as server:
        answer = server.get("api/usage/v1/config")
        log = server.log()
    # jupyter_server really does not read them: the rates are the defaults.
    assert answer["rates"]["currency"] == "USD"
    errors = {e["trait"]: e for e in answer["config_errors"]}
    assert set(errors) == {"CostModel.currency", "CostModel.cpu_core_hour"}
    assert errors["CostModel.cpu_core_hour"]["kind"] == "ignored"
    assert errors["CostModel.cpu_core_hour"]["source"] == str(confd)
    assert f"CostModel.cpu_core_hour in {confd} is ignored" in log


def test_a_clean_config_has_no_errors(tmp_path: Path) -> None:
    config = tmp_path / "config"
    write(config / "jupyter_server_config.json", {"CostModel": {"cpu_core_hour": 36}})
    write(
        config / "jupyter_server_config.d" / "switch.json",
        {"ServerApp": {"jpserver_extensions": {"jupyter_usage": True}}},
    )
    with start(tmp_path, config) as server:
        answer = server.get("api/usage/v1/config")
    assert answer["config_errors"] == []
    assert answer["rates"]["cpu_core_hour"] == 36


def test_a_confd_value_also_set_where_it_is_read_is_not_reported(tmp_path: Path) -> None:
    from traitlets.config import Config

    confd = tmp_path / "jupyter_server_config.d" / "rates.json"
    write(confd, {"CostModel": {"cpu_core_hour": 36, "currency": "EUR"}})
    effective = Config({"CostModel": {"cpu_core_hour": 36}})
    errors = ignored_in_confd([str(tmp_path)], ["UsageApp", "CostModel"], effective)
    assert [e.trait for e in errors] == ["CostModel.currency"]


def test_refused_values_are_taken_out_one_by_one() -> None:
    from traitlets.config import Config

    from jupyter_usage.cost import CostModel

    config = Config({"CostModel": {"basis": "cheapest", "currency": "EUR", "cpu_core_hour": 2}})
    kept, errors = take_out_refused(config, {"CostModel": CostModel()})
    assert dict(kept["CostModel"]) == {"currency": "EUR", "cpu_core_hour": 2}
    assert [e.trait for e in errors] == ["CostModel.basis"]
    assert "CostModel.basis must be one of" in errors[0].message
    # The config given is left as it was.
    assert config["CostModel"]["basis"] == "cheapest"
