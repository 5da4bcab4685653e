"""The cost and figures of a session that its user cannot rewrite, as pure functions.

The service knows, without the user's server: how long the server ran (the hub's record),
what it was given (the `Allocation` of the spawn hook or of the profile map), and its own
price list (`CostModel` in the service's config). From them, the **trusted cost** of a
session is its duration x (`server_hour` + allocation x rates), priced with cost.py as the
`allocated` basis prices a server's own figures.

What a budget counts (`charged_session`):

- a session known from the hub alone (no extension) is charged the trusted cost, and its
  allocation x duration as its resource figures;
- a reported session is charged the larger of its reported cost and a floor: the trusted
  cost under the `allocated` and `max` bases, its `server_hour` part under `used` (which
  bills measured use, so the allocation is no floor there); its GPU-seconds are at least
  the GPUs it was given x its duration, under every basis.

A report that claims more than its allocation allows is clipped to it (`clip_report`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from jupyter_usage.cost import Cost, Rates, cost_of
from jupyter_usage.hub.db.allocation import Allocation
from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.ledger import UNKNOWN_GPU_MODEL, UsageTotals

CLIP_TOLERANCE = 0.02
"""Measured figures may exceed a limit by this share before they count as a false claim
(sampling jitter, a limit rounded by the kernel)."""
CLIP_SLACK_SECONDS = 10.0
"""And by this much time at the limit: a sample taken just before the session's start."""


def allocated_totals(duration_seconds: float, allocation: Allocation | None) -> UsageTotals:
    """The figures of a server that used exactly what it was given for `duration_seconds`."""
    seconds = max(0.0, duration_seconds)
    totals = UsageTotals(duration_seconds=seconds)
    if allocation is None:
        return totals
    cpu = (allocation.billed_cpu_cores or 0.0) * seconds
    memory = (allocation.billed_memory_bytes or 0.0) * seconds
    gpu = (allocation.gpus or 0.0) * seconds
    totals.allocated_cpu_core_seconds = totals.max_cpu_core_seconds = cpu
    totals.allocated_memory_byte_seconds = totals.max_memory_byte_seconds = memory
    if gpu:
        totals.gpu_seconds = totals.allocated_gpu_seconds = totals.max_gpu_seconds = gpu
        by_model = {UNKNOWN_GPU_MODEL: gpu}
        totals.allocated_gpu_seconds_by_model = dict(by_model)
        totals.max_gpu_seconds_by_model = dict(by_model)
        totals.gpu_seconds_by_model = dict(by_model)
    return totals


def trusted_cost(duration_seconds: float, allocation: Allocation | None, rates: Rates) -> Cost:
    """duration x (`server_hour` + allocation x rates); GPUs of unknown model at `gpu_hour`."""
    allocated = dataclasses.replace(rates, basis="allocated")
    cost = cost_of(allocated_totals(duration_seconds, allocation), allocated)
    return dataclasses.replace(cost, basis="trusted")


def cost_floor(trusted: Cost, basis: str) -> float:
    """What a reported session costs at least under the price list's `basis`."""
    if basis == "used":
        return trusted.breakdown.get("server", 0.0)
    return trusted.total


def charged_cost(
    trusted: Cost,
    basis: str,
    *,
    hub_only: bool,
    reported_total: float | None,
    reported_currency: str | None,
) -> float:
    """The cost a budget counts for one session, in `trusted.currency`."""
    if hub_only:
        return trusted.total
    reported = 0.0
    if (
        reported_currency == trusted.currency
        and isinstance(reported_total, (int, float))
        and not isinstance(reported_total, bool)
        and math.isfinite(reported_total)
        and reported_total > 0
    ):
        reported = float(reported_total)
    return max(reported, cost_floor(trusted, basis))


def charged_totals(
    reported: Mapping[str, Any],
    duration_seconds: float,
    allocation: Allocation | None,
    *,
    hub_only: bool,
) -> dict[str, Any]:
    """The resource figures a budget counts for one session."""
    figures = dict(reported)
    if allocation is None:
        return figures
    seconds = max(0.0, duration_seconds)
    floors = {"gpu_seconds": (allocation.gpus or 0.0) * seconds}
    if hub_only:
        floors["cpu_core_seconds"] = (allocation.billed_cpu_cores or 0.0) * seconds
        floors["memory_byte_seconds"] = (allocation.billed_memory_bytes or 0.0) * seconds
    for name, floor in floors.items():
        figures[name] = max(_number(figures.get(name)), floor)
    return figures


def charged_session(
    session: KpiSession,
    rates: Rates,
    allocation: Allocation | None,
    *,
    hub_only: bool,
) -> KpiSession:
    """`session` as a budget counts it: charged cost and figures (see the module's doc)."""
    trusted = trusted_cost(session.duration_seconds, allocation, rates)
    cost = charged_cost(
        trusted,
        rates.basis,
        hub_only=hub_only,
        reported_total=session.cost_total,
        reported_currency=session.currency,
    )
    totals = charged_totals(session.totals, session.duration_seconds, allocation, hub_only=hub_only)
    return dataclasses.replace(session, cost_total=cost, currency=trusted.currency, totals=totals)


# -- reports above their allocation ------------------------------------------------------

_BY_MODEL = {
    "gpu_seconds": "gpu_seconds_by_model",
    "gpu_utilization_seconds": "gpu_utilization_seconds_by_model",
}


def allowed_figures(allocation: Allocation, duration_seconds: float) -> dict[str, float]:
    """The most a report of `duration_seconds` may claim, per figure its allocation bounds."""
    seconds = max(0.0, duration_seconds) + CLIP_SLACK_SECONDS
    allowed: dict[str, float] = {}
    if allocation.cpu_limit_cores:
        allowed["cpu_core_seconds"] = allocation.cpu_limit_cores * seconds
        allowed["peak_cpu_cores"] = allocation.cpu_limit_cores
    if allocation.memory_limit_bytes:
        allowed["memory_byte_seconds"] = allocation.memory_limit_bytes * seconds
        allowed["peak_memory_bytes"] = allocation.memory_limit_bytes
    if allocation.gpus is not None:
        allowed["gpu_seconds"] = allocation.gpus * seconds
        allowed["gpu_utilization_seconds"] = allocation.gpus * seconds
    return {name: bound * (1 + CLIP_TOLERANCE) for name, bound in allowed.items()}


def clip_report(
    totals: Mapping[str, Any], allocation: Allocation | None, duration_seconds: float
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """`totals` with each figure above what `allocation` allows set to that bound, and the
    names of those figures (sorted); unchanged without an allocation."""
    figures = dict(totals)
    if allocation is None:
        return figures, ()
    clipped = []
    for name, bound in sorted(allowed_figures(allocation, duration_seconds).items()):
        value = figures.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= bound:
            continue
        clipped.append(name)
        figures[name] = int(bound) if isinstance(value, int) else bound
        by_model = figures.get(_BY_MODEL.get(name, ""))
        if isinstance(by_model, Mapping) and value > 0:
            share = bound / value
            figures[_BY_MODEL[name]] = {
                model: _number(seconds) * share for model, seconds in by_model.items()
            }
    return figures, tuple(clipped)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0
