"""The hub's record of what each server was given, and of reports that claimed more.

`usage_allocations` (its tables are in schema.py): one row per spawn the hub's hook
reported (user, server name, when, the `Allocation`). A session's allocation is the one
recorded for its user and server name closest to its start, within `MATCH_SECONDS` (the
hook runs as the spawn begins; the hub's start time is the spawn's, the extension's first
sample may come minutes later).

`usage_over_allocation`: one row per report that claimed more than its allocation allows
(the figures it claimed were clipped); `over_allocation_counts` says how many per user.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select

from .allocation import Allocation, AllocationError, parse_allocation
from .schema import allocations, over_allocation

MATCH_SECONDS = 900.0
"""As intake/hub_sessions.TWIN_TOLERANCE_SECONDS: how far a spawn's record may lie from
the start of the session it is the allocation of."""


def record(
    connection: Connection, user: str, server_name: str, at: float, allocation: Allocation
) -> None:
    connection.execute(
        insert(allocations).values(
            user_name=user,
            server_name=server_name,
            recorded_at=at,
            allocation=json.dumps(allocation.to_json(), sort_keys=True),
        )
    )


def _parse(text: str) -> Allocation | None:
    try:
        return parse_allocation(json.loads(text))
    except (ValueError, AllocationError):
        return None


def allocation_for(
    connection: Connection, user: str, server_name: str, started: float
) -> Allocation | None:
    """The allocation recorded for the session of `user`'s `server_name` that started at
    `started`, or None."""
    rows = connection.execute(
        select(allocations.c.recorded_at, allocations.c.allocation).where(
            allocations.c.user_name == user,
            allocations.c.server_name == server_name,
            allocations.c.recorded_at.between(started - MATCH_SECONDS, started + MATCH_SECONDS),
        )
    ).all()
    return closest(rows, started)


def latest_for(connection: Connection, user: str, server_name: str) -> Allocation | None:
    """The allocation of the newest spawn of `user`'s `server_name`."""
    text = connection.execute(
        select(allocations.c.allocation)
        .where(allocations.c.user_name == user, allocations.c.server_name == server_name)
        .order_by(allocations.c.recorded_at.desc(), allocations.c.pk.desc())
        .limit(1)
    ).scalar()
    return None if text is None else _parse(text)


def closest(rows: Iterable[Any], started: float) -> Allocation | None:
    """Of `(recorded_at, allocation JSON)` rows, the allocation recorded nearest `started`
    (the later one of a tie: a respawn)."""
    found = closest_record(rows, started)
    return None if found is None else found[1]


def closest_record(rows: Iterable[Any], started: float) -> tuple[float, Allocation] | None:
    """`closest`, with the time the hub recorded it: when the spawn began."""
    best = None
    for recorded_at, text in rows:
        key = (abs(recorded_at - started), -recorded_at)
        if abs(recorded_at - started) <= MATCH_SECONDS and (best is None or key < best[0]):
            best = (key, recorded_at, text)
    if best is None:
        return None
    allocation = _parse(best[2])
    return None if allocation is None else (float(best[1]), allocation)


def allocations_of(
    connection: Connection, users: Sequence[str] | None, since: float, until: float
) -> dict[tuple[str, str], list[tuple[float, str]]]:
    """Every allocation recorded for sessions that may start in `[since, until)`, by user
    and server name (of `users`, or everyone's), for `closest`: one query for many
    sessions."""
    query = select(
        allocations.c.user_name,
        allocations.c.server_name,
        allocations.c.recorded_at,
        allocations.c.allocation,
    ).where(
        allocations.c.recorded_at >= since - MATCH_SECONDS,
        allocations.c.recorded_at < until + MATCH_SECONDS,
    )
    if users is not None:
        query = query.where(allocations.c.user_name.in_(list(users)))
    found: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for user, server_name, recorded_at, text in connection.execute(query):
        found.setdefault((user, server_name), []).append((recorded_at, text))
    return found


def record_over_allocation(
    connection: Connection, user: str, session_id: str, at: float, figures: Sequence[str]
) -> None:
    connection.execute(
        insert(over_allocation).values(
            user_name=user, session_id=session_id, at=at, figures=",".join(figures)[:255]
        )
    )


def over_allocation_counts(
    connection: Connection, since: float | None = None, until: float | None = None
) -> dict[str, int]:
    """Reports clipped to their allocation in `[since, until)` (all time by default), by
    user; users without any are left out."""
    conditions = []
    if since is not None:
        conditions.append(over_allocation.c.at >= since)
    if until is not None:
        conditions.append(over_allocation.c.at < until)
    query = select(over_allocation.c.user_name, func.count()).group_by(over_allocation.c.user_name)
    if conditions:
        query = query.where(and_(*conditions))
    return {user: int(count) for user, count in connection.execute(query)}
