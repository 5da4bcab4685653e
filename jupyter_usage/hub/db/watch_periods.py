"""When the service was watching the hub: the periods its poller listed the hub's servers
without a gap, one row per period.

Each successful poll extends the latest period, or starts a new one when the poll before
it is further back than `max_gap_seconds` (the service or the hub was down). A session
claimed for a time the service watched can be checked against what the hub said then
(intake/hub_check.py); one of a time it did not watch cannot.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, func, insert, select, update

from .schema import watch_periods as periods


def max_gap(interval_seconds: float) -> float:
    """The longest time between two polls of one period: a poll late by its jitter (±10 %)
    and a slow hub answer still continue it; a missed poll does not."""
    return 1.5 * interval_seconds + 5.0


def record_poll(connection: Connection, now: float, max_gap_seconds: float) -> None:
    latest = connection.execute(
        select(periods.c.pk, periods.c.ended).order_by(periods.c.ended.desc()).limit(1)
    ).first()
    if latest is not None and now - max_gap_seconds <= latest.ended <= now:
        connection.execute(update(periods).where(periods.c.pk == latest.pk).values(ended=now))
    elif latest is None or latest.ended < now:
        connection.execute(insert(periods).values(started=now, ended=now))


def watched_throughout(connection: Connection, since: float, until: float) -> bool:
    """Whether one period covers all of `[since, until]`: every poll of it listed the
    hub's servers, and at least one fell inside."""
    found = connection.execute(
        select(func.count())
        .select_from(periods)
        .where(periods.c.started <= since, periods.c.ended >= until)
    ).scalar()
    return bool(found)


def covering(connection: Connection) -> Callable[[float, float], bool]:
    """`watched_throughout` over the periods as they are now, read once: a batch of
    reports asks it for each of its sessions."""
    spans = connection.execute(select(periods.c.started, periods.c.ended)).all()
    return lambda since, until: any(a <= since and b >= until for a, b in spans)


def first_watched(connection: Connection) -> float | None:
    return connection.execute(select(func.min(periods.c.started))).scalar()
