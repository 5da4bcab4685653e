"""CPU and memory of the server's process tree, per kernel, from psutil.

`psutil.Process.children(recursive=True)` reads every process in /proc, so the
tree is rescanned only every few seconds (or when a kernel we have not seen
appears); in between, only the processes already known are read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import psutil

MEMORY_METRICS = ("rss", "pss", "uss")

_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class KernelProcessUsage:
    pid: int | None
    cpu_cores: float | None
    """The kernel's process and its descendants; None on the first read or when not found."""
    memory_bytes: int | None
    pids: frozenset[int]


@dataclass(frozen=True, slots=True)
class ProcessReading:
    cpu_cores: float | None
    """Cores used by the whole tree since the previous read; None on the first read."""
    memory_bytes: int
    pids: frozenset[int]
    kernels: dict[str, KernelProcessUsage]


@dataclass(frozen=True, slots=True)
class _Figures:
    cpu_seconds: float
    """Own CPU time plus that of children this process has reaped."""
    reaped_seconds: float
    memory_bytes: int


class ProcessTree:
    """The process `root_pid` and its descendants. Not thread-safe: call from one thread."""

    def __init__(
        self,
        root_pid: int,
        *,
        memory_metric: str = "rss",
        rescan_interval_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if memory_metric not in MEMORY_METRICS:
            raise ValueError(f"memory_metric must be one of {MEMORY_METRICS}: {memory_metric!r}")
        self._root_pid = root_pid
        self._memory_metric = memory_metric
        self._rescan_interval_seconds = rescan_interval_seconds
        self._clock = clock
        self._processes: dict[int, psutil.Process] = {}
        self._parents: dict[int, int] = {}
        self._last_scan: float | None = None
        self._unfound_kernel_pids: set[int] = set()
        self._previous: dict[int, _Figures] = {}
        self._previous_time: float | None = None
        self._unreaped_seconds: dict[int, float] = {}
        """CPU time of our exited processes that their ancestor's reaped counter
        will include once it reaps them; subtracted so it is not counted twice."""

    @property
    def root_pid(self) -> int:
        return self._root_pid

    @property
    def memory_metric(self) -> str:
        return self._memory_metric

    def read(self, kernel_pids: Mapping[str, int | None]) -> ProcessReading:
        now = self._clock()
        if self._needs_rescan(now, kernel_pids):
            self._rescan(now, kernel_pids)

        current: dict[int, _Figures] = {}
        for pid, process in list(self._processes.items()):
            figures = self._figures(process)
            if figures is None:
                del self._processes[pid]
            else:
                current[pid] = figures

        elapsed = None if self._previous_time is None else now - self._previous_time
        cpu_seconds = None
        if elapsed is not None and elapsed > 0:
            cpu_seconds = self._cpu_seconds_since_previous(current, elapsed)
        self._previous, self._previous_time = current, now

        def cores(pids: frozenset[int]) -> float | None:
            if cpu_seconds is None or elapsed is None:
                return None
            return sum(cpu_seconds.get(pid, 0.0) for pid in pids) / elapsed

        pids = frozenset(current)
        children: dict[int, list[int]] = {}
        for pid in pids:
            parent = self._parents.get(pid)
            if parent is not None:
                children.setdefault(parent, []).append(pid)
        kernels: dict[str, KernelProcessUsage] = {}
        for kernel_id, kernel_pid in kernel_pids.items():
            if kernel_pid is None or kernel_pid not in current:
                kernels[kernel_id] = KernelProcessUsage(kernel_pid, None, None, frozenset())
                continue
            subtree = _subtree(kernel_pid, children)
            kernels[kernel_id] = KernelProcessUsage(
                pid=kernel_pid,
                cpu_cores=cores(subtree),
                memory_bytes=sum(current[pid].memory_bytes for pid in subtree),
                pids=subtree,
            )
        return ProcessReading(
            cpu_cores=cores(pids),
            memory_bytes=sum(figures.memory_bytes for figures in current.values()),
            pids=pids,
            kernels=kernels,
        )

    def _needs_rescan(self, now: float, kernel_pids: Mapping[str, int | None]) -> bool:
        if self._last_scan is None or now - self._last_scan >= self._rescan_interval_seconds:
            return True
        return any(
            pid is not None and pid not in self._processes and pid not in self._unfound_kernel_pids
            for pid in kernel_pids.values()
        )

    def _rescan(self, now: float, kernel_pids: Mapping[str, int | None]) -> None:
        self._last_scan = now
        try:
            root = self._processes.get(self._root_pid) or psutil.Process(self._root_pid)
            found = [root, *root.children(recursive=True)]
        except _GONE:
            found = []
        processes: dict[int, psutil.Process] = {}
        parents: dict[int, int] = {}
        for process in found:
            known = self._processes.get(process.pid)
            # psutil.Process equality includes the creation time: a reused PID is a new process.
            processes[process.pid] = known if known == process else process
            try:
                parents[process.pid] = process.ppid()
            except _GONE:
                continue
        # Processes that exited since the previous read still need their parent, to
        # know whose reaped counter will hold their CPU time.
        for pid in self._previous.keys() - parents.keys():
            if pid in self._parents:
                parents[pid] = self._parents[pid]
        self._processes, self._parents = processes, parents
        self._unfound_kernel_pids = {
            pid for pid in kernel_pids.values() if pid is not None and pid not in processes
        }

    def _figures(self, process: psutil.Process) -> _Figures | None:
        try:
            with process.oneshot():
                times = process.cpu_times()
                if self._memory_metric == "rss":
                    memory = process.memory_info().rss
                else:
                    memory = getattr(process.memory_full_info(), self._memory_metric)
        except _GONE:
            return None
        reaped = times.children_user + times.children_system
        return _Figures(times.user + times.system + reaped, reaped, int(memory))

    def _cpu_seconds_since_previous(
        self, current: dict[int, _Figures], elapsed: float
    ) -> dict[int, float]:
        self._carry_unreaped_time_of_exited(current)
        seconds: dict[int, float] = {}
        for pid, figures in current.items():
            before = self._previous.get(pid)
            if before is not None:
                own = (figures.cpu_seconds - figures.reaped_seconds) - (
                    before.cpu_seconds - before.reaped_seconds
                )
                reaped = figures.reaped_seconds - before.reaped_seconds
                pending = self._unreaped_seconds.pop(pid, 0.0)
                already_counted = min(max(0.0, reaped), pending)
                if pending > already_counted:
                    self._unreaped_seconds[pid] = pending - already_counted
                seconds[pid] = max(0.0, own) + max(0.0, reaped - already_counted)
            else:
                seconds[pid] = self._share_of_new_process(pid, figures, elapsed)
        return seconds

    def _carry_unreaped_time_of_exited(self, current: dict[int, _Figures]) -> None:
        """Note the time counted so far for processes gone since the previous read.

        Their parent's reaped counter will include it; where the parent exited too,
        the nearest living ancestor's will. Time still pending is carried over.
        """
        for pid in self._previous.keys() - current.keys():
            pending = self._previous[pid].cpu_seconds + self._unreaped_seconds.pop(pid, 0.0)
            ancestor = self._parents.get(pid)
            seen = {pid}
            while ancestor is not None and ancestor not in current and ancestor not in seen:
                seen.add(ancestor)
                ancestor = self._parents.get(ancestor)
            if ancestor is not None and ancestor in current:
                self._unreaped_seconds[ancestor] = (
                    self._unreaped_seconds.get(ancestor, 0.0) + pending
                )
        for pid in self._unreaped_seconds.keys() - current.keys():
            del self._unreaped_seconds[pid]

    def _share_of_new_process(self, pid: int, figures: _Figures, elapsed: float) -> float:
        """A process first seen now: the part of its CPU time that fell in this interval.

        One born since the previous read counts in full; one found late by a rescan is
        assumed to have used CPU evenly over its life, rather than showing as a spike.
        """
        age = _age_seconds(self._processes[pid])
        if age is None:
            return 0.0
        if age <= elapsed:
            return figures.cpu_seconds
        return figures.cpu_seconds * elapsed / age


def _age_seconds(process: psutil.Process) -> float | None:
    # psutil's create_time() adds a boot time rounded to the second: too coarse to tell
    # whether a process started within the last interval. /proc gives clock ticks since boot.
    try:
        with open(f"/proc/{process.pid}/stat", "rb") as file:
            start_ticks = int(file.read().rsplit(b")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / _CLOCK_TICKS
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        return time.time() - process.create_time()
    except _GONE:
        return None


def _subtree(top: int, children: Mapping[int, list[int]]) -> frozenset[int]:
    found = {top}
    stack = [top]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return frozenset(found)
