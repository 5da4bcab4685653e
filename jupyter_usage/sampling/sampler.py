"""The one background sampler that feeds everything.

A daemon thread reads every source once per `interval_seconds` (with jitter, so a
hub's servers do not all wake together), builds one immutable `Sample`, keeps it as
`latest`, and hands it to the listeners (series, session ledger). Handlers, the
Prometheus collector and browsers only ever read what it produced.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

from jupyter_usage.logonce import LogOnce

from .cgroup import CgroupReader, CgroupReading
from .disk import DiskReader
from .gpu import GpuReader
from .limits import Limits, resolve_limits
from .network import NetworkReader
from .processes import ProcessReading, ProcessTree
from .sample import CpuUsage, GpuUsage, KernelUsage, MemoryUsage, Sample

Listener = Callable[[Sample], None]

# How often to re-check that the cgroup holds only this server's process tree.
_CGROUP_OWNERSHIP_CHECK_EVERY = 10


@dataclass(frozen=True, slots=True)
class KernelInfo:
    """What the event loop knows about a kernel, handed to the sampler thread."""

    name: str | None
    path: str | None
    pid: int | None
    execution_state: str | None = None


@dataclass(slots=True)
class Sources:
    """The readers the sampler owns; any of them may be absent."""

    processes: ProcessTree
    cgroup: CgroupReader | None = None
    gpu: GpuReader | None = None
    disk: DiskReader | None = None
    network: NetworkReader | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    config_cpu_limit_cores: float | None = None
    config_memory_limit_bytes: int | None = None


class Sampler:
    def __init__(
        self,
        sources: Sources,
        *,
        interval_seconds: float = 1.0,
        jitter_fraction: float = 0.1,
        idle_after_seconds: float = 60.0,
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sources = sources
        self.interval_seconds = interval_seconds
        self.jitter_fraction = jitter_fraction
        self.idle_after_seconds = idle_after_seconds
        self.log = log or logging.getLogger(__name__)
        self._clock = clock
        self._listeners: list[Listener] = []
        self._kernels: Mapping[str, KernelInfo] = {}
        self._last_activity: float | None = None
        self._latest: Sample | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log_once = LogOnce(self.log)
        self._previous_cgroup: tuple[float, float] | None = None
        self._cgroup_owned = False
        self._ticks = 0
        self.tick_cpu_seconds = 0.0
        """CPU time the sampler thread spent in its last tick."""
        self.cpu_seconds_total = 0.0
        """CPU time the sampler has spent since it started (for self-monitoring)."""
        self.ticks_total = 0

    # -- inputs from the event loop (plain assignments: atomic under the GIL) --

    def set_kernels(self, kernels: Mapping[str, KernelInfo]) -> None:
        self._kernels = dict(kernels)

    def set_last_activity(self, unix_seconds: float | None) -> None:
        self._last_activity = unix_seconds

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def latest(self) -> Sample | None:
        return self._latest

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def active_sources(self) -> dict[str, Any]:
        """What `/config` reports about each source."""
        s = self.sources
        return {
            "processes": {"available": True, "memory_metric": s.processes.memory_metric},
            "cgroup": s.cgroup.describe() if s.cgroup else {"available": False},
            "cgroup_totals": self._cgroup_owned,
            "gpu": s.gpu.describe() if s.gpu else {"available": False, "status": "disabled"},
            "disk": {"available": s.disk is not None},
            "network": {"available": s.network is not None},
        }

    # -- lifecycle --

    def start(self) -> None:
        """Take a first sample right away, then keep sampling in a daemon thread."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="jupyter-usage-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout_seconds: float = 1.0) -> bool:
        """Ask the thread to finish; True when it did within the bound."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_seconds)
        return not thread.is_alive()

    def _run(self) -> None:
        next_due = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            jitter = 1.0 + random.uniform(-self.jitter_fraction, self.jitter_fraction)
            next_due += self.interval_seconds * jitter
            # After a long stall (suspended VM), do not try to catch up tick by tick.
            now = time.monotonic()
            if next_due < now:
                next_due = now + self.interval_seconds
            if self._stop.wait(max(0.0, next_due - now)):
                break

    # -- one tick --

    def sample_once(self) -> Sample:
        """Read every source once, publish the sample, feed the listeners."""
        started_cpu = time.thread_time()
        sample = self._take_sample()
        self._latest = sample
        for listener in list(self._listeners):
            try:
                listener(sample)
            except Exception:
                self.log.exception("jupyter_usage: a sample listener failed")
        self.tick_cpu_seconds = time.thread_time() - started_cpu
        self.cpu_seconds_total += self.tick_cpu_seconds
        self.ticks_total += 1
        self._ticks += 1
        return sample

    def _guard(self, source: str, errors: dict[str, str], read: Callable[[], Any]) -> Any:
        """Run one source; a failure costs only that source, and is logged once."""
        try:
            result = read()
        except Exception as error:
            errors[source] = f"{type(error).__name__}: {error}"
            self._log_once(
                source, logging.WARNING, "jupyter_usage: the %s source failed: %s", source, error
            )
            return None
        if self._log_once.forget(source):
            self.log.info("jupyter_usage: the %s source works again", source)
        return result

    def _take_sample(self) -> Sample:
        s = self.sources
        errors: dict[str, str] = {}
        now = self._clock()
        monotonic_now = time.monotonic()
        kernels = self._kernels
        kernel_pids = {kernel_id: info.pid for kernel_id, info in kernels.items()}

        tree: ProcessReading | None = self._guard(
            "processes", errors, lambda: s.processes.read(kernel_pids)
        )
        cgroup: CgroupReading | None = None
        if s.cgroup is not None:
            cgroup = self._guard("cgroup", errors, s.cgroup.read)
            if tree is not None and self._ticks % _CGROUP_OWNERSHIP_CHECK_EVERY == 0:
                self._cgroup_owned = bool(
                    self._guard("cgroup", errors, lambda: self._cgroup_holds_only(tree))
                )

        limits = resolve_limits(
            cgroup_cpu_cores=cgroup.cpu_limit_cores if cgroup else None,
            cgroup_memory_bytes=cgroup.memory_limit_bytes if cgroup else None,
            env=s.env,
            config_cpu_cores=s.config_cpu_limit_cores,
            config_memory_bytes=s.config_memory_limit_bytes,
        )
        cpu = self._cpu(tree, cgroup, limits, monotonic_now)
        memory = self._memory(tree, cgroup, limits)

        gpus: tuple[GpuUsage, ...] = ()
        memory_by_pid: Mapping[int, int] | None = None
        if s.gpu is not None:
            pids = tree.pids if tree is not None else frozenset()
            reading = self._guard("gpu", errors, lambda: s.gpu.read(pids) if s.gpu else None)
            if reading is not None:
                gpus = reading.devices
                memory_by_pid = reading.memory_by_pid
        disk = self._guard("disk", errors, s.disk.read) if s.disk is not None else None
        network = self._guard("network", errors, s.network.read) if s.network else None

        kernel_usage = tuple(
            self._kernel_usage(kernel_id, info, tree, memory_by_pid, bool(gpus))
            for kernel_id, info in kernels.items()
        )
        busy = any(info.execution_state == "busy" for info in kernels.values())
        last_activity = self._last_activity
        recently_used = last_activity is not None and now - last_activity < self.idle_after_seconds
        return Sample(
            time=now,
            cpu=cpu,
            memory=memory,
            gpus=gpus,
            disk=disk or (),
            network=network,
            kernels=kernel_usage,
            idle=not busy and not recently_used,
            errors=errors,
        )

    def _cgroup_holds_only(self, tree: ProcessReading) -> bool:
        """Container totals are ours only when every process in the cgroup is."""
        assert self.sources.cgroup is not None
        procs = self.sources.cgroup.procs()
        if not procs:
            return False
        # An init process (tini, a start script) above the server is part of the pod too.
        return procs <= tree.pids | self._ancestors

    @functools.cached_property
    def _ancestors(self) -> frozenset[int]:
        try:
            return frozenset(
                p.pid for p in psutil.Process(self.sources.processes.root_pid).parents()
            )
        except psutil.Error:
            return frozenset()

    def _cpu(
        self,
        tree: ProcessReading | None,
        cgroup: CgroupReading | None,
        limits: Limits,
        monotonic_now: float,
    ) -> CpuUsage:
        cores: float | None = tree.cpu_cores if tree is not None else None
        source = "processes"
        if cgroup is not None and cgroup.cpu_usage_seconds is not None:
            previous = self._previous_cgroup
            self._previous_cgroup = (monotonic_now, cgroup.cpu_usage_seconds)
            if self._cgroup_owned:
                source = "cgroup"
                cores = None
                if previous is not None and monotonic_now > previous[0]:
                    delta = cgroup.cpu_usage_seconds - previous[1]
                    cores = max(0.0, delta / (monotonic_now - previous[0]))
        owned = cgroup if self._cgroup_owned else None
        return CpuUsage(
            cores=cores,
            limit_cores=limits.cpu_limit_cores,
            guarantee_cores=limits.cpu_guarantee_cores,
            source=source,
            limit_source=limits.cpu_limit_source,
            host_cores=os.cpu_count(),
            pressure_some_avg10_percent=cgroup.cpu_pressure_some_avg10_percent if cgroup else None,
            # Counters of the server's own cgroup only: a shared one is other people's.
            throttled_seconds=owned.cpu_throttled_seconds if owned else None,
            pressure_some_seconds=owned.cpu_pressure_some_seconds if owned else None,
        )

    def _memory(
        self, tree: ProcessReading | None, cgroup: CgroupReading | None, limits: Limits
    ) -> MemoryUsage:
        used: int | None = tree.memory_bytes if tree is not None else None
        source = "processes"
        if self._cgroup_owned and cgroup is not None and cgroup.memory_used_bytes is not None:
            used = cgroup.memory_used_bytes
            source = "cgroup"
        owned = cgroup if self._cgroup_owned else None
        return MemoryUsage(
            used_bytes=used,
            limit_bytes=limits.memory_limit_bytes,
            guarantee_bytes=limits.memory_guarantee_bytes,
            source=source,
            limit_source=limits.memory_limit_source,
            oom_kills=cgroup.oom_kills if cgroup else None,
            pressure_some_avg10_percent=(
                cgroup.memory_pressure_some_avg10_percent if cgroup else None
            ),
            pressure_some_seconds=owned.memory_pressure_some_seconds if owned else None,
            peak_bytes=owned.memory_peak_bytes if owned else None,
        )

    @staticmethod
    def _kernel_usage(
        kernel_id: str,
        info: KernelInfo,
        tree: ProcessReading | None,
        memory_by_pid: Mapping[int, int] | None,
        has_gpus: bool,
    ) -> KernelUsage:
        usage = tree.kernels.get(kernel_id) if tree is not None else None
        gpu_memory: int | None = None
        if has_gpus and memory_by_pid is not None and usage is not None and usage.pids:
            gpu_memory = sum(memory_by_pid.get(pid, 0) for pid in usage.pids)
        return KernelUsage(
            id=kernel_id,
            name=info.name,
            path=info.path,
            pid=info.pid,
            cpu_cores=usage.cpu_cores if usage else None,
            memory_bytes=usage.memory_bytes if usage else None,
            gpu_memory_bytes=gpu_memory,
            execution_state=info.execution_state,
        )


def series_values(sample: Sample) -> dict[str, float | None]:
    """The figures `/history` keeps for a sample."""
    values: dict[str, float | None] = {
        "cpu_cores": sample.cpu.cores,
        "cpu_limit_cores": sample.cpu.limit_cores,
        "memory_bytes": _float(sample.memory.used_bytes),
        "memory_limit_bytes": _float(sample.memory.limit_bytes),
    }
    if sample.gpus:
        utilizations = [
            g.utilization_percent for g in sample.gpus if g.utilization_percent is not None
        ]
        values["gpu_utilization_percent"] = (
            sum(utilizations) / len(utilizations) if utilizations else None
        )
        used = [g.memory_used_bytes for g in sample.gpus if g.memory_used_bytes is not None]
        values["gpu_memory_bytes"] = float(sum(used)) if used else None
        for gpu in sample.gpus:
            values[f"gpu{gpu.index}_utilization_percent"] = gpu.utilization_percent
            values[f"gpu{gpu.index}_memory_bytes"] = _float(gpu.memory_used_bytes)
    if sample.disk:
        values["disk_used_bytes"] = _float(sample.disk[0].used_bytes)
    if sample.network is not None:
        values["network_rx_bytes_per_second"] = sample.network.rx_bytes_per_second
        values["network_tx_bytes_per_second"] = sample.network.tx_bytes_per_second
    return values


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)
