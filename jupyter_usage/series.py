"""In-memory usage history at several resolutions, behind ``GET /api/usage/v1/history``.

Each resolution is a ring of fixed-size buckets (bucket = floor(time / step)) holding, per
series, the min, max, sum and count of the samples that fell into it, so a bucket aggregates
every sample in it whatever the sample interval. A query reads the finest ring that still
reaches back to ``since`` and merges its buckets into the requested step.

Memory is fixed per series: 4 ``array('d')`` of one double per bucket. With the default
resolutions (1 s for an hour, 1 min for a day, 10 min for 30 days: 9,360 buckets) that is
299,520 bytes plus 12 array headers, about 293 KiB per series (about 2.9 MiB for 10 series),
however long the server runs; `memory_bytes` reports it. A series that has had no value for
longer than every ring's window holds nothing any more and is dropped.

Clock set back: a sample older than the newest bucket of a resolution is folded into that
newest bucket. Its value is current (only its timestamp is off), so the live end of a chart
keeps moving and no older bucket mixes two timelines; once the clock passes the newest bucket
again, buckets advance as usual.
"""

from __future__ import annotations

import math
import operator
import sys
import threading
from array import array
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

MAX_POINTS = 10_000
"""The most buckets one query may return."""

DEFAULT_RESOLUTIONS: tuple[tuple[float, int], ...] = ((1.0, 3600), (60.0, 1440), (600.0, 4320))
"""(step_seconds, number of buckets): 1 s for an hour, 1 min for a day, 10 min for 30 days."""

Columns: TypeAlias = dict[str, list[float | None]]

if TYPE_CHECKING:
    # min, max, sum, count of one series in one ring.
    _Buffers: TypeAlias = tuple[array[float], array[float], array[float], array[float]]


class _Ring:
    """One resolution's clock; the buffers themselves live in each `_Series`."""

    __slots__ = ("capacity", "newest", "step_seconds", "unit")

    def __init__(self, step_seconds: float, capacity: int, unit: int) -> None:
        self.step_seconds = step_seconds
        self.capacity = capacity
        self.unit = unit
        """This step in units of the finest step."""
        self.newest: int | None = None
        """The newest bucket written; buckets newest - capacity + 1 … newest are held."""

    def new_buffers(self) -> _Buffers:
        return _empty(self.capacity)

    def covers(self, since: float) -> bool:
        # One bucket of slack, so that "the last hour" is still read from the 1 s ring.
        return (
            self.newest is not None and since >= (self.newest - self.capacity) * self.step_seconds
        )


class _Series:
    __slots__ = ("buffers", "last_seen")

    def __init__(self, buffers: list[_Buffers], last_seen: float) -> None:
        self.buffers = buffers
        self.last_seen = last_seen
        """The newest sample time when this series last had a value."""


class SeriesStore:
    """Ring buffers of min/max/sum/count per series at several resolutions; thread-safe."""

    def __init__(self, resolutions: Sequence[tuple[float, int]] = DEFAULT_RESOLUTIONS) -> None:
        self._rings = _make_rings(resolutions)
        self._longest = max(
            range(len(self._rings)),
            key=lambda i: (self._rings[i].step_seconds * self._rings[i].capacity, i),
        )
        self._series: dict[str, _Series] = {}
        self._newest_time: float | None = None
        self._lock = threading.Lock()

    @property
    def resolutions(self) -> tuple[tuple[float, int], ...]:
        return tuple((ring.step_seconds, ring.capacity) for ring in self._rings)

    @property
    def names(self) -> tuple[str, ...]:
        """The series held, sorted."""
        with self._lock:
            return tuple(sorted(self._series))

    @property
    def newest_time(self) -> float | None:
        """The newest sample time recorded, None before the first."""
        with self._lock:
            return self._newest_time

    def forget(self, names: Iterable[str]) -> None:
        """Drop these series and their buffers (unknown names are ignored)."""
        with self._lock:
            for name in names:
                self._series.pop(name, None)

    def add(self, time: float, values: Mapping[str, float | None]) -> None:
        """Record a sample taken at `time` (unix seconds); skips None and non-finite values."""
        if not _is_finite(time):
            return
        with self._lock:
            slots = []
            for index, ring in enumerate(self._rings):
                bucket = math.floor(time / ring.step_seconds)
                if ring.newest is None:
                    ring.newest = bucket
                elif bucket > ring.newest:
                    self._advance(index, bucket)
                slots.append(ring.newest % ring.capacity)
            if self._newest_time is None or time > self._newest_time:
                self._newest_time = time
            newest_time = self._newest_time
            for name, raw in values.items():
                value = _to_float(raw)
                if value is None:
                    continue
                series = self._series.get(name)
                if series is None:
                    buffers = [ring.new_buffers() for ring in self._rings]
                    series = self._series[name] = _Series(buffers, newest_time)
                series.last_seen = newest_time
                for (mins, maxs, sums, counts), slot in zip(series.buffers, slots, strict=True):
                    if value < mins[slot]:
                        mins[slot] = value
                    if value > maxs[slot]:
                        maxs[slot] = value
                    sums[slot] += value
                    counts[slot] += 1.0

    def query(
        self,
        since: float,
        step: float | None = None,
        until: float | None = None,
        names: Collection[str] | None = None,
    ) -> Columns:
        """Columns ``time`` and, per series, ``name``, ``name_min``, ``name_max``; see below."""
        return self.query_with_meta(since, step, until, names)[0]

    def query_with_meta(
        self,
        since: float,
        step: float | None = None,
        until: float | None = None,
        names: Collection[str] | None = None,
        *,
        exact: bool = False,
    ) -> tuple[Columns, float]:
        """(columns, effective step in seconds) for the buckets from `since` to `until`.

        Reads the finest resolution whose window reaches back to `since` (else the coarsest);
        `step` is raised to a multiple of that resolution's step (None: the step itself).
        Buckets are aligned to multiples of the step, so repeated polls see the same buckets;
        ``time`` holds their start times and empty buckets are None in every other column.
        A `since` at a bucket's start (a ``time`` of an earlier answer) begins with that
        bucket. `until` defaults to the newest sample. `names` limits the series (unknown
        ones are left out).

        `exact`: answer at `step` itself, which must be a multiple of a resolution's step,
        from the coarsest such resolution that reaches back to `since` (else the one of
        them that reaches furthest; older buckets are None). Another store's buckets line
        up with this one's that way, whatever the two hold.

        Raises ValueError for bad arguments or more than `MAX_POINTS` buckets.
        """
        _check_finite("since", since)
        if until is not None:
            _check_finite("until", until)
            if until < since:
                raise ValueError("until must not be before since")
        if step is not None and not (_is_finite(step) and step > 0):
            raise ValueError("step must be a positive number of seconds")
        if exact and step is None:
            raise ValueError("an exact query needs a step")

        if isinstance(names, str):
            names = (names,)
        with self._lock:
            # A ring that lacks less than one point of the answer still covers it: a
            # client's `since` is a few seconds older than the ring's newest sample
            # minus its window (its clock, or a snapshot a refresh old), and a whole
            # range at a coarser step for those seconds would halve a 30 s burst.
            reach = since + (step or 0.0)
            covering = [ring for ring in self._rings if ring.covers(reach)]
            if exact:
                assert step is not None
                source, per_point = self._exact_source(step, covering)
                step_seconds = step
            else:
                chosen = covering[0] if covering else self._rings[-1]
                factor = 1 if step is None else max(1, math.ceil(step / chosen.step_seconds - 1e-9))
                step_seconds = factor * chosen.step_seconds
                # A coarser ring whose step divides the step gives the same sums and counts
                # cheaper.
                units = factor * chosen.unit
                source = chosen
                for ring in covering:
                    if ring.unit > source.unit and units % ring.unit == 0:
                        source = ring
                per_point = units // source.unit

            end = until if until is not None else self._newest_time
            if end is None:
                return {"time": []}, step_seconds
            first = _bucket_of(since, step_seconds)
            last = math.floor(end / step_seconds)
            count = last - first + 1
            if count > MAX_POINTS:
                raise ValueError(
                    f"too many points: {count} buckets of {step_seconds:g} s between since and "
                    f"until, at most {MAX_POINTS}; ask for a larger step or a later since"
                )
            selected = sorted(self._series if names is None else set(names) & self._series.keys())
            copied: dict[str, _Buffers] = {}
            low = high = 0
            if source.newest is not None and count > 0:
                index = self._rings.index(source)
                low = max(first * per_point, source.newest - source.capacity + 1)
                high = min(last * per_point + per_point - 1, source.newest)
                for name in selected if low <= high else ():
                    buffers = self._series[name].buffers[index]
                    copied[name] = _copy_range(buffers, low, high, source.capacity)

        count = max(count, 0)
        columns: Columns = {"time": [o * step_seconds for o in range(first, first + count)]}
        for name in selected:
            mean: list[float | None] = [None] * count
            minimum: list[float | None] = [None] * count
            maximum: list[float | None] = [None] * count
            if name in copied:
                _merge(copied[name], low, high, per_point, first, mean, minimum, maximum)
            columns[name] = mean
            columns[name + "_min"] = minimum
            columns[name + "_max"] = maximum
        return columns, step_seconds

    def _exact_source(self, step: float, covering: Sequence[_Ring]) -> tuple[_Ring, int]:
        """The ring an exact query at `step` reads, and how many of its buckets make one."""
        dividing = []
        for ring in self._rings:
            ratio = step / ring.step_seconds
            if ratio >= 1 - 1e-9 and abs(ratio - round(ratio)) <= 1e-9 * ratio:
                dividing.append((ring, round(ratio)))
        if not dividing:
            raise ValueError(
                f"step {step:g} s is not a multiple of a stored resolution "
                f"({', '.join(f'{ring.step_seconds:g} s' for ring in self._rings)})"
            )
        reaching = [(ring, n) for ring, n in dividing if ring in covering]
        if reaching:
            return reaching[-1]
        return max(dividing, key=lambda pair: pair[0].step_seconds * pair[0].capacity)

    def memory_bytes(self) -> int:
        """Bytes held by the ring buffers (the bulk of what this store holds)."""
        with self._lock:
            return sum(
                sys.getsizeof(buffer)
                for series in self._series.values()
                for buffers in series.buffers
                for buffer in buffers
            )

    def _advance(self, index: int, bucket: int) -> None:
        """Move ring `index` on to `bucket`, emptying the buckets it passes over."""
        ring = self._rings[index]
        assert ring.newest is not None
        capacity = ring.capacity
        gap = bucket - ring.newest
        start = (ring.newest + 1) % capacity
        if gap == 1:
            for series in self._series.values():
                mins, maxs, sums, counts = series.buffers[index]
                mins[start] = math.inf
                maxs[start] = -math.inf
                sums[start] = 0.0
                counts[start] = 0.0
        else:
            gap = min(gap, capacity)
            spans = [(start, start + gap)]
            if start + gap > capacity:
                spans = [(start, capacity), (0, start + gap - capacity)]
            for low, high in spans:
                empty_min, empty_max, zeros, _ = _empty(high - low)
                for series in self._series.values():
                    mins, maxs, sums, counts = series.buffers[index]
                    mins[low:high] = empty_min
                    maxs[low:high] = empty_max
                    sums[low:high] = zeros
                    counts[low:high] = zeros
        ring.newest = bucket
        if index == self._longest:
            self._drop_unseen()

    def _drop_unseen(self) -> None:
        """Forget series whose last value has left every ring."""
        stale = [
            name
            for name, series in self._series.items()
            if all(
                ring.newest is not None
                and math.floor(series.last_seen / ring.step_seconds) <= ring.newest - ring.capacity
                for ring in self._rings
            )
        ]
        for name in stale:
            del self._series[name]


def _make_rings(resolutions: Sequence[tuple[float, int]]) -> list[_Ring]:
    if not resolutions:
        raise ValueError("resolutions must not be empty")
    rings: list[_Ring] = []
    for step_seconds, capacity in resolutions:
        if not (_is_finite(step_seconds) and step_seconds > 0):
            raise ValueError(f"resolution step must be a positive number, not {step_seconds!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"resolution bucket count must be a positive int, not {capacity!r}")
        unit = 1
        if rings:
            previous = rings[-1]
            ratio = step_seconds / previous.step_seconds
            multiple = round(ratio)
            if multiple < 2 or abs(ratio - multiple) > 1e-9 * ratio:
                raise ValueError(
                    f"resolution steps must increase, each a multiple of the previous: "
                    f"{step_seconds!r} after {previous.step_seconds!r}"
                )
            unit = previous.unit * multiple
        rings.append(_Ring(float(step_seconds), capacity, unit))
    return rings


def _empty(length: int) -> _Buffers:
    """Buffers of `length` empty buckets: min +inf and max -inf, so the first value wins."""
    # Repeating allocates exactly; array("d", bytes) would over-allocate by 1/16.
    return (array("d", [math.inf]) * length, array("d", [-math.inf]) * length,
            array("d", [0.0]) * length, array("d", [0.0]) * length)  # fmt: skip


def _copy_range(buffers: _Buffers, low: int, high: int, capacity: int) -> _Buffers:
    """Buckets low … high (at most `capacity` of them) of a ring, oldest first."""
    start = low % capacity
    stop = start + high - low + 1
    mins, maxs, sums, counts = buffers
    if stop <= capacity:
        return mins[start:stop], maxs[start:stop], sums[start:stop], counts[start:stop]
    wrap = stop - capacity
    return (mins[start:] + mins[:wrap], maxs[start:] + maxs[:wrap],
            sums[start:] + sums[:wrap], counts[start:] + counts[:wrap])  # fmt: skip


def _merge(
    buffers: _Buffers,
    low: int,
    high: int,
    per_point: int,
    first: int,
    mean: list[float | None],
    minimum: list[float | None],
    maximum: list[float | None],
) -> None:
    """Fill the output buckets from ring buckets low … high, `per_point` ring buckets each."""
    mins, maxs, sums, counts = buffers
    if per_point == 1:
        offset = low - first
        stop = offset + len(counts)
        mean[offset:stop] = [s / c if c else None for s, c in zip(sums, counts, strict=True)]
        minimum[offset:stop] = [m if c else None for m, c in zip(mins, counts, strict=True)]
        maximum[offset:stop] = [m if c else None for m, c in zip(maxs, counts, strict=True)]
        return
    # Pad to whole points, then fold the per_point strided slices together with map():
    # each output point is the sum (min, max) of one bucket from each slice. This keeps the
    # per-point work in C; a Python loop over points cost ~1 ms per 10 series of 150 points.
    head = low % per_point
    points = high // per_point - low // per_point + 1
    tail = points * per_point - head - len(counts)
    if head or tail:
        mins = _pad(mins, head, tail, math.inf)
        maxs = _pad(maxs, head, tail, -math.inf)
        sums = _pad(sums, head, tail, 0.0)
        counts = _pad(counts, head, tail, 0.0)
    total_counts: Iterable[float] = counts[0::per_point]
    total_sums: Iterable[float] = sums[0::per_point]
    for j in range(1, per_point):
        total_counts = list(map(operator.add, total_counts, counts[j::per_point]))
        total_sums = list(map(operator.add, total_sums, sums[j::per_point]))
    lowest = map(min, zip(*(mins[j::per_point] for j in range(per_point)), strict=True))
    highest = map(max, zip(*(maxs[j::per_point] for j in range(per_point)), strict=True))
    offset = low // per_point - first
    stop = offset + points
    counted = list(total_counts)
    mean[offset:stop] = [s / c if c else None for s, c in zip(total_sums, counted, strict=True)]
    minimum[offset:stop] = [m if c else None for m, c in zip(lowest, counted, strict=True)]
    maximum[offset:stop] = [m if c else None for m, c in zip(highest, counted, strict=True)]


def _bucket_of(time: float, step_seconds: float) -> int:
    """The bucket that starts at or before `time`. The start of bucket o is o * step,
    which divided by the step again can fall just below o (31 * 0.3 / 0.3 is 30.99…):
    a time within a millionth of a step below a start counts as that start."""
    return math.floor(time / step_seconds + 1e-6)


def _pad(values: array[float], head: int, tail: int, empty: float) -> array[float]:
    return array("d", [empty]) * head + values + array("d", [empty]) * tail


def _to_float(raw: object) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _is_finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _check_finite(name: str, value: float) -> None:
    if not _is_finite(value):
        raise ValueError(f"{name} must be a finite number of seconds, not {value!r}")
