"""Budgets: what each user may still spend, as pure functions over stored sessions.

A budget is a scope (a user, a group, or everyone), a period, and one or more limits:
a cost in a currency, or resource-hours (CPU core-hours, memory GiB-hours, GPU-hours,
server-hours). On the wire every limit is in SI base units (`cpu_core_seconds`, …).

Use in a period is what the sessions overlapping it took, each in proportion to its time
inside the period (as the KPIs prorate): ended sessions whole or in part, and each running
session as its latest report says. Costs count only in the budget's currency.

Periods:

- `"day"`, `"week"` (from Monday) and `"month"` are calendar periods in the budget time
  zone (UTC by default); a budget resets at the period's end.
- `{"rolling_days": N}` is the last N days up to now. Use leaves it continuously, so
  `resets_at` is when the use falls back under the limit if nothing more is spent (for an
  exhausted budget), else the end of the window, which is now (`starts_at` + N days).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from jupyter_usage.currencies import ACTIVE_CURRENCY_CODES, format_money
from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.hub.periods import DAY_SECONDS, HOUR_SECONDS

GIB = 2.0**30

RESOURCE_LIMITS: dict[str, tuple[str, float]] = {
    "cpu_core_hours": ("cpu_core_seconds", HOUR_SECONDS),
    "memory_gib_hours": ("memory_byte_seconds", HOUR_SECONDS * GIB),
    "gpu_hours": ("gpu_seconds", HOUR_SECONDS),
    "server_hours": ("server_seconds", HOUR_SECONDS),
}
"""Config key of a resource limit → (its unit on the wire, base units per config unit)."""

CALENDAR_PERIODS = ("day", "week", "month")
COMBINE_RULES = ("most_specific", "min", "max")
ENFORCEMENTS = ("none", "spawn", "stop")
MAX_ROLLING_DAYS = 366
_SCOPE_KEYS = ("user", "group", "default")
_KNOWN_KEYS = {*_SCOPE_KEYS, "period", "limit", "currency", "shared", *RESOURCE_LIMITS}

Period = str | int
"""A calendar period's name, or the days of a rolling window."""


class BudgetConfigError(ValueError):
    """A budget that cannot be used; the message says which field and why."""


@dataclass(frozen=True)
class Limit:
    amount: float
    """In base units: currency units, or seconds, core-seconds, byte-seconds."""
    currency: str | None = None
    unit: str | None = None

    @property
    def kind(self) -> str:
        return f"currency:{self.currency}" if self.currency else str(self.unit)


@dataclass(frozen=True)
class Budget:
    kind: str
    """"user", "group" or "default"."""
    name: str | None
    period: Period
    limits: tuple[Limit, ...]
    shared: bool = False
    """A group budget the members spend together (else each member has the whole limit)."""

    @property
    def scope(self) -> str:
        return "default" if self.kind == "default" else f"{self.kind}:{self.name}"

    @property
    def period_json(self) -> Any:
        return self.period if isinstance(self.period, str) else {"rolling_days": self.period}


# -- configuration -----------------------------------------------------------------------


def parse_budgets(value: Any) -> list[Budget]:
    """The budgets of `c.UsageService.budgets`; BudgetConfigError says which one is wrong."""
    if not isinstance(value, (list, tuple)):
        raise BudgetConfigError(f"must be a list of budgets, got {type(value).__name__}")
    budgets = []
    for index, item in enumerate(value):
        try:
            budgets.append(parse_budget(item))
        except BudgetConfigError as error:
            raise BudgetConfigError(f"[{index}]: {error}") from None
    return budgets


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BudgetConfigError(f"{key!r} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise BudgetConfigError(f"{key!r} must be a finite number >= 0, got {value!r}")
    return float(value)


def parse_period(value: Any) -> Period:
    if value in CALENDAR_PERIODS:
        return str(value)
    if isinstance(value, Mapping) and set(value) == {"rolling_days"}:
        days = value["rolling_days"]
        if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= MAX_ROLLING_DAYS:
            return days
    raise BudgetConfigError(
        '\'period\' must be "day", "week", "month" or {"rolling_days": N} with N from 1 '
        f"to {MAX_ROLLING_DAYS}, got {value!r}"
    )


def parse_budget(item: Any) -> Budget:
    if not isinstance(item, Mapping):
        raise BudgetConfigError(f"a budget must be a dict, got {item!r}")
    unknown = sorted(str(key) for key in item if key not in _KNOWN_KEYS)
    if unknown:
        raise BudgetConfigError(f"unknown keys {unknown}; known: {sorted(_KNOWN_KEYS)}")
    scopes = [key for key in _SCOPE_KEYS if key in item]
    if len(scopes) != 1:
        raise BudgetConfigError(
            'needs exactly one scope: {"user": NAME}, {"group": NAME} or {"default": True}'
        )
    kind = scopes[0]
    name: str | None = None
    if kind == "default":
        if item["default"] is not True:
            raise BudgetConfigError(f"'default' must be True, got {item['default']!r}")
    else:
        name = item[kind]
        if not isinstance(name, str) or not name:
            raise BudgetConfigError(f"{kind!r} must be a non-empty name, got {name!r}")
    if "period" not in item:
        raise BudgetConfigError("needs a 'period'")
    period = parse_period(item["period"])
    shared = item.get("shared", False)
    if not isinstance(shared, bool) or (shared and kind != "group"):
        raise BudgetConfigError("'shared' may only be True or False, and only on a group budget")
    limits: list[Limit] = []
    if ("limit" in item) != ("currency" in item):
        raise BudgetConfigError("'limit' and 'currency' go together")
    if "limit" in item:
        currency = item["currency"]
        if currency not in ACTIVE_CURRENCY_CODES:
            raise BudgetConfigError(f"'currency' must be an ISO 4217 code, got {currency!r}")
        limits.append(Limit(_number("limit", item["limit"]), currency=str(currency)))
    for key, (unit, factor) in RESOURCE_LIMITS.items():
        if key in item:
            limits.append(Limit(_number(key, item[key]) * factor, unit=unit))
    if not limits:
        raise BudgetConfigError(
            f"needs a limit: 'limit' with 'currency', or one of {', '.join(RESOURCE_LIMITS)}"
        )
    return Budget(kind, name, period, tuple(limits), shared)


# -- which budgets apply -----------------------------------------------------------------


@dataclass(frozen=True)
class Applicable:
    budget: Budget
    limit: Limit


def applicable(
    budgets: Sequence[Budget], user: str, groups: Iterable[str], combine: str
) -> list[Applicable]:
    """The limits that bind `user`, in the order of the configuration.

    - `most_specific`: the user's own budgets if any; else their groups' budgets, of which,
      per unit (or currency) and period, the largest limit; else the default budgets.
    - `min`: every matching budget (own, groups', default); per unit and period the
      smallest limit binds.
    - `max`: the same, but the largest limit binds.

    Limits of different units, currencies or periods all apply side by side.
    """
    member_of = set(groups)
    own = [b for b in budgets if b.kind == "user" and b.name == user]
    of_groups = [b for b in budgets if b.kind == "group" and b.name in member_of]
    default = [b for b in budgets if b.kind == "default"]
    pick: Callable[[Iterable[Applicable]], Applicable]
    if combine == "most_specific":
        chosen = own or of_groups or default
        pick = _most_generous
    else:
        chosen = own + of_groups + default
        pick = _most_generous if combine == "max" else _strictest
    by_key: dict[tuple[str, Any], list[Applicable]] = {}
    for budget in chosen:
        for limit in budget.limits:
            by_key.setdefault((limit.kind, budget.period), []).append(Applicable(budget, limit))
    return [pick(candidates) for candidates in by_key.values()]


def _most_generous(candidates: Iterable[Applicable]) -> Applicable:
    # Ties: the first configured wins (max keeps the first of equals).
    return max(candidates, key=lambda a: a.limit.amount)


def _strictest(candidates: Iterable[Applicable]) -> Applicable:
    return min(candidates, key=lambda a: a.limit.amount)


# -- periods -----------------------------------------------------------------------------


def _local_midnight(day: date, zone: tzinfo) -> float:
    return datetime.combine(day, time(0), tzinfo=zone).timestamp()


def calendar_bounds(period: str, now: float, zone: tzinfo) -> tuple[float, float]:
    """Start and end of the calendar period holding `now`, in `zone` (midnights there)."""
    today = datetime.fromtimestamp(now, zone).date()
    if period == "day":
        first, after = today, today + timedelta(days=1)
    elif period == "week":
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    elif period == "month":
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"not a calendar period: {period!r}")
    return _local_midnight(first, zone), _local_midnight(after, zone)


def window_start(period: Period, now: float, zone: tzinfo) -> float:
    if isinstance(period, int):
        return now - period * DAY_SECONDS
    return calendar_bounds(period, now, zone)[0]


# -- use ---------------------------------------------------------------------------------


def session_use(session: KpiSession, limit: Limit, since: float, until: float) -> float:
    """What one session took of a limit's unit inside `[since, until)`."""
    if limit.unit == "server_seconds":
        part = session.overlap(since, until)
        return 0.0 if part is None else part[1] - part[0]
    fraction = session.fraction_in(since, until)
    if fraction == 0:
        return 0.0
    amount: Any
    if limit.currency is not None:
        if session.currency != limit.currency or session.cost_total is None:
            return 0.0
        amount = session.cost_total
    else:
        amount = session.totals.get(str(limit.unit))
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        return 0.0
    if not math.isfinite(amount) or amount < 0:
        return 0.0
    return float(amount) * fraction


def use_in(sessions: Iterable[KpiSession], limit: Limit, since: float, until: float) -> float:
    return sum(session_use(s, limit, since, until) for s in sessions)


def rolling_reset(sessions: Sequence[KpiSession], limit: Limit, days: int, now: float) -> float:
    """When a rolling window's use falls back under the limit, if nothing more is spent.

    The use is piecewise linear and falling in the window's start, so a bisection finds it.
    """
    span = days * DAY_SECONDS
    low, high = now, now + span
    if limit.amount <= 0:
        return high
    for _ in range(60):
        middle = (low + high) / 2
        if use_in(sessions, limit, middle - span, now) < limit.amount:
            high = middle
        else:
            low = middle
        if high - low < 1:
            break
    return high


def evaluate(
    chosen: Sequence[Applicable],
    sessions_for: Callable[[Budget, float, float], Sequence[KpiSession]],
    now: float,
    zone: tzinfo,
    enforcement: str,
    stop_at: float | None = None,
) -> list[dict[str, Any]]:
    """The wire form of each applicable limit (see the module's docstring).

    `sessions_for(budget, since, until)`: the sessions that count against the budget (the
    user's own, or the group's for a shared budget). `stop_at`: a scheduled stop, shown on
    exhausted limits.
    """
    entries = []
    for item in chosen:
        budget, limit = item.budget, item.limit
        if isinstance(budget.period, int):
            starts_at = now - budget.period * DAY_SECONDS
            resets_at = now
        else:
            starts_at, resets_at = calendar_bounds(budget.period, now, zone)
        sessions = sessions_for(budget, starts_at, now)
        used = use_in(sessions, limit, starts_at, now)
        exhausted = used >= limit.amount
        if isinstance(budget.period, int) and exhausted:
            resets_at = rolling_reset(sessions, limit, budget.period, now)
        entry: dict[str, Any] = {
            "scope": budget.scope,
            "period": budget.period_json,
            "starts_at": starts_at,
            "resets_at": resets_at,
            "limit": limit.amount,
            "used": used,
            "remaining": max(0.0, limit.amount - used),
        }
        if limit.currency is not None:
            entry["currency"] = limit.currency
        else:
            entry["unit"] = limit.unit
        entry["exhausted"] = exhausted
        entry["enforcement"] = enforcement
        entry["stop_at"] = stop_at if exhausted and enforcement == "stop" else None
        entries.append(entry)
    return entries


def describe_amount(amount: float, entry: Mapping[str, Any]) -> str:
    """An amount in the unit admins configured it in ("3.5 GPU-hours", "12.40 EUR")."""
    if entry.get("currency"):
        return format_money(amount, entry["currency"])
    unit = entry.get("unit")
    for key, (wire_unit, factor) in RESOURCE_LIMITS.items():
        if wire_unit == unit:
            label = key.removesuffix("_hours").replace("_", " ")
            label = {"cpu core": "CPU core", "memory gib": "memory GiB", "gpu": "GPU"}.get(
                label, label
            )
            hours = amount / factor
            # Small limits keep their digits: 0.005 h is not "0.01".
            shown = f"{hours:.2f}" if hours >= 0.1 or hours == 0 else f"{hours:.2g}"
            return f"{shown} {label}-hours"
    return f"{amount:g} {unit}"


def describe_period(period: Any) -> str:
    if isinstance(period, Mapping):
        return f"rolling {period.get('rolling_days')} days"
    return {"day": "daily", "week": "weekly", "month": "monthly"}.get(str(period), str(period))


def refusal_message(entry: Mapping[str, Any], when: str) -> str:
    """What the spawn page shows for an exhausted budget; `when` is its reset, written out."""
    used = describe_amount(float(entry["used"]), entry)
    limit = describe_amount(float(entry["limit"]), entry)
    return (
        f"Your {describe_period(entry['period'])} budget ({entry['scope']}) is spent: "
        f"{used} used of {limit}. It resets at {when}."
    )
