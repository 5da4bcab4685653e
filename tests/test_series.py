from __future__ import annotations

import math
import random
import threading
import tracemalloc
from collections.abc import Sequence

import pytest

from jupyter_usage.series import DEFAULT_RESOLUTIONS, MAX_POINTS, SeriesStore

Samples = Sequence[tuple[float, float | None]]


def brute_force(
    samples: Samples, since: float, until: float, step: float
) -> dict[str, list[float | None]]:
    """The expected columns of one series "x", computed the obvious way."""
    first, last = math.floor(since / step), math.floor(until / step)
    groups: dict[int, list[float]] = {o: [] for o in range(first, last + 1)}
    for time, value in samples:
        if value is not None and first <= math.floor(time / step) <= last:
            groups[math.floor(time / step)].append(value)
    values = list(groups.values())
    return {
        "time": [o * step for o in groups],
        "x": [sum(v) / len(v) if v else None for v in values],
        "x_min": [min(v) if v else None for v in values],
        "x_max": [max(v) if v else None for v in values],
    }


def assert_columns_equal(
    got: dict[str, list[float | None]], want: dict[str, list[float | None]]
) -> None:
    assert got.keys() == want.keys()
    for key, column in want.items():
        assert len(got[key]) == len(column), key
        for g, w in zip(got[key], column, strict=True):
            assert (g is None) == (w is None), key
            if w is not None:
                assert g == pytest.approx(w), key


def test_bucket_aggregates_min_mean_max_and_skips_none() -> None:
    store = SeriesStore(((1.0, 10), (5.0, 10)))
    store.add(100.0, {"x": 1.0, "y": None})
    store.add(100.5, {"x": 3.0, "y": None})
    store.add(100.7, {"x": None})
    store.add(101.2, {"x": 5.0})
    store.add(103.0, {"x": None})

    columns, step = store.query_with_meta(100.0)

    assert step == 1.0
    assert columns == {
        "time": [100.0, 101.0, 102.0, 103.0],
        "x": [2.0, 5.0, None, None],
        "x_min": [1.0, 5.0, None, None],
        "x_max": [3.0, 5.0, None, None],
    }
    assert store.names == ("x",), "a series that never had a value holds nothing"


def test_non_finite_values_and_times_are_skipped() -> None:
    store = SeriesStore(((1.0, 10),))
    store.add(100.0, {"x": 1.0})
    store.add(100.2, {"x": math.nan, "y": math.inf})
    store.add(math.nan, {"x": 50.0})
    store.add(math.inf, {"x": 50.0})
    store.add(100.4, {"x": "not a number"})  # type: ignore[dict-item]

    assert store.query(100.0) == {"time": [100.0], "x": [1.0], "x_min": [1.0], "x_max": [1.0]}


def test_downsampling_merges_buckets_weighted_by_sample_count() -> None:
    store = SeriesStore(((1.0, 100), (60.0, 10)))
    samples = sorted([(100.0 + i, float(i)) for i in range(10)] + [(100.5, 100.0)])
    for time, value in samples:
        store.add(time, {"x": value})

    columns, step = store.query_with_meta(100.0, step=5.0)

    assert step == 5.0
    assert columns["time"] == [100.0, 105.0]
    # 0, 100, 1, 2, 3, 4 in the first bucket: the mean is over samples, not over 1 s buckets.
    assert columns["x"] == [pytest.approx(110 / 6), pytest.approx(7.0)]
    assert columns["x_min"] == [0.0, 5.0]
    assert columns["x_max"] == [100.0, 9.0]
    assert_columns_equal(columns, brute_force(samples, 100.0, 109.0, 5.0))


def test_step_is_rounded_up_to_a_multiple_of_the_resolution_step() -> None:
    store = SeriesStore(((1.0, 100), (60.0, 10)))
    samples = [(100.0 + i, float(i)) for i in range(10)]
    for time, value in samples:
        store.add(time, {"x": value})

    assert store.query_with_meta(100.0, step=0.1)[1] == 1.0
    assert store.query_with_meta(100.0, step=1.0)[1] == 1.0
    columns, step = store.query_with_meta(100.0, step=2.5)
    assert step == 3.0
    # Buckets are aligned to multiples of the step, not to `since`.
    assert columns["time"] == [99.0, 102.0, 105.0, 108.0]
    assert_columns_equal(columns, brute_force(samples, 100.0, 109.0, 3.0))


def test_step_that_a_coarser_ring_divides_gives_the_same_answer() -> None:
    store = SeriesStore(((1.0, 3600), (60.0, 1440)))
    rng = random.Random(7)
    samples = [(60_000.0 + 0.7 * i, rng.uniform(0, 4)) for i in range(4000)]
    for time, value in samples:
        store.add(time, {"x": value})
    since, until = samples[-1][0] - 3000, samples[-1][0]

    for step in (60.0, 120.0, 90.0):
        columns, effective = store.query_with_meta(since, step=step, until=until)
        assert effective == step
        assert_columns_equal(columns, brute_force(samples, since, until, step))


def test_old_since_is_read_from_a_coarser_resolution() -> None:
    store = SeriesStore(((1.0, 60), (10.0, 60), (60.0, 60)))
    now = 10_000.0
    for i in range(3000):
        store.add(now - 2999 + i, {"x": float(i)})

    assert store.query_with_meta(now - 30)[1] == 1.0
    # "The last minute" is still read from the 1 s ring (one bucket of slack).
    assert store.query_with_meta(now - 60)[1] == 1.0
    assert store.query_with_meta(now - 300)[1] == 10.0
    assert store.query_with_meta(now - 3000)[1] == 60.0
    # Older than every window: the coarsest, with None where nothing is held.
    columns, step = store.query_with_meta(now - 7200)
    assert step == 60.0
    assert columns["x"][0] is None
    assert columns["x"][-1] is not None


def test_old_data_leaves_the_fine_ring_but_stays_in_the_coarse_ring() -> None:
    store = SeriesStore(((1.0, 60), (60.0, 60)))
    t0 = 6000.0
    samples = [(t0 + i, float(i)) for i in range(180)]
    for time, value in samples:
        store.add(time, {"x": value})
    newest = samples[-1][0]

    fine, step = store.query_with_meta(newest - 60)
    assert step == 1.0
    assert len(fine["time"]) == 61
    assert fine["x"][0] is None, "overwritten when the ring wrapped"
    assert fine["x"][1:] == [float(i) for i in range(120, 180)]

    coarse, step = store.query_with_meta(t0)
    assert step == 60.0
    assert coarse["time"] == [t0, t0 + 60, t0 + 120]
    assert coarse["x"] == [29.5, 89.5, 149.5]
    assert coarse["x_min"] == [0.0, 60.0, 120.0]
    assert coarse["x_max"] == [59.0, 119.0, 179.0]


def test_reading_across_the_ring_seam() -> None:
    store = SeriesStore(((1.0, 60), (60.0, 60)))
    samples = [(6017.0 + i, float(i)) for i in range(180)]  # the newest bucket is in slot 16
    for time, value in samples:
        store.add(time, {"x": value})
    newest = samples[-1][0]

    columns, step = store.query_with_meta(newest - 59)
    assert step == 1.0
    assert_columns_equal(columns, brute_force(samples, newest - 59, newest, 1.0))
    columns, step = store.query_with_meta(6140.0, step=5.0)
    assert step == 5.0
    assert_columns_equal(columns, brute_force(samples, 6140.0, newest, 5.0))


@pytest.mark.parametrize("interval", [0.3, 5.0, 0.2])
def test_irregular_sample_intervals(interval: float) -> None:
    store = SeriesStore(((1.0, 600), (60.0, 60)))
    t0 = 1_000_000.15
    rng = random.Random(interval)
    samples: list[tuple[float, float | None]] = []
    for i in range(int(900 / interval)):  # the 1 s ring wraps half again
        jitter = rng.uniform(-0.05, 0.05) * interval
        value = None if rng.random() < 0.1 else rng.uniform(0, 100)
        samples.append((t0 + i * interval + jitter, value))
    for time, value in samples:
        store.add(time, {"x": value})
    until = samples[-1][0]

    for step in (1.0, 7.0, 30.0):
        columns, effective = store.query_with_meta(t0 + 400, step=step)
        assert effective == step
        assert_columns_equal(columns, brute_force(samples, t0 + 400, until, step))
    columns, effective = store.query_with_meta(t0, step=120.0)
    assert effective == 120.0
    assert_columns_equal(columns, brute_force(samples, t0, until, 120.0))


def test_series_appearing_midway_is_none_before() -> None:
    store = SeriesStore(((1.0, 60), (60.0, 60)))
    for i in range(10):
        values = {"cpu_cores": 1.0}
        if i >= 6:
            values["gpu0_utilization_percent"] = 50.0 + i
        store.add(100.0 + i, values)

    columns = store.query(100.0)

    assert store.names == ("cpu_cores", "gpu0_utilization_percent")
    assert columns["gpu0_utilization_percent"] == [None] * 6 + [56.0, 57.0, 58.0, 59.0]
    assert columns["gpu0_utilization_percent_max"][:6] == [None] * 6
    assert {len(column) for column in columns.values()} == {10}
    assert list(store.query(100.0, names=["gpu0_utilization_percent", "nope"])) == [
        "time",
        "gpu0_utilization_percent",
        "gpu0_utilization_percent_min",
        "gpu0_utilization_percent_max",
    ]


def test_series_unseen_for_longer_than_every_window_is_dropped() -> None:
    store = SeriesStore(((1.0, 10), (10.0, 6)))
    store.add(0.0, {"old": 1.0, "kept": 1.0})
    for i in range(1, 60):
        store.add(float(i), {"kept": 1.0, "old": None})
    assert "old" in store.names, "its bucket is still in the 60 s ring"

    store.add(60.0, {"kept": 1.0})

    assert store.names == ("kept",)
    one = SeriesStore(((1.0, 10), (10.0, 6)))
    one.add(0.0, {"kept": 1.0})
    assert store.memory_bytes() == one.memory_bytes()
    store.add(61.0, {"old": 2.0})
    assert store.query(61.0, names=["old"])["old"] == [2.0], "a returning series starts afresh"


def test_clock_going_backwards_folds_into_the_newest_bucket() -> None:
    store = SeriesStore(((1.0, 60), (60.0, 60)))
    for i in range(10):
        store.add(100.0 + i, {"x": float(i)})
    before = store.query(60.0, until=109.5)

    store.add(50.0, {"x": 1000.0})  # the clock was set back by a minute
    store.add(50.2, {"x": -1000.0})

    after = store.query(60.0, until=109.5)
    assert {len(column) for column in after.values()} == {len(before["time"])}
    assert after["time"] == before["time"]
    for key in before:
        assert after[key][:-1] == before[key][:-1], "older buckets are untouched"
    assert after["x_max"][-1] == 1000.0
    assert after["x_min"][-1] == -1000.0
    assert after["x"][-1] == pytest.approx(9.0 / 3)
    assert store.query(49.0, until=50.9)["x"] == [None, None], "nothing written back there"

    # Time catches up and goes on; a jump of a year forward clears every ring.
    store.add(110.0, {"x": 7.0})
    assert store.query(110.0)["x"] == [7.0]
    store.add(110.0 + 365 * 86400, {"x": 8.0})
    assert store.query(110.0 + 365 * 86400 - 3600, step=60.0)["x"] == [None] * 60 + [8.0]


def test_memory_stays_bounded_after_100k_adds() -> None:
    store = SeriesStore()
    per_series_bytes = sum(count for _, count in DEFAULT_RESOLUTIONS) * 4 * 8
    interval = 30.0  # 100k samples span 34.7 days, longer than the 30-day ring
    t0 = 1_700_000_000.0
    for i in range(100_000):
        # A GPU series that changes name every 10k samples (a re-attached device).
        values = {"cpu_cores": 1.0, "memory_bytes": 2.0**30, f"gpu{i // 10_000}_percent": 50.0}
        store.add(t0 + i * interval, values)

    names = store.names
    assert "gpu0_percent" not in names, "unseen for longer than 30 days"
    assert "gpu9_percent" in names
    # Series seen in the last 30 days: cpu, memory and gpu1…gpu9.
    assert len(names) == 11
    assert len(names) * per_series_bytes <= store.memory_bytes()
    assert store.memory_bytes() <= len(names) * (per_series_bytes + 1024)


def test_memory_estimate_is_honest() -> None:
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        store = SeriesStore()
        for i in range(100):
            store.add(1_700_000_000.0 + i, {f"series{n}": float(n) for n in range(10)})
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()

    estimate = store.memory_bytes()
    assert estimate >= 10 * 9360 * 32
    assert 0.9 * held <= estimate <= 1.1 * held


def test_writer_and_reader_threads() -> None:
    store = SeriesStore(((1.0, 600), (10.0, 600), (60.0, 600)))
    t0 = 1_000_000.0
    stop = threading.Event()
    errors: list[BaseException] = []
    lengths: set[int] = set()
    queries = [0]

    def write() -> None:
        time = t0
        try:
            while not stop.is_set():
                time += 0.2
                count = int(time - t0) // 50 % 5  # series come and go
                values = {f"gpu{n}_percent": time % 7 for n in range(count)}
                store.add(time, {"cpu_cores": time % 3, **values})
        except BaseException as error:
            errors.append(error)

    def read() -> None:
        try:
            while not stop.is_set():
                for since, step in ((t0, None), (t0 + 100, 5.0), (t0 - 10_000, 60.0)):
                    columns = store.query(since, step=step)
                    lengths.add(len({len(column) for column in columns.values()}))
                    queries[0] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    stop.wait(0.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert not any(thread.is_alive() for thread in threads)
    assert queries[0] > 0
    assert lengths == {1}, "every column of one answer has the same length"


def test_too_many_points_raises_value_error() -> None:
    store = SeriesStore()
    store.add(1_700_000_000.0, {"x": 1.0})

    with pytest.raises(ValueError, match="too many points"):
        store.query(0.0)
    since = 1_700_000_000.0 - 3000
    with pytest.raises(ValueError, match="too many points"):
        store.query(since, step=1.0, until=since + MAX_POINTS)
    columns, step = store.query_with_meta(since, step=1.0, until=since + MAX_POINTS - 1)
    assert step == 1.0
    assert {len(column) for column in columns.values()} == {MAX_POINTS}


@pytest.mark.parametrize(
    ("since", "step", "until"),
    [(math.nan, None, None), (0.0, 0.0, None), (0.0, -1.0, None), (0.0, math.inf, None),
     (10.0, None, 5.0), (0.0, None, math.nan)],
)  # fmt: skip
def test_bad_query_arguments_raise_value_error(
    since: float, step: float | None, until: float
) -> None:
    store = SeriesStore()
    store.add(100.0, {"x": 1.0})
    with pytest.raises(ValueError, match=r"since|step|until"):
        store.query(since, step=step, until=until)


def test_empty_answers() -> None:
    store = SeriesStore()
    assert store.query(100.0) == {"time": []}
    store.add(100.0, {"x": 1.0})
    assert store.query(200.0) == {"time": [], "x": [], "x_min": [], "x_max": []}


@pytest.mark.parametrize(
    "resolutions",
    [(), ((0.0, 10),), ((1.0, 0),), ((1.0, 10), (1.0, 10)), ((2.0, 10), (1.0, 10)),
     ((1.0, 10), (2.5, 10)), ((1.0, 10.0),), ((math.nan, 10),)],
)  # fmt: skip
def test_invalid_resolutions_raise_value_error(resolutions: Sequence[tuple[float, int]]) -> None:
    with pytest.raises(ValueError, match="resolution"):
        SeriesStore(resolutions)


@pytest.mark.parametrize("seed", range(5))
def test_merged_steps_match_brute_force_with_gaps_and_ragged_edges(seed: int) -> None:
    rng = random.Random(seed)
    store = SeriesStore(((1.0, 300), (60.0, 60)))
    samples: list[tuple[float, float | None]] = []
    time = 50_000.0 + rng.uniform(0, 1)
    for _ in range(400):
        time += rng.choice((0.4, 1.0, 1.0, 3.5))
        samples.append((time, None if rng.random() < 0.2 else rng.uniform(-5, 5)))
    for at, value in samples:
        store.add(at, {"x": value})
    newest = samples[-1][0]

    for _ in range(20):
        step = float(rng.randint(2, 17))
        since = newest - rng.uniform(step, 290)
        until = rng.choice((None, newest - rng.uniform(0, 30)))
        if until is not None and until < since:
            continue
        columns, effective = store.query_with_meta(since, step=step, until=until)
        assert effective == step
        want = brute_force(samples, since, newest if until is None else until, step)
        assert_columns_equal(columns, want)


def test_an_exact_query_answers_at_its_step_from_a_ring_that_divides_it() -> None:
    store = SeriesStore(((1.0, 60), (60.0, 60)))
    for i in range(600):
        store.add(10_000.0 + i, {"x": float(i)})
    # 75 s back is past the 1 s ring by more than a point: a rounded query reads the
    # 60 s ring at 60 s (65 s back, less than a point past, stays at 12 s)…
    assert store.query_with_meta(10_599.0 - 75, step=12.0)[1] == 60.0
    assert store.query_with_meta(10_599.0 - 65, step=12.0)[1] == 12.0
    # …an exact one stays at 12 s, from the 1 s ring, with None where it holds nothing.
    columns, step = store.query_with_meta(10_599.0 - 75, step=12.0, exact=True)
    assert step == 12.0
    assert columns["time"][0] == 10_524.0
    assert columns["x"][0] is None
    assert columns["x"][-1] == pytest.approx(597.5)  # 10,596 … 10,599 s
    # 120 s is a multiple of both steps: the coarser ring, which reaches back, answers.
    columns, step = store.query_with_meta(10_599.0 - 1200, step=120.0, exact=True)
    assert step == 120.0
    assert_columns_equal(
        columns,
        brute_force(
            [(10_000.0 + i, float(i)) for i in range(600)], 10_599.0 - 1200, 10_599.0, 120.0
        ),
    )
    with pytest.raises(ValueError, match="not a multiple"):
        store.query_with_meta(10_000.0, step=1.5, exact=True)
    with pytest.raises(ValueError, match="needs a step"):
        store.query_with_meta(10_000.0, exact=True)
