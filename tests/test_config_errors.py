"""Bad configuration fails at start-up with an error that names the trait."""

from __future__ import annotations

from typing import Any

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyter_usage.app import UsageApp
from jupyter_usage.cost import CostModel


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("UsageApp", "sample_interval", 0),
        ("UsageApp", "sample_interval", -1.0),
        ("UsageApp", "checkpoint_interval", 0.5),
        ("UsageApp", "memory_limit_bytes", -5),
        ("UsageApp", "cpu_limit_cores", -1),
        ("UsageApp", "memory_metric", "vss"),
        ("UsageApp", "idle_after_seconds", 0),
        ("UsageApp", "retention_days", -1),
        ("UsageApp", "idle_culler_timeout", -60),
        ("CostModel", "cpu_core_hour", -0.1),
        ("CostModel", "memory_gib_hour", float("nan")),
        ("CostModel", "basis", "cheapest"),
        ("CostModel", "currency", "DOLLARS"),
        ("CostModel", "gpu_hour_by_model", {"NVIDIA A100": -2}),
        ("CostModel", "group_rates", {"physics": {"cpu_hours": 1}}),
        ("CostModel", "profile_rates", {"gpu": {"gpu_hour": -1}}),
    ],
)
def test_invalid_value_names_the_trait(section: str, name: str, value: Any) -> None:
    config = Config({section: {name: value}})
    cls = UsageApp if section == "UsageApp" else CostModel
    with pytest.raises(TraitError, match=rf"{section}\.{name}"):
        cls(config=config)


async def test_a_server_with_bad_config_refuses_to_start(
    jp_configurable_serverapp: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    # jupyter_server turns a config error during start-up into an exit with the message.
    with pytest.raises(SystemExit):
        jp_configurable_serverapp(
            config=Config(
                {
                    "ServerApp": {
                        "jpserver_extensions": {"jupyter_usage": True},
                        "reraise_server_extension_failures": True,
                    },
                    "CostModel": {"basis": "cheapest"},
                }
            )
        )
    assert "CostModel.basis must be one of 'used', 'allocated', 'max'" in capfd.readouterr().err
