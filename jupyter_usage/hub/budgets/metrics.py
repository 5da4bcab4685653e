"""The budgets' Prometheus metrics, from what the stop loop (enforcer.py) last saw: each
user's use and limit per budget, the groups' totals, the spawns refused (counted by the
database), the servers stopped and the stops scheduled; and what the service noticed in
each user's reports (db/report_flags.py). A registry of their own, made per scrape: the
service's process has no other metrics to mix in."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from jupyter_usage.hub.db.report_flags import KINDS

Entries = list[dict[str, Any]]


class Watched(Protocol):
    """What the stop loop knows that the metrics show."""

    latest: dict[str, tuple[tuple[str, ...], Entries]]
    shared_scopes: set[str]
    stopped_servers: int
    stops: dict[str, float]


def exposition(
    watched: Watched,
    refused_by_scope: Mapping[str, int],
    flagged: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes:
    """The metrics in Prometheus text format, with the spawns refused per budget scope as
    the database counts them, and the users' flagged reports when given."""
    registry = CollectorRegistry(auto_describe=False)
    found = metrics(watched, refused_by_scope)
    if flagged is not None:
        found.append(report_flag_metric(flagged))
    registry.register(_Collector(found))
    return generate_latest(registry)


def report_flag_metric(flagged: Mapping[str, Mapping[str, Any]]) -> Metric:
    """What the service noticed in each user's reports (db/report_flags.py), by kind."""
    metric = GaugeMetricFamily(
        "jupyter_usage_report_flags",
        "Reports and sessions the service flagged, per user and kind: lowering_refused "
        "(reports that lowered a session's figures, refused), unconfirmed (sessions the hub "
        "never ran), above_allocation (reports claiming more than the allocation allows)",
        labels=["user", "kind"],
    )
    for user, counts in sorted(flagged.items()):
        for kind in sorted(set(KINDS) | set(counts) - {"latest"}):
            metric.add_metric([user, kind], float(counts.get(kind, 0)))
    return metric


def metrics(watched: Watched, refused_by_scope: Mapping[str, int]) -> list[Metric]:
    labels = ["user", "scope", "period", "unit"]
    used = GaugeMetricFamily(
        "jupyter_usage_budget_used",
        "Use of a budget in its current period, in its unit (a currency, or seconds, "
        "core-seconds, byte-seconds), per user",
        labels=labels,
    )
    limit = GaugeMetricFamily(
        "jupyter_usage_budget_limit",
        "The limit of a budget, in its unit, per user",
        labels=labels,
    )
    exhausted = GaugeMetricFamily(
        "jupyter_usage_budget_exhausted", "1 while a user's budget is spent", labels=labels
    )
    group_labels = ["group", "period", "unit"]
    group_used = GaugeMetricFamily(
        "jupyter_usage_budget_group_used",
        "Use of a group budget in its period, added up over the group's members "
        "evaluated (the whole group's for a shared budget)",
        labels=group_labels,
    )
    group_limit = GaugeMetricFamily(
        "jupyter_usage_budget_group_limit",
        "A group budget's limit: the shared limit, or per-member limit times the members evaluated",
        labels=group_labels,
    )
    groups_used: dict[tuple[str, str, str], float] = {}
    groups_limit: dict[tuple[str, str, str], float] = {}
    for user, (_groups, entries) in sorted(watched.latest.items()):
        for entry in entries:
            values = [user, entry["scope"], period_label(entry["period"]), unit_of(entry)]
            used.add_metric(values, finite(entry["used"]))
            limit.add_metric(values, finite(entry["limit"]))
            exhausted.add_metric(values, 1.0 if entry["exhausted"] else 0.0)
            if entry["scope"].startswith("group:"):
                key = (entry["scope"][6:], values[2], values[3])
                if entry["scope"] in watched.shared_scopes:
                    groups_used[key] = finite(entry["used"])
                    groups_limit[key] = finite(entry["limit"])
                else:
                    groups_used[key] = groups_used.get(key, 0.0) + finite(entry["used"])
                    groups_limit[key] = groups_limit.get(key, 0.0) + finite(entry["limit"])
    for key, value in sorted(groups_used.items()):
        group_used.add_metric(list(key), value)
        group_limit.add_metric(list(key), groups_limit[key])
    refused = CounterMetricFamily(
        "jupyter_usage_budget_spawns_refused",
        "Spawns the hub refused because a budget was spent (kept in the service's database)",
        labels=["scope"],
    )
    for scope, count in sorted(refused_by_scope.items()):
        refused.add_metric([scope], float(count))
    stops = CounterMetricFamily(
        "jupyter_usage_budget_servers_stopped",
        "Servers stopped because a budget was spent, since the service started",
    )
    stops.add_metric([], float(watched.stopped_servers))
    pending = GaugeMetricFamily(
        "jupyter_usage_budget_stops_scheduled",
        "Users whose servers stop when their grace runs out",
    )
    pending.add_metric([], float(len(watched.stops)))
    return [used, limit, exhausted, group_used, group_limit, refused, stops, pending]


class _Collector:
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return iter(self._metrics)


def finite(value: Any) -> float:
    number = float(value)
    return number if math.isfinite(number) else 0.0


def period_label(period: Any) -> str:
    if isinstance(period, Mapping):
        return f"rolling_{period.get('rolling_days')}d"
    return str(period)


def unit_of(entry: Mapping[str, Any]) -> str:
    return str(entry.get("currency") or entry.get("unit"))
