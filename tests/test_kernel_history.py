"""Per-kernel history: built from samples, bounded, kept after a kernel ends."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from support.api_contract import validate

from jupyter_usage.kernel_history import KernelHistory
from jupyter_usage.sampling.sample import CpuUsage, KernelUsage, MemoryUsage, Sample

GIB = 2**30


def sample(time: float, *kernels: tuple[str, float, int]) -> Sample:
    return Sample(
        time=time,
        cpu=CpuUsage(cores=1.0, limit_cores=2.0),
        memory=MemoryUsage(used_bytes=GIB, limit_bytes=4 * GIB),
        kernels=tuple(
            KernelUsage(
                id=kernel_id,
                name="python3",
                path=f"{kernel_id}.ipynb",
                pid=1,
                cpu_cores=cores,
                memory_bytes=memory,
                gpu_memory_bytes=None,
            )
            for kernel_id, cores, memory in kernels
        ),
    )


def times_of(since: float, count: int, step: float = 1.0) -> list[float | None]:
    return [since + i * step for i in range(count)]


def test_each_kernel_has_its_own_columns_aligned_with_the_times() -> None:
    history = KernelHistory()
    for t in range(1000, 1010):
        history.on_sample(sample(t, ("a", 0.5, GIB), ("b", 1.5 if t >= 1005 else 0.0, 2 * GIB)))
    kernels = history.query(times_of(1000, 10), 1.0)
    assert [k["id"] for k in kernels] == ["b", "a"]  # the larger peak memory first
    b = kernels[0]
    assert b["path"] == "b.ipynb"
    assert b["name"] == "python3"
    assert b["running"] is True
    assert b["columns"]["cpu_cores"] == [0.0] * 5 + [1.5] * 5
    assert b["columns"]["memory_bytes_max"] == [2.0 * GIB] * 10
    assert b["peak_cpu_cores"] == 1.5
    assert b["mean_cpu_cores"] == pytest.approx(0.75)
    assert b["peak_memory_bytes"] == 2 * GIB
    assert set(b["columns"]) == {"cpu_cores", "cpu_cores_max", "memory_bytes", "memory_bytes_max"}


def test_only_what_the_dashboard_draws_is_kept() -> None:
    history = KernelHistory()
    with_gpu = sample(1000, ("a", 0.5, GIB))
    kernel = dataclasses.replace(with_gpu.kernels[0], gpu_memory_bytes=GIB)
    history.on_sample(dataclasses.replace(with_gpu, kernels=(kernel,)))
    (a,) = history.query(times_of(1000, 1), 1.0)
    # Its GPU memory is in the snapshot's kernel table; the dashboard draws no history of it.
    assert set(a["columns"]) == {"cpu_cores", "cpu_cores_max", "memory_bytes", "memory_bytes_max"}
    assert history.memory_bytes() < 2 * 5040 * 4 * 8 * 1.01


def test_an_ended_kernel_keeps_its_name_and_series() -> None:
    history = KernelHistory()
    for t in range(1000, 1005):
        history.on_sample(sample(t, ("gone", 1.0, GIB)))
    for t in range(1005, 1010):
        history.on_sample(sample(t))
    (gone,) = history.query(times_of(1000, 10), 1.0)
    assert gone["running"] is False
    assert gone["path"] == "gone.ipynb"
    assert gone["last_seen"] == 1004
    assert gone["columns"]["cpu_cores"] == [1.0] * 5 + [None] * 5


def test_a_day_is_read_at_one_minute() -> None:
    history = KernelHistory()
    start = 1_000_020.0  # a whole number of minutes
    for t in range(0, 7200, 10):
        history.on_sample(sample(start + t, ("a", t / 7200, GIB)))
    (a,) = history.query(times_of(start, 120, 60.0), 60.0)
    assert len(a["columns"]["cpu_cores"]) == 120
    assert a["columns"]["cpu_cores"][0] == pytest.approx(25 / 7200)
    assert a["columns"]["cpu_cores_max"][-1] == pytest.approx(7190 / 7200)


def test_kernels_outside_the_range_are_left_out() -> None:
    history = KernelHistory()
    history.on_sample(sample(1000, ("early", 1.0, GIB)))
    history.on_sample(sample(2000, ("late", 1.0, GIB)))
    assert [k["id"] for k in history.query(times_of(1500, 600), 1.0)] == ["late"]
    assert history.query([], 1.0) == []


def test_memory_is_bounded_by_the_number_of_kernels() -> None:
    history = KernelHistory(max_kernels=3)
    history.on_sample(sample(1000, ("a", 1.0, GIB), ("b", 1.0, GIB), ("c", 1.0, GIB)))
    per_kernel = history.memory_bytes() / 3
    # Two series (CPU, memory) of 5,040 buckets of 4 doubles each, plus array headers.
    assert 2 * 5040 * 4 * 8 <= per_kernel < 2 * 5040 * 4 * 8 * 1.01
    # While all three run, a fourth is refused; once one has ended, it makes room.
    history.on_sample(sample(1001, ("a", 1.0, GIB), ("b", 1.0, GIB), ("c", 1.0, GIB), ("d", 1, 1)))
    assert history.kernels_refused_total == 1
    history.on_sample(sample(1002, ("b", 1.0, GIB), ("c", 1.0, GIB)))
    history.on_sample(sample(1003, ("b", 1.0, GIB), ("c", 1.0, GIB), ("e", 1.0, GIB)))
    ids = {k["id"] for k in history.query(times_of(1000, 4), 1.0)}
    assert ids == {"b", "c", "e"}
    assert history.memory_bytes() == pytest.approx(3 * per_kernel, rel=0.01)


def test_a_kernel_ended_more_than_a_day_ago_is_forgotten() -> None:
    history = KernelHistory()
    history.on_sample(sample(1000, ("old", 1.0, GIB)))
    history.on_sample(sample(1000 + 86400 + 120, ("new", 1.0, GIB)))
    assert history.memory_bytes() < 2 * 5040 * 4 * 8 * 1.01
    all_day = times_of(1000, 1500, 60.0)
    assert [k["id"] for k in history.query(all_day, 60.0)] == ["new"]


def test_max_kernels_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_kernels"):
        KernelHistory(max_kernels=0)


@pytest.fixture
def usage_config() -> dict[str, Any]:
    return {"UsageApp": {"sample_interval": 0.25}}


async def test_the_history_api_serves_a_real_kernel_named_by_its_notebook(
    jp_fetch: Any, usage_get: Any
) -> None:
    response = await jp_fetch(
        "api",
        "sessions",
        method="POST",
        body=json.dumps({"path": "which.ipynb", "type": "notebook", "kernel": {"name": "python3"}}),
    )
    kernel_id = json.loads(response.body)["kernel"]["id"]
    body: dict[str, Any] = {}
    for _ in range(120):
        await asyncio.sleep(0.25)
        snapshot = await usage_get("snapshot")
        body = await usage_get("history", since=str(snapshot["time"] - 60), kernels="1")
        rows = [k for k in body["kernels"] if k["id"] == kernel_id]
        if rows and rows[0]["peak_memory_bytes"]:
            break
    validate(body, "History")
    (row,) = [k for k in body["kernels"] if k["id"] == kernel_id]
    assert row["path"] == "which.ipynb"
    assert row["running"] is True
    times = body["columns"]["time"]
    assert all(len(column) == len(times) for column in row["columns"].values())
    assert body["notices"] == []
    assert "cost_total" in body["columns"]
    # Without the parameter the answer is as before, and cheap.
    plain = await usage_get("history", since=str(snapshot["time"] - 60))
    assert "kernels" not in plain
    config = await usage_get("config")
    validate(config, "Config")
    assert config["kernel_history_bytes"] > 0


async def test_a_bad_kernels_parameter_is_refused(jp_fetch: Any) -> None:
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "usage", "v1", "history", params={"kernels": "yes"})
    assert caught.value.code == 400
    assert b"kernels must be" in caught.value.response.body
