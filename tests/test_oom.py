"""Kernels stopped for lack of memory are named in plain words."""

from __future__ import annotations

from jupyter_usage.oom import OomWatch
from jupyter_usage.sampling.sample import CpuUsage, KernelUsage, MemoryUsage, Sample

GIB = 2**30


def sample(time: float, oom_kills: int | None, kernels: dict[str, int | None]) -> Sample:
    return Sample(
        time=time,
        cpu=CpuUsage(cores=1.0, limit_cores=2.0),
        memory=MemoryUsage(
            used_bytes=int(3.9 * GIB), limit_bytes=4 * GIB, source="cgroup", oom_kills=oom_kills
        ),
        kernels=tuple(
            KernelUsage(kid, "python3", f"{kid}.ipynb", pid, 1.0, GIB, None)
            for kid, pid in kernels.items()
        ),
    )


def test_a_kernel_replaced_while_the_oom_counter_rose_is_named() -> None:
    watch = OomWatch()
    watch.on_sample(sample(1, 0, {"analysis": 100, "other": 200}))
    watch.on_sample(sample(2, 1, {"analysis": 300, "other": 200}))
    (notice,) = watch.notices()
    assert notice["kernel_id"] == "analysis"
    assert notice["message"] == (
        "Your kernel in analysis.ipynb was stopped: the server ran out of memory at 3.9 of 4.0 GiB."
    )


def test_no_counter_change_no_notice_even_if_a_kernel_ends() -> None:
    watch = OomWatch()
    watch.on_sample(sample(1, 0, {"analysis": 100}))
    watch.on_sample(sample(2, 0, {}))
    assert watch.notices() == []


def test_an_oom_kill_outside_kernels_is_still_reported() -> None:
    watch = OomWatch()
    watch.on_sample(sample(1, 2, {"analysis": 100}))
    watch.on_sample(sample(2, 3, {"analysis": 100}))
    (notice,) = watch.notices()
    assert notice["kernel_id"] is None
    assert "A process of your server was stopped" in notice["message"]


def test_without_a_cgroup_counter_nothing_is_guessed() -> None:
    watch = OomWatch()
    watch.on_sample(sample(1, None, {"analysis": 100}))
    watch.on_sample(sample(2, None, {}))
    assert watch.notices() == []
    assert watch.notices(since=10) == []
