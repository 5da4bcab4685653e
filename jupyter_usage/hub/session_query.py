"""Pieces of SQL over the sessions table that the KPIs, the rollups, coverage and sizing
share, so that "a session of the window" means one thing everywhere."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement


def active_in(c: Any, since: float, until: float) -> ColumnElement[bool]:
    """Sessions overlapping `[since, until)`, instants at `since` included. `c` holds the
    columns: a table's `.c`, or the ORM class."""
    return and_(c.started < until, or_(c.last_seen > since, c.started >= since))


def counted(c: Any) -> ColumnElement[bool]:
    """Sessions the KPIs count: all but those the hub never ran (hub_check.py)."""
    return or_(c.hub_check.is_(None), c.hub_check != "unconfirmed")


def kpi_columns(c: Any) -> tuple[Any, ...]:
    """What `rollups.kpi_session` reads of a row."""
    return (
        c.pk,
        c.user_name,
        c.started,
        c.last_seen,
        c.ended,
        c.groups,
        c.cost_total,
        c.currency,
        c.totals,
        c.hub_check,
    )


SHORT_SECONDS = 86400.0
"""Sessions at most this long are found by their start, the longer ones by their length."""


def active_in_parts(c: Any, since: float, until: float) -> tuple[Any, Any]:
    """`active_in` of a short window (a partial day at a window's edge) as two conditions
    that split its sessions, each a range of one index: those at most `SHORT_SECONDS` long
    started in the two days before `since` or later (the index on the start), the longer
    ones by the index on lengths, which few sessions reach. `active_in` alone is a range
    of neither index: a day a month ago would read every session of the month since."""
    overlap = active_in(c, since, until)
    short = and_(
        overlap, c.duration_seconds <= SHORT_SECONDS, c.started >= since - 2 * SHORT_SECONDS
    )
    # `started + 0`: not a range of the index on the start, so SQLite takes the lengths'.
    long = and_(
        c.duration_seconds > SHORT_SECONDS,
        c.started + 0 < until,
        or_(c.last_seen > since, c.started >= since),
    )
    return short, long
