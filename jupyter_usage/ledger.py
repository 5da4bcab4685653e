"""Session accounting: integrates samples over time into resource-seconds and peaks.

Each interval between two samples is charged at the earlier sample's values (sample and
hold). Besides what was used, the ledger integrates what was allocated and the larger of
the two, per resource, so that every billing basis of the cost model can be priced from
the totals alone.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .sampling.sample import Sample

UNKNOWN_GPU_MODEL = "unknown"
"""Model key for a GPU whose name NVML did not report."""

NEAR_LIMIT_FRACTION = 0.9
"""Memory at or above this share of the limit counts as close to an OOM kill."""

_Number = TypeVar("_Number", int, float)


@dataclass
class UsageTotals:
    """What a session has used so far; resource-seconds in SI units, `None` = never known."""

    duration_seconds: float = 0.0
    """Seconds accounted for: the sum of the integrated intervals, long gaps clamped."""
    idle_seconds: float = 0.0

    cpu_core_seconds: float = 0.0
    allocated_cpu_core_seconds: float = 0.0
    max_cpu_core_seconds: float = 0.0
    unallocated_seconds_cpu: float = 0.0
    """Seconds with no known CPU allocation; `used` stands in for it in the two above."""

    memory_byte_seconds: float = 0.0
    allocated_memory_byte_seconds: float = 0.0
    max_memory_byte_seconds: float = 0.0
    unallocated_seconds_memory: float = 0.0

    gpu_seconds: float = 0.0
    """Device-seconds of GPUs attached to the server, busy or not."""
    gpu_utilization_seconds: float = 0.0
    """Sum over devices of utilization_percent / 100 * seconds."""
    gpu_seconds_by_model: dict[str, float] = field(default_factory=dict)
    gpu_utilization_seconds_by_model: dict[str, float] = field(default_factory=dict)
    allocated_gpu_seconds: float = 0.0
    allocated_gpu_seconds_by_model: dict[str, float] = field(default_factory=dict)
    max_gpu_seconds: float = 0.0
    max_gpu_seconds_by_model: dict[str, float] = field(default_factory=dict)
    unallocated_seconds_gpu: float = 0.0

    disk_byte_seconds: float = 0.0
    allocated_disk_byte_seconds: float = 0.0
    max_disk_byte_seconds: float = 0.0
    unallocated_seconds_disk: float = 0.0

    oom_kills: int = 0
    """OOM kills in the server's cgroup during the session."""
    memory_near_limit_seconds: float = 0.0
    """Seconds with memory at or above NEAR_LIMIT_FRACTION of the limit."""
    cpu_throttled_seconds: float | None = None
    """Time held back by the CPU quota (cgroup `cpu.stat`); None without a cgroup."""
    cpu_stall_seconds: float | None = None
    """PSI: time in which some task waited for CPU; None where the kernel has no PSI."""
    memory_stall_seconds: float | None = None
    """PSI: time in which some task stalled on memory."""

    peak_memory_bytes: int | None = None
    peak_cpu_cores: float | None = None
    peak_gpu_memory_bytes: int | None = None
    peak_gpu_utilization_percent: float | None = None
    samples: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (a checkpoint); floats survive `json` round trips exactly."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> UsageTotals:
        """Read `to_json` output; missing keys take defaults and unknown keys are ignored,
        so checkpoints written by another version still load."""
        totals = cls()
        for f in dataclasses.fields(cls):
            if f.name not in body:
                continue
            value = body[f.name]
            current = getattr(totals, f.name)
            if isinstance(current, dict):
                parsed: Any = {str(k): float(v) for k, v in dict(value).items()}
            elif f.name == "samples":
                parsed = int(value)
            elif value is None:
                parsed = None
            elif f.name in ("peak_memory_bytes", "peak_gpu_memory_bytes", "oom_kills"):
                parsed = int(value)
            else:
                parsed = float(value)
            setattr(totals, f.name, parsed)
        return totals


@dataclass(frozen=True)
class Allocation:
    """What the server is given, per resource; `None` where nobody said."""

    cpu_cores: float | None = None
    memory_bytes: int | None = None
    gpus: int | None = None
    disk_bytes: int | None = None

    @staticmethod
    def from_sample(sample: Sample) -> Allocation:
        """The guarantee when the spawner set one, else the limit; GPUs attached; the size
        of the first (home) volume when it is reserved for the user."""
        return Allocation(
            cpu_cores=_first_positive(sample.cpu.guarantee_cores, sample.cpu.limit_cores),
            memory_bytes=_first_positive(sample.memory.guarantee_bytes, sample.memory.limit_bytes),
            gpus=len(sample.gpus) or None,
            # Only space reserved for the user (a quota, a volume of its own) is
            # allocated; a shared filesystem's size is other people's too.
            disk_bytes=sample.disk[0].total_bytes
            if sample.disk and sample.disk[0].reserved
            else None,
        )


def integrate_sample(
    totals: UsageTotals, sample: Sample, allocation: Allocation, seconds: float
) -> None:
    """Add `seconds` of `sample`'s usage, held constant, to `totals` (peaks excepted)."""
    if not seconds > 0:
        return
    totals.duration_seconds += seconds
    if sample.idle:
        totals.idle_seconds += seconds

    cpu_cores = _non_negative(sample.cpu.cores)
    totals.cpu_core_seconds += cpu_cores * seconds
    totals.allocated_cpu_core_seconds += _allocated(cpu_cores, allocation.cpu_cores) * seconds
    totals.max_cpu_core_seconds += _larger(cpu_cores, allocation.cpu_cores) * seconds
    if allocation.cpu_cores is None:
        totals.unallocated_seconds_cpu += seconds

    memory_bytes = _non_negative(sample.memory.used_bytes)
    totals.memory_byte_seconds += memory_bytes * seconds
    allocated_memory = _allocated(memory_bytes, allocation.memory_bytes)
    totals.allocated_memory_byte_seconds += allocated_memory * seconds
    totals.max_memory_byte_seconds += _larger(memory_bytes, allocation.memory_bytes) * seconds
    if allocation.memory_bytes is None:
        totals.unallocated_seconds_memory += seconds

    limit = sample.memory.limit_bytes
    if limit and memory_bytes >= NEAR_LIMIT_FRACTION * limit:
        totals.memory_near_limit_seconds += seconds

    _integrate_gpus(totals, sample, allocation, seconds)

    disk_bytes = _non_negative(sample.disk[0].used_bytes) if sample.disk else 0.0
    totals.disk_byte_seconds += disk_bytes * seconds
    totals.allocated_disk_byte_seconds += _allocated(disk_bytes, allocation.disk_bytes) * seconds
    totals.max_disk_byte_seconds += _larger(disk_bytes, allocation.disk_bytes) * seconds
    if allocation.disk_bytes is None:
        totals.unallocated_seconds_disk += seconds


def _integrate_gpus(
    totals: UsageTotals, sample: Sample, allocation: Allocation, seconds: float
) -> None:
    # An allocation of N GPUs is shared evenly among the devices seen (normally one each).
    devices = sample.gpus
    share = None if allocation.gpus is None or not devices else allocation.gpus / len(devices)
    for gpu in devices:
        model = gpu.name or UNKNOWN_GPU_MODEL
        used = min(_non_negative(gpu.utilization_percent), 100.0) / 100.0
        allocated = used if share is None else share
        _add(totals.gpu_seconds_by_model, model, seconds)
        _add(totals.gpu_utilization_seconds_by_model, model, used * seconds)
        _add(totals.allocated_gpu_seconds_by_model, model, allocated * seconds)
        _add(totals.max_gpu_seconds_by_model, model, max(used, allocated) * seconds)
        totals.gpu_seconds += seconds
        totals.gpu_utilization_seconds += used * seconds
        totals.allocated_gpu_seconds += allocated * seconds
        totals.max_gpu_seconds += max(used, allocated) * seconds
    if not devices and allocation.gpus:
        # Allocated but not visible (say, NVML missing): bill at the fallback rate.
        allocated_seconds = allocation.gpus * seconds
        _add(totals.allocated_gpu_seconds_by_model, UNKNOWN_GPU_MODEL, allocated_seconds)
        _add(totals.max_gpu_seconds_by_model, UNKNOWN_GPU_MODEL, allocated_seconds)
        totals.allocated_gpu_seconds += allocated_seconds
        totals.max_gpu_seconds += allocated_seconds
    if allocation.gpus is None and devices:
        # No GPU and no allocation is simply no GPU, not an unknown allocation.
        totals.unallocated_seconds_gpu += seconds


def update_peaks(totals: UsageTotals, sample: Sample) -> None:
    """Raise the peaks in `totals` to `sample`'s values where those are higher."""
    # No peak above what exists: a sample's CPU average can overshoot the limit by a
    # rounding of two clock reads, and a process tree can count shared pages twice.
    cpu_capacity = sample.cpu.limit_cores or sample.cpu.host_cores
    totals.peak_cpu_cores = _peak(totals.peak_cpu_cores, _capped(sample.cpu.cores, cpu_capacity))
    memory_limit = sample.memory.limit_bytes
    for memory in (sample.memory.used_bytes, sample.memory.peak_bytes):
        # The cgroup's peak counter also sees a spike between two samples.
        capped = _capped(memory, memory_limit)
        totals.peak_memory_bytes = _peak(
            totals.peak_memory_bytes, None if capped is None else int(capped)
        )
    if not sample.gpus:
        return
    # Our processes' share where NVML can match them, else the device's whole use.
    gpu_memory = [
        gpu.process_memory_bytes if gpu.process_memory_bytes is not None else gpu.memory_used_bytes
        for gpu in sample.gpus
    ]
    known_memory = [m for m in gpu_memory if m is not None]
    if known_memory:
        totals.peak_gpu_memory_bytes = _peak(totals.peak_gpu_memory_bytes, sum(known_memory))
    for gpu in sample.gpus:
        totals.peak_gpu_utilization_percent = _peak(
            totals.peak_gpu_utilization_percent, gpu.utilization_percent
        )


def count_pressure(totals: UsageTotals, previous: Sample, sample: Sample) -> None:
    """Add what the cgroup's counters grew by between two samples: OOM kills, CPU
    throttling and PSI stalls. A counter that went down (a new cgroup) adds nothing."""
    kills = _growth(previous.memory.oom_kills, sample.memory.oom_kills)
    if kills is not None:
        totals.oom_kills += int(kills)
    for name, before, after in (
        ("cpu_throttled_seconds", previous.cpu.throttled_seconds, sample.cpu.throttled_seconds),
        ("cpu_stall_seconds", previous.cpu.pressure_some_seconds, sample.cpu.pressure_some_seconds),
        (
            "memory_stall_seconds",
            previous.memory.pressure_some_seconds,
            sample.memory.pressure_some_seconds,
        ),
    ):
        grown = _growth(before, after)
        if grown is not None:
            setattr(totals, name, (getattr(totals, name) or 0.0) + grown)


def _growth(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or after < before:
        return None
    return float(after - before)


class Ledger:
    """The running account of one session, fed by the sampler thread.

    A gap between samples longer than `max_gap_seconds` counts as `max_gap_seconds` only:
    a suspended laptop or VM must not bill hours of usage nobody had. A sample older than
    the previous one (the clock was set back) adds nothing and becomes the new reference.
    The first sample after construction only records, even when resuming from `totals`.
    """

    def __init__(
        self,
        session_id: str,
        started: float,
        totals: UsageTotals | None = None,
        max_gap_seconds: float = 60.0,
    ) -> None:
        if not (max_gap_seconds > 0 and math.isfinite(max_gap_seconds)):
            raise ValueError(f"max_gap_seconds must be a positive number, got {max_gap_seconds}")
        self.session_id = session_id
        self.started = started
        self.max_gap_seconds = float(max_gap_seconds)
        self._totals = copy.deepcopy(totals) if totals is not None else UsageTotals()
        self._previous: Sample | None = None
        self._lock = threading.Lock()

    def add(self, sample: Sample) -> None:
        """Account for the time since the previous sample, then hold this one."""
        with self._lock:
            previous = self._previous
            if previous is not None:
                seconds = min(sample.time - previous.time, self.max_gap_seconds)
                integrate_sample(self._totals, previous, Allocation.from_sample(previous), seconds)
                count_pressure(self._totals, previous, sample)
            update_peaks(self._totals, sample)
            self._totals.samples += 1
            self._previous = sample

    def snapshot(self) -> UsageTotals:
        """A deep copy of the totals, safe to read from another thread."""
        with self._lock:
            return copy.deepcopy(self._totals)

    @property
    def totals(self) -> UsageTotals:
        """A copy of the totals (see `snapshot`)."""
        return self.snapshot()

    @property
    def last_time(self) -> float | None:
        """Time of the latest sample, or None before the first."""
        with self._lock:
            return self._previous.time if self._previous is not None else None

    @property
    def duration_seconds(self) -> float:
        """Wall-clock seconds from `started` to the latest sample (0 before it)."""
        last_time = self.last_time
        return max(0.0, last_time - self.started) if last_time is not None else 0.0


def _first_positive(*values: _Number | None) -> _Number | None:
    for value in values:
        if value is not None and value > 0:
            return value
    return None


def _non_negative(value: float | None) -> float:
    if value is None or not value > 0:
        return 0.0
    return float(value)


def _allocated(used: float, allocated: float | None) -> float:
    return used if allocated is None else float(allocated)


def _larger(used: float, allocated: float | None) -> float:
    return used if allocated is None else max(used, float(allocated))


def _peak(peak: _Number | None, value: _Number | None) -> _Number | None:
    if value is None or math.isnan(value):
        return peak
    return value if peak is None or value > peak else peak


def _add(into: dict[str, float], key: str, amount: float) -> None:
    into[key] = into.get(key, 0.0) + amount


def _capped(value: _Number | None, capacity: _Number | None) -> _Number | None:
    """`value`, but never above a known `capacity`."""
    if value is None or not capacity or math.isnan(value):
        return value
    return min(value, capacity)
