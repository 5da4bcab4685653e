"""The KPIs' vocabulary: a session as they see it, the tally of a window, the
percentile, the UTC days, and the one shape of the KPI report. Pure, no I/O; the
row-by-row reference of every KPI is tests/support/kpi_reference.py.

A session is active from its start to its end (while running: its last checkpoint).
Windows are half-open, `[since, until)`, in unix seconds; days and months are UTC.
Resources and cost of a session that crosses a window's edge count in proportion to
the part of its time inside the window, so monthly reports add up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jupyter_usage.hub.db.queries import KpiSession, finite_number
from jupyter_usage.hub.periods import DAY_SECONDS
from jupyter_usage.records import RESOURCE_TOTALS

WAU_SECONDS = 7 * DAY_SECONDS
MAU_SECONDS = 30 * DAY_SECONDS

NO_GROUP: str | None = None
"""The group of sessions whose user is in no group."""


def kpi(value: Any, explanation: str, **extra: Any) -> dict[str, Any]:
    """One KPI as the API shows it: its value and a one-line explanation."""
    return {"value": value, "explanation": explanation, **extra}


# -- building blocks -----------------------------------------------------------------


def in_group(sessions: Iterable[KpiSession], group: str | None) -> list[KpiSession]:
    """Sessions of users in `group` (all sessions when `group` is None)."""
    if group is None:
        return list(sessions)
    return [session for session in sessions if group in session.groups]


def server_seconds_by_user(
    sessions: Iterable[KpiSession], since: float, until: float
) -> dict[str, float]:
    """Seconds of server time inside the window, per user (named servers add up)."""
    seconds: dict[str, float] = defaultdict(float)
    for session in sessions:
        part = session.overlap(since, until)
        if part is not None:
            seconds[session.user] += part[1] - part[0]
    return dict(seconds)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (as numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@dataclass
class Tally:
    sessions: int = 0
    server_seconds: float = 0.0
    resources: dict[str, float] = field(default_factory=lambda: dict.fromkeys(RESOURCE_TOTALS, 0.0))
    cost: dict[str, float] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)

    def add(self, session: KpiSession, since: float, until: float) -> None:
        fraction = session.fraction_in(since, until)
        if fraction == 0:
            return
        self.users.add(session.user)
        if since <= session.started < until:
            self.sessions += 1
        self.server_seconds += session.duration_seconds * fraction
        for name in RESOURCE_TOTALS:
            self.resources[name] += finite_number(session.totals.get(name)) * fraction
        if session.cost_total is not None and math.isfinite(session.cost_total):
            currency = session.currency or ""
            self.cost[currency] = self.cost.get(currency, 0.0) + session.cost_total * fraction

    def row(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "users": len(self.users),
            "server_seconds": self.server_seconds,
            **self.resources,
            "cost": {currency: round(amount, 6) for currency, amount in sorted(self.cost.items())},
        }


# -- the report ----------------------------------------------------------------------


def kpi_report(
    *,
    since: float,
    until: float,
    group: str | None,
    regular_seconds_per_week: float,
    active_users: int,
    daily: list[dict[str, Any]],
    wau: int,
    mau: int,
    last_30_days: list[dict[str, Any]],
    monthly: list[dict[str, Any]],
    regular: list[str],
    sessions: int,
    median_seconds: float | None,
    p90_seconds: float | None,
    peak_concurrent: tuple[int, float | None],
    totals: dict[str, Any],
    by_user: list[dict[str, Any]],
    by_group: list[dict[str, Any]],
) -> dict[str, Any]:
    """The KPI document from its figures; the Python and the SQL paths both end here."""
    dau = sum(day["users"] for day in daily) / len(daily) if daily else 0.0
    dau_30 = sum(day["users"] for day in last_30_days) / len(last_30_days)
    stickiness = 100.0 * dau_30 / mau if mau else None
    peak, peak_at = peak_concurrent
    hours = regular_seconds_per_week / 3600
    return {
        "since": since,
        "until": until,
        "group": group,
        "regular_seconds_per_week": regular_seconds_per_week,
        "kpis": {
            "active_users": kpi(
                active_users,
                "Distinct users with a server running at some time in the window.",
            ),
            "dau": kpi(
                round(dau, 3),
                "Daily active users: distinct users with a server running on a UTC day, "
                "averaged over the days of the window.",
            ),
            "wau": kpi(
                wau,
                "Weekly active users: distinct users with a server in the 7 days up to 'until'.",
            ),
            "mau": kpi(
                mau,
                "Monthly active users: distinct users with a server in the 30 days up to 'until'.",
            ),
            "dau_last_30_days": kpi(
                round(dau_30, 3),
                "Daily active users averaged over the 30 days up to 'until', whatever the "
                "window: the numerator of stickiness.",
            ),
            "stickiness_percent": kpi(
                None if stickiness is None else round(stickiness, 2),
                "DAU/MAU over the 30 days up to 'until' (not the window): "
                "dau_last_30_days as a share of MAU; 100% means every monthly user "
                "comes every day.",
            ),
            "daily_active_users": kpi(
                daily, "Distinct users with a server running on each UTC day of the window."
            ),
            "monthly_active_users": kpi(
                monthly,
                "Distinct users with a server running in each UTC month touching the window "
                "(only the part of the month inside the window counts).",
            ),
            "regular_users": kpi(
                len(regular),
                f"Users whose servers ran at least {hours:g} h per week on average over the "
                "window (a window shorter than a week counts as one week).",
                users=regular,
            ),
            "sessions": kpi(sessions, "Server sessions that started in the window."),
            "median_session_seconds": kpi(
                median_seconds,
                "Median length of the sessions that started in the window and have ended.",
            ),
            "p90_session_seconds": kpi(
                p90_seconds,
                "90th percentile of those session lengths: 9 in 10 sessions were shorter.",
            ),
            "peak_concurrent_servers": kpi(
                peak,
                "Most servers running at the same moment in the window, with when it first "
                "happened ('at', unix seconds).",
                at=peak_at,
            ),
            "server_seconds": kpi(
                totals["server_seconds"],
                "Server time in the window, summed over all servers; sessions crossing the "
                "window's edges count only their part inside it.",
            ),
            "cpu_core_seconds": kpi(
                totals["cpu_core_seconds"], "CPU time used, in core-seconds, counted the same way."
            ),
            "memory_byte_seconds": kpi(
                totals["memory_byte_seconds"],
                "Memory held over time, in byte-seconds, counted the same way.",
            ),
            "gpu_seconds": kpi(
                totals["gpu_seconds"],
                "GPU device-seconds of servers with GPUs attached, counted the same way.",
            ),
            "cost": kpi(
                totals["cost"],
                "Total cost by currency, as each server priced its session with its rates; "
                "crossing sessions count in proportion to their time inside the window.",
            ),
            "cost_by_user": kpi(
                by_user,
                "Sessions started, server time, resources and cost per user, most expensive first.",
            ),
            "cost_by_group": kpi(
                by_group,
                "The same per hub group; a user in several groups counts fully in each, so "
                "groups may add up to more than the total. 'group' null: users in no group.",
            ),
        },
    }
