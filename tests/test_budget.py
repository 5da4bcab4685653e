"""The single-user side of budgets: reading the service's answer, projections, the cache."""

from __future__ import annotations

import math
from typing import Any

import pytest

from jupyter_usage.budget import (
    NO_BUDGET,
    BudgetReader,
    BudgetStatus,
    ServiceAnswer,
    SessionRate,
    SessionTotals,
    budget_json,
    projected_exhaustion_seconds,
    read_answer,
    read_budget,
    session_take,
    takes_json,
)

T0 = 1_790_000_000.0


def entry(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scope": "group:students",
        "period": "month",
        "starts_at": T0 - 86400,
        "resets_at": T0 + 86400 * 20,
        "limit": 20.0,
        "used": 12.4,
        "remaining": 7.6,
        "currency": "EUR",
        "exhausted": False,
        "enforcement": "spawn",
        "stop_at": None,
    }
    body.update(overrides)
    return body


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- reading -------------------------------------------------------------------------


def test_a_currency_budget_keeps_the_fields_of_the_contract() -> None:
    budget = read_budget({**entry(), "secret": "x"})
    assert budget == {**entry(), "currency": "EUR"}
    assert "secret" not in budget


def test_a_resource_budget_has_its_unit() -> None:
    raw = entry(currency=None, unit="gpu_seconds", limit=36000, used=12600, remaining=23400)
    del raw["currency"]
    budget = read_budget(raw)
    assert budget is not None
    assert budget["unit"] == "gpu_seconds"
    assert "currency" not in budget


@pytest.mark.parametrize(
    "broken",
    [
        None,
        [],
        "budget",
        {},
        entry(scope=""),
        entry(scope=3),
        entry(period="year"),
        entry(period={"rolling_days": 0}),
        entry(period={"rolling_days": True}),
        entry(period={"rolling_days": 7, "extra": 1}),
        entry(limit=None),
        entry(limit=-1),
        entry(limit=math.inf),
        entry(limit=True),
        entry(used="3"),
        entry(used=-0.5),
        entry(currency="euro"),
        entry(currency=None, unit="liters"),
    ],
)
def test_what_is_not_a_budget_is_left_out(broken: Any) -> None:
    assert read_budget(broken) is None


def test_missing_optional_fields_are_derived_not_invented() -> None:
    budget = read_budget(
        {
            "scope": "default",
            "period": {"rolling_days": 7},
            "limit": 10,
            "used": 12,
            "currency": "usd",
        }
    )
    assert budget is not None
    assert budget["currency"] == "USD"
    assert budget["remaining"] == 0.0
    assert budget["exhausted"] is True
    assert budget["enforcement"] == "none"
    assert budget["starts_at"] is None
    assert budget["resets_at"] is None
    assert budget["stop_at"] is None


def test_answers_without_budgets_say_why() -> None:
    assert read_answer(ServiceAnswer(200, {"user": "ada", "budgets": []})) == ([], NO_BUDGET)
    assert read_answer(ServiceAnswer(200, {"budgets": [], "reason": "none for you"})) == (
        [],
        "none for you",
    )
    assert "does not offer budgets" in (read_answer(ServiceAnswer(404, None))[1] or "")
    assert "403" in (read_answer(ServiceAnswer(403, {"message": "no"}))[1] or "")
    assert read_answer(ServiceAnswer(503, {"message": "database down"}))[1] == (
        "the usage service answered HTTP 503: database down"
    )
    assert "did not answer: refused" in (read_answer(ServiceAnswer(None, error="refused"))[1] or "")
    assert read_answer(ServiceAnswer(200, ["not", "an", "object"]))[1] == (
        "the usage service's answer has no list of budgets"
    )
    assert read_answer(ServiceAnswer(200, {"budgets": [{"scope": 1}]}))[1] == (
        "the usage service sent budgets this server does not understand"
    )


def test_an_answer_with_budgets_has_no_reason() -> None:
    budgets, reason = read_answer(ServiceAnswer(200, {"budgets": [entry(), {"bad": 1}]}))
    assert reason is None
    assert [b["scope"] for b in budgets] == ["group:students"]


# -- projections ----------------------------------------------------------------------


def test_a_currency_budget_lasts_its_remaining_money_at_the_cost_rate() -> None:
    budget = read_budget(entry())
    assert budget is not None
    rate = SessionRate(cost_per_second=7.6 / (6 * 3600), currency="EUR")
    assert projected_exhaustion_seconds(budget, rate.of(budget)) == pytest.approx(6 * 3600)
    # The figures are a minute old: a minute of it is gone already.
    assert projected_exhaustion_seconds(budget, rate.of(budget), 60) == pytest.approx(6 * 3600 - 60)


def test_no_projection_in_another_currency_at_zero_or_unknown_rates() -> None:
    budget = read_budget(entry())
    assert budget is not None
    assert SessionRate(cost_per_second=1.0, currency="USD").of(budget) is None
    assert projected_exhaustion_seconds(budget, None) is None
    assert projected_exhaustion_seconds(budget, 0.0) is None
    assert projected_exhaustion_seconds(budget, math.nan) is None


def test_a_spent_budget_lasts_nothing() -> None:
    budget = read_budget(entry(used=21, remaining=0, exhausted=True))
    assert budget is not None
    assert projected_exhaustion_seconds(budget, None) == 0.0


@pytest.mark.parametrize(
    ("unit", "expected_rate"),
    [
        ("cpu_core_seconds", 1.5),
        ("memory_byte_seconds", 2.0**30),
        ("gpu_seconds", 2.0),
        ("server_seconds", 1.0),
    ],
)
def test_resource_budgets_use_the_resource_rate(unit: str, expected_rate: float) -> None:
    raw = entry(
        unit=unit, limit=36000.0 * expected_rate, used=0.0, remaining=36000.0 * expected_rate
    )
    del raw["currency"]
    budget = read_budget(raw)
    assert budget is not None
    rate = SessionRate(cpu_cores=1.5, memory_bytes=2.0**30, gpus=2.0)
    assert rate.of(budget) == expected_rate
    assert projected_exhaustion_seconds(budget, rate.of(budget)) == pytest.approx(36000)


# -- what the session took --------------------------------------------------------------


def totals(started: float, now: float, **overrides: Any) -> SessionTotals:
    values: dict[str, Any] = {
        "started": started,
        "now": now,
        "cost": 2.0,
        "currency": "EUR",
        "cpu_core_seconds": 3600.0,
        "memory_byte_seconds": 0.0,
        "gpu_seconds": 7200.0,
    }
    values.update(overrides)
    return SessionTotals(**values)


def test_a_session_inside_the_period_took_all_it_used() -> None:
    budget = read_budget(entry())
    assert budget is not None
    assert session_take(budget, totals(T0, T0 + 3600)) == 2.0


def test_a_session_across_the_period_start_took_its_share_inside() -> None:
    budget = read_budget(entry(starts_at=T0))
    assert budget is not None
    assert session_take(budget, totals(T0 - 3600, T0 + 3600)) == pytest.approx(1.0)


def test_a_take_is_never_more_than_the_budget_used() -> None:
    budget = read_budget(entry(used=0.5, remaining=19.5))
    assert budget is not None
    assert session_take(budget, totals(T0, T0 + 3600)) == 0.5


def test_takes_follow_the_budget_unit() -> None:
    raw = entry(unit="server_seconds", limit=36000, used=5000, remaining=31000)
    del raw["currency"]
    status = BudgetStatus("ada", (read_budget(entry(currency="USD")), read_budget(raw)), None, T0)  # type: ignore[arg-type]
    takes = takes_json(status, totals(T0, T0 + 1800))
    # The USD budget cannot be told from a session priced in EUR.
    assert [(t["scope"], t.get("unit"), t["taken"]) for t in takes] == [
        ("group:students", "server_seconds", 1800.0)
    ]


# -- the cache --------------------------------------------------------------------------


def test_the_service_is_asked_once_per_interval_whatever_it_answers() -> None:
    clock = Clock()
    answers = [ServiceAnswer(None, error="refused"), ServiceAnswer(200, {"budgets": [entry()]})]
    asked: list[float] = []

    def fetch() -> ServiceAnswer:
        asked.append(clock.now)
        return answers[min(len(asked), len(answers)) - 1]

    reader = BudgetReader(fetch, interval_seconds=60, user="ada", clock=clock, wall_clock=clock)
    first = reader.status()
    assert first.budgets == ()
    assert "refused" in (first.reason or "")
    clock.now += 59
    assert reader.status() is first
    clock.now += 1
    second = reader.status()
    assert [b["scope"] for b in second.budgets] == ["group:students"]
    assert asked == [100.0, 160.0]
    assert reader.fetches_total == 2


def test_a_fetch_that_raises_is_a_reason_not_an_error() -> None:
    def fetch() -> ServiceAnswer:
        raise RuntimeError("boom")

    status = BudgetReader(fetch, interval_seconds=60).status()
    assert status.budgets == ()
    assert "boom" in (status.reason or "")


def test_without_the_service_the_reader_says_so() -> None:
    status = BudgetReader(lambda: None, interval_seconds=60, no_service_reason="no usage").status()
    assert status.reason == "no usage"


def test_the_body_carries_projections_and_a_reason_only_without_budgets() -> None:
    status = BudgetStatus("ada", (read_budget(entry()),), None, T0)  # type: ignore[arg-type]
    body = budget_json(status, SessionRate(cost_per_second=None, currency="EUR"), T0 + 5)
    assert body["user"] == "ada"
    assert body["fetched_at"] == T0
    assert body["budgets"][0]["projected_exhaustion_seconds"] is None
    assert "reason" not in body
    empty = budget_json(BudgetStatus("ada", (), None, T0), SessionRate(), T0)
    assert empty["budgets"] == []
    assert empty["reason"] == NO_BUDGET
