"""One Prometheus collector over the sampler's latest sample.

It is registered once on the server's own `/metrics` (prometheus_client's default
registry) and also served alone at `/api/usage/v1/metrics`. A scrape only formats
what the sampler already measured: it never triggers a sample.

Every series carries `username` and `servername` (under a hub) so that a Prometheus that
scrapes every server can aggregate by user; `jupyter_usage_user_group_info` joins users to
their hub groups. Per-kernel series (a `kernel_id` label, unbounded over time) only appear
when the admin asks for them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .cost import Cost
    from .sampling.sample import KernelUsage, Sample

PREFIX = "jupyter_usage"

_Family = TypeVar("_Family", GaugeMetricFamily, CounterMetricFamily)


def hub_labels(env: os._Environ[str] | dict[str, str] = os.environ) -> dict[str, str]:
    """`username` and `servername` from the spawner's environment, when under a hub."""
    labels: dict[str, str] = {}
    if env.get("JUPYTERHUB_USER"):
        labels["username"] = env["JUPYTERHUB_USER"]
        labels["servername"] = env.get("JUPYTERHUB_SERVER_NAME", "")
    return labels


class _Families:
    """Builds metric families that all carry the same constant labels."""

    def __init__(self, constant: dict[str, str]) -> None:
        self.constant = constant
        self.families: list[Metric] = []

    def gauge(self, name: str, *args: Any) -> GaugeMetricFamily:
        """`name`, documentation, value (None: no sample), labels, the family to add to."""
        family: GaugeMetricFamily = self._add(GaugeMetricFamily, name, *args)
        return family

    def counter(self, name: str, *args: Any) -> CounterMetricFamily:
        """As `gauge`; prometheus_client appends `_total` to the name."""
        family: CounterMetricFamily = self._add(CounterMetricFamily, name, *args)
        return family

    def _add(
        self,
        kind: type[_Family],
        name: str,
        documentation: str,
        value: float | None,
        labels: dict[str, str] | None = None,
        family: _Family | None = None,
    ) -> _Family:
        all_labels = {**self.constant, **(labels or {})}
        if family is None:
            family = kind(f"{PREFIX}_{name}", documentation, labels=list(all_labels))
            self.families.append(family)
        if value is not None:
            family.add_metric(list(all_labels.values()), float(value))
        return family


class SamplerFigures(Protocol):
    @property
    def latest(self) -> Sample | None: ...
    @property
    def ticks_total(self) -> int: ...
    @property
    def cpu_seconds_total(self) -> float: ...


class CostFigures(Protocol):
    def cost(self) -> Cost: ...
    def hourly_cost(self) -> Cost | None: ...
    @property
    def idle_cost(self) -> float: ...
    @property
    def idle_seconds(self) -> float: ...


class MetricsSource(Protocol):
    """What the collector reads: `core.UsageCore` (a test passes a smaller double)."""

    @property
    def sampler(self) -> SamplerFigures: ...
    @property
    def recorder(self) -> CostFigures: ...
    @property
    def metrics_per_kernel(self) -> bool: ...


class UsageCollector(Collector):
    """Exposes the latest sample the core's sampler took, and the session's cost."""

    def __init__(
        self, source: MetricsSource, constant_labels: dict[str, str] | None = None
    ) -> None:
        self.source = source
        self.constant_labels = hub_labels() if constant_labels is None else constant_labels
        self.groups: tuple[str, ...] = ()
        self._cost_high: dict[tuple[str, str], float] = {}
        self._cost_lock = threading.Lock()
        self._own_registry = CollectorRegistry(auto_describe=False)
        self._own_registry.register(self)
        self._registered = False

    def set_groups(self, groups: Iterable[str]) -> None:
        """The user's hub groups, for `jupyter_usage_user_group_info`."""
        self.groups = tuple(sorted(set(groups)))

    def register(self) -> None:
        """Add the collector to the server's `/metrics` (once per process)."""
        if not self._registered:
            REGISTRY.register(self)
            self._registered = True

    def unregister(self) -> None:
        if self._registered:
            REGISTRY.unregister(self)
            self._registered = False

    def exposition(self) -> tuple[bytes, str]:
        """This extension's metrics alone, in the text exposition format."""
        return generate_latest(self._own_registry), CONTENT_TYPE_LATEST

    def describe(self) -> Sequence[Metric]:
        # Families depend on the machine (GPUs, disks); describe nothing up front.
        return []

    def collect(self) -> Iterator[Metric]:
        sampler = self.source.sampler
        sample = sampler.latest
        if sample is None:
            return iter(())
        f = _Families(self.constant_labels)
        self._resources(f, sample)
        if self.source.metrics_per_kernel:
            self._kernels(f, sample.kernels)
        self._groups(f)
        self._cost(f, self.source.recorder)
        f.counter(
            "sampler_cpu_seconds",
            "CPU time spent sampling, off the event loop.",
            sampler.cpu_seconds_total,
        )
        f.counter("samples", "Samples taken since the server started.", sampler.ticks_total)
        return iter(f.families)

    def _groups(self, f: _Families) -> None:
        family = None
        for group in self.groups:
            family = f.gauge(
                "user_group_info",
                "1 for each JupyterHub group of the server's user (join on username).",
                1,
                {"group": group},
                family,
            )

    def _cost(self, f: _Families, recorder: CostFigures) -> None:
        cost = recorder.cost()
        currency = {"currency": cost.currency}
        total_family = None
        with self._cost_lock:
            for resource, amount in sorted(cost.breakdown.items()):
                # Monotonic over the server's life: a session repriced to cheaper rates
                # (its hub groups became known) holds at the high mark until it passes it.
                key = (resource, cost.currency)
                high = max(self._cost_high.get(key, 0.0), float(amount))
                self._cost_high[key] = high
                total_family = f.counter(
                    "cost",
                    "Estimated cost of this server since it started, in `currency` units.",
                    high,
                    {"resource": resource, **currency},
                    total_family,
                )
        hourly = recorder.hourly_cost()
        if hourly is not None:
            rate_family = None
            for resource, amount in sorted(hourly.breakdown.items()):
                rate_family = f.gauge(
                    "cost_rate_per_hour",
                    "What an hour of this server costs at its current use, in `currency` units.",
                    amount,
                    {"resource": resource, "currency": hourly.currency},
                    rate_family,
                )
        f.counter(
            "idle_cost",
            "Estimated cost of this server while idle, in `currency` units.",
            recorder.idle_cost,
            currency,
        )
        f.counter(
            "idle_seconds",
            "Seconds this server has been idle since it started.",
            recorder.idle_seconds,
        )

    @staticmethod
    def _kernels(f: _Families, kernels: Sequence[KernelUsage]) -> None:
        families: dict[str, Any] = {}
        for kernel in kernels:
            labels = {"kernel_id": kernel.id, "kernel_name": kernel.name or ""}
            for name, doc, value in (
                ("kernel_cpu_cores", "CPU cores in use by one kernel.", kernel.cpu_cores),
                ("kernel_memory_bytes", "Memory in use by one kernel.", kernel.memory_bytes),
                (
                    "kernel_gpu_memory_bytes",
                    "GPU memory held by one kernel.",
                    kernel.gpu_memory_bytes,
                ),
            ):
                families[name] = f.gauge(name, doc, value, labels, families.get(name))

    @staticmethod
    def _resources(f: _Families, sample: Sample) -> None:
        cpu, memory = sample.cpu, sample.memory
        f.gauge("cpu_cores", "CPU cores in use by this server.", cpu.cores)
        f.gauge("cpu_limit_cores", "CPU limit of this server in cores.", cpu.limit_cores)
        f.gauge("memory_bytes", "Memory in use by this server.", memory.used_bytes)
        f.gauge("memory_limit_bytes", "Memory limit of this server.", memory.limit_bytes)
        f.counter(
            "oom_kills", "Processes killed for lack of memory in this container.", memory.oom_kills
        )
        f.gauge("kernels", "Kernels running on this server.", len(sample.kernels))
        f.gauge(
            "idle",
            "1 when no kernel is busy and nobody used the server lately.",
            1 if sample.idle else 0,
        )
        if sample.gpus:
            families: dict[str, Any] = {}
            for gpu in sample.gpus:
                labels = {"gpu": str(gpu.index), "model": gpu.name or ""}
                for name, doc, value, kind in (
                    (
                        "gpu_utilization_ratio",
                        "Share of time the GPU was busy (0-1).",
                        None if gpu.utilization_percent is None else gpu.utilization_percent / 100,
                        "gauge",
                    ),
                    ("gpu_memory_used_bytes", "GPU memory in use.", gpu.memory_used_bytes, "gauge"),
                    (
                        "gpu_memory_total_bytes",
                        "GPU memory in all.",
                        gpu.memory_total_bytes,
                        "gauge",
                    ),
                    ("gpu_power_watts", "GPU power draw.", gpu.power_watts, "gauge"),
                    (
                        "gpu_energy_joules",
                        "GPU energy since the driver loaded.",
                        gpu.energy_joules,
                        "counter",
                    ),
                ):
                    add = f.gauge if kind == "gauge" else f.counter
                    families[name] = add(name, doc, value, labels, families.get(name))
        if sample.disk:
            used_family = total_family = None
            for disk in sample.disk:
                labels = {"path": disk.path}
                used_family = f.gauge(
                    "disk_used_bytes",
                    "Used bytes of the filesystem.",
                    disk.used_bytes,
                    labels,
                    used_family,
                )
                total_family = f.gauge(
                    "disk_total_bytes",
                    "Size of the filesystem.",
                    disk.total_bytes,
                    labels,
                    total_family,
                )
        if sample.network is not None:
            f.counter(
                "network_receive_bytes",
                "Bytes received by this server's network.",
                sample.network.rx_bytes,
            )
            f.counter(
                "network_transmit_bytes",
                "Bytes sent by this server's network.",
                sample.network.tx_bytes,
            )
