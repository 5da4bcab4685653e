"""Tell users, in plain words, when a kernel was stopped because memory ran out.

The container's OOM-kill counter (cgroup `memory.events` / `memory.oom_control`) says
that the kernel killed something; the samples around it say which kernels were running
and how close memory was to the limit. The victim is a kernel whose process is gone:
no longer in /proc, a zombie not yet reaped, a pid that now belongs to a process that
started later, or a kernel id now listed with another pid. The kernel restarter only
notices the death (and reaps it) a few seconds later, so for a while the dead pid is
still listed under its kernel id; that is why the process itself is looked at, and why a
kill whose victim is not known yet waits a few samples before it is reported as "a
process of your server".

Each notice carries a stable `code` and its `params` for the UI to translate, and a
plain English `message` for API clients.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .i18n import trans
from .sampling.sample import KernelUsage, Sample

_GIB = 2**30

PENDING_SAMPLES = 5
"""Samples a kill waits for its victim to be known before it is reported without one."""

ProcessStart = Callable[[int], int | None]
"""The start time (clock ticks since boot) of a live process; None when it is gone."""


def process_start(pid: int) -> int | None:
    """From /proc/PID/stat: None for a missing process or a zombie (dead, not reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = text.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return None
    try:
        return int(fields[19])  # field 22, starttime
    except ValueError:
        return None


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / _GIB:.1f}"


def _at(used_bytes: int | None, limit_bytes: int | None) -> str:
    if limit_bytes:
        return f"{_gib(used_bytes)} of {_gib(limit_bytes)} GiB"
    return f"{_gib(used_bytes)} GiB"


@dataclass
class _PendingKill:
    time: float
    used_bytes: int | None
    limit_bytes: int | None
    candidates: dict[str, tuple[KernelUsage, int | None]]
    """Kernel id -> (the kernel as last seen alive, its process start time)."""
    samples_left: int = PENDING_SAMPLES
    victims: list[KernelUsage] = field(default_factory=list)


class OomWatch:
    def __init__(self, keep: int = 20, process_start: ProcessStart = process_start) -> None:
        self._previous: Sample | None = None
        self._starts: dict[int, int | None] = {}
        self._process_start = process_start
        self._pending: list[_PendingKill] = []
        self._notices: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def on_sample(self, sample: Sample) -> None:
        """Sampler listener."""
        previous, self._previous = self._previous, sample
        self._remember_starts(sample)
        if previous is not None:
            before, after = previous.memory.oom_kills, sample.memory.oom_kills
            if before is not None and after is not None and after > before:
                self._pending.append(
                    _PendingKill(
                        time=sample.time,
                        # Memory just before the kill: after it, it has dropped again.
                        used_bytes=previous.memory.used_bytes,
                        limit_bytes=previous.memory.limit_bytes or sample.memory.limit_bytes,
                        candidates={
                            kernel.id: (kernel, self._starts.get(kernel.pid))
                            for kernel in previous.kernels
                            if kernel.pid is not None
                        },
                    )
                )
        if self._pending:
            self._settle(sample)

    def _remember_starts(self, sample: Sample) -> None:
        pids = {kernel.pid for kernel in sample.kernels if kernel.pid is not None}
        for pid in pids - self._starts.keys():
            self._starts[pid] = self._process_start(pid)
        # Keep the pids of a pending kill's candidates: they are what it compares against.
        keep = pids | {
            kernel.pid
            for pending in self._pending
            for kernel, _ in pending.candidates.values()
            if kernel.pid is not None
        }
        for pid in self._starts.keys() - keep:
            del self._starts[pid]

    def _gone(self, kernel: KernelUsage, started: int | None, sample: Sample) -> bool:
        now_pid = next((k.pid for k in sample.kernels if k.id == kernel.id), None)
        if now_pid is not None and now_pid != kernel.pid:
            return True  # the restarter already replaced it
        assert kernel.pid is not None
        start = self._process_start(kernel.pid)
        return start is None or (started is not None and start != started)

    def _settle(self, sample: Sample) -> None:
        still: list[_PendingKill] = []
        notices: list[dict[str, Any]] = []
        for pending in self._pending:
            victims = [
                kernel
                for kernel, started in pending.candidates.values()
                if self._gone(kernel, started, sample)
            ]
            pending.samples_left -= 1
            if victims:
                notices.extend(self._kernel_notice(pending, kernel) for kernel in victims)
            elif pending.samples_left <= 0 or not pending.candidates:
                notices.append(self._process_notice(pending))
            else:
                still.append(pending)
        self._pending = still
        if notices:
            with self._lock:
                self._notices.extend(notices)

    @staticmethod
    def _kernel_notice(pending: _PendingKill, kernel: KernelUsage) -> dict[str, Any]:
        notebook = kernel.path or kernel.name or kernel.id
        return {
            "time": pending.time,
            "kind": "oom",
            "code": "oom.kernel",
            "params": {
                "notebook": notebook,
                "used_bytes": pending.used_bytes,
                "limit_bytes": pending.limit_bytes,
            },
            "kernel_id": kernel.id,
            "path": kernel.path,
            "message": trans.gettext(
                "Your kernel in %1 was stopped: the server ran out of memory at %2.",
                notebook,
                _at(pending.used_bytes, pending.limit_bytes),
            ),
        }

    @staticmethod
    def _process_notice(pending: _PendingKill) -> dict[str, Any]:
        return {
            "time": pending.time,
            "kind": "oom",
            "code": "oom.process",
            "params": {"used_bytes": pending.used_bytes, "limit_bytes": pending.limit_bytes},
            "kernel_id": None,
            "path": None,
            "message": trans.gettext(
                "A process of your server was stopped: the server ran out of memory at %1.",
                _at(pending.used_bytes, pending.limit_bytes),
            ),
        }

    def notices(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._lock:
            return [notice for notice in self._notices if notice["time"] >= since]
