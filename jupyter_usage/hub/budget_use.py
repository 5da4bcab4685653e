"""Budget use from the database: one query for a user's sessions of the widest period,
one more per shared group budget. A user's sessions of a month are a few hundred rows at
most, so this stays cheap enough to answer each panel and each spawn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .budget_rules import Budget, applicable, evaluate, window_start
from .kpis import KpiSession
from .rollups import session_groups
from .session_query import active_in

if TYPE_CHECKING:
    from .storage import UsageDB


def user_sessions(db: UsageDB, user: str, since: float, until: float) -> list[KpiSession]:
    from .storage import SessionRow

    query = select(SessionRow).where(SessionRow.user == user, active_in(SessionRow, since, until))
    with Session(db.engine) as session:
        return [row.kpi_session() for row in session.scalars(query)]


def group_sessions(db: UsageDB, group: str, since: float, until: float) -> list[KpiSession]:
    from .storage import SessionRow

    members = select(session_groups.c.session_pk).where(session_groups.c.group_name == group)
    query = select(SessionRow).where(
        SessionRow.pk.in_(members), active_in(SessionRow, since, until)
    )
    with Session(db.engine) as session:
        return [row.kpi_session() for row in session.scalars(query)]


def latest_groups(db: UsageDB, user: str) -> tuple[str, ...]:
    """The groups of the user's latest stored session: a fallback when the hub cannot say."""
    from .storage import SessionRow

    query = (
        select(SessionRow.groups)
        .where(SessionRow.user == user)
        .order_by(SessionRow.last_seen.desc())
        .limit(1)
    )
    with Session(db.engine) as session:
        groups = session.scalars(query).first()
    return tuple(g for g in groups or () if isinstance(g, str))


def budgets_of(
    db: UsageDB,
    budgets: Sequence[Budget],
    *,
    combine: str,
    user: str,
    groups: Sequence[str],
    now: float,
    zone: tzinfo,
    enforcement: str,
    stop_at: float | None = None,
) -> list[dict[str, Any]]:
    """The wire form of the user's budgets (see budget_rules.evaluate)."""
    chosen = applicable(budgets, user, groups, combine)
    if not chosen:
        return []
    earliest = min(window_start(item.budget.period, now, zone) for item in chosen)
    cache: dict[str | None, list[KpiSession]] = {}

    def sessions_for(budget: Budget, since: float, until: float) -> list[KpiSession]:
        key = budget.name if budget.shared else None
        if key not in cache:
            if key is None:
                cache[key] = user_sessions(db, user, earliest, until)
            else:
                cache[key] = group_sessions(db, key, earliest, until)
        return cache[key]

    return evaluate(chosen, sessions_for, now, zone, enforcement, stop_at)
