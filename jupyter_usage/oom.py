"""Tell users, in plain words, when a kernel was stopped because memory ran out.

The container's OOM-kill counter (cgroup `memory.events` / `memory.oom_control`) says
that the kernel killed something; the sample before says which kernels were running
and how close memory was to the limit. A kernel whose process is gone or replaced
(the kernel restarter starts a new one) in the same interval is the likely victim.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from .sampling.sample import Sample

_GIB = 2**30


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / _GIB:.1f}"


class OomWatch:
    def __init__(self, keep: int = 20) -> None:
        self._previous: Sample | None = None
        self._notices: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def on_sample(self, sample: Sample) -> None:
        """Sampler listener."""
        previous, self._previous = self._previous, sample
        if previous is None:
            return
        before, after = previous.memory.oom_kills, sample.memory.oom_kills
        if before is None or after is None or after <= before:
            return
        at = (
            f"{_gib(previous.memory.used_bytes)} of {_gib(previous.memory.limit_bytes)} GiB"
            if previous.memory.limit_bytes
            else f"{_gib(previous.memory.used_bytes)} GiB"
        )
        now_pids = {kernel.id: kernel.pid for kernel in sample.kernels}
        victims = [
            kernel
            for kernel in previous.kernels
            if kernel.pid is not None and now_pids.get(kernel.id) != kernel.pid
        ]
        notices = [
            {
                "time": sample.time,
                "kind": "oom",
                "kernel_id": kernel.id,
                "path": kernel.path,
                "message": (
                    f"Your kernel in {kernel.path or kernel.name or kernel.id} was stopped: "
                    f"the server ran out of memory at {at}."
                ),
            }
            for kernel in victims
        ] or [
            {
                "time": sample.time,
                "kind": "oom",
                "kernel_id": None,
                "path": None,
                "message": (
                    f"A process of your server was stopped: the server ran out of memory at {at}."
                ),
            }
        ]
        with self._lock:
            self._notices.extend(notices)

    def notices(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._lock:
            return [notice for notice in self._notices if notice["time"] >= since]
