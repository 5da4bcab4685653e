"""Per-kernel usage history, behind ``GET /api/usage/v1/history?kernels=1``.

Built from the samples the sampler already takes (a sampler listener): each sample's
kernels add their CPU cores and memory to a `SeriesStore` of their own, at
1 s for the last hour and 1 min for the last day. A kernel that has ended keeps its
series, its name and its notebook until they leave the day's window, so "which notebook
ate my memory over the last hour" can still be answered after it was shut down.

Memory is bounded: each series costs 4 doubles per bucket, 5,040 buckets (161,280 bytes
plus array headers, about 158 KiB); a kernel has two series (CPU and memory). At most
`max_kernels` kernels are kept (default 32, about 10 MiB):
when a new kernel would pass that, the kernel that ended longest ago is forgotten; when
every kept kernel still runs, the new one is not recorded and `kernels_refused_total`
counts it. `memory_bytes` reports what is held (`config`'s `kernel_history_bytes`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .sampling.sample import Sample
from .series import Columns, SeriesStore

KERNEL_RESOLUTIONS: tuple[tuple[float, int], ...] = ((1.0, 3600), (60.0, 1440))
"""(step_seconds, number of buckets): 1 s for an hour, 1 min for a day."""

DEFAULT_MAX_KERNELS = 32

FIGURES = ("cpu_cores", "memory_bytes")
"""What is kept per kernel, named as in the snapshot's kernel records: what the dashboard
draws (a kernel's GPU memory is in the snapshot, not in its history)."""


@dataclass
class _Kernel:
    id: str
    name: str | None
    path: str | None
    first_seen: float
    last_seen: float


def _column(kernel_id: str, figure: str) -> str:
    return f"{kernel_id}/{figure}"


class KernelHistory:
    """Series per kernel at two resolutions, with each kernel's name and notebook."""

    def __init__(
        self,
        max_kernels: int = DEFAULT_MAX_KERNELS,
        resolutions: Sequence[tuple[float, int]] = KERNEL_RESOLUTIONS,
    ) -> None:
        if max_kernels < 1:
            raise ValueError(f"max_kernels must be at least 1, not {max_kernels!r}")
        self.max_kernels = max_kernels
        self._series = SeriesStore(resolutions)
        self._window_seconds = max(step * count for step, count in resolutions)
        self._kernels: dict[str, _Kernel] = {}
        self._running: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self.kernels_refused_total = 0

    def on_sample(self, sample: Sample) -> None:
        """Sampler listener: record each kernel's figures of this sample."""
        values: dict[str, float | None] = {}
        forget: list[str] = []
        with self._lock:
            running = []
            for usage in sample.kernels:
                kernel = self._kernels.get(usage.id)
                if kernel is None:
                    if not self._make_room(forget):
                        self.kernels_refused_total += 1
                        continue
                    kernel = self._kernels[usage.id] = _Kernel(
                        usage.id, usage.name, usage.path, sample.time, sample.time
                    )
                kernel.last_seen = max(kernel.last_seen, sample.time)
                # A notebook renamed while its kernel runs: the newest name wins.
                kernel.name = usage.name or kernel.name
                kernel.path = usage.path or kernel.path
                running.append(usage.id)
                values[_column(usage.id, "cpu_cores")] = usage.cpu_cores
                values[_column(usage.id, "memory_bytes")] = _float(usage.memory_bytes)
            self._running = frozenset(running)
            for kernel_id, kernel in list(self._kernels.items()):
                if (
                    kernel_id not in self._running
                    and kernel.last_seen < sample.time - self._window_seconds
                ):
                    del self._kernels[kernel_id]
                    forget.append(kernel_id)
        if forget:
            self._series.forget(_column(k, figure) for k in forget for figure in FIGURES)
        self._series.add(sample.time, values)

    def _make_room(self, forget: list[str]) -> bool:
        """Forget the kernel that ended longest ago when full; False if all still run."""
        if len(self._kernels) < self.max_kernels:
            return True
        ended = [k for k in self._kernels.values() if k.id not in self._running]
        if not ended:
            return False
        oldest = min(ended, key=lambda kernel: kernel.last_seen)
        del self._kernels[oldest.id]
        forget.append(oldest.id)
        return True

    def memory_bytes(self) -> int:
        return self._series.memory_bytes()

    def query(self, times: Sequence[float | None], step_seconds: float) -> list[dict[str, Any]]:
        """Each kernel seen in the buckets starting at `times` (``step_seconds`` wide):
        its name, notebook, whether it runs, mean and max columns aligned with `times`,
        and its peak and mean CPU and memory over them. Busiest (peak memory) first."""
        if not times or times[0] is None or times[-1] is None:
            return []
        since, last = times[0], times[-1]
        with self._lock:
            kernels = [
                _Kernel(k.id, k.name, k.path, k.first_seen, k.last_seen)
                for k in self._kernels.values()
                if k.last_seen >= since and k.first_seen < last + step_seconds
            ]
            running = self._running
        if not kernels:
            return []
        names = [_column(k.id, figure) for k in kernels for figure in FIGURES]
        until = last + step_seconds - step_seconds * 1e-3
        try:
            # At the totals' own step: where the kernels' rings reach less far back than
            # the totals' (the hour's first seconds), a rounded step would not line up.
            columns, _ = self._series.query_with_meta(
                since, step_seconds, until=until, names=names, exact=True
            )
        except ValueError:
            columns = self._series.query(since, step_seconds, until=until, names=names)
        aligned = _aligner(columns, times)
        answer = []
        for kernel in kernels:
            entry: dict[str, Any] = {
                "id": kernel.id,
                "name": kernel.name,
                "path": kernel.path,
                "first_seen": kernel.first_seen,
                "last_seen": kernel.last_seen,
                "running": kernel.id in running,
            }
            series: dict[str, list[float | None]] = {}
            for figure in FIGURES:
                name = _column(kernel.id, figure)
                if name not in columns:
                    continue
                series[figure] = aligned(columns[name])
                series[figure + "_max"] = aligned(columns[name + "_max"])
            entry["columns"] = series
            for figure in FIGURES:
                entry[f"peak_{figure}"] = _peak(series.get(figure + "_max"))
                entry[f"mean_{figure}"] = _mean(series.get(figure))
            answer.append(entry)
        answer.sort(key=lambda e: (-(e["peak_memory_bytes"] or 0.0), e["id"]))
        return answer


def _aligner(columns: Columns, times: Sequence[float | None]) -> Any:
    """A function mapping a column of `columns` onto `times` (None where it has no bucket)."""
    own = columns["time"]
    if list(own) == list(times):
        return list
    index = {time: i for i, time in enumerate(own)}
    positions = [index.get(time) if time is not None else None for time in times]

    def align(values: list[float | None]) -> list[float | None]:
        return [None if i is None else values[i] for i in positions]

    return align


def _peak(values: list[float | None] | None) -> float | None:
    known = [v for v in values or () if v is not None]
    return max(known) if known else None


def _mean(values: list[float | None] | None) -> float | None:
    known = [v for v in values or () if v is not None]
    return sum(known) / len(known) if known else None


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)
