"""The sampler against this machine's real sources, and its fault isolation."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from jupyter_usage.sampling.disk import DiskReader
from jupyter_usage.sampling.network import NetworkReader
from jupyter_usage.sampling.processes import ProcessTree
from jupyter_usage.sampling.sample import Sample
from jupyter_usage.sampling.sampler import KernelInfo, Sampler, Sources, series_values


class BrokenDisk(DiskReader):
    """A disk source that fails like a vanished mount would."""

    def __init__(self) -> None:
        super().__init__([])
        self.calls = 0

    def read(self):  # type: ignore[no-untyped-def]
        self.calls += 1
        raise OSError("Stale file handle")


def sources(tmp_path: Path, **overrides: object) -> Sources:
    values: dict[str, object] = {
        "processes": ProcessTree(os.getpid()),
        "disk": DiskReader([str(tmp_path)]),
        "network": NetworkReader(),
        "env": {"MEM_LIMIT": "8G", "CPU_LIMIT": "1.5"},
        **overrides,
    }
    return Sources(**values)  # type: ignore[arg-type]


def test_a_sample_from_the_real_machine(tmp_path: Path) -> None:
    sampler = Sampler(sources(tmp_path))
    first = sampler.sample_once()
    time.sleep(0.2)
    second = sampler.sample_once()
    assert second.memory.used_bytes
    assert second.memory.used_bytes > 10 * 2**20
    assert second.cpu.cores is not None
    assert first.cpu.limit_cores == 1.5
    assert second.cpu.limit_source == "env"
    assert second.memory.limit_bytes == 8 * 2**30
    assert second.disk[0].path == str(tmp_path)
    assert second.errors == {}
    assert sampler.latest is second
    assert sampler.ticks_total == 2
    assert sampler.cpu_seconds_total > 0


def test_a_failing_source_costs_only_itself_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = BrokenDisk()
    sampler = Sampler(sources(tmp_path, disk=broken), log=logging.getLogger("test-sampler"))
    with caplog.at_level(logging.INFO, logger="test-sampler"):
        samples = [sampler.sample_once() for _ in range(5)]
    assert broken.calls == 5
    assert all("disk" in s.errors and "Stale file handle" in s.errors["disk"] for s in samples)
    assert all(s.disk == () for s in samples)
    assert all(s.memory.used_bytes for s in samples)  # the other sources carry on
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1


def test_a_failing_listener_does_not_stop_sampling(tmp_path: Path) -> None:
    seen: list[Sample] = []

    def broken(sample: Sample) -> None:
        raise RuntimeError("listener bug")

    sampler = Sampler(sources(tmp_path), log=logging.getLogger("test-sampler"))
    sampler.add_listener(broken)
    sampler.add_listener(seen.append)
    sampler.sample_once()
    sampler.sample_once()
    assert len(seen) == 2


def test_idle_needs_no_busy_kernel_and_no_recent_activity(tmp_path: Path) -> None:
    now = time.time()
    sampler = Sampler(sources(tmp_path), idle_after_seconds=60)
    sampler.set_last_activity(now - 120)
    assert sampler.sample_once().idle is True
    sampler.set_kernels({"k1": KernelInfo("python3", "a.ipynb", None, "busy")})
    assert sampler.sample_once().idle is False
    sampler.set_kernels({"k1": KernelInfo("python3", "a.ipynb", None, "idle")})
    sampler.set_last_activity(now - 5)
    assert sampler.sample_once().idle is False


def test_a_gateway_kernel_has_no_pid_and_no_figures(tmp_path: Path) -> None:
    sampler = Sampler(sources(tmp_path))
    sampler.set_kernels({"remote": KernelInfo("python3", "b.ipynb", None, "idle")})
    kernel = sampler.sample_once().kernels[0]
    assert (kernel.id, kernel.pid, kernel.memory_bytes, kernel.path) == (
        "remote",
        None,
        None,
        "b.ipynb",
    )


def test_the_thread_samples_on_its_interval_and_stops_within_its_bound(tmp_path: Path) -> None:
    ticks = threading.Event()
    count = 0

    def listener(sample: Sample) -> None:
        nonlocal count
        count += 1
        if count >= 3:
            ticks.set()

    sampler = Sampler(sources(tmp_path), interval_seconds=0.05)
    sampler.add_listener(listener)
    sampler.start()
    assert ticks.wait(10)
    assert sampler.stop(timeout_seconds=2.0)
    assert not sampler.running


def test_series_values_name_every_figure(tmp_path: Path) -> None:
    sampler = Sampler(sources(tmp_path))
    values = series_values(sampler.sample_once())
    assert {"cpu_cores", "memory_bytes", "memory_limit_bytes", "disk_used_bytes"} <= set(values)
    assert not any(name.endswith(("_min", "_max")) for name in values)
