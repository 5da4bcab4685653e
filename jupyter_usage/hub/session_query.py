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
