"""The KPIs, computed by the database (checked against tests/support/kpi_reference.py).

Whole UTC months inside a window come from the monthly rollups, the whole ISO weeks around
them from the weekly ones, the whole UTC days left from the daily ones (rows: months, weeks
or at most twelve days by active users, however often each came); the partial days at its
edges from the raw sessions active on them (at most two days' worth), through the model's
Tally. Session-length percentiles and peak concurrency are single SQL statements over
the window's sessions, so Python never holds every row.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, and_, func, select, union, union_all

from jupyter_usage.hub.db import concurrency
from jupyter_usage.hub.db.queries import (
    KpiSession,
    active_in_parts,
    counted,
    kpi_columns,
    kpi_session,
    of_group,
)
from jupyter_usage.hub.db.rollups import BY_GROUP, NO_GROUP, TOTAL
from jupyter_usage.hub.db.schema import (
    SessionRow,
    day_users,
    user_day_costs,
    user_days,
    user_month_costs,
    user_months,
    user_week_costs,
    user_weeks,
)
from jupyter_usage.hub.periods import (
    DAY_SECONDS,
    WEEK_SECONDS,
    day_of,
    day_starts,
    month_of,
    next_month,
    utc_day,
    utc_month,
    week_of,
)
from jupyter_usage.records import RESOURCE_TOTALS

from .model import MAU_SECONDS, WAU_SECONDS, Tally, in_group, kpi_report, server_seconds_by_user

_DAYS = (user_days, user_day_costs)
_WEEKS = (user_weeks, user_week_costs)
_MONTHS = (user_months, user_month_costs)


class _Window:
    """One scope (all sessions, or one group's) of one database, for one report."""

    def __init__(self, connection: Connection, sessions: Any, group: str | None) -> None:
        self.connection = connection
        self.sessions = sessions
        self.group = group
        self._edges: dict[tuple[float, float], list[KpiSession]] = {}
        self._user_sums: dict[tuple[float, float], dict[str, Tally]] = {}
        self._group_user_sums: dict[tuple[float, float], list[Any]] = {}

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
            sessions = []
            for part in active_in_parts(c, since, until):
                query = self._in_group(select(*kpi_columns(c)).where(part))
                sessions += [kpi_session(row) for row in self.connection.execute(query)]
            self._edges[(since, until)] = [s for s in sessions if not s.unconfirmed]
        return in_group(self._edges[(since, until)], self.group)

    def _in_group(self, query: Any) -> Any:
        if self.group is None:
            return query
        return query.where(of_group(self.sessions.c.pk, self.group))

    def rows(self, table: Any, days: tuple[float, float], grouping: int = TOTAL) -> Any:
        c = table.c
        where = [c.filter_group == (self.group or ""), c.day >= days[0], c.day < days[1]]
        if grouping == TOTAL:
            where += [c.grouping == TOTAL, c.group_name == ""]
        else:
            where += [c.grouping.in_((BY_GROUP, NO_GROUP))]
        return and_(*where)

    @staticmethod
    def spans(days: tuple[float, float]) -> list[tuple[tuple[Any, Any], tuple[float, float]]]:
        """Whole days `[low, high)` as the rollup tables to read and their range: the
        calendar months inside from the monthly rows, the ISO weeks inside what is left
        from the weekly rows, the days around those from the daily."""
        low, high = days
        first = low if month_of(low) == low else next_month(month_of(low))
        last = first
        while next_month(last) <= high:
            last = next_month(last)
        if last == first:
            return _Window.week_spans(days)
        return [
            *_Window.week_spans((low, first)),
            (_MONTHS, (first, last)),
            *_Window.week_spans((last, high)),
        ]

    @staticmethod
    def week_spans(days: tuple[float, float]) -> list[tuple[tuple[Any, Any], tuple[float, float]]]:
        """Whole days `[low, high)` as the ISO weeks inside and the days around them."""
        low, high = days
        first = low if week_of(low) == low else week_of(low) + WEEK_SECONDS
        last = week_of(high)
        if not first < last:
            parts = [(_DAYS, days)]
        else:
            parts = [(_DAYS, (low, first)), (_WEEKS, (first, last)), (_DAYS, (last, high))]
        return [(tables, span) for tables, span in parts if span[0] < span[1]]

    # -- figures ------------------------------------------------------------------

    def users(self, since: float, until: float) -> set[str]:
        days, edges = self.split(since, until)
        found: set[str] = set()
        if days is not None and days in self._user_sums:
            found.update(self._user_sums[days])
        elif days is not None:
            for (table, _), span in self.spans(days):
                query = select(table.c.user_name).where(self.rows(table, span)).distinct()
                found.update(self.connection.execute(query).scalars())
        for edge in edges:
            found.update(s.user for s in self.edge_sessions(*edge) if s.overlap(*edge))
        return found

    def daily(self, since: float, until: float) -> list[dict[str, Any]]:
        counts = dict.fromkeys(day_starts(since, until), 0)
        days, edges = self.split(since, until)
        if days is not None:
            c = day_users.c
            query = select(c.day, c.users).where(
                c.filter_group == (self.group or ""), c.day >= days[0], c.day < days[1]
            )
            counts.update({float(day): int(n) for day, n in self.connection.execute(query)})
        for edge in edges:
            day = day_of(edge[0])
            users = {s.user for s in self.edge_sessions(*edge) if s.overlap(*edge)}
            counts[day] = len(users)
        return [{"day": utc_day(day), "users": n} for day, n in sorted(counts.items())]

    def monthly(self, since: float, until: float) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for day in day_starts(since, until):
            counts.setdefault(utc_month(day), 0)
        days, edges = self.split(since, until)
        edge_users: dict[str, set[str]] = {}
        for edge in edges:
            users = {s.user for s in self.edge_sessions(*edge) if s.overlap(*edge)}
            edge_users.setdefault(utc_month(edge[0]), set()).update(users)
        start, end = days if days is not None else (until, until)
        while start < end:
            month, part_end = utc_month(start), min(next_month(month_of(start)), end)
            counts[month] = self._month_users((start, part_end), edge_users.pop(month, set()))
            start = part_end
        for month, users in edge_users.items():
            counts[month] = len(users)
        return [{"month": m, "users": n} for m, n in sorted(counts.items())]

    def _month_users(self, days: tuple[float, float], also: set[str]) -> int:
        """Distinct users on the whole days `days` of one month and in `also` (the users
        of the window's partial days in that month): counted by the database unless
        there are such users."""
        spans = self.spans(days)
        parts = [
            select(table.c.user_name).where(self.rows(table, span)) for (table, _), span in spans
        ]
        if also:
            found = set(also)
            for part in parts:
                found.update(self.connection.execute(part.distinct()).scalars())
            return len(found)
        if [tables for tables, _ in spans] == [_MONTHS]:
            # A whole month has one total row per active user.
            names = parts[0].subquery()
        else:
            names = (union(*parts) if len(parts) > 1 else parts[0].distinct()).subquery()
        query = select(func.count()).select_from(names)
        return int(self.connection.execute(query).scalar() or 0)

    def tallies(self, since: float, until: float, by: str) -> dict[Any, Tally]:
        """Tallies per user ('user'), per group ('group') or for the scope ('total')."""
        tallies: dict[Any, Tally] = defaultdict(Tally)
        days, edges = self.split(since, until)
        if days is not None and by == "group":
            self._group_sums(tallies, days)
        elif days is not None and by == "user":
            # The cached tallies themselves: copied only where an edge adds to them.
            tallies.update(self.user_sums(days))
        elif days is not None:
            for part in self.user_sums(days).values():
                _merge(tallies[None], part)
        copied: set[Any] = set()
        for edge in edges:
            for session in self.edge_sessions(*edge):
                if by == "user":
                    keys: tuple[Any, ...] = (session.user,)
                elif by == "group":
                    keys = session.groups or (None,)
                else:
                    keys = (None,)
                for key in keys:
                    if by == "user" and key not in copied:
                        copied.add(key)
                        shared, tallies[key] = tallies.get(key), Tally()
                        if shared is not None:
                            _merge(tallies[key], shared)
                    tallies[key].add(session, *edge)
        return tallies

    def _spans_union(
        self, days: tuple[float, float], columns: list[str], *, costs: bool, grouping: int
    ) -> Any:
        """The rollup rows of every span of `days` as one subquery of `columns`: one
        statement reads the months, weeks and days of a window."""
        parts = []
        for tables, span in self.spans(days):
            table = tables[1] if costs else tables[0]
            parts.append(
                select(*(table.c[name] for name in columns)).where(self.rows(table, span, grouping))
            )
        return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()

    def user_sums(self, days: tuple[float, float]) -> dict[str, Tally]:
        """Each user's whole days in the scope: one pass over the rollups, shared by the
        active users, the totals, the per-user table and the regular users."""
        if days in self._user_sums:
            return self._user_sums[days]
        found: dict[str, Tally] = {}
        figures = ["sessions", "server_seconds", *RESOURCE_TOTALS]
        rows = self._spans_union(days, ["user_name", *figures], costs=False, grouping=TOTAL)
        query = select(rows.c.user_name, *(func.sum(rows.c[name]) for name in figures))
        for row in self.connection.execute(query.group_by(rows.c.user_name)):
            tally = found[row[0]] = Tally()
            tally.users.add(row[0])
            tally.sessions = int(row[1] or 0)
            tally.server_seconds = float(row[2] or 0.0)
            for index, name in enumerate(RESOURCE_TOTALS):
                tally.resources[name] = float(row[3 + index] or 0.0)
        k = self._spans_union(
            days, ["user_name", "currency", "amount"], costs=True, grouping=TOTAL
        ).c
        costs = select(k.user_name, k.currency, func.sum(k.amount)).group_by(
            k.user_name, k.currency
        )
        for user, currency, amount in self.connection.execute(costs):
            found.setdefault(user, Tally()).cost[currency] = float(amount)
        self._user_sums[days] = found
        return found

    def _group_sums(self, tallies: dict[Any, Tally], days: tuple[float, float]) -> None:
        def key_of(grouping: int, name: str) -> str | None:
            return name if grouping == BY_GROUP else None

        for row in self.group_user_sums(days):
            tally = tallies[key_of(row[0], row[1])]
            tally.users.add(row[2])
            tally.sessions += int(row[3] or 0)
            tally.server_seconds += float(row[4] or 0.0)
            for index, name in enumerate(RESOURCE_TOTALS):
                tally.resources[name] += float(row[5 + index] or 0.0)
        k = self._spans_union(
            days, ["grouping", "group_name", "currency", "amount"], costs=True, grouping=BY_GROUP
        ).c
        costs = select(k.grouping, k.group_name, k.currency, func.sum(k.amount)).group_by(
            k.grouping, k.group_name, k.currency
        )
        for grouping, name, currency, amount in self.connection.execute(costs):
            cost = tallies[key_of(grouping, name)].cost
            cost[currency] = cost.get(currency, 0.0) + float(amount)

    def group_user_sums(self, days: tuple[float, float]) -> list[Any]:
        """Sums per (grouping, group, user) of whole days: one pass over the rollups,
        shared by the per-group table and the groups of each user."""
        if days in self._group_user_sums:
            return self._group_user_sums[days]
        keys = ["grouping", "group_name", "user_name"]
        figures = ["sessions", "server_seconds", *RESOURCE_TOTALS]
        rows = self._spans_union(days, [*keys, *figures], costs=False, grouping=BY_GROUP).c
        # Per group and user: the sums add up per group, the users count once each.
        query = select(*(rows[name] for name in keys), *(func.sum(rows[n]) for n in figures))
        found = list(self.connection.execute(query.group_by(*(rows[name] for name in keys))))
        self._group_user_sums[days] = found
        return found

    def seconds_by_user(self, since: float, until: float) -> dict[str, float]:
        """Exact server seconds per user (sums of lengths, as the reference adds them)."""
        seconds: dict[str, float] = defaultdict(float)
        days, edges = self.split(since, until)
        if days is not None:
            for user, tally in self.user_sums(days).items():
                seconds[user] += tally.server_seconds
        for edge in edges:
            for user, total in server_seconds_by_user(self.edge_sessions(*edge), *edge).items():
                seconds[user] += total
        return seconds

    def user_groups(self, since: float, until: float) -> dict[str, set[str]]:
        groups: dict[str, set[str]] = defaultdict(set)
        days, edges = self.split(since, until)
        for grouping, group, user, *_ in self.group_user_sums(days) if days is not None else []:
            if grouping == BY_GROUP:
                groups[user].add(group)
        for edge in edges:
            for session in self.edge_sessions(*edge):
                groups[session.user].update(session.groups)
        return groups

    def percentiles(self, since: float, until: float) -> tuple[float | None, float | None]:
        """Median and p90 of the lengths, as `model.percentile` interpolates them: a count,
        then the values at the two positions, read in the order of the index on
        (length, start, ended) without a sort; only four values leave the database."""
        c = self.sessions.c
        started = self._started_for_lengths()
        count = int(
            self.connection.execute(
                self._in_group(
                    select(func.count())
                    .select_from(self.sessions)
                    .where(
                        started >= since,
                        started < until,
                        c.ended.is_not(None),
                        c.duration_seconds.is_not(None),
                        counted(c),
                    )
                )
            ).scalar()
            or 0
        )
        if count == 0:
            return None, None
        return (
            self._percentile(since, until, count, 0.5),
            self._percentile(since, until, count, 0.9),
        )

    def _started_for_lengths(self) -> Any:
        c = self.sessions.c
        if self.connection.dialect.name == "sqlite" and self.group is None:
            # Without statistics SQLite would take the index on `started`, then read each
            # row (a count) or sort them (a percentile); `started + 0` cannot use an
            # index, so it walks the lengths' index (length, start, ended), which holds
            # all it needs, instead. A group's sessions are fewer: sorting them beats
            # walking everyone's. PostgreSQL's planner chooses by itself.
            return c.started + 0
        return c.started

    def _percentile(self, since: float, until: float, count: int, fraction: float) -> float:
        c = self.sessions.c
        position = (count - 1) * fraction
        lower = math.floor(position)
        upper = math.ceil(position)
        started = self._started_for_lengths()
        query = self._in_group(
            select(c.duration_seconds)
            .where(started >= since, started < until, c.ended.is_not(None), counted(c))
            .order_by(c.duration_seconds)
            .offset(lower)
            .limit(upper - lower + 1)
        )
        values = list(self.connection.execute(query).scalars())
        low, high = values[0], values[-1]
        return float(low + (high - low) * (position - lower))

    def peak(self, since: float, until: float) -> tuple[int, float | None]:
        return concurrency.window_peak(self.connection, self.sessions, self.group, since, until)


def _merge(into: Tally, part: Tally) -> None:
    into.users.update(part.users)
    into.sessions += part.sessions
    into.server_seconds += part.server_seconds
    for name, amount in part.resources.items():
        into.resources[name] += amount
    for currency, amount in part.cost.items():
        into.cost[currency] = into.cost.get(currency, 0.0) + amount


def compute_kpis_db(
    connection: Connection,
    sessions: Any,
    *,
    since: float,
    until: float,
    group: str | None = None,
    regular_seconds_per_week: float = 8 * 3600,
    tables: bool = True,
) -> dict[str, Any]:
    """Every KPI of the window over the stored sessions, computed by the database.

    `tables=False` leaves the per-user, per-group and monthly lists empty: a previous
    period needs only the numbers.
    """
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
    by_user: list[dict[str, Any]] = []
    by_group: list[dict[str, Any]] = []
    if tables:
        groups_of = window.user_groups(min(since, until - MAU_SECONDS), until)
        by_user = [
            {"user": user, "groups": sorted(groups_of[user]), **tally.row()}
            for user, tally in window.tallies(since, until, "user").items()
            if tally.users
        ]
        by_group = [
            {"group": name, **tally.row()}
            for name, tally in window.tallies(since, until, "group").items()
            if tally.users
        ]
    by_user.sort(key=lambda row: (-sum(row["cost"].values()), -row["server_seconds"], row["user"]))
    for row in by_user:
        del row["users"]
    by_group.sort(
        key=lambda row: (-sum(row["cost"].values()), -row["server_seconds"], row["group"] or "")
    )
    median, p90 = window.percentiles(since, until)
    daily = window.daily(since, until)
    month_start = until - MAU_SECONDS
    return kpi_report(
        since=since,
        until=until,
        group=group,
        regular_seconds_per_week=regular_seconds_per_week,
        active_users=len(window.users(since, until)),
        daily=daily,
        wau=len(window.users(until - WAU_SECONDS, until)),
        mau=len(window.users(month_start, until)),
        last_30_days=daily if since == month_start else window.daily(month_start, until),
        monthly=window.monthly(since, until) if tables else [],
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
    with db.engine.connect() as connection:
        return compute_kpis_db(connection, SessionRow.__table__, **window)


def with_previous_period(
    compute: Callable[[float, float, bool], dict[str, Any]], since: float, until: float
) -> dict[str, Any]:
    """The report of `[since, until)`, each number KPI with the same-length period before.

    Each gets `previous` (its value then) and `change_percent` (None when the previous
    value is 0 or missing), as "+12 % vs the previous 30 days". `compute(since, until,
    tables)` is asked for the lists (per user, per group, by month) of the window only.
    """
    length = until - since
    return compared(compute(since, until, True), compute(since - length, since, False))


def compared(report: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """`report` with each number KPI compared with `before`, the report of the
    same-length period before it (see `with_previous_period`)."""
    since, until = report["since"], report["until"]
    report["previous_period"] = {"since": since - (until - since), "until": since}
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
