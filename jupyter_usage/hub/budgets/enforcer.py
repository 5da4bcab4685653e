"""The service's watch over budgets: the latest use of every running user, the stops that
"stop" enforcement schedules.

Every check (each `hub_poll_interval`, else each minute) lists the hub's running servers
and evaluates their users' budgets. Under "stop" enforcement a user whose budget is spent
is warned (in the budget answer: `stop_at`, which the panel counts down, and in the log),
and `budget_grace_seconds` later, if the budget is still spent, each of their servers is
stopped through the hub API (scope `servers`). A budget that frees up again (a new period,
a raised limit) cancels the stop. The metrics of what it watches are metrics.py's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote

from tornado.web import HTTPError

from jupyter_usage.hub.intake.hub_servers import HubUnavailable, RunningServer, running_servers
from jupyter_usage.hubclient import HubClient

from .metrics import Entries, exposition

log = logging.getLogger(__name__)


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

    def stop_at(self, user: str) -> float | None:
        return self.stops.get(user)

    def remember(self, user: str, groups: Sequence[str], entries: Entries) -> None:
        if entries:  # a name without budgets (any admin may ask about any) is not kept
            self.latest[user] = (tuple(groups), entries)
        else:
            self.latest.pop(user, None)

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

    # -- metrics (metrics.py) ---------------------------------------------------------

    def exposition(self, refused_by_scope: Mapping[str, int]) -> bytes:
        """The budget metrics in Prometheus text, with the spawns refused per scope."""
        return exposition(self, refused_by_scope)
