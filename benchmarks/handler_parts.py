"""Where our handlers' time goes, timed in this process on the data a real server served.

Rebuilds the server's latest `Sample` from its `/snapshot` body and a `SeriesStore` from
its `/history?step=1` body, then times the two steps each handler takes beyond the
framework's floor: building the body, and encoding it as JSON. CPU time of this thread,
best of several runs.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jupyter_usage.sampling.sample import (
    CpuUsage,
    DiskUsage,
    GpuUsage,
    KernelUsage,
    MemoryUsage,
    NetworkUsage,
    Sample,
)
from jupyter_usage.series import SeriesStore

HISTORY_STEPS_SECONDS = {"history": 1.0, "history_ui": 4.0}
"""The history requests the benchmark sends, by its names for them."""


@dataclass
class Parts:
    build_ms: float
    """Building the body: `Sample.to_json()`, or `SeriesStore.query_with_meta()`."""
    encode_ms: float
    """`json.dumps` of that body."""


def best_cpu_ms(function: Callable[[], object], *, repeat: int = 5, number: int = 40) -> float:
    """CPU time of one call, the best of `repeat` runs of `number` calls."""
    best = math.inf
    for _ in range(repeat):
        started = time.thread_time()
        for _ in range(number):
            function()
        best = min(best, (time.thread_time() - started) / number)
    return best * 1000


def _make(cls: Any, data: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in names})


def sample_from_snapshot(body: dict[str, Any]) -> Sample:
    """The `Sample` a `/snapshot` body was made from (derived fields dropped)."""
    gpus = tuple(
        _make(GpuUsage, {**gpu, "mig_instances": tuple(gpu.get("mig_instances") or ())})
        for gpu in body.get("gpus") or ()
    )
    network = body.get("network")
    return Sample(
        time=body["time"],
        cpu=_make(CpuUsage, body["cpu"]),
        memory=_make(MemoryUsage, body["memory"]),
        gpus=gpus,
        disk=tuple(_make(DiskUsage, disk) for disk in body.get("disk") or ()),
        network=_make(NetworkUsage, network) if network else None,
        kernels=tuple(_make(KernelUsage, kernel) for kernel in body.get("kernels") or ()),
        idle=bool(body.get("idle")),
        errors=dict(body.get("errors") or {}),
    )


def series_from_history(columns: dict[str, list[Any]]) -> SeriesStore:
    """A store holding what a `/history?step=1` body shows (one sample per bucket)."""
    store = SeriesStore()
    names = [name for name in columns if name != "time" and not name.endswith(("_min", "_max"))]
    for index, bucket_time in enumerate(columns["time"]):
        values = {name: columns[name][index] for name in names}
        if any(value is not None for value in values.values()):
            store.add(bucket_time, values)
    return store


def _encode(body: Any) -> str:
    return json.dumps(body, allow_nan=False)


def _history_body(store: SeriesStore, since: float, step: float) -> dict[str, Any]:
    columns, step_seconds = store.query_with_meta(since, step)
    return {"step_seconds": step_seconds, "columns": columns}


def handler_parts(snapshot: dict[str, Any], history: dict[str, list[Any]]) -> dict[str, Parts]:
    """Build and encode costs of the snapshot and of each history request."""
    sample = sample_from_snapshot(snapshot)
    body = sample.to_json()
    parts = {
        "snapshot": Parts(
            build_ms=best_cpu_ms(sample.to_json),
            encode_ms=best_cpu_ms(functools.partial(_encode, body)),
        )
    }
    store = series_from_history(history)
    since = history["time"][0] if history["time"] else time.time() - 600
    for name, step in HISTORY_STEPS_SECONDS.items():
        build = functools.partial(_history_body, store, since, step)
        parts[name] = Parts(
            build_ms=best_cpu_ms(build),
            encode_ms=best_cpu_ms(functools.partial(_encode, build())),
        )
    return parts
