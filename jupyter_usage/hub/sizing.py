"""Sizing: how often and when servers run out of memory and CPU, and how much memory
users really use against what they are given.

Built from what each server reports with its session (`totals.oom_kills`,
`memory_near_limit_seconds`, `cpu_throttled_seconds`, `peak_memory_bytes` and the limits
in `meta.limits`), for the sessions with figures only (servers known from the hub alone
have none). The database selects those few fields, read in batches; the spreading over
hours of the week and the percentiles are done here, so the time grows with the sessions
of the window (the memory only with those that have a memory limit).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .coverage import in_group
from .kpis import percentile
from .session_query import active_in
from .storage import SessionRow, UsageDB

HOUR = 3600.0
WEEK_HOURS = 168
UNKNOWN_PROFILE = "(no profile)"


def sizing(db: UsageDB, since: float, until: float, group: str | None = None) -> dict[str, Any]:
    totals = SessionRow.totals
    columns = (
        SessionRow.started,
        SessionRow.last_seen,
        SessionRow.profile,
        totals["oom_kills"].as_float(),
        totals["memory_near_limit_seconds"].as_float(),
        totals["cpu_throttled_seconds"].as_float(),
        totals["peak_memory_bytes"].as_float(),
        SessionRow.meta[("limits", "memory_limit_bytes")].as_float(),
    )
    query = select(*columns).where(
        # Said although active_in implies it: the index on last_seen then picks the few.
        SessionRow.last_seen >= since,
        active_in(SessionRow, since, until),
        SessionRow.from_hub.is_(False),
    )
    if group is not None:
        query = query.where(in_group(group))
    hit_limit = oom_sessions = with_figures = 0
    kills_by_week: dict[str, float] = defaultdict(float)
    throttled = [0.0] * WEEK_HOURS
    server = [0.0] * WEEK_HOURS
    ratios: dict[str, list[float]] = defaultdict(list)
    with Session(db.engine) as session:
        # In batches: a year of a large hub is a million rows, never all in memory.
        rows = session.execute(query.execution_options(yield_per=5000))
        for row in rows:
            with_figures += 1
            hit, oom = _add_session(row, since, until, kills_by_week, throttled, server, ratios)
            hit_limit += hit
            oom_sessions += oom
    return _sizing_body(
        with_figures, hit_limit, oom_sessions, kills_by_week, throttled, server, ratios
    )


def _add_session(
    row: Any,
    since: float,
    until: float,
    kills_by_week: dict[str, float],
    throttled: list[float],
    server: list[float],
    ratios: dict[str, list[float]],
) -> tuple[int, int]:
    """One session's part; returns whether it hit the memory limit and was OOM-killed."""
    started, end, profile, kills, near, throttle, peak, limit = row
    hit = oom = 0
    if (kills or 0) > 0 or (near or 0) > 0:
        hit = 1
    if (kills or 0) > 0:
        oom = 1
        kills_by_week[_iso_week(started)] += kills
    if throttle is not None:
        _spread(throttled, server, started, end, throttle, since, until)
    if peak is not None and limit:
        ratios[profile or UNKNOWN_PROFILE].append(peak / limit)
    return hit, oom


def _sizing_body(
    with_figures: int,
    hit_limit: int,
    oom_sessions: int,
    kills_by_week: dict[str, float],
    throttled: list[float],
    server: list[float],
    ratios: dict[str, list[float]],
) -> dict[str, Any]:
    return {
        "sessions_with_figures": with_figures,
        "sessions_at_memory_limit": hit_limit,
        "sessions_with_oom_kills": oom_sessions,
        "oom_kills_by_week": [
            {"week": week, "oom_kills": int(kills)} for week, kills in sorted(kills_by_week.items())
        ],
        "throttled_share_by_hour_of_week": [
            {
                "hour_of_week": hour,
                "throttled_share": throttled[hour] / server[hour] if server[hour] else None,
                "server_seconds": server[hour],
            }
            for hour in range(WEEK_HOURS)
        ],
        "peak_memory_to_limit_by_profile": [
            {
                "profile": profile,
                "sessions": len(values),
                "p50": percentile(sorted(values), 0.5),
                "p90": percentile(sorted(values), 0.9),
                "p99": percentile(sorted(values), 0.99),
            }
            for profile, values in sorted(ratios.items())
        ],
        "explanation": (
            "From the sessions with the extension's figures. At the memory limit: an OOM "
            "kill, or memory at 90 % of the limit or more at some time. OOM kills by the "
            "UTC week the session started. Throttled share: the part of the servers' time "
            "held back by their CPU quota, per hour of the week (Monday 00:00 UTC is hour "
            "0), each session's throttling spread evenly over its hours (sessions without "
            "a cgroup quota count as time, unthrottled). Peak memory to limit: each "
            "session's peak over its memory limit, as percentiles per spawn profile."
        ),
    }


def _spread(
    throttled: list[float],
    server: list[float],
    started: float,
    end: float,
    throttle: float,
    since: float,
    until: float,
) -> None:
    """Add the session's time inside the window, and its throttling in proportion, to
    the hours of the week it covers."""
    length = end - started
    if length <= 0:
        return
    moment = max(started, since)
    stop = min(end, until)
    while moment < stop:
        boundary = min(stop, (math.floor(moment / HOUR) + 1) * HOUR)
        seconds = boundary - moment
        hour = _hour_of_week(moment)
        server[hour] += seconds
        throttled[hour] += throttle * seconds / length
        moment = boundary


def _hour_of_week(moment: float) -> int:
    day = datetime.fromtimestamp(moment, timezone.utc)
    return day.weekday() * 24 + day.hour


def _iso_week(moment: float) -> str:
    year, week, _ = datetime.fromtimestamp(moment, timezone.utc).isocalendar()
    return f"{year}-W{week:02d}"
