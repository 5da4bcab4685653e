"""Figures every benchmark shares: milliseconds, percentiles, quartiles, growth rates,
Markdown tables, and the machine and versions a run measured on."""

from __future__ import annotations

import contextlib
import importlib.metadata
import math
import os
import platform
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

import psutil

MIB = 2**20


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{1000 * seconds:.1f}"


def quantile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (as numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower, upper = math.floor(position), math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(percent / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def fixed(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table."""
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
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """The machine and the versions a run measured on, for the report's first table."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = psutil.virtual_memory().total / 2**30
    return {
        "CPU": f"{os.cpu_count()} logical cores, {model}",
        "Memory": f"{memory_gib:.0f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "jupyter_server": version("jupyter_server"),
        "tornado": version("tornado"),
        "psutil": version("psutil"),
        "jupyter-usage": version("jupyter_usage"),
        "jupyter-resource-usage": version("jupyter-resource-usage"),
        "Load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
