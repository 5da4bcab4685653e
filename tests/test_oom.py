"""Kernels stopped for lack of memory are named in plain words."""

from __future__ import annotations

import os
import subprocess
import sys

from jupyter_usage.oom import PENDING_SAMPLES, OomWatch, process_start
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


class Processes:
    """Which pids are alive, and since when (start ticks)."""

    def __init__(self, **alive: int) -> None:
        self.alive = {int(pid.lstrip("p")): start for pid, start in alive.items()}

    def __call__(self, pid: int) -> int | None:
        return self.alive.get(pid)


def test_a_kernel_replaced_while_the_oom_counter_rose_is_named() -> None:
    watch = OomWatch(process_start=Processes(p100=1, p200=1, p300=5))
    watch.on_sample(sample(1, 0, {"analysis": 100, "other": 200}))
    watch.on_sample(sample(2, 1, {"analysis": 300, "other": 200}))
    (notice,) = watch.notices()
    assert notice["kernel_id"] == "analysis"
    assert notice["code"] == "oom.kernel"
    assert notice["params"] == {
        "notebook": "analysis.ipynb",
        "used_bytes": int(3.9 * GIB),
        "limit_bytes": 4 * GIB,
    }
    assert notice["message"] == (
        "Your kernel in analysis.ipynb was stopped: the server ran out of memory at 3.9 of 4.0 GiB."
    )


def test_a_dead_kernel_still_listed_under_its_id_is_named() -> None:
    # The restarter has not noticed yet: the sample still lists pid 100 for "analysis",
    # but the process is gone (or a zombie).
    processes = Processes(p100=1, p200=1)
    watch = OomWatch(process_start=processes)
    watch.on_sample(sample(1, 0, {"analysis": 100, "other": 200}))
    del processes.alive[100]
    watch.on_sample(sample(2, 1, {"analysis": 100, "other": 200}))
    (notice,) = watch.notices()
    assert notice["kernel_id"] == "analysis"
    assert notice["params"]["notebook"] == "analysis.ipynb"


def test_a_pid_reused_by_a_later_process_counts_as_gone() -> None:
    processes = Processes(p100=1)
    watch = OomWatch(process_start=processes)
    watch.on_sample(sample(1, 0, {"analysis": 100}))
    processes.alive[100] = 99  # another process now has the pid
    watch.on_sample(sample(2, 1, {"analysis": 100}))
    (notice,) = watch.notices()
    assert notice["kernel_id"] == "analysis"


def test_the_notice_waits_for_the_victim_then_names_it() -> None:
    processes = Processes(p100=1)
    watch = OomWatch(process_start=processes)
    watch.on_sample(sample(1, 0, {"analysis": 100}))
    watch.on_sample(sample(2, 1, {"analysis": 100}))  # counted before the process died
    assert watch.notices() == []
    del processes.alive[100]
    watch.on_sample(sample(3, 1, {"analysis": 100}))
    (notice,) = watch.notices()
    assert notice["code"] == "oom.kernel"
    assert notice["time"] == 2  # when the kill was counted


def test_no_counter_change_no_notice_even_if_a_kernel_ends() -> None:
    watch = OomWatch(process_start=Processes(p100=1))
    watch.on_sample(sample(1, 0, {"analysis": 100}))
    watch.on_sample(sample(2, 0, {}))
    assert watch.notices() == []


def test_an_oom_kill_outside_kernels_is_reported_after_a_few_samples() -> None:
    watch = OomWatch(process_start=Processes(p100=1))
    watch.on_sample(sample(1, 2, {"analysis": 100}))
    watch.on_sample(sample(2, 3, {"analysis": 100}))
    for tick in range(PENDING_SAMPLES - 2):
        watch.on_sample(sample(3 + tick, 3, {"analysis": 100}))
        assert watch.notices() == []
    watch.on_sample(sample(10, 3, {"analysis": 100}))
    (notice,) = watch.notices()
    assert notice["kernel_id"] is None
    assert notice["code"] == "oom.process"
    assert notice["time"] == 2
    assert "A process of your server was stopped" in notice["message"]


def test_without_kernels_the_kill_is_reported_at_once() -> None:
    watch = OomWatch(process_start=Processes())
    watch.on_sample(sample(1, 0, {}))
    watch.on_sample(sample(2, 1, {}))
    (notice,) = watch.notices()
    assert notice["code"] == "oom.process"


def test_without_a_cgroup_counter_nothing_is_guessed() -> None:
    watch = OomWatch(process_start=Processes(p100=1))
    watch.on_sample(sample(1, None, {"analysis": 100}))
    watch.on_sample(sample(2, None, {}))
    assert watch.notices() == []
    assert watch.notices(since=10) == []


def test_process_start_of_real_processes() -> None:
    assert process_start(os.getpid()) is not None
    assert process_start(os.getpid()) == process_start(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    # Exited but not reaped: a zombie is as good as gone.
    while True:
        with open(f"/proc/{child.pid}/stat") as stat:
            if stat.read().rpartition(")")[2].split()[0] == "Z":
                break
    assert process_start(child.pid) is None
    child.wait()
    assert process_start(child.pid) is None
