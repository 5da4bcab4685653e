"""Hour peaks: each hour's peak, taken alone, gives the reference's peak of any window
made of whole hours (the largest, first reached at the earliest of their instants)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from support.kpi_reference import peak_concurrency

from jupyter_usage.hub.db.concurrency import sweep_scopes
from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.hub.periods import HOUR_SECONDS

T0 = 1_793_577_600.0  # Monday 2 November 2026, midnight UTC
HOURS = 30

# Starts and lengths on a grid as well as anywhere: ties at hour boundaries and
# back-to-back sessions are where an off-by-one would show.
instants = st.one_of(
    st.integers(0, HOURS * 4).map(lambda quarter: T0 + quarter * 900.0),
    st.floats(0, HOURS * HOUR_SECONDS, allow_nan=False).map(lambda offset: T0 + offset),
)
lengths = st.one_of(
    st.sampled_from([0.0, 900.0, HOUR_SECONDS, 2 * HOUR_SECONDS]),
    st.floats(0, 10 * HOUR_SECONDS, allow_nan=False),
)
sessions = st.lists(
    st.tuples(instants, lengths, st.sampled_from([(), ("chem",), ("chem", "phys")])),
    max_size=15,
)


@settings(max_examples=300, deadline=None)
@given(
    sessions=sessions,
    first=st.integers(0, HOURS - 1),
    hours=st.integers(1, HOURS),
    scope=st.sampled_from(["", "chem", "phys"]),
)
def test_whole_hours_give_the_reference_peak(
    sessions: list[tuple[float, float, tuple[str, ...]]], first: int, hours: int, scope: str
) -> None:
    rows = sorted(((start, start + length, groups) for start, length, groups in sessions))
    peaks = sweep_scopes([(*row, None) for row in rows], T0, T0 + (HOURS + 10) * HOUR_SECONDS)
    since = T0 + first * HOUR_SECONDS
    until = since + hours * HOUR_SECONDS
    inside = [
        value for (name, hour), value in peaks.items() if name == scope and since <= hour < until
    ]
    found: tuple[int, float | None] = (0, None)
    if inside:
        best = max(value[0] for value in inside)
        found = (best, min(value[1] for value in inside if value[0] == best))
    chosen = [
        KpiSession(user="u", started=start, end=end, groups=groups)
        for start, end, groups in rows
        if not scope or scope in groups
    ]
    assert found == peak_concurrency(chosen, since, until)


def test_an_hour_without_a_server_has_no_row() -> None:
    rows = [
        (T0 + 600, T0 + 1200, (), None),
        (T0 + 5 * HOUR_SECONDS, T0 + 5 * HOUR_SECONDS + 60, (), None),
    ]
    peaks = sweep_scopes(rows, T0, T0 + 6 * HOUR_SECONDS)
    assert sorted(hour for _, hour in peaks) == [T0, T0 + 5 * HOUR_SECONDS]
    assert peaks[("", T0)] == (1, T0 + 600, 0.0, 0.0)


def test_throttling_is_spread_over_the_hours_of_a_session() -> None:
    # Two hours, 60 s throttled, from 00:30: a quarter in the first hour, half in the
    # second, a quarter in the third; only the session's group and the total see it.
    start = T0 + 1800
    rows = [(start, start + 2 * HOUR_SECONDS, ("chem",), 60.0), (T0, T0 + 60, ("phys",), None)]
    peaks = sweep_scopes(rows, T0, T0 + 3 * HOUR_SECONDS)
    assert peaks[("", T0)][2:] == (1800.0, 15.0)
    assert peaks[("chem", T0 + HOUR_SECONDS)][2:] == (3600.0, 30.0)
    assert peaks[("chem", T0 + 2 * HOUR_SECONDS)][2:] == (1800.0, 15.0)
    assert peaks[("phys", T0)][2:] == (0.0, 0.0)
