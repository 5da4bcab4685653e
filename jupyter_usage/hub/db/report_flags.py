"""What the service noticed in users' reports, counted per user and kind, so that an
admin sees it (the report page, Prometheus) and can act.

One row per (user, kind) with a count and the time of the latest; a kind is a short
name, and any check may add one:

- `lowering_refused`: a report that lowered a running session's figures, refused;
- `unconfirmed`: a session reported while the service watched the hub, that the hub never
  knew (see hub_check.py);
- `above_allocation`: a report claiming more than the session's allocation allows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .schema import report_flags as flags
from .storage import UsageDB

LOWERING_REFUSED = "lowering_refused"
UNCONFIRMED = "unconfirmed"
ABOVE_ALLOCATION = "above_allocation"
KINDS = (LOWERING_REFUSED, UNCONFIRMED, ABOVE_ALLOCATION)
"""The kinds the report page and the metrics always show (0 when none)."""


def record(connection: Connection, user: str, kind: str, now: float, count: int = 1) -> None:
    """Add `count` to the user's tally of `kind` (one statement, safe under races)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(flags).values(user_name=user, kind=kind, count=count, latest=now)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["user_name", "kind"],
            set_={"count": flags.c.count + count, "latest": statement.excluded.latest},
        )
    )


def record_flag(db: UsageDB, user: str, kind: str, now: float) -> None:
    """`record` in a transaction of its own (a refused report wrote nothing else)."""
    with db.engine.begin() as connection:
        record(connection, user, kind, now)


def forget(connection: Connection, user: str, kind: str, count: int = 1) -> None:
    """Take back `count` (a session found unconfirmed that the hub turned out to know)."""
    connection.execute(
        update(flags)
        .where(flags.c.user_name == user, flags.c.kind == kind, flags.c.count >= count)
        .values(count=flags.c.count - count)
    )


def by_user(connection: Connection) -> dict[str, dict[str, Any]]:
    """User → {kind: count, ..., "latest": time}, users with any count only."""
    found: dict[str, dict[str, Any]] = {}
    rows = connection.execute(
        select(flags.c.user_name, flags.c.kind, flags.c.count, flags.c.latest)
        .where(flags.c.count > 0)
        .order_by(flags.c.user_name, flags.c.kind)
    )
    for user, kind, count, latest in rows:
        entry = found.setdefault(user, dict.fromkeys(KINDS, 0) | {"latest": latest})
        entry[kind] = int(count)
        entry["latest"] = max(entry["latest"], latest)
    return found
