"""Rollups: what the KPIs need, per user per UTC day, kept next to the raw sessions.

A rollup row is *recomputed* from the raw sessions of one user on the days a write
touched, never adjusted by deltas: replays, races and out-of-order reports then cannot
make it drift. Each row belongs to a scope: `filter_group` ('' = every session, else only
sessions of that group) and a grouping (the scope's total, one group, or "in no group"),
so a group-filtered report and its per-group table read rows, not sessions.

A session counts on a day in proportion to its time inside that day (as `kpis` prorates
at a window's edges), so whole days add up to what the reference computes for them.

The same rows summed per calendar month (UTC) and per ISO week (Monday to Sunday, UTC) are
kept too, recomputed with the days: a refresh always covers whole months and whole weeks.
A window then reads one row per user and scope for each month and week inside it, and day
rows only at its edges: a user who comes every day costs a few rows, not one per day.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque, namedtuple
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from operator import add
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Table,
    cast,
    delete,
    func,
    insert,
    select,
    text,
)

from jupyter_usage.hub.db.queries import KpiSession, finite_number, kpi_session
from jupyter_usage.hub.db.schema import (
    ROLLUP_KEY,
    ROLLUP_TABLES,
    SessionRow,
    day_users,
    session_groups,
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
    month_of,
    next_month,
    week_of,
)
from jupyter_usage.records import RESOURCE_TOTALS

from .queries import active_in, kpi_columns

TOTAL, BY_GROUP, NO_GROUP = 0, 1, 2
"""Values of `grouping`: the scope's total, one group (`group_name`), users in no group."""


def refreshed_spans(first_day: float, last_day: float) -> tuple[float, float, float, float]:
    """What a refresh of the days `first_day` … `last_day` recomputes: the whole months
    holding them (first and last month start) and the whole weeks holding those months
    (first and last day start), whose days it recomputes too."""
    first_month = month_of(day_of(first_day))
    last_month = month_of(day_of(last_day))
    month_end = next_month(last_month) - DAY_SECONDS
    return (
        first_month,
        last_month,
        week_of(first_month),
        week_of(month_end) + WEEK_SECONDS - DAY_SECONDS,
    )


def session_days(session: KpiSession) -> Iterable[float]:
    """The UTC days a session is active on (an instant: its own day)."""
    day = day_of(session.started)
    while day < session.end or day <= session.started:
        yield day
        day += DAY_SECONDS


def scopes(groups: Sequence[str]) -> list[tuple[str, int, str]]:
    """The (filter_group, grouping, group_name) rows a session of these groups counts in."""
    by_group = [(BY_GROUP, name) for name in groups] or [(NO_GROUP, "")]
    return [
        (filter_group, grouping, name)
        for filter_group in ("", *groups)
        for grouping, name in ((TOTAL, ""), *by_group)
    ]


def _session_query(sessions_table: Any, users: list[str], first_day: float, last_day: float) -> Any:
    c = sessions_table.c
    end = last_day + DAY_SECONDS
    return select(*kpi_columns(c)).where(
        c.user_name.in_(users),
        active_in(c, first_day, end),
    )


def refresh_rollups(
    connection: Connection, sessions_table: Any, user: str, first_day: float, last_day: float
) -> None:
    """Recompute the rollups of `user` on the days `first_day` … `last_day` (day starts)."""
    refresh_many(connection, sessions_table, [user], first_day, last_day)


def refresh_many(
    connection: Connection,
    sessions_table: Any,
    users: Sequence[str],
    first_day: float,
    last_day: float,
) -> None:
    """The same for several users at once: a handful of statements, whatever their number."""
    spans = refreshed_spans(first_day, last_day)
    chosen = sorted(set(users))
    gone = _clear(connection, chosen, spans)
    rows = _read(connection, sessions_table, chosen, spans)
    _store(connection, gone, recompute(rows, spans))


KpiRow = namedtuple(  # type: ignore[misc]
    "KpiRow", [column.name for column in kpi_columns(SessionRow.__table__.c)]
)
"""A session as the rollups read it: plain values, so that a worker process can take it."""


FIGURE_COLUMNS = (*ROLLUP_KEY, "sessions", "server_seconds", *RESOURCE_TOTALS)
COST_COLUMNS = (*ROLLUP_KEY, "currency", "amount")


@dataclass
class Recomputed:
    """The rows a refresh writes, computed from its sessions (`recompute`)."""

    pks: list[int]
    """The sessions read, whose links to their groups are replaced by `links`."""
    links: list[tuple[int, str]]
    user_days: list[tuple[str, float]]
    """(filter_group, day) of each user counted on a day."""
    tables: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]
    """(table, columns, rows), each table's rows in key order."""


def _clear(
    connection: Connection, chosen: list[str], spans: tuple[float, float, float, float]
) -> Sequence[Any]:
    """Delete the rollups of `chosen` in the refreshed spans; the day rows' scopes and
    days deleted (the users per day they counted in)."""
    # Whole months and whole weeks: their rows are the sums of the days, recomputed with
    # them; the weeks at a month's edges reach into the months around it, so the days
    # recomputed are those of the weeks.
    first_month, last_month, first_day, last_day = spans
    lock_users(connection, chosen)
    # Writing first: on SQLite the transaction then holds the write lock before it reads,
    # so the sessions it recomputes from are the latest (another process may be writing).
    gone = connection.execute(
        delete(user_days)
        .where(
            user_days.c.user_name.in_(chosen),
            user_days.c.day >= first_day,
            user_days.c.day <= last_day,
        )
        .returning(user_days.c.filter_group, user_days.c.grouping, user_days.c.day)
    ).all()
    for table, low, high in (
        (user_day_costs, first_day, last_day),
        (user_weeks, first_day, last_day),
        (user_week_costs, first_day, last_day),
        (user_months, first_month, last_month),
        (user_month_costs, first_month, last_month),
    ):
        connection.execute(
            delete(table).where(
                table.c.user_name.in_(chosen), table.c.day >= low, table.c.day <= high
            )
        )
    return gone


def _read(
    connection: Connection,
    sessions_table: Any,
    chosen: list[str],
    spans: tuple[float, float, float, float],
) -> list[Any]:
    query = _session_query(sessions_table, chosen, spans[2], spans[3])
    return [KpiRow(*row) for row in connection.execute(query)]


def recompute(rows: Sequence[Any], spans: tuple[float, float, float, float]) -> Recomputed:
    """The rollup rows of these sessions in the refreshed spans: plain Python, so that an
    import runs it in a worker process while this one writes."""
    first_month, last_month, first_day, last_day = spans
    days: dict[tuple[Any, ...], list[float]] = {}
    costs: dict[tuple[Any, ...], float] = defaultdict(float)
    links: list[tuple[int, str]] = []
    for row in rows:
        session = kpi_session(row)
        links.extend((row.pk, g) for g in session.groups)
        if session.unconfirmed:
            continue  # out of the KPIs (intake/hub_check.py); its groups stay linked for budgets
        rows_of_session = scopes(session.groups)
        for day in session_days(session):
            if not first_day <= day <= last_day:
                continue
            _add(session, day, rows_of_session, days, costs)
    months, month_costs = _by_period(days, costs, month_of, first_month, last_month)
    weeks, week_costs = _by_period(days, costs, week_of, first_day, last_day)
    tables: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]] = []
    for table, cost_table, values, amounts in (
        (user_days, user_day_costs, days, costs),
        (user_weeks, user_week_costs, weeks, week_costs),
        (user_months, user_month_costs, months, month_costs),
    ):
        # In key order: each row then lands next to the last in the table's b-tree.
        figures = [(*key, int(row[0]), *row[1:]) for key, row in sorted(values.items())]
        tables.append((table.name, FIGURE_COLUMNS, figures))
        amounts_rows = [(*key, amount) for key, amount in sorted(amounts.items())]
        tables.append((cost_table.name, COST_COLUMNS, amounts_rows))
    counted = [(key[0], key[3]) for key in days if key[1] == TOTAL]
    return Recomputed([row.pk for row in rows], links, counted, tables)


def _store(connection: Connection, gone: Sequence[Any], recomputed: Recomputed) -> None:
    pks = recomputed.pks
    for chunk in range(0, len(pks), 500):
        connection.execute(
            delete(session_groups).where(session_groups.c.session_pk.in_(pks[chunk : chunk + 500]))
        )
    if recomputed.links:
        _insert_many(connection, session_groups, ("session_pk", "group_name"), recomputed.links)
    _count_day_users(connection, gone, recomputed.user_days)
    for table, columns, rows in recomputed.tables:
        insert_rows(connection, table, columns, rows)


def _count_day_users(
    connection: Connection, gone: Sequence[Any], counted: Sequence[tuple[str, float]]
) -> None:
    """Add to each scope's count of users per day the users this refresh added or
    removed there: `gone` the day rows it deleted, `counted` (scope, day) of those it
    writes."""
    change: dict[tuple[str, float], int] = defaultdict(int)
    for filter_group, grouping, day in gone:
        if grouping == TOTAL:
            change[(filter_group, float(day))] -= 1
    for filter_group, day in counted:
        change[(filter_group, day)] += 1
    # In key order: two refreshes updating the same counts then never wait on each other
    # in a cycle (PostgreSQL locks each row it updates until the commit).
    rows = [(*key, amount) for key, amount in sorted(change.items()) if amount]
    if not rows:
        return
    table = connection.dialect.identifier_preparer.quote(day_users.name)
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(
        f"INSERT INTO {table} (filter_group, day, users) VALUES ({mark}, {mark}, {mark}) "
        f"ON CONFLICT (filter_group, day) DO UPDATE SET users = {table}.users + excluded.users",
        rows,
    )


def _by_period(
    days: dict[tuple[Any, ...], list[float]],
    costs: dict[tuple[Any, ...], float],
    start_of: Callable[[float], float],
    first: float,
    last: float,
) -> tuple[dict[tuple[Any, ...], list[float]], dict[tuple[Any, ...], float]]:
    """Day rows summed per period (`start_of` a day gives its period's start), for the
    periods starting in `first` … `last`: the key's `day` (index 3) becomes the start."""
    starts: dict[float, float | None] = {}

    def start_in_range(day: float) -> float | None:
        start: float | None = start_of(day)
        if not first <= start <= last:  # type: ignore[operator]
            start = None
        starts[day] = start
        return start

    # Millions of keys on an import: tuples built by hand and sums in C, not per figure.
    periods: dict[tuple[Any, ...], list[float]] = {}
    for key, figures in days.items():
        day = key[3]
        start = starts[day] if day in starts else start_in_range(day)
        if start is None:
            continue
        chosen = (key[0], key[1], key[2], start, key[4])
        total = periods.get(chosen)
        periods[chosen] = figures.copy() if total is None else list(map(add, total, figures))
    period_costs: dict[tuple[Any, ...], float] = defaultdict(float)
    for key, amount in costs.items():
        day = key[3]
        start = starts[day] if day in starts else start_in_range(day)
        if start is not None:
            period_costs[(key[0], key[1], key[2], start, key[4], key[5])] += amount
    return periods, period_costs


def _insert_many(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    insert_rows(connection, table.name, columns, rows)


def insert_rows(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Plain values into `table`, through the driver: the rollups of an import are
    millions of rows, and compiling each costs more than writing it. PostgreSQL gets
    them by COPY (one stream, not a statement per row), in the same transaction."""
    if not rows:
        return
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    if connection.dialect.name == "postgresql":
        raw: Any = connection.connection.dbapi_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {quote(table)} ({names}) VALUES ({', '.join(mark for _ in columns)})"
    connection.exec_driver_sql(sql, list(rows))


def lock_users(connection: Connection, users: Sequence[str]) -> None:
    """On PostgreSQL, one refresh of a user's rollups at a time, across threads, processes
    and replicas: two at once would each delete, then both insert the same rows. The lock
    ends with the transaction; users are taken in order, so two refreshes never deadlock."""
    if connection.dialect.name != "postgresql" or not users:
        return
    # One statement for all (a batch of reports locks several users): unnest yields the
    # keys in the array's order, and each row's lock is taken as the row is produced.
    connection.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest(CAST(:keys AS text[])) AS k"),
        {"keys": [f"jupyter_usage:{user}" for user in users]},
    )


def _add(
    session: KpiSession,
    day: float,
    rows_of_session: list[tuple[str, int, str]],
    days: dict[tuple[Any, ...], list[float]],
    costs: dict[tuple[Any, ...], float],
) -> None:
    part = session.overlap(day, day + DAY_SECONDS)
    if part is None:
        return
    fraction = session.fraction_in(day, day + DAY_SECONDS)
    started_here = 1.0 if day <= session.started < day + DAY_SECONDS else 0.0
    resources = [finite_number(session.totals.get(name)) * fraction for name in RESOURCE_TOTALS]
    cost = session.cost_total
    has_cost = cost is not None and math.isfinite(cost)
    for scope in rows_of_session:
        key = (*scope, day, session.user)
        values = days.setdefault(key, [0.0] * (2 + len(RESOURCE_TOTALS)))
        values[0] += started_here
        values[1] += part[1] - part[0]
        for index, amount in enumerate(resources):
            values[2 + index] += amount
        if has_cost:
            assert cost is not None
            cost_key = (*scope, day, session.user, session.currency or "")
            costs[cost_key] += cost * fraction


def rebuild_rollups(connection: Connection, sessions_table: Any) -> None:
    """Recompute every rollup from the raw sessions: the backfill of an existing database."""
    # Everything is recomputed: the counts of users per day start from nothing.
    for table in ROLLUP_TABLES:
        if table is not session_groups:
            connection.execute(delete(table))
    c = sessions_table.c
    spans = connection.execute(select(c.user_name, c.started, c.last_seen)).all()
    ranges: dict[str, list[float]] = {}
    for user, started, last_seen in spans:
        low, high = day_of(started), day_of(max(last_seen, started))
        known = ranges.setdefault(user, [low, high])
        known[0], known[1] = min(known[0], low), max(known[1], high)
    refresh_ranges(connection, sessions_table, ranges)


def fill_weeks_and_day_users(connection: Connection) -> None:
    """The week rows as the sums of the day rows, and the users of each day counted: the
    backfill of a database that has day rows only (any rows there are replaced)."""
    for days, weeks in ((user_days, user_weeks), (user_day_costs, user_week_costs)):
        connection.execute(delete(weeks))
        c = days.c
        # Days since Monday: 1970-01-01 was a Thursday; day starts are whole days.
        week = c.day - ((cast(c.day / DAY_SECONDS, Integer) + 3) % 7) * DAY_SECONDS
        keys = [c.filter_group, c.grouping, c.group_name, week, c.user_name]
        if days is user_days:
            figures = ["sessions", "server_seconds", *RESOURCE_TOTALS]
        else:
            keys.append(c.currency)
            figures = ["amount"]
        query = select(*keys, *(func.sum(c[name]) for name in figures)).group_by(*keys)
        columns = [*ROLLUP_KEY, *(["currency"] if days is user_day_costs else []), *figures]
        connection.execute(insert(weeks).from_select(columns, query))
    connection.execute(delete(day_users))
    c = user_days.c
    counted = (
        select(c.filter_group, c.day, func.count())
        .where(c.grouping == TOTAL, c.group_name == "")
        .group_by(c.filter_group, c.day)
    )
    connection.execute(insert(day_users).from_select(["filter_group", "day", "users"], counted))


def refresh_ranges(
    connection: Connection,
    sessions_table: Any,
    ranges: dict[str, list[float]],
    pool: Executor | None = None,
) -> None:
    """Refresh each user's range of days, 200 users per round of statements; with a
    `pool` of worker processes, one round's rows are computed there while this process
    writes the round before (the import: millions of rows)."""
    users = sorted(ranges)
    # Every user's lock before any count of users per day is moved: a report of a user
    # of a later round, holding her lock, may then wait for those counts without the
    # import waiting for her lock in turn.
    lock_users(connection, users)
    computing: deque[tuple[Sequence[Any], Future[Recomputed]]] = deque()
    for start in range(0, len(users), 200):
        chunk = users[start : start + 200]
        low = min(ranges[user][0] for user in chunk)
        high = max(ranges[user][1] for user in chunk)
        # A wider range than some user needs costs time, never correctness: a recompute.
        if pool is None:
            refresh_many(connection, sessions_table, chunk, low, high)
            continue
        spans = refreshed_spans(low, high)
        gone = _clear(connection, chunk, spans)
        rows = _read(connection, sessions_table, chunk, spans)
        computing.append((gone, pool.submit(recompute, rows, spans)))
        if len(computing) > 1:
            _store(connection, *_done(computing.popleft()))
    while computing:
        _store(connection, *_done(computing.popleft()))


def _done(item: tuple[Sequence[Any], Future[Recomputed]]) -> tuple[Sequence[Any], Recomputed]:
    return item[0], item[1].result()
