"""Spawns the hub refused over a spent budget, kept in the service's database.

The spawn hook (spawn_hook.py) posts each refusal to `api/v1/budget/refusals`; a row per
refusal (user, budget scope, time, the message the user saw) lets the report and the API
count them over any window, and a restart of the service forgets none of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    func,
    insert,
    select,
)

from jupyter_usage.hub.db.schema import refusals

LATEST = 100
"""How many refusals, newest first, the API lists beside its counts."""


def record(
    connection: Connection, user: str, scope: str, refused_at: float, message: str | None
) -> None:
    connection.execute(
        insert(refusals).values(user_name=user, scope=scope, refused_at=refused_at, message=message)
    )


def counts(
    connection: Connection, since: float | None = None, until: float | None = None
) -> dict[str, Any]:
    """`{"total", "by_scope", "by_user"}` of the refusals in `[since, until)` (all when
    None)."""
    where = _window(since, until)
    by: dict[str, dict[str, int]] = {}
    for key, column in (("by_scope", refusals.c.scope), ("by_user", refusals.c.user_name)):
        rows = connection.execute(
            select(column, func.count()).where(*where).group_by(column).order_by(column)
        )
        by[key] = {str(name): int(count) for name, count in rows}
    return {"total": sum(by["by_scope"].values()), **by}


def latest(
    connection: Connection, since: float, until: float, limit: int = LATEST
) -> list[dict[str, Any]]:
    """The newest refusals of `[since, until)`, newest first."""
    c = refusals.c
    rows = connection.execute(
        select(c.user_name, c.scope, c.refused_at, c.message)
        .where(*_window(since, until))
        .order_by(c.refused_at.desc(), c.pk.desc())
        .limit(limit)
    )
    return [
        {"user": row.user_name, "scope": row.scope, "time": row.refused_at, "message": row.message}
        for row in rows
    ]


def _window(since: float | None, until: float | None) -> list[Any]:
    where = []
    if since is not None:
        where.append(refusals.c.refused_at >= since)
    if until is not None:
        where.append(refusals.c.refused_at < until)
    return where
