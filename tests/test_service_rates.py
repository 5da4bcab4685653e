"""The hub service's price list as a single-user server reads it: checked, preferred to the
server's own, a warning once when the two differ, asked again only after a pause."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jupyter_usage.cost import CostModel, Rates
from jupyter_usage.service_rates import ServiceRates, differences, rates_from_json

SERVICE = {
    "rates": {
        "cpu_core_hour": 0.5,
        "memory_gib_hour": 0.0,
        "gpu_hour": 2.0,
        "gpu_hour_by_model": {"Tesla T4": 0.35},
        "disk_gib_month": 0.0,
        "server_hour": 360.0,
        "currency": "EUR",
        "basis": "allocated",
        "sources": ["group:physics"],
    }
}


def test_the_services_rates_are_read_as_rates() -> None:
    rates = rates_from_json(SERVICE)
    assert rates == Rates(
        cpu_core_hour=0.5,
        gpu_hour=2.0,
        gpu_hour_by_model={"Tesla T4": 0.35},
        server_hour=360.0,
        currency="EUR",
        basis="allocated",
        sources=("group:physics",),
    )


@pytest.mark.parametrize(
    "change",
    [
        {"server_hour": -1},
        {"server_hour": "1"},
        {"server_hour": True},
        {"cpu_core_hour": None},
        {"currency": "XYZ"},
        {"basis": "cheapest"},
        {"gpu_hour_by_model": {"T4": -2}},
        {"gpu_hour_by_model": []},
    ],
)
def test_an_answer_that_is_not_a_price_list_is_no_rates(change: dict[str, Any]) -> None:
    assert rates_from_json({"rates": {**SERVICE["rates"], **change}}) is None


@pytest.mark.parametrize("body", [None, [], {}, {"rates": None}, {"rates": "cheap"}])
def test_no_rates_in_the_answer_is_no_rates(body: Any) -> None:
    assert rates_from_json(body) is None


def test_differences_name_what_the_local_config_prices_otherwise() -> None:
    service = rates_from_json(SERVICE)
    assert service is not None
    local = CostModel(server_hour=360.0, currency="EUR", basis="allocated").effective_rates()
    assert differences(local, service) == ["cpu_core_hour", "gpu_hour", "gpu_hour_by_model"]
    assert differences(service, service) == []


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_server_asks_until_the_service_answers_then_keeps_its_rates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: list[Any] = [None, {"message": "down"}, SERVICE]
    asked: list[float] = []
    clock = Clock()

    def fetch() -> Any:
        asked.append(clock.now)
        return answers.pop(0)

    reader = ServiceRates(fetch, retry_seconds=60, log=logging.getLogger("t"), clock=clock)
    local = CostModel().effective_rates()
    assert reader.due()
    assert reader.fetch(local) is None
    assert not reader.due()  # not before the pause
    clock.now = 60
    assert reader.due()
    assert reader.fetch(local) is None
    clock.now = 120
    with caplog.at_level(logging.INFO, "t"):
        rates = reader.fetch(local)
    assert rates is not None
    assert rates.server_hour == 360.0
    assert asked == [0, 60, 120]
    # An unconfigured server has nothing to disagree with: no warning.
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "pricing with the hub usage service's rates" in caplog.text
    clock.now = 1000
    assert not reader.due()
    assert reader.fetch(local) is rates
    assert asked == [0, 60, 120]


def test_local_rates_that_differ_are_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    reader = ServiceRates(lambda: SERVICE, retry_seconds=60, log=logging.getLogger("t"))
    local = CostModel(server_hour=1.0, currency="USD").effective_rates()
    with caplog.at_level(logging.INFO, "t"):
        reader.fetch(local)
        reader.fetch(local)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "differs from the hub usage service's in" in message
    assert "in cpu_core_hour, gpu_hour, server_hour, gpu_hour_by_model, currency, basis;" in message
    assert "server_hour=360 EUR, basis allocated" in message


def test_a_fetch_that_raises_leaves_the_local_rates() -> None:
    def broken() -> Any:
        raise RuntimeError("boom")

    reader = ServiceRates(broken, retry_seconds=60, log=logging.getLogger("t"))
    assert reader.fetch(CostModel().effective_rates()) is None


def test_a_service_without_a_price_list_is_asked_once() -> None:
    asked = []

    def fetch() -> Any:
        asked.append(1)
        return {"rates": None, "reason": "the usage service sets no rates"}

    reader = ServiceRates(fetch, retry_seconds=0, log=logging.getLogger("t"))
    local = CostModel(server_hour=1.0).effective_rates()
    assert reader.fetch(local) is None
    assert not reader.due()
    assert reader.fetch(local) is None
    assert asked == [1]
