"""The user's budgets as the hub service evaluates them, seen from this server.

The hub's usage service keeps every session of the user, so it alone can say what a
budget has used (`GET <service>/api/v1/budget`). This module reads that answer without
trusting it, keeps it for one report interval (the service's figures move no faster,
since the servers report that often), and adds what only this server knows: how long
each budget lasts at the session's current rate, and what this session took from it.

Plain Python: the HTTP call is injected (`fetch`), the clock too; nothing raises to the
caller. Without a hub, a service or a budget the answer is an empty list with a reason.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

UNITS = ("cpu_core_seconds", "memory_byte_seconds", "gpu_seconds", "server_seconds")
"""The resource budgets' units, as the service sends them (SI base units)."""

PERIODS = ("day", "week", "month")
ENFORCEMENTS = ("none", "spawn", "stop")

NO_HUB = "not running under JupyterHub"
NO_SERVICE_NAME = "no hub service is configured (UsageApp.hub_service_name is empty)"
NO_BUDGET = "no budget applies to you"


@dataclass(frozen=True)
class ServiceAnswer:
    """What the service said: `status` None when nothing came back; `error` why."""

    status: int | None
    body: Any = None
    error: str | None = None


# -- reading the service's answer ---------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _period(value: Any) -> str | dict[str, int] | None:
    if value in PERIODS:
        return str(value)
    if isinstance(value, Mapping) and set(value) == {"rolling_days"}:
        days = value["rolling_days"]
        if isinstance(days, int) and not isinstance(days, bool) and days >= 1:
            return {"rolling_days": days}
    return None


def read_budget(entry: Any) -> dict[str, Any] | None:
    """One budget of the service's answer, with only the fields of the contract, or None
    when it is not a budget this server understands (a newer service, a broken one)."""
    if not isinstance(entry, Mapping):
        return None
    scope, period = entry.get("scope"), _period(entry.get("period"))
    limit, used = _number(entry.get("limit")), _number(entry.get("used"))
    if not isinstance(scope, str) or not scope or period is None or limit is None:
        return None
    if used is None or limit < 0 or used < 0:
        return None
    currency, unit = entry.get("currency"), entry.get("unit")
    budget: dict[str, Any] = {"scope": scope, "period": period}
    if isinstance(currency, str) and len(currency) == 3 and currency.isalpha():
        budget["currency"] = currency.upper()
    elif unit in UNITS:
        budget["unit"] = unit
    else:
        return None
    remaining = _number(entry.get("remaining"))
    enforcement = entry.get("enforcement")
    exhausted = entry.get("exhausted")
    budget.update(
        {
            "starts_at": _number(entry.get("starts_at")),
            "resets_at": _number(entry.get("resets_at")),
            "limit": limit,
            "used": used,
            "remaining": max(0.0, limit - used if remaining is None else remaining),
            "exhausted": exhausted if isinstance(exhausted, bool) else used >= limit,
            "enforcement": enforcement if enforcement in ENFORCEMENTS else "none",
            "stop_at": _number(entry.get("stop_at")),
        }
    )
    return budget


def read_answer(answer: ServiceAnswer) -> tuple[list[dict[str, Any]], str | None]:
    """The budgets of an answer and, when there are none, why."""
    if answer.status is None:
        return [], f"the usage service did not answer: {answer.error or 'no answer'}"
    body = answer.body
    if answer.status == 404:
        return [], "the usage service does not offer budgets (HTTP 404)"
    if answer.status == 403:
        return [], (
            "the usage service refused this server's token (403): add "
            "access:services!service=<name> to c.Spawner.server_token_scopes"
        )
    if not 200 <= answer.status < 300:
        detail = body.get("message") if isinstance(body, Mapping) else None
        return [], f"the usage service answered HTTP {answer.status}" + (
            f": {detail}" if isinstance(detail, str) and detail else ""
        )
    entries = body.get("budgets") if isinstance(body, Mapping) else None
    if not isinstance(entries, list):
        return [], "the usage service's answer has no list of budgets"
    budgets = [budget for budget in map(read_budget, entries) if budget is not None]
    if budgets:
        return budgets, None
    reason = body.get("reason")
    if isinstance(reason, str) and reason:
        return [], reason
    if entries:
        return [], "the usage service sent budgets this server does not understand"
    return [], NO_BUDGET


# -- what only this server knows ----------------------------------------------------------


@dataclass(frozen=True)
class SessionRate:
    """How fast this session spends now, per second (None: unknown)."""

    cost_per_second: float | None = None
    currency: str | None = None
    cpu_cores: float | None = None
    memory_bytes: float | None = None
    gpus: float | None = None
    running: bool = True

    def of(self, budget: Mapping[str, Any]) -> float | None:
        """The rate at which `budget` is spent, in its own unit per second."""
        if "currency" in budget:
            if self.currency is None or self.currency != budget["currency"]:
                return None
            return self.cost_per_second
        return {
            "cpu_core_seconds": self.cpu_cores,
            "memory_byte_seconds": self.memory_bytes,
            "gpu_seconds": self.gpus,
            "server_seconds": 1.0 if self.running else None,
        }.get(budget.get("unit", ""))


def projected_exhaustion_seconds(
    budget: Mapping[str, Any], rate_per_second: float | None, elapsed_seconds: float = 0.0
) -> float | None:
    """Seconds until `budget` is spent at `rate_per_second`, counted from now when its
    figures are `elapsed_seconds` old; 0 when spent, None when the rate says nothing
    (unknown, or zero: at that rate it never runs out)."""
    if budget.get("exhausted") or budget["remaining"] <= 0:
        return 0.0
    if rate_per_second is None or not rate_per_second > 0 or not math.isfinite(rate_per_second):
        return None
    remaining = float(budget["remaining"])
    return max(0.0, remaining / rate_per_second - max(0.0, elapsed_seconds))


@dataclass(frozen=True)
class SessionTotals:
    """What this session has used so far, in the budgets' units."""

    started: float
    now: float
    cost: float | None
    currency: str | None
    cpu_core_seconds: float
    memory_byte_seconds: float
    gpu_seconds: float

    def amount(self, budget: Mapping[str, Any]) -> float | None:
        if "currency" in budget:
            return self.cost if self.currency == budget["currency"] else None
        return {
            "cpu_core_seconds": self.cpu_core_seconds,
            "memory_byte_seconds": self.memory_byte_seconds,
            "gpu_seconds": self.gpu_seconds,
            "server_seconds": max(0.0, self.now - self.started),
        }.get(budget.get("unit", ""))


def session_take(budget: Mapping[str, Any], totals: SessionTotals) -> float | None:
    """What this session took from `budget`: its use, the share of it inside the budget's
    period when the session began before the period did (spread evenly over the session),
    and never more than the budget has used. None when the units do not match."""
    amount = totals.amount(budget)
    if amount is None:
        return None
    duration = totals.now - totals.started
    starts_at = budget.get("starts_at")
    if starts_at is not None and duration > 0 and totals.started < starts_at:
        amount *= max(0.0, totals.now - starts_at) / duration
    return max(0.0, min(amount, float(budget["used"])))


# -- the cached view --------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    """The budgets as last fetched: `fetched_at` in unix seconds, None before any."""

    user: str | None
    budgets: tuple[dict[str, Any], ...]
    reason: str | None
    fetched_at: float | None


class BudgetReader:
    """Asks the service at most once per `interval_seconds`, whatever the answer, so that
    a panel in every tab of every user never becomes load on the service."""

    def __init__(
        self,
        fetch: Callable[[], ServiceAnswer | None],
        *,
        interval_seconds: float,
        user: str | None = None,
        no_service_reason: str = "the hub has no usage service",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self.interval_seconds = interval_seconds
        self.user = user
        self._no_service_reason = no_service_reason
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._status: BudgetStatus | None = None
        self._asked_at = float("-inf")
        self.fetches_total = 0

    def status(self) -> BudgetStatus:
        """The cached budgets, fetched again once they are `interval_seconds` old."""
        with self._lock:
            if self._status is not None and self._clock() - self._asked_at < self.interval_seconds:
                return self._status
            self._asked_at = self._clock()
            self.fetches_total += 1
            self._status = self._read()
            return self._status

    def _read(self) -> BudgetStatus:
        try:
            answer = self._fetch()
        except Exception as error:  # a fault here must never reach the panel as a 500
            answer = ServiceAnswer(None, error=f"{type(error).__name__}: {error}")
        now = self._wall_clock()
        if answer is None:
            return BudgetStatus(self.user, (), self._no_service_reason, now)
        budgets, reason = read_answer(answer)
        user = answer.body.get("user") if isinstance(answer.body, Mapping) else None
        return BudgetStatus(
            user if isinstance(user, str) else self.user, tuple(budgets), reason, now
        )


def unavailable(reason: str, user: str | None = None) -> dict[str, Any]:
    """The answer when budgets cannot be known at all."""
    return {"user": user, "budgets": [], "reason": reason, "fetched_at": None}


def budget_json(status: BudgetStatus, rate: SessionRate, now: float) -> dict[str, Any]:
    """The extension's `/budget` body: the service's budgets with their projections."""
    elapsed = 0.0 if status.fetched_at is None else max(0.0, now - status.fetched_at)
    budgets = [
        {
            **budget,
            "projected_exhaustion_seconds": projected_exhaustion_seconds(
                budget, rate.of(budget), elapsed
            ),
        }
        for budget in status.budgets
    ]
    body: dict[str, Any] = {
        "user": status.user,
        "budgets": budgets,
        "fetched_at": status.fetched_at,
    }
    if not budgets:
        body["reason"] = status.reason or NO_BUDGET
    return body


def takes_json(status: BudgetStatus, totals: SessionTotals) -> list[dict[str, Any]]:
    """What the session took from each budget, for its summary."""
    takes = []
    for budget in status.budgets:
        taken = session_take(budget, totals)
        if taken is None:
            continue
        takes.append(
            {
                key: budget[key]
                for key in ("scope", "period", "currency", "unit", "limit", "used", "remaining")
                if key in budget
            }
            | {"taken": taken, "resets_at": budget.get("resets_at")}
        )
    return takes
