"""A budget counts the part of the running session the service has not been told yet."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_usage.budget import BudgetStatus, SessionRate, SessionTotals, budget_json, read_budget
from jupyter_usage.budget_unreported import totals_of_record, unreported, with_unreported

T0 = 1_790_000_000.0


def budget(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "scope": "user",
        "period": "day",
        "starts_at": T0 - 3600,
        "resets_at": T0 + 3600,
        "limit": 0.05,
        "used": 0.05,
        "currency": "USD",
        "enforcement": "none",
    }
    entry.update(overrides)
    parsed = read_budget(entry)
    assert parsed is not None
    return parsed


def totals(now: float, cost: float, cpu_core_seconds: float = 0.0) -> SessionTotals:
    return SessionTotals(
        started=T0,
        now=now,
        cost=cost,
        currency="USD",
        cpu_core_seconds=cpu_core_seconds,
        memory_byte_seconds=0.0,
        gpu_seconds=0.0,
    )


def body_of(*budgets: dict[str, Any], rate: SessionRate) -> dict[str, Any]:
    return budget_json(BudgetStatus("ada", tuple(budgets), None, T0 + 600), rate, T0 + 600)


def test_the_bar_includes_what_came_after_the_last_report() -> None:
    # The service counted the session at 0.05 (its last report); it now cost 0.058.
    rate = SessionRate(cost_per_second=0.0001, currency="USD")
    body = with_unreported(
        body_of(budget(limit=0.1, used=0.05), rate=rate),
        totals(T0 + 660, 0.058),
        totals(T0 + 600, 0.05),
        rate.of,
    )
    [shown] = body["budgets"]
    assert shown["used"] == pytest.approx(0.058)
    assert shown["unreported"] == pytest.approx(0.008)
    assert shown["remaining"] == pytest.approx(0.042)
    # The forecast starts from what is really left: 0.042 at 0.0001/s.
    assert shown["projected_exhaustion_seconds"] == pytest.approx(420)
    assert shown["exhausted"] is False


def test_a_budget_the_session_spent_is_exhausted_before_the_service_knows() -> None:
    rate = SessionRate(cost_per_second=0.0001, currency="USD")
    body = with_unreported(
        body_of(budget(limit=0.05, used=0.049), rate=rate),
        totals(T0 + 660, 0.058),
        totals(T0 + 600, 0.05),
        rate.of,
    )
    [shown] = body["budgets"]
    assert shown["used"] == pytest.approx(0.057)
    assert shown["remaining"] == 0
    assert shown["exhausted"] is True
    assert shown["projected_exhaustion_seconds"] == 0


def test_before_any_report_the_whole_session_is_unreported() -> None:
    assert unreported(budget(), totals(T0 + 60, 0.01), None) == pytest.approx(0.01)


def test_only_the_share_inside_the_period_and_in_the_budget_unit() -> None:
    # The period began halfway through the session: half of what came since is in it.
    inside = budget(starts_at=T0 + 100, used=0.0)
    assert unreported(inside, totals(T0 + 200, 0.02), None) == pytest.approx(0.01)
    assert unreported(budget(currency="EUR"), totals(T0 + 60, 0.01), None) == 0.0
    cpu = budget(currency=None, unit="cpu_core_seconds", limit=3600, used=100)
    assert unreported(cpu, totals(T0 + 60, 0.0, 90.0), totals(T0 + 30, 0.0, 40.0)) == 50.0


def test_a_record_reported_gives_its_totals_at_its_checkpoint() -> None:
    record = {
        "id": "s",
        "started": T0,
        "last_checkpoint": T0 + 600,
        "totals": {"cpu_core_seconds": 30.0, "memory_byte_seconds": 2.0, "gpu_seconds": 0.0},
        "cost": {"total": 0.05, "currency": "USD"},
    }
    reported = totals_of_record(record)
    assert reported == SessionTotals(T0, T0 + 600, 0.05, "USD", 30.0, 2.0, 0.0)
    assert totals_of_record({**record, "last_checkpoint": None}) is None
