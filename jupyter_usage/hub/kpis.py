"""Hub-wide KPIs over stored sessions: pure functions, no I/O.

A session is active from its start to its end (while running: its last checkpoint).
Windows are half-open, `[since, until)`, in unix seconds; days and months are UTC.
Resources and cost of a session that crosses a window's edge count in proportion to
the part of its time inside the window, so monthly reports add up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DAY_SECONDS = 86400.0
WEEK_SECONDS = 7 * DAY_SECONDS
WAU_SECONDS = 7 * DAY_SECONDS
MAU_SECONDS = 30 * DAY_SECONDS

RESOURCE_TOTALS = ("cpu_core_seconds", "memory_byte_seconds", "gpu_seconds")
"""Keys of a session's `totals` that the KPIs add up (besides its duration)."""

NO_GROUP: str | None = None
"""The group of sessions whose user is in no group."""


@dataclass(frozen=True)
class KpiSession:
    """What the KPIs need to know about one stored session."""

    user: str
    started: float
    end: float
    """When it ended, or its last checkpoint while it runs."""
    ended: bool = True
    server_name: str = ""
    groups: tuple[str, ...] = ()
    cost_total: float | None = None
    currency: str | None = None
    totals: Mapping[str, Any] = field(default_factory=dict)
    unconfirmed: bool = False
    """Reported while the service watched the hub, yet the hub never ran it (hub_check.py):
    budgets count it, the KPIs leave it out."""

    @property
    def duration_seconds(self) -> float:
        return max(0.0, self.end - self.started)

    def overlap(self, since: float, until: float) -> tuple[float, float] | None:
        """The part of the session inside `[since, until)`, or None when none is."""
        start = max(self.started, since)
        end = min(self.end, until)
        if start < end:
            return start, end
        if self.end <= self.started and since <= self.started < until:
            return self.started, self.started
        return None

    def fraction_in(self, since: float, until: float) -> float:
        """Share of the session's time inside the window (1 or 0 for an instant)."""
        part = self.overlap(since, until)
        if part is None:
            return 0.0
        if self.duration_seconds == 0:
            return 1.0
        return (part[1] - part[0]) / self.duration_seconds


def kpi(value: Any, explanation: str, **extra: Any) -> dict[str, Any]:
    """One KPI as the API shows it: its value and a one-line explanation."""
    return {"value": value, "explanation": explanation, **extra}


# -- building blocks -----------------------------------------------------------------


def in_group(sessions: Iterable[KpiSession], group: str | None) -> list[KpiSession]:
    """Sessions of users in `group` (all sessions when `group` is None)."""
    if group is None:
        return list(sessions)
    return [session for session in sessions if group in session.groups]


def utc_day(time: float) -> str:
    return datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m-%d")


def utc_month(time: float) -> str:
    return datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m")


def day_starts(since: float, until: float) -> list[float]:
    """Starts of the UTC days that intersect `[since, until)`."""
    if until <= since:
        return []
    first = math.floor(since / DAY_SECONDS) * DAY_SECONDS
    return [first + i * DAY_SECONDS for i in range(math.ceil((until - first) / DAY_SECONDS))]


def daily_active_users(
    sessions: Iterable[KpiSession], since: float, until: float
) -> list[dict[str, Any]]:
    """Distinct users with a session on each UTC day of the window, oldest day first."""
    users_by_day: dict[float, set[str]] = {day: set() for day in day_starts(since, until)}
    for session in sessions:
        part = session.overlap(since, until)
        if part is None:
            continue
        start, end = part
        day = math.floor(start / DAY_SECONDS) * DAY_SECONDS
        # An instant, or a session ending exactly at midnight, does not touch the next day.
        while day < end or day <= start:
            users_by_day.setdefault(day, set()).add(session.user)
            day += DAY_SECONDS
    return [
        {"day": utc_day(day), "users": len(users)} for day, users in sorted(users_by_day.items())
    ]


def monthly_active_users(
    sessions: Iterable[KpiSession], since: float, until: float
) -> list[dict[str, Any]]:
    """Distinct users with a session in each UTC calendar month touching the window."""
    users_by_month: dict[str, set[str]] = {}
    for day in day_starts(since, until):
        users_by_month.setdefault(utc_month(day), set())
    for session in sessions:
        part = session.overlap(since, until)
        if part is None:
            continue
        for day in day_starts(part[0], max(part[1], part[0] + 1e-6)):
            users_by_month.setdefault(utc_month(day), set()).add(session.user)
    return [
        {"month": month, "users": len(users)} for month, users in sorted(users_by_month.items())
    ]


def active_users(sessions: Iterable[KpiSession], since: float, until: float) -> set[str]:
    """Users with at least one session overlapping `[since, until)`."""
    return {session.user for session in sessions if session.overlap(since, until) is not None}


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


def regular_users(
    sessions: Iterable[KpiSession], since: float, until: float, threshold_seconds_per_week: float
) -> list[str]:
    """Users whose server time averaged at least the threshold per week of the window.

    A window shorter than a week counts as a week: a user must reach the weekly
    threshold within it.
    """
    weeks = max(until - since, WEEK_SECONDS) / WEEK_SECONDS
    return sorted(
        user
        for user, seconds in server_seconds_by_user(sessions, since, until).items()
        if seconds / weeks >= threshold_seconds_per_week
    )


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (as numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def peak_concurrency(
    sessions: Iterable[KpiSession], since: float, until: float
) -> tuple[int, float | None]:
    """Most servers running at once inside the window, and when that first happened."""
    events: list[tuple[float, int]] = []
    for session in sessions:
        part = session.overlap(since, until)
        if part is not None and part[1] > part[0]:
            events.append((part[0], 1))
            events.append((part[1], -1))
    # Ends sort before starts at the same instant: back-to-back sessions do not overlap.
    events.sort()
    running = 0
    peak = 0
    peak_at: float | None = None
    for time, change in events:
        running += change
        if running > peak:
            peak, peak_at = running, time
    return peak, peak_at


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


def finite_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0.0
    return float(value)


def usage_by_user(
    sessions: Iterable[KpiSession], since: float, until: float
) -> list[dict[str, Any]]:
    """Sessions, server time, resources and cost per user; the most expensive first."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    groups: dict[str, set[str]] = defaultdict(set)
    for session in sessions:
        tallies[session.user].add(session, since, until)
        groups[session.user].update(session.groups)
    rows = [
        {"user": user, "groups": sorted(groups[user]), **tally.row()}
        for user, tally in tallies.items()
        if tally.users
    ]
    rows.sort(key=lambda row: (-sum(row["cost"].values()), -row["server_seconds"], row["user"]))
    for row in rows:
        del row["users"]
    return rows


def usage_by_group(
    sessions: Iterable[KpiSession], since: float, until: float
) -> list[dict[str, Any]]:
    """The same per group; a session counts fully in each group of its user."""
    tallies: dict[str | None, Tally] = defaultdict(Tally)
    for session in sessions:
        for group in session.groups or (NO_GROUP,):
            tallies[group].add(session, since, until)
    rows = [{"group": group, **tally.row()} for group, tally in tallies.items() if tally.users]
    rows.sort(
        key=lambda row: (-sum(row["cost"].values()), -row["server_seconds"], row["group"] or "")
    )
    return rows


# -- the report ----------------------------------------------------------------------


def compute_kpis(
    sessions: Iterable[KpiSession],
    *,
    since: float,
    until: float,
    group: str | None = None,
    regular_seconds_per_week: float = 8 * 3600,
) -> dict[str, Any]:
    """Every KPI of the window, each with its explanation.

    `sessions` must include those overlapping the 30 days before `until` (for MAU)
    as well as the window itself.
    """
    if not until > since:
        raise ValueError(f"until ({until}) must be later than since ({since})")
    chosen = [s for s in in_group(sessions, group) if not s.unconfirmed]
    daily = daily_active_users(chosen, since, until)
    last_30_days = daily_active_users(chosen, until - MAU_SECONDS, until)
    started_here = [s for s in chosen if since <= s.started < until]
    lengths = [s.duration_seconds for s in started_here if s.ended]
    overall = Tally()
    for session in chosen:
        overall.add(session, since, until)
    return kpi_report(
        since=since,
        until=until,
        group=group,
        regular_seconds_per_week=regular_seconds_per_week,
        active_users=len(active_users(chosen, since, until)),
        daily=daily,
        wau=len(active_users(chosen, until - WAU_SECONDS, until)),
        mau=len(active_users(chosen, until - MAU_SECONDS, until)),
        last_30_days=last_30_days,
        monthly=monthly_active_users(chosen, since, until),
        regular=regular_users(chosen, since, until, regular_seconds_per_week),
        sessions=len(started_here),
        median_seconds=percentile(lengths, 0.5),
        p90_seconds=percentile(lengths, 0.9),
        peak_concurrent=peak_concurrency(chosen, since, until),
        totals=overall.row(),
        by_user=usage_by_user(chosen, since, until),
        by_group=usage_by_group(chosen, since, until),
    )


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
