"""Sizing: how often and when servers run out of memory and CPU, and how much memory
users really use against what they are given.

Built from what each server reports with its session (`totals.oom_kills`,
`memory_near_limit_seconds`, `cpu_throttled_seconds`, `peak_memory_bytes` and the limits
in `meta.limits`), for the sessions with figures only (servers known from the hub alone
have none). Those figures are columns of their own (storage.DERIVED_COLUMNS), so the
database counts and sums them: what leaves it is a few counts, one row per week with OOM
kills, the throttling of the window's whole hours (kept with the hour peaks, see
concurrency.py) and, per profile, three percentiles read along an index of peak-to-limit
ratios. Only the partial hours at the window's edges read sessions. `sizing_reference`
computes the same from every session's row: the tests hold the two equal.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Integer, case, cast, func, or_, select
from sqlalchemy.orm import Session

from jupyter_usage.hub.db.queries import active_in, of_group
from jupyter_usage.hub.db.schema import SessionRow, hour_peaks
from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.periods import HOUR_SECONDS, MONDAY_EPOCH, WEEK_HOURS, WEEK_SECONDS

from .model import percentile

UNKNOWN_PROFILE = "(no profile)"


def sizing_reference(
    db: UsageDB, since: float, until: float, group: str | None = None
) -> dict[str, Any]:
    """Sizing from every session's row of the window, read in batches, added up here."""
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
    query = select(*columns).where(*_window(since, until))
    if group is not None:
        query = query.where(of_group(SessionRow.pk, group))
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


def sizing(db: UsageDB, since: float, until: float, group: str | None = None) -> dict[str, Any]:
    """Sizing over the window, computed by the database."""
    c = SessionRow
    where = _window(since, until)
    if group is not None:
        where.append(of_group(SessionRow.pk, group))
    kills_by_week: dict[str, float] = {}
    throttled = [0.0] * WEEK_HOURS
    server = [0.0] * WEEK_HOURS
    ratios: dict[str, tuple[int, list[float | None]]] = {}
    with db.engine.connect() as connection:
        # One pass over the covering index of the window's figures, by the week started.
        hit = or_(c.oom_kills > 0, c.memory_near_limit_seconds > 0)
        week = _floor(connection, (c.started - MONDAY_EPOCH) / WEEK_SECONDS)
        weeks = select(
            week,
            func.count(),
            func.sum(case((hit, 1), else_=0)),
            func.sum(case((c.oom_kills > 0, 1), else_=0)),
            func.sum(case((c.oom_kills > 0, c.oom_kills), else_=0)),
        ).where(*where)
        with_figures = hit_limit = oom_sessions = 0
        for index, count, hits, ooms, kills in connection.execute(weeks.group_by(week)):
            with_figures, hit_limit, oom_sessions = (
                with_figures + int(count),
                hit_limit + int(hits),
                oom_sessions + int(ooms),
            )
            if ooms:
                kills_by_week[_iso_week(MONDAY_EPOCH + int(index) * WEEK_SECONDS)] = float(kills)
        _throttling(connection, since, until, group, throttled, server)
        for profile, values in _ratio_percentiles(connection, since, until, group).items():
            ratios[profile] = values
    body = _sizing_body(with_figures, hit_limit, oom_sessions, kills_by_week, throttled, server, {})
    body["peak_memory_to_limit_by_profile"] = [
        {"profile": profile, "sessions": count, "p50": p50, "p90": p90, "p99": p99}
        for profile, (count, [p50, p90, p99]) in sorted(ratios.items())
    ]
    return body


def _window(since: float, until: float) -> list[Any]:
    """The window's sessions with figures. `last_seen >= since` follows from active_in;
    said, it lets the index on (last_seen, started, from_hub) pick the few."""
    return [
        SessionRow.last_seen >= since,
        active_in(SessionRow, since, until),
        SessionRow.from_hub.is_(False),
    ]


def _floor(connection: Connection, value: Any) -> Any:
    if connection.dialect.name == "postgresql":
        return func.floor(value)
    # SQLite's CAST truncates toward zero: the floor of a non-negative value.
    return cast(value, Integer)


def _throttling(
    connection: Connection,
    since: float,
    until: float,
    group: str | None,
    throttled: list[float],
    server: list[float],
) -> None:
    """Whole hours from the table of hour peaks; the partial hours at the edges from the
    sessions running in them."""
    low = math.ceil(since / HOUR_SECONDS) * HOUR_SECONDS
    high = math.floor(until / HOUR_SECONDS) * HOUR_SECONDS
    if low < high:
        h = hour_peaks.c
        query = select(h.hour, h.figure_seconds, h.throttled_seconds).where(
            h.filter_group == (group or ""), h.hour >= low, h.hour < high, h.figure_seconds > 0
        )
        for hour, seconds, share in connection.execute(query):
            index = _hour_of_week(hour)
            server[index] += seconds
            throttled[index] += share
        edges = [(since, low), (high, until)]
    else:
        edges = [(since, until)]
    c = SessionRow
    for start, end in edges:
        if not start < end:
            continue
        where = [*_window(start, end), c.cpu_throttled_seconds.is_not(None)]
        if group is not None:
            where.append(of_group(SessionRow.pk, group))
        rows = connection.execute(
            select(c.started, c.last_seen, c.cpu_throttled_seconds).where(*where)
        )
        for started, last_seen, throttle in rows:
            _spread(throttled, server, started, last_seen, float(throttle or 0.0), start, end)


def _ratio_percentiles(
    connection: Connection, since: float, until: float, group: str | None
) -> dict[str, tuple[int, list[float | None]]]:
    """Per profile: the sessions with a peak-to-limit ratio, and its p50, p90 and p99 as
    `model.percentile` interpolates them, each two values read in the ratio's order."""
    c = SessionRow
    last_seen: Any = c.last_seen
    started: Any = c.started
    if connection.dialect.name == "sqlite" and group is None:
        # Without statistics SQLite would take the index of the window's figures and
        # sort; `+ 0` leaves it the index (profile, ratio, last_seen, started, from_hub),
        # one profile's entries walked in order.
        last_seen, started = c.last_seen + 0, c.started + 0
    where = [
        c.memory_peak_ratio.is_not(None),
        last_seen >= since,
        started < until,
        or_(last_seen > since, started >= since),
        c.from_hub.is_(False),
    ]
    if group is not None:
        where.append(of_group(SessionRow.pk, group))
    counts = connection.execute(select(c.profile, func.count()).where(*where).group_by(c.profile))
    found: dict[str, tuple[int, list[float | None]]] = {}
    for profile, count in counts.all():
        chosen = [*where, c.profile.is_(None) if profile is None else c.profile == profile]
        values: list[float | None] = []
        for fraction in (0.5, 0.9, 0.99):
            position = (count - 1) * fraction
            lower, upper = math.floor(position), math.ceil(position)
            query = (
                select(c.memory_peak_ratio)
                .where(*chosen)
                .order_by(c.memory_peak_ratio)
                .offset(lower)
                .limit(upper - lower + 1)
            )
            picked = [float(v) for v in connection.execute(query).scalars() if v is not None]
            values.append(picked[0] + (picked[-1] - picked[0]) * (position - lower))
        found[profile or UNKNOWN_PROFILE] = (int(count), values)
    return found


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
        boundary = min(stop, (math.floor(moment / HOUR_SECONDS) + 1) * HOUR_SECONDS)
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
