"""What one sample holds: plain, immutable records shared by every consumer.

The sampler builds one `Sample` per tick; the series, the ledger, the Prometheus
collector and the REST handlers only ever read these. Units live in the names and
`None` means "unknown" (it becomes `null` on the wire).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CpuUsage:
    cores: float | None
    """Cores in use, averaged over the last sample interval."""
    limit_cores: float | None
    """The most cores the server may use (a cgroup quota, CPU_LIMIT or config)."""
    guarantee_cores: float | None = None
    """Cores reserved for the server (CPU_GUARANTEE), when the spawner said."""
    source: str = "processes"
    """Where `cores` came from: "cgroup" (container totals) or "processes" (psutil)."""
    limit_source: str | None = None
    """Where `limit_cores` came from: "cgroup", "env", "config" or None."""
    host_cores: int | None = None
    """Logical CPUs of the machine, for a percentage when there is no limit."""
    pressure_some_avg10_percent: float | None = None
    """cgroup PSI: share of the last 10 s in which some task waited for CPU."""
    throttled_seconds: float | None = None
    """Counter: time the server's cgroup was held back by its CPU quota (None: no cgroup
    of its own)."""
    pressure_some_seconds: float | None = None
    """Counter: cgroup PSI time in which some task waited for CPU."""

    @property
    def percent(self) -> float | None:
        """Use as a percentage of the limit (or of the machine when unlimited)."""
        denominator = self.limit_cores or self.host_cores
        if self.cores is None or not denominator:
            return None
        return 100.0 * self.cores / denominator


@dataclass(frozen=True, slots=True)
class MemoryUsage:
    used_bytes: int | None
    limit_bytes: int | None
    guarantee_bytes: int | None = None
    source: str = "processes"
    limit_source: str | None = None
    oom_kills: int | None = None
    """OOM kills counted by the cgroup since it was created (None without one)."""
    pressure_some_avg10_percent: float | None = None
    pressure_some_seconds: float | None = None
    """Counter: cgroup PSI time in which some task stalled on memory."""
    peak_bytes: int | None = None
    """The most memory the server's own cgroup has held, between samples too (None
    without a cgroup of its own)."""


@dataclass(frozen=True, slots=True)
class GpuUsage:
    index: int
    uuid: str | None
    name: str | None
    utilization_percent: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    process_memory_bytes: int | None
    """GPU memory held by this server's processes; None when their PIDs are not
    visible to NVML (a container without the host PID namespace)."""
    power_watts: float | None = None
    energy_joules: float | None = None
    mig_mode: bool | None = None
    mig_instances: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class DiskUsage:
    path: str
    used_bytes: int | None
    total_bytes: int | None
    free_bytes: int | None
    directory_bytes: int | None = None
    """Size of the files under `path` from the background scan, when enabled."""
    directory_scan_complete: bool | None = None
    reserved: bool | None = None
    """Whether the space is the user's own (a quota or a volume of its own, such as a
    PVC), so the allocated basis bills its size; False bills used bytes only."""
    reserved_source: str | None = None
    """How `reserved` was decided: "mount" (a filesystem mounted at the path or below
    the home directory), "shared" (a filesystem mounted above it, shared with others)
    or "config" (`UsageApp.disk_reserved`)."""


@dataclass(frozen=True, slots=True)
class NetworkUsage:
    rx_bytes: int | None
    tx_bytes: int | None
    rx_bytes_per_second: float | None
    tx_bytes_per_second: float | None


@dataclass(frozen=True, slots=True)
class KernelUsage:
    id: str
    name: str | None
    path: str | None
    pid: int | None
    """None when the kernel does not run on this machine (a gateway kernel)."""
    cpu_cores: float | None
    memory_bytes: int | None
    gpu_memory_bytes: int | None
    execution_state: str | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    time: float
    """Unix epoch seconds at which the sample was taken."""
    cpu: CpuUsage
    memory: MemoryUsage
    gpus: tuple[GpuUsage, ...] = ()
    disk: tuple[DiskUsage, ...] = ()
    network: NetworkUsage | None = None
    kernels: tuple[KernelUsage, ...] = ()
    idle: bool = False
    """True when no kernel was busy and nobody used the server recently."""
    errors: dict[str, str] = field(default_factory=dict)
    """Source name → a short message, for sources that failed this tick."""

    def to_json(self) -> dict[str, Any]:
        """The `/snapshot` body: the design's field names, SI units, None as null."""
        # By hand rather than dataclasses.asdict, whose deep copy of every field cost
        # ~6 µs per kernel on each request; these records hold only scalars.
        cpu = _fields(self.cpu)
        cpu["percent"] = self.cpu.percent
        gpus = []
        for gpu in self.gpus:
            fields = _fields(gpu)
            fields["mig_instances"] = [dict(instance) for instance in gpu.mig_instances]
            gpus.append(fields)
        return {
            "time": self.time,
            "cpu": cpu,
            "memory": _fields(self.memory),
            "gpus": gpus,
            "disk": [_fields(disk) for disk in self.disk],
            "network": None if self.network is None else _fields(self.network),
            "kernels": [_fields(kernel) for kernel in self.kernels],
            "idle": self.idle,
            "errors": dict(self.errors),
        }


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _fields(record: Any) -> dict[str, Any]:
    """A record's fields as a new dict (shallow: they hold scalars)."""
    kind = type(record)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(record))
    return {name: getattr(record, name) for name in names}
