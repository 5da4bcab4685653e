"""When the hub is busy: servers running over time, by hour of the week, and use and cost
per day; and the sessions of the drill-down, with their peaks and idle share.

Concurrency per hour reads the table of hour peaks kept with the sessions (concurrency.py)
for the window's whole hours and the raw sessions only for its partial hours at the edges,
so a year costs some 8,760 rows whatever the number of sessions. Use and cost per day read
the rollups for whole days and the raw sessions only for the partial days at the edges.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from jupyter_usage.hub.db import concurrency
from jupyter_usage.hub.db.queries import (
    active_in_parts,
    kpi_columns,
    kpi_session,
    of_group,
)
from jupyter_usage.hub.db.rollups import TOTAL
from jupyter_usage.hub.db.schema import (
    HUB_SOURCE,
    SOURCE_KEY,
    SessionRow,
    day_users,
    user_day_costs,
    user_days,
)
from jupyter_usage.hub.periods import (
    DAY_SECONDS,
    HOUR_SECONDS,
    WEEK_HOURS,
    day_of,
    day_starts,
    utc_day,
)
from jupyter_usage.records import LIMITS_KEY

from .model import Tally, in_group

EPOCH_HOUR_OF_WEEK = 72
"""1970-01-01 was a Thursday: its first hour is hour 72 of a week starting on Monday."""
MAX_SESSIONS_LISTED = 2000


def _in_group(query: Any, sessions: Any, group: str | None) -> Any:
    if group is None:
        return query
    return query.where(of_group(sessions.c.pk, group))


def hourly_concurrency(
    connection: Connection, sessions: Any, since: float, until: float, group: str | None
) -> list[dict[str, Any]]:
    """Per UTC hour touching `[since, until)`: the most servers running at once in it.

    Sessions are clipped to the window; an end and a start at the same instant do not
    overlap (as in the reference `peak_concurrency`). Whole hours read the table of hour peaks.
    """
    peaks = concurrency.hour_peaks_of(connection, sessions, group, since, until)
    return [
        {"time": index * HOUR_SECONDS, "servers": peaks.get(index * HOUR_SECONDS, 0)}
        for index in range(math.floor(since / HOUR_SECONDS), math.ceil(until / HOUR_SECONDS))
    ]


def concurrency_series(hourly: list[dict[str, Any]], until: float) -> dict[str, Any]:
    """The hourly peaks, merged into longer steps for long windows (≤ ~750 points)."""
    hours = len(hourly)
    step_hours = 1 if hours <= 31 * 24 else 6 if hours <= 93 * 24 else 24
    times: list[float] = []
    servers: list[int] = []
    for index in range(0, hours, step_hours):
        chunk = hourly[index : index + step_hours]
        times.append(chunk[0]["time"])
        servers.append(max(row["servers"] for row in chunk))
    return {"step_seconds": step_hours * HOUR_SECONDS, "time": times, "servers": servers}


def hour_of_week(hourly: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per hour of the week (0 = Monday 00:00 UTC): the mean and the highest of the hourly
    peaks of the window's weeks."""
    seen: dict[int, list[int]] = defaultdict(list)
    for row in hourly:
        index = (int(row["time"] // HOUR_SECONDS) + EPOCH_HOUR_OF_WEEK) % WEEK_HOURS
        seen[index].append(row["servers"])
    return [
        {
            "hour_of_week": index,
            "mean_servers": (sum(seen[index]) / len(seen[index])) if seen[index] else None,
            "max_servers": max(seen[index]) if seen[index] else None,
        }
        for index in range(WEEK_HOURS)
    ]


def daily_use(
    connection: Connection, sessions: Any, since: float, until: float, group: str | None
) -> list[dict[str, Any]]:
    """Server time and cost (by currency) per UTC day of the window; a day at an edge of
    the window counts only the part inside it."""
    low = math.ceil(since / DAY_SECONDS) * DAY_SECONDS
    high = math.floor(until / DAY_SECONDS) * DAY_SECONDS
    days: dict[float, dict[str, Any]] = {
        day: {"server_seconds": 0.0, "cost": {}} for day in day_starts(since, until)
    }
    if low < high:
        scope = [user_days.c.filter_group == (group or ""), user_days.c.grouping == TOTAL]
        c = user_days.c
        query = (
            select(c.day, func.sum(c.server_seconds))
            .where(*scope, c.group_name == "", c.day >= low, c.day < high)
            .group_by(c.day)
        )
        for day, seconds in connection.execute(query):
            days[float(day)]["server_seconds"] = float(seconds or 0.0)
        k = user_day_costs.c
        costs = (
            select(k.day, k.currency, func.sum(k.amount))
            .where(
                k.filter_group == (group or ""),
                k.grouping == TOTAL,
                k.group_name == "",
                k.day >= low,
                k.day < high,
            )
            .group_by(k.day, k.currency)
        )
        for day, currency, amount in connection.execute(costs):
            days[float(day)]["cost"][currency] = float(amount or 0.0)
    edges = [(since, until)] if low > high else [(since, low), (high, until)]
    for a, b in edges:
        if not a < b:
            continue
        c = sessions.c
        found = []
        for part in active_in_parts(c, a, b):
            query = _in_group(select(*kpi_columns(c)).where(part), sessions, group)
            found += [kpi_session(row) for row in connection.execute(query)]
        tally = Tally()
        for session in in_group(found, group):
            tally.add(session, a, b)
        row = tally.row()
        days[day_of(a)] = {"server_seconds": row["server_seconds"], "cost": row["cost"]}
    return [{"day": utc_day(day), "time": day, **figures} for day, figures in sorted(days.items())]


def activity(
    connection: Connection, sessions: Any, since: float, until: float, group: str | None
) -> dict[str, Any]:
    """Everything of the report's activity sections, for one window and group."""
    hourly = hourly_concurrency(connection, sessions, since, until, group)
    return {
        "since": since,
        "until": until,
        "group": group,
        "concurrency": {
            **concurrency_series(hourly, until),
            "explanation": (
                "Most servers running at the same moment in each step (an hour, or 6 hours "
                "or a day for long windows), UTC."
            ),
        },
        "hour_of_week": {
            "hours": hour_of_week(hourly),
            "explanation": (
                "For each hour of the week (UTC), the servers running at its busiest "
                "moment: the mean over the window's weeks and the highest."
            ),
        },
        "daily": {
            "days": daily_use(connection, sessions, since, until, group),
            "explanation": (
                "Server time and cost per UTC day; the first and last day count only the "
                "part inside the window."
            ),
        },
    }


def database_activity(db: Any, since: float, until: float, group: str | None) -> dict[str, Any]:
    """`activity` over a `UsageDB`, in one read transaction."""
    with db.engine.connect() as connection:
        return activity(connection, SessionRow.__table__, since, until, group)


# -- a user's sessions ----------------------------------------------------------------


def session_details(record: dict[str, Any]) -> dict[str, Any]:
    """One stored session as the drill-down shows it: profile, length, peaks, idle share
    and what the idle time cost (the session's cost times its idle share)."""
    totals = record.get("totals") or {}
    cost = record.get("cost") or {}
    meta = record.get("meta") or {}
    accounted = _number(totals.get("duration_seconds")) or _number(record.get("duration_seconds"))
    idle = _number(totals.get("idle_seconds"))
    idle_share = None
    if idle is not None and accounted:
        idle_share = min(1.0, max(0.0, idle / accounted))
    total = _number(cost.get("total"))
    return {
        "id": record.get("id"),
        "user": record.get("user"),
        "server_name": record.get("server_name") or "",
        "profile": meta.get("profile"),
        "groups": list(meta.get("groups") or ()),
        "started": record.get("started"),
        "ended": record.get("ended"),
        "duration_seconds": _number(record.get("duration_seconds")),
        "peak_cpu_cores": _number(totals.get("peak_cpu_cores")),
        "peak_memory_bytes": _number(totals.get("peak_memory_bytes")),
        "memory_limit_bytes": _number((meta.get(LIMITS_KEY) or {}).get("memory_limit_bytes")),
        "idle_seconds": idle,
        "idle_share": idle_share,
        "cost": total,
        "idle_cost": None if total is None or idle_share is None else total * idle_share,
        "currency": cost.get("currency"),
        "source": "hub" if meta.get(SOURCE_KEY) == HUB_SOURCE else "extension",
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def known_groups(connection: Connection, since: float | None = None) -> list[str]:
    """Groups with sessions on or after the UTC day of `since` (every group ever: None),
    read from the users counted per group and day (rows: days by groups), never from the
    raw sessions nor the users' rows."""
    c = day_users.c
    query = select(c.filter_group).where(c.filter_group != "", c.users > 0)
    if since is not None:
        query = query.where(c.day >= day_of(since))
    return sorted(connection.execute(query.distinct()).scalars())


def group_exists(connection: Connection, group: str) -> bool:
    """Whether any session of `group` was ever stored (a look-up in the rollups' key)."""
    query = select(user_days.c.day).where(user_days.c.filter_group == group)
    return connection.execute(query.limit(1)).first() is not None
