"""Each dashboard range answered at its documented step, asked as the dashboard asks it.

The dashboard (src/dashboard/DashboardModel.ts) asks `since = floor(now - range)` with
`step = round(range / 300)`, where `now` is the time of the snapshot it holds: up to a
refresh older than the newest sample. docs/ui.md gives the step each range draws.
"""

from __future__ import annotations

import math

import pytest

from jupyter_usage.series import SeriesStore

DOCUMENTED_STEP_SECONDS = {900: 3.0, 3600: 12.0, 86400: 300.0, 30 * 86400: 9000.0}


@pytest.fixture(scope="module")
def store() -> SeriesStore:
    # Longer than the 1 s ring's hour, so that it has wrapped, and at a burst of 1.0 core.
    store = SeriesStore()
    newest = 1_800_000_000.0
    for i in range(2 * 3600):
        t = newest - 2 * 3600 + 1 + i
        store.add(t, {"cpu": 1.0 if i >= 2 * 3600 - 60 and i < 2 * 3600 - 30 else 0.0})
    return store


@pytest.mark.parametrize("range_seconds", sorted(DOCUMENTED_STEP_SECONDS))
@pytest.mark.parametrize("snapshot_age_seconds", [0, 1, 5, 11])
def test_each_range_answers_at_its_documented_step(
    store: SeriesStore, range_seconds: int, snapshot_age_seconds: int
) -> None:
    now = 1_800_000_000.0 - snapshot_age_seconds
    since = math.floor(now - range_seconds)
    step = max(1, round(range_seconds / 300))
    _, step_seconds = store.query_with_meta(since, step)
    assert step_seconds == DOCUMENTED_STEP_SECONDS[range_seconds]


def test_a_30_s_burst_of_one_core_is_drawn_at_one_core_in_the_hour(store: SeriesStore) -> None:
    columns, step_seconds = store.query_with_meta(math.floor(1_800_000_000.0 - 5 - 3600), 12)
    assert step_seconds == 12.0
    assert max(v for v in columns["cpu"] if v is not None) == pytest.approx(1.0)
