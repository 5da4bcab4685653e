"""The KPIs of `kpis.compute_kpis`, computed by the database.

Whole UTC days inside a window come from the rollups (rows: days by active users); the
partial days at its edges from the raw sessions active on them (at most two days' worth),
through the reference functions. Session-length percentiles and peak concurrency are
single SQL statements over the window's sessions, so Python never holds every row.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, and_, case, distinct, func, literal, select, union_all

from . import rollups
from .kpis import (
    DAY_SECONDS,
    MAU_SECONDS,
    RESOURCE_TOTALS,
    WAU_SECONDS,
    WEEK_SECONDS,
    KpiSession,
    Tally,
    day_starts,
    in_group,
    kpi_report,
    server_seconds_by_user,
    utc_day,
    utc_month,
)
from .rollups import BY_GROUP, NO_GROUP, TOTAL, session_groups, user_day_costs, user_days
from .session_query import active_in, kpi_columns


class _Window:
    """One scope (all sessions, or one group's) of one database, for one report."""

    def __init__(self, connection: Connection, sessions: Any, group: str | None) -> None:
        self.connection = connection
        self.sessions = sessions
        self.group = group
        self._edges: dict[tuple[float, float], list[KpiSession]] = {}

    # -- splitting a window into whole days and edges ---------------------------------

    @staticmethod
    def split(since: float, until: float) -> tuple[tuple[float, float] | None, list[Any]]:
        low = math.ceil(since / DAY_SECONDS) * DAY_SECONDS
        high = math.floor(until / DAY_SECONDS) * DAY_SECONDS
        if low > high:
            return None, [(since, until)]
        edges = [(a, b) for a, b in ((since, low), (high, until)) if a < b]
        return ((low, high) if low < high else None), edges

    def edge_sessions(self, since: float, until: float) -> list[KpiSession]:
        if (since, until) not in self._edges:
            c = self.sessions.c
            query = select(*kpi_columns(c)).where(active_in(c, since, until))
            rows = self.connection.execute(self._in_group(query)).all()
            self._edges[(since, until)] = [rollups.kpi_session(row) for row in rows]
        return in_group(self._edges[(since, until)], self.group)

    def _in_group(self, query: Any) -> Any:
        if self.group is None:
            return query
        link = session_groups.c
        return query.where(
            self.sessions.c.pk.in_(select(link.session_pk).where(link.group_name == self.group))
        )

    def rows(self, table: Any, days: tuple[float, float], grouping: int = TOTAL) -> Any:
        c = table.c
        where = [c.filter_group == (self.group or ""), c.day >= days[0], c.day < days[1]]
        if grouping == TOTAL:
            where += [c.grouping == TOTAL, c.group_name == ""]
        else:
            where += [c.grouping.in_((BY_GROUP, NO_GROUP))]
        return and_(*where)

    # -- figures ------------------------------------------------------------------

    def users(self, since: float, until: float) -> set[str]:
        days, edges = self.split(since, until)
        found: set[str] = set()
        if days is not None:
            query = select(user_days.c.user_name).where(self.rows(user_days, days)).distinct()
            found.update(self.connection.execute(query).scalars())
        for edge in edges:
            found.update(s.user for s in self.edge_sessions(*edge) if s.overlap(*edge))
        return found

    def daily(self, since: float, until: float) -> list[dict[str, Any]]:
        counts = dict.fromkeys(day_starts(since, until), 0)
        days, edges = self.split(since, until)
        if days is not None:
            c = user_days.c
            query = (
                select(c.day, func.count(distinct(c.user_name)))
                .where(self.rows(user_days, days))
                .group_by(c.day)
            )
            counts.update({float(day): int(n) for day, n in self.connection.execute(query)})
        for edge in edges:
            day = rollups.day_of(edge[0])
            users = {s.user for s in self.edge_sessions(*edge) if s.overlap(*edge)}
            counts[day] = len(users)
        return [{"day": utc_day(day), "users": n} for day, n in sorted(counts.items())]

    def monthly(self, since: float, until: float) -> list[dict[str, Any]]:
        months: dict[str, set[str]] = {}
        for day in day_starts(since, until):
            months.setdefault(utc_month(day), set())
        days, edges = self.split(since, until)
        if days is not None:
            starts = [d for d in day_starts(*days) if d == days[0] or utc_day(d)[8:] == "01"]
            for index, start in enumerate(starts):
                end = starts[index + 1] if index + 1 < len(starts) else days[1]
                query = (
                    select(user_days.c.user_name)
                    .where(self.rows(user_days, (start, end)))
                    .distinct()
                )
                months[utc_month(start)].update(self.connection.execute(query).scalars())
        for edge in edges:
            users = {s.user for s in self.edge_sessions(*edge) if s.overlap(*edge)}
            months.setdefault(utc_month(edge[0]), set()).update(users)
        return [{"month": m, "users": len(users)} for m, users in sorted(months.items())]

    def tallies(self, since: float, until: float, by: str) -> dict[Any, Tally]:
        """Tallies per user ('user'), per group ('group') or for the scope ('total')."""
        tallies: dict[Any, Tally] = defaultdict(Tally)
        days, edges = self.split(since, until)
        if days is not None:
            self._rolled_up(tallies, days, by)
        for edge in edges:
            for session in self.edge_sessions(*edge):
                if by == "user":
                    keys: tuple[Any, ...] = (session.user,)
                elif by == "group":
                    keys = session.groups or (None,)
                else:
                    keys = (None,)
                for key in keys:
                    tallies[key].add(session, *edge)
        return tallies

    def _rolled_up(self, tallies: dict[Any, Tally], days: tuple[float, float], by: str) -> None:
        c, k = user_days.c, user_day_costs.c
        grouping = BY_GROUP if by == "group" else TOTAL
        key_of: Any
        if by == "group":
            keys: list[Any] = [c.grouping, c.group_name]
            cost_keys: list[Any] = [k.grouping, k.group_name]

            def key_of(row: Any) -> Any:
                return row[1] if row[0] == BY_GROUP else None
        elif by == "user":
            keys, cost_keys = [c.user_name], [k.user_name]

            def key_of(row: Any) -> Any:
                return row[0]
        else:
            keys, cost_keys = [], []

            def key_of(row: Any) -> Any:
                return None

        sums = [func.sum(c.sessions), func.sum(c.server_seconds)] + [
            func.sum(c[name]) for name in RESOURCE_TOTALS
        ]
        query = select(*keys, *sums).where(self.rows(user_days, days, grouping))
        if keys:
            query = query.group_by(*keys)
        width = len(keys)
        for row in self.connection.execute(query):
            tally = tallies[key_of(row)]
            tally.sessions += int(row[width] or 0)
            tally.server_seconds += float(row[width + 1] or 0.0)
            for index, name in enumerate(RESOURCE_TOTALS):
                tally.resources[name] += float(row[width + 2 + index] or 0.0)
        costs = select(*cost_keys, k.currency, func.sum(k.amount)).where(
            self.rows(user_day_costs, days, grouping)
        )
        for row in self.connection.execute(costs.group_by(*cost_keys, k.currency)):
            tally = tallies[key_of(row)]
            tally.cost[row[width]] = tally.cost.get(row[width], 0.0) + float(row[width + 1])
        # Distinct users per key: a user active on several days counts once.
        users = select(*keys, c.user_name).where(self.rows(user_days, days, grouping)).distinct()
        for row in self.connection.execute(users):
            tallies[key_of(row)].users.add(row[width])

    def seconds_by_user(self, since: float, until: float) -> dict[str, float]:
        """Exact server seconds per user (sums of lengths, as the reference adds them)."""
        seconds: dict[str, float] = defaultdict(float)
        days, edges = self.split(since, until)
        if days is not None:
            c = user_days.c
            query = (
                select(c.user_name, func.sum(c.server_seconds))
                .where(self.rows(user_days, days))
                .group_by(c.user_name)
            )
            for user, total in self.connection.execute(query):
                seconds[user] += float(total)
        for edge in edges:
            for user, total in server_seconds_by_user(self.edge_sessions(*edge), *edge).items():
                seconds[user] += total
        return seconds

    def user_groups(self, since: float, until: float) -> dict[str, set[str]]:
        groups: dict[str, set[str]] = defaultdict(set)
        days, edges = self.split(since, until)
        if days is not None:
            c = user_days.c
            query = (
                select(c.user_name, c.group_name)
                .where(self.rows(user_days, days, BY_GROUP), c.grouping == BY_GROUP)
                .distinct()
            )
            for user, group in self.connection.execute(query):
                groups[user].add(group)
        for edge in edges:
            for session in self.edge_sessions(*edge):
                groups[session.user].update(session.groups)
        return groups

    def percentiles(self, since: float, until: float) -> tuple[float | None, float | None]:
        c = self.sessions.c
        where = self._in_group(
            select(c.duration_seconds).where(
                c.started >= since, c.started < until, c.ended.is_not(None)
            )
        )
        lengths = where.subquery()
        count = int(
            self.connection.execute(select(func.count()).select_from(lengths)).scalar() or 0
        )
        if count == 0:
            return None, None
        return self._percentile(lengths, count, 0.5), self._percentile(lengths, count, 0.9)

    def _percentile(self, lengths: Any, count: int, fraction: float) -> float:
        # Only the two values around the position leave the database.
        position = (count - 1) * fraction
        lower = math.floor(position)
        upper = math.ceil(position)
        query = (
            select(lengths.c.duration_seconds)
            .order_by(lengths.c.duration_seconds)
            .offset(lower)
            .limit(upper - lower + 1)
        )
        values = list(self.connection.execute(query).scalars())
        low, high = values[0], values[-1]
        return float(low + (high - low) * (position - lower))

    def peak(self, since: float, until: float) -> tuple[int, float | None]:
        c = self.sessions.c
        start = case((c.started > since, c.started), else_=literal(since))
        end = case((c.last_seen < until, c.last_seen), else_=literal(until))
        active = self._in_group(
            select(start.label("start"), end.label("end")).where(
                c.started < until, c.last_seen > since
            )
        ).subquery()
        parts = select(active).where(active.c.start < active.c.end).subquery()
        events = union_all(
            select(parts.c.start.label("at"), literal(1).label("change")),
            select(parts.c.end.label("at"), literal(-1).label("change")),
        ).subquery()
        # Ends sort before starts at the same instant, as in the reference sweep.
        running = (
            select(
                events.c.at,
                func.sum(events.c.change)
                .over(order_by=(events.c.at, events.c.change), rows=(None, 0))
                .label("running"),
            )
        ).subquery()
        peak = self.connection.execute(select(func.max(running.c.running))).scalar()
        if not peak or peak <= 0:
            return 0, None
        at = self.connection.execute(
            select(func.min(running.c.at)).where(running.c.running == peak)
        ).scalar()
        return int(peak), None if at is None else float(at)


def compute_kpis_db(
    connection: Connection,
    sessions: Any,
    *,
    since: float,
    until: float,
    group: str | None = None,
    regular_seconds_per_week: float = 8 * 3600,
) -> dict[str, Any]:
    """`kpis.compute_kpis` over the stored sessions, computed by the database."""
    if not until > since:
        raise ValueError(f"until ({until}) must be later than since ({since})")
    window = _Window(connection, sessions, group)
    weeks = max(until - since, WEEK_SECONDS) / WEEK_SECONDS
    regular = sorted(
        user
        for user, seconds in window.seconds_by_user(since, until).items()
        if seconds / weeks >= regular_seconds_per_week
    )
    totals = window.tallies(since, until, "total").get(None, Tally()).row()
    groups_of = window.user_groups(min(since, until - MAU_SECONDS), until)
    by_user = [
        {"user": user, "groups": sorted(groups_of[user]), **tally.row()}
        for user, tally in window.tallies(since, until, "user").items()
        if tally.users
    ]
    by_user.sort(key=lambda row: (-sum(row["cost"].values()), -row["server_seconds"], row["user"]))
    for row in by_user:
        del row["users"]
    by_group = [
        {"group": name, **tally.row()}
        for name, tally in window.tallies(since, until, "group").items()
        if tally.users
    ]
    by_group.sort(
        key=lambda row: (-sum(row["cost"].values()), -row["server_seconds"], row["group"] or "")
    )
    median, p90 = window.percentiles(since, until)
    return kpi_report(
        since=since,
        until=until,
        group=group,
        regular_seconds_per_week=regular_seconds_per_week,
        active_users=len(window.users(since, until)),
        daily=window.daily(since, until),
        wau=len(window.users(until - WAU_SECONDS, until)),
        mau=len(window.users(until - MAU_SECONDS, until)),
        last_30_days=window.daily(until - MAU_SECONDS, until),
        monthly=window.monthly(since, until),
        regular=regular,
        sessions=totals["sessions"],
        median_seconds=median,
        p90_seconds=p90,
        peak_concurrent=window.peak(since, until),
        totals=totals,
        by_user=by_user,
        by_group=by_group,
    )


def database_kpis(db: Any, **window: Any) -> dict[str, Any]:
    """`compute_kpis_db` over a `UsageDB`, in one read transaction (one snapshot)."""
    from .storage import SessionRow

    with db.engine.connect() as connection:
        return compute_kpis_db(connection, SessionRow.__table__, **window)


def with_previous_period(
    compute: Callable[[float, float], dict[str, Any]], since: float, until: float
) -> dict[str, Any]:
    """The report of `[since, until)`, each number KPI with the same-length period before.

    Each gets `previous` (its value then) and `change_percent` (None when the previous
    value is 0 or missing), as "+12 % vs the previous 30 days".
    """
    report = compute(since, until)
    length = until - since
    before = compute(since - length, since)
    report["previous_period"] = {"since": since - length, "until": since}
    for name, item in report["kpis"].items():
        old = before["kpis"][name]["value"]
        value = item["value"]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            item["previous"] = old
            item["change_percent"] = (
                round(100.0 * (value - old) / old, 1)
                if isinstance(old, (int, float)) and old
                else None
            )
        elif isinstance(value, dict) and name == "cost":
            item["previous"] = old
    return report
