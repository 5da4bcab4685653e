"""What every reader of the sessions table shares, so that each means one thing
everywhere: a session of a window (`active_in`), a session of a group (`of_group`), and
a row as the KPIs and budgets see it (`KpiSession`, made by `kpi_session` alone)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from jupyter_usage.hub.periods import DAY_SECONDS

from .schema import UNCONFIRMED, SessionRow, session_groups


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
    """Reported while the service watched the hub, yet the hub never ran it
    (intake/hub_check.py): budgets count it, the KPIs leave it out."""

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


def finite_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0.0
    return float(value)


def active_in(c: Any, since: float, until: float) -> ColumnElement[bool]:
    """Sessions overlapping `[since, until)`, instants at `since` included. `c` holds the
    columns: a table's `.c`, or the ORM class."""
    return and_(c.started < until, or_(c.last_seen > since, c.started >= since))


def counted(c: Any) -> ColumnElement[bool]:
    """Sessions the KPIs count: all but those the hub never ran (intake/hub_check.py)."""
    return or_(c.hub_check.is_(None), c.hub_check != UNCONFIRMED)


def kpi_columns(c: Any) -> tuple[Any, ...]:
    """What `kpi_session` reads of a row."""
    return (
        c.pk,
        c.user_name,
        c.server_name,
        c.started,
        c.last_seen,
        c.ended,
        c.groups,
        c.cost_total,
        c.currency,
        c.totals,
        c.hub_check,
    )


SHORT_SECONDS = DAY_SECONDS
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


def of_group(pk: Any, group: str) -> ColumnElement[bool]:
    """Sessions of users in `group`; `pk` is the sessions' primary key column. Through the
    groups' link table (one row per session and group): an index finds a group's sessions,
    where a pattern on the JSON list would read every row."""
    link = session_groups.c
    sessions: ColumnElement[bool] = pk.in_(select(link.session_pk).where(link.group_name == group))
    return sessions


def kpi_session(row: Any) -> KpiSession:
    """A row selected with `kpi_columns`, as the KPIs and budgets see it."""
    return KpiSession(
        user=row.user_name,
        started=row.started,
        end=row.last_seen,
        ended=row.ended is not None,
        server_name=row.server_name,
        groups=tuple(row.groups or ()),
        cost_total=row.cost_total,
        currency=row.currency,
        totals=row.totals or {},
        unconfirmed=row.hub_check == UNCONFIRMED,
    )


def kpi_sessions(connection: Connection, *where: ColumnElement[bool]) -> list[KpiSession]:
    """The sessions that match `where`, as KpiSessions."""
    c = SessionRow.__table__.c
    return [kpi_session(row) for row in connection.execute(select(*kpi_columns(c)).where(*where))]
