"""Figures the load benchmark shares between its parts: milliseconds, quantiles, tables,
growth rates. Part of benchmarks/load.py."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from jupyter_usage.hub.kpis.model import percentile

MIB = 2**20


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{1000 * seconds:.1f}"


def quantile(values: Sequence[float], fraction: float) -> float | None:
    return percentile(values, fraction)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return None
    times = [t for t, _ in points]
    values = [v for _, v in points]
    if max(times) == min(times):
        return None
    return 60 * statistics.linear_regression(times, values).slope


def version(distribution: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
