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
from typing import Any
from urllib.parse import quote

from tornado.web import HTTPError

from jupyter_usage.hub.intake.hub_servers import (
    HubUnavailable,
    RunningServer,
    running_servers,
    servers_of,
)
from jupyter_usage.hubclient import HubClient

from .metrics import Entries, exposition

log = logging.getLogger(__name__)

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

    # -- metrics (metrics.py) ---------------------------------------------------------

    def exposition(
        self,
        refused_by_scope: Mapping[str, int],
        flagged: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> bytes:
        """The budget metrics in Prometheus text, with the spawns refused per scope, and
        the users' flagged reports when given."""
        return exposition(self, refused_by_scope, flagged)
