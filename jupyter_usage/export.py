"""CSV export of past sessions: one row a session, figures in the units of their names."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

COLUMNS = (
    "id",
    "user",
    "server_name",
    "started",
    "ended",
    "ended_by",
    "duration_seconds",
    "idle_seconds",
    "cpu_core_seconds",
    "memory_byte_seconds",
    "gpu_seconds",
    "peak_cpu_cores",
    "peak_memory_bytes",
    "currency",
    "cost_total",
    "cost_cpu",
    "cost_memory",
    "cost_gpu",
    "cost_disk",
    "cost_server",
)


def session_row(record: Mapping[str, Any]) -> list[Any]:
    totals = record.get("totals") or {}
    cost = record.get("cost") or {}
    breakdown = cost.get("breakdown") or {}
    values = {
        **{key: record.get(key) for key in ("id", "user", "server_name", "started", "ended")},
        "ended_by": record.get("ended_by"),
        "duration_seconds": record.get("duration_seconds"),
        **{
            key: totals.get(key)
            for key in (
                "idle_seconds",
                "cpu_core_seconds",
                "memory_byte_seconds",
                "gpu_seconds",
                "peak_cpu_cores",
                "peak_memory_bytes",
            )
        },
        "currency": cost.get("currency"),
        "cost_total": cost.get("total"),
        **{
            f"cost_{name}": breakdown.get(name)
            for name in ("cpu", "memory", "gpu", "disk", "server")
        },
    }
    return ["" if values[column] is None else values[column] for column in COLUMNS]


def sessions_csv(records: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow(session_row(record))
    return out.getvalue()
