"""The dashboard's minute refresh: a `since` at the last bucket it holds, with the step it
was given, must answer the same buckets a fresh request for the whole range would, so that
appending the answer leaves neither a gap nor a duplicate."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from jupyter_usage.kernel_history import KernelHistory
from jupyter_usage.sampling.sample import CpuUsage, KernelUsage, MemoryUsage, Sample
from jupyter_usage.series import SeriesStore

GIB = 2**30
DAY = 86400.0

# The dashboard's ranges and the step each asks for (src/dashboard/ranges.ts `stepOf`).
RANGES = {"15m": (900.0, 3.0), "1h": (3600.0, 12.0), "24h": (DAY, 288.0), "30d": (30 * DAY, 8640.0)}


def sample(time: float, kernels: int = 3) -> Sample:
    wave = math.sin(time / 97.0)
    return Sample(
        time=time,
        cpu=CpuUsage(cores=1.0 + wave, limit_cores=4.0),
        memory=MemoryUsage(used_bytes=int((2 + wave) * GIB), limit_bytes=8 * GIB),
        kernels=tuple(
            KernelUsage(
                id=f"k{i}",
                name="python3",
                path=f"k{i}.ipynb",
                pid=100 + i,
                cpu_cores=0.1 * i + 0.05 * wave,
                memory_bytes=int((i + 1 + wave) * 2**28),
                gpu_memory_bytes=None,
            )
            for i in range(kernels)
        ),
    )


class Recorder:
    """The two stores the history handler reads, fed as the sampler feeds them."""

    def __init__(self) -> None:
        self.series = SeriesStore()
        self.kernels = KernelHistory()

    def add(self, time: float) -> None:
        s = sample(time)
        self.series.add(
            time,
            {"cpu_cores": s.cpu.cores, "memory_bytes": float(s.memory.used_bytes or 0)},
        )
        self.kernels.on_sample(s)

    def history(self, since: float, step: float) -> dict[str, Any]:
        """What core.history(since, step, kernels=True) answers, notices aside."""
        columns, effective = self.series.query_with_meta(since, step)
        return {
            "step_seconds": effective,
            "columns": columns,
            "kernels": self.kernels.query(columns["time"], effective),
        }


def join(held: dict[str, Any], increment: dict[str, Any]) -> dict[str, Any]:
    """What the dashboard does: the increment replaces the buckets from its first on."""
    start = increment["columns"]["time"][0]
    keep = sum(1 for t in held["columns"]["time"] if t < start)
    columns = {
        name: held["columns"][name][:keep] + increment["columns"][name] for name in held["columns"]
    }
    new = {k["id"]: k for k in increment["kernels"]}
    kernels = {}
    for kernel in held["kernels"]:
        tail = new[kernel["id"]]["columns"]
        kernels[kernel["id"]] = {
            name: values[:keep] + tail[name] for name, values in kernel["columns"].items()
        }
    return {"step_seconds": held["step_seconds"], "columns": columns, "kernels": kernels}


@pytest.mark.parametrize("key", list(RANGES))
def test_an_increment_at_the_last_bucket_joins_the_whole_range(key: str) -> None:
    seconds, asked = RANGES[key]
    recorder = Recorder()
    interval = 1.0 if seconds <= 3600 else 30.0
    start = 1_800_000_000.0 - seconds - 120
    t = start
    while t < start + seconds + 60:
        recorder.add(t)
        t += interval
    now = t - interval
    full = recorder.history(now - seconds, asked)
    step = full["step_seconds"]
    # A minute later, the dashboard asks from the last bucket it holds, with that step.
    for _ in range(int(60 / interval)):
        recorder.add(t)
        t += interval
    last = full["columns"]["time"][-1]
    increment = recorder.history(last, step)

    assert increment["step_seconds"] == step
    times = increment["columns"]["time"]
    assert times[0] == last
    assert all(b - a == pytest.approx(step) for a, b in itertools.pairwise(times))

    # Joined and cut to the range, it is what a fresh request for the range answers now
    # The oldest bucket aside: a ring may no longer hold all of it, where the dashboard
    # still does. Kernels are kept for a day: their older buckets expire the same way.
    now = t - interval
    fresh = recorder.history(now - seconds, step)
    assert fresh["step_seconds"] == step
    joined = join(full, increment)
    cut = joined["columns"]["time"].index(fresh["columns"]["time"][0])
    assert joined["columns"]["time"][cut:] == fresh["columns"]["time"]
    for name, values in fresh["columns"].items():
        assert joined["columns"][name][cut + 1 :] == pytest.approx(values[1:]), name
    kept = next(i for i, t in enumerate(fresh["columns"]["time"]) if t >= now - DAY + step)
    kept = max(kept, 1)
    for kernel in fresh["kernels"]:
        for name, values in kernel["columns"].items():
            got = joined["kernels"][kernel["id"]][name][cut + kept :]
            assert got == pytest.approx(values[kept:]), name


def test_a_since_at_a_bucket_start_begins_with_that_bucket_whatever_the_float_error() -> None:
    # In floating point (31 * 0.3) / 0.3 is just below 31: floor(since / step) alone
    # would start one bucket early and repeat the bucket the dashboard already holds.
    store = SeriesStore(((0.1, 600),))
    for i in range(200):
        store.add(5.0 + i * 0.1, {"x": float(i)})
    columns, step = store.query_with_meta(5.0, step=0.3)
    assert step == pytest.approx(0.3)
    for bucket in columns["time"]:
        assert bucket is not None
        again, _ = store.query_with_meta(bucket, step=step)
        assert again["time"][0] == bucket
