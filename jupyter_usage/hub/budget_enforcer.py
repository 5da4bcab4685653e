"""The service's watch over budgets: the latest use of every running user, the stops that
"stop" enforcement schedules, and their Prometheus metrics.

Every check (each `hub_poll_interval`, else each minute) lists the hub's running servers
and evaluates their users' budgets. Under "stop" enforcement a user whose budget is spent
is warned (in the budget answer: `stop_at`, which the panel counts down, and in the log),
and `budget_grace_seconds` later, if the budget is still spent, each of their servers is
stopped through the hub API (scope `servers`). A budget that frees up again (a new period,
a raised limit) cancels the stop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from tornado.web import HTTPError

from jupyter_usage.hubclient import HubClient

from .hub_servers import HubUnavailable, RunningServer, running_servers, servers_of
from .report_flags import KINDS

log = logging.getLogger(__name__)

Entries = list[dict[str, Any]]

PREPARE_SECONDS = 2.0
"""How long before a scheduled stop the user's servers and budgets are read again."""


class BudgetEnforcer:
    def __init__(
        self,
        evaluate: Callable[[str, Sequence[str]], Awaitable[Entries]],
        client: HubClient | None,
        *,
        enforcement: str,
        grace_seconds: float,
        interval_seconds: float,
        shared_scopes: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        self.shared_scopes = set(shared_scopes)
        self._evaluate = evaluate
        self.client = client
        self.enforcement = enforcement
        self.grace_seconds = grace_seconds
        self.interval_seconds = interval_seconds
        self.clock = clock
        self.log = logger or log
        self.stops: dict[str, float] = {}
        """User → when their servers are stopped, while a stop is scheduled."""
        self.latest: dict[str, tuple[tuple[str, ...], Entries]] = {}
        """User → (groups, budgets) as last evaluated: the metrics and the report read it."""
        self.stopped_servers = 0
        self._failing = False
        self._timers: dict[str, asyncio.Task[None]] = {}

    def stop_at(self, user: str) -> float | None:
        return self.stops.get(user)

    def remember(self, user: str, groups: Sequence[str], entries: Entries) -> None:
        if entries:  # a name without budgets (any admin may ask about any) is not kept
            self.latest[user] = (tuple(groups), entries)
        else:
            self.latest.pop(user, None)

    def schedule(self, user: str, entries: Entries) -> None:
        """A budget found spent by a report schedules the stop at once, with a timer for
        its `stop_at`: the stop comes when the panel's countdown ends, not at the check
        after it. Cancelling is left to the checks, which also see whether the user still
        runs a server."""
        spent = [entry for entry in entries if entry["exhausted"]]
        if self.enforcement != "stop" or self.client is None or not spent:
            return
        if user not in self.stops:
            self.stops[user] = self.clock() + self.grace_seconds
            self.log.warning(
                "%s's budget %s is spent; their servers stop in %.0f s",
                user,
                spent[0]["scope"],
                self.grace_seconds,
            )
        for entry in spent:
            entry["stop_at"] = self.stops[user]
        timer = self._timers.get(user)
        if timer is None or timer.done():
            self._timers[user] = asyncio.get_running_loop().create_task(self._stop_when_due(user))

    async def _stop_when_due(self, user: str) -> None:
        try:
            # The user's servers and the budget's state are read a moment before the stop,
            # so that a slow hub answer does not delay it past `stop_at`.
            while (when := self.stops.get(user)) is not None and when - PREPARE_SECONDS > (
                now := self.clock()
            ):
                await asyncio.sleep(when - PREPARE_SECONDS - now)
            if user not in self.stops or self.client is None:
                return
            client = self.client
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(
                None, client.request, "GET", f"{client.api_url}/users/{quote(user, safe='')}"
            )
            if not answer.ok or not isinstance(answer.body, dict):
                raise HubUnavailable(answer.message())
            running = list(servers_of(answer.body))
            if not running:
                self.stops.pop(user, None)
                return
            # Still spent? A raised limit or a new period in the meantime cancels it.
            entries = await self._evaluate(user, running[0].groups)
            self.remember(user, running[0].groups, entries)
            while (when := self.stops.get(user)) is not None and when > (now := self.clock()):
                await asyncio.sleep(when - now)
            if user in self.stops:  # else cancelled meanwhile
                await self._enforce(user, running, entries)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the next check tries again
            self.log.warning(
                "The stop of %s's servers failed: %s; the next check retries", user, error
            )
        finally:
            if self._timers.get(user) is asyncio.current_task():
                del self._timers[user]

    def cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def run(self) -> None:
        while True:
            try:
                await self.check_once()
            except HTTPError as error:  # the database is down: its own handling says so
                self.log.debug("Budgets not checked: %s", error.log_message)
            except Exception:  # one bad check must not end the watch
                self.log.exception("Checking the budgets failed; trying again next time")
            await asyncio.sleep(self.interval_seconds)

    async def check_once(self) -> None:
        if self.client is None:
            return
        client = self.client
        loop = asyncio.get_running_loop()
        try:
            servers = await loop.run_in_executor(None, running_servers, client)
        except HubUnavailable as error:
            if not self._failing:
                self.log.warning("Cannot check budgets: %s", client.scrub(str(error)))
            self._failing = True
            return
        self._failing = False
        by_user: dict[str, list[RunningServer]] = {}
        for server in servers:
            by_user.setdefault(server.user, []).append(server)
        for user in set(self.stops) - set(by_user):
            del self.stops[user]  # stopped already, by the user or by us
        for user, running in sorted(by_user.items()):
            groups = running[0].groups
            entries = await self._evaluate(user, groups)
            self.remember(user, groups, entries)
            if self.enforcement == "stop":
                await self._enforce(user, running, entries)

    async def _enforce(self, user: str, running: list[RunningServer], entries: Entries) -> None:
        spent = [entry for entry in entries if entry["exhausted"]]
        if not spent:
            if self.stops.pop(user, None) is not None:
                self.log.info("%s's budget is no longer spent: the stop is cancelled", user)
            return
        now = self.clock()
        if user not in self.stops:
            self.stops[user] = now + self.grace_seconds
            self.log.warning(
                "%s's budget %s is spent; their servers stop in %.0f s",
                user,
                spent[0]["scope"],
                self.grace_seconds,
            )
            for entry in spent:
                entry["stop_at"] = self.stops[user]
            return
        for entry in spent:
            entry["stop_at"] = self.stops[user]
        timer = self._timers.get(user)
        if timer is not None and not timer.done() and timer is not asyncio.current_task():
            return  # its timer stops them at stop_at: one stop, not two
        if now < self.stops[user]:
            return
        assert self.client is not None
        client = self.client
        loop = asyncio.get_running_loop()
        # Done with this stop whatever the hub answers: a server still running at the next
        # check gets a new warning and a new grace.
        del self.stops[user]
        for entry in spent:
            entry["stop_at"] = None
        for server in running:
            path = f"users/{quote(user, safe='')}/server"
            if server.server_name:
                path = f"users/{quote(user, safe='')}/servers/{quote(server.server_name, safe='')}"
            answer = await loop.run_in_executor(
                None, client.request, "DELETE", f"{client.api_url}/{path}"
            )
            if answer.ok:
                self.stopped_servers += 1
                self.log.warning(
                    "Stopped %s's server %r: budget %s spent",
                    user,
                    server.server_name,
                    spent[0]["scope"],
                )
            else:
                self.log.warning(
                    "Cannot stop %s's server %r over a spent budget (needs the scope "
                    "'servers'): %s",
                    user,
                    server.server_name,
                    answer.message(),
                )

    # -- metrics ---------------------------------------------------------------------

    def exposition(
        self,
        refused_by_scope: Mapping[str, int],
        flagged: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> bytes:
        """The metrics in Prometheus text format (a registry of their own, made per scrape:
        the service's process has no other metrics to mix in), with the spawns refused per
        budget scope as the database counts them."""
        registry = CollectorRegistry(auto_describe=False)
        metrics = self.metrics(refused_by_scope)
        if flagged is not None:
            metrics.append(report_flag_metric(flagged))
        registry.register(_Collector(metrics))
        return generate_latest(registry)

    def metrics(self, refused_by_scope: Mapping[str, int]) -> list[Metric]:
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
            "A group budget's limit: the shared limit, or per-member limit times the "
            "members evaluated",
            labels=group_labels,
        )
        groups_used: dict[tuple[str, str, str], float] = {}
        groups_limit: dict[tuple[str, str, str], float] = {}
        for user, (_groups, entries) in sorted(self.latest.items()):
            for entry in entries:
                values = [user, entry["scope"], period_label(entry["period"]), unit_of(entry)]
                used.add_metric(values, finite(entry["used"]))
                limit.add_metric(values, finite(entry["limit"]))
                exhausted.add_metric(values, 1.0 if entry["exhausted"] else 0.0)
                if entry["scope"].startswith("group:"):
                    key = (entry["scope"][6:], values[2], values[3])
                    if entry["scope"] in self.shared_scopes:
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
        stops.add_metric([], float(self.stopped_servers))
        pending = GaugeMetricFamily(
            "jupyter_usage_budget_stops_scheduled",
            "Users whose servers stop when their grace runs out",
        )
        pending.add_metric([], float(len(self.stops)))
        return [used, limit, exhausted, group_used, group_limit, refused, stops, pending]


def report_flag_metric(flagged: Mapping[str, Mapping[str, Any]]) -> Metric:
    """What the service noticed in each user's reports (report_flags.py), by kind."""
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


def near_or_over(
    latest: Mapping[str, tuple[tuple[str, ...], Entries]], share: float = 0.8
) -> Iterable[tuple[str, dict[str, Any]]]:
    """(user, budget) of every budget used at `share` of its limit or more, fullest first."""
    found = [
        (user, entry)
        for user, (_groups, entries) in latest.items()
        for entry in entries
        if (entry["limit"] > 0 and entry["used"] >= share * entry["limit"]) or entry["exhausted"]
    ]
    return sorted(found, key=lambda item: -fill(item[1]))


def fill(entry: Mapping[str, Any]) -> float:
    limit = float(entry["limit"])
    return float("inf") if limit <= 0 else float(entry["used"]) / limit
