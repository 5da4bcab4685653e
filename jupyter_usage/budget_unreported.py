"""The part of the running session the hub service has not counted yet.

A budget's `used` comes from the service, which knows this session only up to the last
report it accepted (up to `UsageApp.report_interval` old) and is read at most once per
interval. Shown as is, a bar says 0.05 of 0.05 while the session already cost 0.058. What
this server knows it added since that report is added to `used` and taken from
`remaining`, and the forecast starts from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .budget import SessionTotals, session_take


def totals_of_record(record: Mapping[str, Any]) -> SessionTotals | None:
    """The totals of a session record as it was reported (None without a checkpoint)."""
    totals = record.get("totals") or {}
    cost = record.get("cost") or {}
    started = record.get("started")
    checkpoint = record.get("last_checkpoint")
    if not isinstance(started, (int, float)) or not isinstance(checkpoint, (int, float)):
        return None
    return SessionTotals(
        started=float(started),
        now=float(checkpoint),
        cost=cost.get("total"),
        currency=cost.get("currency"),
        cpu_core_seconds=float(totals.get("cpu_core_seconds") or 0.0),
        memory_byte_seconds=float(totals.get("memory_byte_seconds") or 0.0),
        gpu_seconds=float(totals.get("gpu_seconds") or 0.0),
    )


def unreported(
    budget: Mapping[str, Any], now: SessionTotals, reported: SessionTotals | None
) -> float:
    """What this session added to `budget` since the report the service counted: all of
    its share of the period when nothing was reported yet; 0 when the units differ."""
    unlimited = {**budget, "used": float("inf")}
    taken_now = session_take(unlimited, now)
    if taken_now is None:
        return 0.0
    taken_then = session_take(unlimited, reported) if reported is not None else 0.0
    return max(0.0, taken_now - (taken_then or 0.0))


def with_unreported(
    body: dict[str, Any],
    now: SessionTotals,
    reported: SessionTotals | None,
    rate_of: Any,
) -> dict[str, Any]:
    """`/budget`'s body with each budget's `used`, `remaining`, `exhausted` and forecast
    counting this session's unreported part (`unreported`, in the budget's unit).

    `rate_of(budget)`: the session's spending rate in the budget's unit per second (None
    when unknown), as `budget.SessionRate.of`.
    """
    budgets = []
    for budget in body.get("budgets", []):
        extra = unreported(budget, now, reported)
        used = float(budget["used"]) + extra
        remaining = max(0.0, float(budget["remaining"]) - extra)
        updated = {
            **budget,
            "used": used,
            "remaining": remaining,
            "unreported": extra,
            "exhausted": bool(budget.get("exhausted")) or used >= float(budget["limit"]),
        }
        rate = rate_of(budget)
        if updated["exhausted"]:
            updated["projected_exhaustion_seconds"] = 0.0
        elif extra > 0 and rate is not None and rate > 0:
            updated["projected_exhaustion_seconds"] = remaining / rate
        budgets.append(updated)
    return {**body, "budgets": budgets}
