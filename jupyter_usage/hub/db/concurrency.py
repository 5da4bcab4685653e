"""Peak concurrency per UTC hour, kept next to the raw sessions.

A row holds, for one scope (`filter_group`: '' = every session, else that group's) and
one hour, the most servers running at once inside the hour and the first instant it
happened, as the reference `peak_concurrency` computes it over the hour alone (and sizing's CPU
throttling in it). A window's peak is then the largest of its whole hours' (a few
thousand rows a year) and of its two partial hours, computed from the raw sessions active
in them; the first instant of the largest is the earliest of theirs. Hours without a
server have no row.

Like the rollups, a row is recomputed from the raw sessions of its hour, never adjusted:
each refresh takes a lock (PostgreSQL) or the write lock (SQLite) first, then reads, so
the last refresh of an hour sees every committed session.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    func,
    select,
    text,
)

from jupyter_usage.hub.db.schema import hour_peaks
from jupyter_usage.hub.periods import HOUR_SECONDS, hour_of

from .queries import active_in_parts, counted
from .rollups import insert_rows


class _Sweep:
    """Hour peaks of one scope, from intervals given in order of their start.

    At one instant, ends come before an hour boundary, which comes before starts: back-
    to-back sessions do not overlap, and a boundary sees the servers running across it
    (the sessions clipped to the hour start there)."""

    def __init__(self, first_hour: float) -> None:
        self.ends: list[float] = []
        self.running = 0
        self.hour = first_hour
        self.peak, self.at = 0, first_hour
        self.peaks: dict[float, tuple[int, float]] = {}

    def _until(self, time: float, *, boundary_too: bool) -> None:
        """Handle the ends and hour boundaries before `time` (at it: ends, and the
        boundary when `boundary_too`)."""
        while True:
            next_boundary = self.hour + HOUR_SECONDS
            next_end = self.ends[0] if self.ends else math.inf
            if next_end <= next_boundary and next_end <= time:
                heapq.heappop(self.ends)
                self.running -= 1
            elif next_boundary < time or (boundary_too and next_boundary == time):
                if self.peak > 0:
                    self.peaks[self.hour] = (self.peak, self.at)
                self.hour = next_boundary
                self.peak, self.at = self.running, next_boundary
            else:
                return

    def add(self, start: float, end: float) -> None:
        self._until(start, boundary_too=True)
        heapq.heappush(self.ends, end)
        self.running += 1
        if self.running > self.peak:
            self.peak, self.at = self.running, start

    def finish(self, last_hour: float) -> dict[float, tuple[int, float]]:
        self._until(last_hour, boundary_too=True)
        self._until(last_hour + HOUR_SECONDS, boundary_too=False)
        if self.peak > 0:
            self.peaks[self.hour] = (self.peak, self.at)
        return self.peaks


Hour = tuple[int, float, float, float]
"""Peak, its first instant, figure seconds and throttled seconds of one hour."""


def sweep_scopes(
    rows: Iterable[Any], first_hour: float, last_hour: float
) -> dict[tuple[str, float], Hour]:
    """Each hour `first_hour` … `last_hour` (hour starts) with a server running, each hour
    alone, in every scope: all sessions and each group's. `rows` (started, last_seen,
    groups, cpu_throttled_seconds) come in order of `started`."""
    low, high = first_hour, last_hour + HOUR_SECONDS
    sweeps: dict[str, _Sweep] = {}
    # Throttling by (groups, hour) first: sessions share their groups, so each hour of a
    # session costs one dictionary update, whatever the number of its scopes.
    by_groups: dict[tuple[tuple[str, ...], float], list[float]] = {}
    for started, last_seen, groups, throttled in rows:
        start, end = max(started, low), min(last_seen, high)
        if not start < end:
            continue
        names = tuple(groups or ())
        for scope in ("", *names):
            if scope not in sweeps:
                sweeps[scope] = _Sweep(first_hour)
            sweeps[scope].add(start, end)
        if throttled is not None:
            for hour, seconds, share in spread(start, end, last_seen - started, throttled):
                figures = by_groups.get((names, hour))
                if figures is None:
                    by_groups[(names, hour)] = [seconds, share]
                else:
                    figures[0] += seconds
                    figures[1] += share
    pressure: dict[tuple[str, float], list[float]] = {}
    for (names, hour), (seconds, share) in by_groups.items():
        for scope in ("", *names):
            figures = pressure.setdefault((scope, hour), [0.0, 0.0])
            figures[0] += seconds
            figures[1] += share
    found: dict[tuple[str, float], Hour] = {}
    for scope, state in sweeps.items():
        for hour, (peak, at) in state.finish(last_hour).items():
            figures = pressure.get((scope, hour), [0.0, 0.0])
            found[(scope, hour)] = (peak, at, figures[0], figures[1])
    return found


def spread(
    start: float, end: float, length: float, throttled: float
) -> Iterable[tuple[float, float, float]]:
    """(hour, seconds, throttled seconds) of each hour of `[start, end)`, a part of a
    session `length` seconds long whose throttling is spread evenly over its time."""
    rate = throttled / length if length > 0 else 0.0
    moment = start
    while moment < end:
        # Exact: `moment % HOUR_SECONDS` is exact, so is the multiple of an hour it leaves.
        hour = moment - moment % HOUR_SECONDS
        boundary = hour + HOUR_SECONDS
        if boundary > end:
            boundary = end
        yield hour, boundary - moment, (boundary - moment) * rate
        moment = boundary


def refresh_hours(
    connection: Connection, sessions_table: Any, ranges: Sequence[tuple[float, float]]
) -> None:
    """Recompute the hours covering each `(low, high)` range of times, in every scope."""
    hours = sorted({h for low, high in ranges for h in _hours(low, high)})
    if not hours:
        return
    if connection.dialect.name == "postgresql":
        # One refresh of hour peaks at a time: they count every user's sessions.
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": "jupyter_usage:concurrency"},
        )
    c = sessions_table.c
    for first, last in _runs(hours):
        # Writing first: on SQLite the transaction then holds the write lock before it
        # reads, so the sessions it recomputes from are the latest.
        connection.execute(
            delete(hour_peaks).where(hour_peaks.c.hour >= first, hour_peaks.c.hour <= last)
        )
        query = (
            select(c.started, c.last_seen, c.groups, c.cpu_throttled_seconds)
            .where(c.last_seen > first, c.started < last + HOUR_SECONDS, counted(c))
            .order_by(c.started)
            .execution_options(yield_per=5000)
        )
        # Read in full before writing: PostgreSQL's server-side cursor holds the connection.
        peaks = sweep_scopes(connection.execute(query), first, last)
        write(connection, peaks)


def rebuild(connection: Connection, sessions_table: Any) -> None:
    """Every hour from the raw sessions: the backfill of an existing database."""
    c = sessions_table.c
    connection.execute(delete(hour_peaks))
    first, last = connection.execute(select(func.min(c.started), func.max(c.last_seen))).one()
    if first is not None:
        refresh_hours(connection, sessions_table, [(first, last)])


def write(connection: Connection, peaks: dict[tuple[str, float], Hour]) -> None:
    rows = [(scope, hour, *figures) for (scope, hour), figures in peaks.items()]
    columns = ("filter_group", "hour", "peak", "peak_at", "figure_seconds", "throttled_seconds")
    insert_rows(connection, hour_peaks.name, columns, rows)


def _hours(low: float, high: float) -> Iterable[float]:
    hour = hour_of(low)
    while hour <= high:
        yield hour
        hour += HOUR_SECONDS


def _runs(hours: list[float]) -> Iterable[tuple[float, float]]:
    """Consecutive hours as (first, last) runs."""
    start = previous = hours[0]
    for hour in hours[1:]:
        if hour != previous + HOUR_SECONDS:
            yield start, previous
            start = hour
        previous = hour
    yield start, previous


def _split(since: float, until: float) -> tuple[tuple[float, float] | None, list[Any]]:
    """A window as its whole hours `(low, high)` (None if it has none) and its partial
    hours at the edges."""
    low = math.ceil(since / HOUR_SECONDS) * HOUR_SECONDS
    high = math.floor(until / HOUR_SECONDS) * HOUR_SECONDS
    if not low < high:
        edges = [(since, until)] if low > high else [(since, low), (high, until)]
        return None, [(a, b) for a, b in edges if a < b]
    return (low, high), [(a, b) for a, b in ((since, low), (high, until)) if a < b]


def _edge_peak(
    connection: Connection, sessions_table: Any, group: str | None, start: float, end: float
) -> tuple[int, float]:
    """Peak and its first instant inside `[start, end)` (part of one hour), from the raw
    sessions active in it."""
    c = sessions_table.c
    rows = [
        row
        for part in active_in_parts(c, start, end)
        # Instants do not run: only the sessions with time inside.
        for row in connection.execute(
            select(c.started, c.last_seen, c.groups).where(part, c.last_seen > start, counted(c))
        )
    ]
    return _peak(
        (max(r[0], start), min(r[1], end)) for r in rows if group is None or group in (r[2] or ())
    )


def hour_peaks_of(
    connection: Connection, sessions_table: Any, group: str | None, since: float, until: float
) -> dict[float, int]:
    """The peak of every hour touching the window that had a server, by hour start:
    whole hours from the table, the partial hours at the edges clipped to the window."""
    whole, edges = _split(since, until)
    found: dict[float, int] = {}
    if whole is not None:
        h = hour_peaks.c
        query = select(h.hour, h.peak).where(
            h.filter_group == (group or ""), h.hour >= whole[0], h.hour < whole[1]
        )
        found.update({float(hour): int(peak) for hour, peak in connection.execute(query)})
    for start, end in edges:
        peak, _ = _edge_peak(connection, sessions_table, group, start, end)
        if peak > 0:
            found[hour_of(start)] = peak
    return found


def window_peak(
    connection: Connection, sessions_table: Any, group: str | None, since: float, until: float
) -> tuple[int, float | None]:
    """The reference `peak_concurrency` of the window: its whole hours from the table, its partial
    hours at the edges from the sessions active in them."""
    whole, edges = _split(since, until)
    parts: list[tuple[int, float]] = []
    if whole is not None:
        h = hour_peaks.c
        scope = (h.filter_group == (group or ""), h.hour >= whole[0], h.hour < whole[1])
        best = connection.execute(select(func.max(h.peak)).where(*scope)).scalar()
        if best:
            at = connection.execute(
                select(func.min(h.peak_at)).where(*scope, h.peak == best)
            ).scalar()
            assert at is not None  # a row holds the peak
            parts.append((int(best), float(at)))
    for start, end in edges:
        found = _edge_peak(connection, sessions_table, group, start, end)
        if found[0] > 0:
            parts.append(found)
    if not parts:
        return 0, None
    peak = max(p for p, _ in parts)
    return peak, min(at for p, at in parts if p == peak)


def _peak(intervals: Iterable[tuple[float, float]]) -> tuple[int, float]:
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        if start < end:
            events.append((start, 1))
            events.append((end, -1))
    events.sort()
    running = peak = 0
    at = 0.0
    for time, change in events:
        running += change
        if running > peak:
            peak, at = running, time
    return peak, at
