"""Budget use from the database: one query for a user's sessions of the widest period,
one more per shared group budget. A user's sessions of a month are a few hundred rows at
most, so this stays cheap enough to answer each panel and each spawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from jupyter_usage.hub.db.queries import KpiSession, active_in, kpi_session, of_group
from jupyter_usage.hub.db.schema import SessionRow

from .metering import Metering, metered_columns
from .rules import Budget, applicable, evaluate, window_start

if TYPE_CHECKING:
    from jupyter_usage.hub.db.storage import UsageDB


def _charged(
    connection: Connection, metering: Metering | None, *where: ColumnElement[bool]
) -> tuple[list[KpiSession], Sequence[Any]]:
    """The sessions that match `where` as budgets count them (charged by the service's
    price list when it has one), and their rows."""
    rows = connection.execute(select(*metered_columns(SessionRow.__table__.c)).where(*where)).all()
    if metering is None:
        return [kpi_session(row) for row in rows], rows
    return metering.charge_rows(connection, rows), rows


def user_sessions(
    db: UsageDB, user: str, since: float, until: float, metering: Metering | None = None
) -> list[KpiSession]:
    c = SessionRow.__table__.c
    with db.engine.connect() as connection:
        return _charged(connection, metering, c.user_name == user, active_in(c, since, until))[0]


def group_sessions(
    db: UsageDB, group: str, since: float, until: float, metering: Metering | None = None
) -> list[KpiSession]:
    c = SessionRow.__table__.c
    with db.engine.connect() as connection:
        where = (of_group(c.pk, group), active_in(c, since, until))
        return _charged(connection, metering, *where)[0]


def latest_groups(db: UsageDB, user: str) -> tuple[str, ...]:
    """The groups of the user's latest stored session: a fallback when the hub cannot say."""
    query = (
        select(SessionRow.groups)
        .where(SessionRow.user == user)
        .order_by(SessionRow.last_seen.desc())
        .limit(1)
    )
    with Session(db.engine) as session:
        groups = session.scalars(query).first()
    return tuple(g for g in groups or () if isinstance(g, str))


def everyone_budgets(
    db: UsageDB,
    budgets: Sequence[Budget],
    *,
    combine: str,
    now: float,
    zone: tzinfo,
    enforcement: str,
    stops: Mapping[str, float],
    metering: Metering | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every user's budgets who has a session in the longest period: one query for all of
    them (the report page's Budgets section). A user's groups are those of their latest
    session; shared group budgets add up the sessions of the group."""
    if not budgets:
        return {}
    earliest = min(window_start(budget.period, now, zone) for budget in budgets)
    c = SessionRow.__table__.c
    with db.engine.connect() as connection:
        charged, found_rows = _charged(connection, metering, active_in(c, earliest, now))
    rows = [(kpi, row.last_seen) for kpi, row in zip(charged, found_rows, strict=True)]
    by_user: dict[str, list[KpiSession]] = {}
    by_group: dict[str, list[KpiSession]] = {}
    latest: dict[str, tuple[float, tuple[str, ...]]] = {}
    for session, last_seen in rows:
        by_user.setdefault(session.user, []).append(session)
        for group in session.groups:
            by_group.setdefault(group, []).append(session)
        if last_seen >= latest.get(session.user, (float("-inf"), ()))[0]:
            latest[session.user] = (last_seen, session.groups)
    found = {}
    for user, sessions in sorted(by_user.items()):
        chosen = applicable(budgets, user, latest[user][1], combine)
        if not chosen:
            continue

        def sessions_for(
            budget: Budget, _since: float, _until: float, mine: list[KpiSession] = sessions
        ) -> list[KpiSession]:
            return by_group.get(str(budget.name), []) if budget.shared else mine

        found[user] = evaluate(chosen, sessions_for, now, zone, enforcement, stops.get(user))
    return found


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
    metering: Metering | None = None,
) -> list[dict[str, Any]]:
    """The wire form of the user's budgets (see rules.evaluate); sessions charged by
    `metering` (intake/trusted_cost.py) when given."""
    chosen = applicable(budgets, user, groups, combine)
    if not chosen:
        return []
    earliest = min(window_start(item.budget.period, now, zone) for item in chosen)
    cache: dict[str | None, list[KpiSession]] = {}

    def sessions_for(budget: Budget, since: float, until: float) -> list[KpiSession]:
        key = budget.name if budget.shared else None
        if key not in cache:
            if key is None:
                cache[key] = user_sessions(db, user, earliest, until, metering)
            else:
                cache[key] = group_sessions(db, key, earliest, until, metering)
        return cache[key]

    return evaluate(chosen, sessions_for, now, zone, enforcement, stop_at)
