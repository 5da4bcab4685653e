"""The KPIs computed row by row in Python, from every session of the window: the
reference the database's answer (jupyter_usage.hub.kpis.database) is checked against,
figure by figure, by the equality tests. Slow on purpose: it reads each session."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.hub.kpis.model import (
    MAU_SECONDS,
    NO_GROUP,
    WAU_SECONDS,
    Tally,
    in_group,
    kpi_report,
    percentile,
    server_seconds_by_user,
)
from jupyter_usage.hub.periods import DAY_SECONDS, WEEK_SECONDS, day_starts, utc_day, utc_month


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
