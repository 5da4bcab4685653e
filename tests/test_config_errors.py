"""Bad configuration is refused with an error that names the trait."""

from __future__ import annotations

from typing import Any

import pytest
from support.reliability_log import record
from traitlets import Bool, Dict, Float, Int, List, TraitError, TraitType, Unicode
from traitlets.config import Config, Configurable

from jupyter_usage.app import UsageApp
from jupyter_usage.cost import CostModel
from jupyter_usage.hub.service import UsageService
from jupyter_usage.traits import BoundedFloat, BoundedInt, NamedCaselessStrEnum

CONFIGURABLES: dict[str, type[Configurable]] = {
    "UsageApp": UsageApp,
    "CostModel": CostModel,
    "UsageService": UsageService,
}

WRONG_TYPE: dict[type[TraitType[Any, Any]], Any] = {
    Float: "fast",
    Int: "many",
    Bool: "maybe",
    Unicode: 42,
    List: {"not": "a list"},
    Dict: ["not", "a", "dict"],
    BoundedFloat: "fast",
    BoundedInt: "many",
    NamedCaselessStrEnum: 42,
}
"""A value of the wrong type for each kind of trait our classes use."""

OWN_TRAITS = [
    (section, name, trait)
    for section, cls in CONFIGURABLES.items()
    for name, trait in sorted(cls.class_own_traits(config=True).items())
]


def refused(section: str, name: str, value: Any) -> TraitError:
    """The error constructing the class with `value` raises; it must name the trait."""
    with pytest.raises(TraitError) as caught:
        CONFIGURABLES[section](config=Config({section: {name: value}}))
    message = str(caught.value)
    # Our own validators say "Section.name"; traitlets' type errors say
    # "The 'name' trait of a Section instance": either names the trait and its class.
    assert f"{section}.{name}" in message or (
        f"'{name}' trait" in message and section in message
    ), message
    record("configs_rejected", detail=f"{section}.{name} = {value!r}")
    return caught.value


@pytest.mark.parametrize(
    ("section", "name", "trait"), OWN_TRAITS, ids=[f"{s}.{n}" for s, n, _ in OWN_TRAITS]
)
def test_every_trait_refuses_a_value_of_the_wrong_type(
    section: str, name: str, trait: TraitType[Any, Any]
) -> None:
    kind = type(trait)
    # A new kind of trait needs a wrong value here before it can be configured.
    assert kind in WRONG_TYPE, f"no wrong value known for {kind.__name__} ({section}.{name})"
    refused(section, name, WRONG_TYPE[kind])


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
        ("UsageApp", "hub_post_interval", 1),
        ("UsageApp", "report_interval", 5),
        ("CostModel", "cpu_core_hour", -0.1),
        ("CostModel", "memory_gib_hour", float("nan")),
        ("CostModel", "basis", "cheapest"),
        ("CostModel", "currency", "DOLLARS"),
        ("CostModel", "gpu_hour_by_model", {"NVIDIA A100": -2}),
        ("CostModel", "group_rates", {"physics": {"cpu_hours": 1}}),
        ("CostModel", "profile_rates", {"gpu": {"gpu_hour": -1}}),
        ("UsageService", "regular_user_hours_per_week", 200),
        ("UsageService", "admin_scope", "admin:users"),
        ("UsageService", "default_window_days", 0),
        ("UsageService", "max_window_days", 99999),
        ("UsageService", "db_url", "mysql://root@localhost/usage"),
        ("UsageService", "db_url", "not a url"),
        ("UsageService", "hub_poll_interval", -1),
        ("UsageService", "service_url", "hub:10101"),
        ("UsageService", "service_url", "http://hub:port"),
        ("UsageService", "budgets", [{"group": "students", "period": "year", "gpu_hours": 1}]),
        ("UsageService", "budgets", [{"group": "students", "period": "day"}]),
        ("UsageService", "budget_timezone", "Mars/Olympus_Mons"),
        ("UsageService", "budget_combine", "average"),
        ("UsageService", "budget_enforcement", "kill"),
        ("UsageService", "budget_grace_seconds", -5),
        ("UsageService", "budget_grace_seconds", float("nan")),
    ],
)
def test_invalid_value_names_the_trait(section: str, name: str, value: Any) -> None:
    error = refused(section, name, value)
    assert f"{section}.{name}" in str(error)


def test_a_database_password_stays_out_of_the_error() -> None:
    error = refused("UsageService", "db_url", "mysql://usage:s3cret-pw@db/usage")
    assert "s3cret-pw" not in str(error)


async def test_a_server_with_a_bad_value_starts_with_the_others(
    jp_configurable_serverapp: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    # Refusing to start would take every user's server down for one typo; the bad value
    # is set aside loudly instead (tests/test_config_errors_server.py runs real servers).
    app = jp_configurable_serverapp(
        config=Config(
            {
                "ServerApp": {
                    "jpserver_extensions": {"jupyter_usage": True},
                    "reraise_server_extension_failures": True,
                },
                "CostModel": {"basis": "cheapest", "currency": "EUR"},
            }
        )
    )
    [usage] = app.extension_manager.extensions["jupyter_usage"].extension_points.values()
    assert usage.app.cost_model.currency == "EUR"
    assert [e.trait for e in usage.app.config_errors] == ["CostModel.basis"]
    assert "CostModel.basis must be one of 'used', 'allocated', 'max'" in capfd.readouterr().err
