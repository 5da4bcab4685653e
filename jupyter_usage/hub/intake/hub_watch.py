"""The service's watch on the hub: every `hub_poll_interval` seconds, the running servers.

While the hub does not answer, nothing is closed (a session is closed only by a complete
list without it), one warning is logged when the outage starts and one line when it ends,
and polling goes on at the same pace.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from jupyter_usage.hub.db import watch_periods
from jupyter_usage.hubclient import HubClient

from .hub_servers import HubUnavailable, RunningServer, running_servers
from .hub_sessions import HubSessions, PollResult

log = logging.getLogger(__name__)


class HubPoller:
    def __init__(
        self,
        sessions: HubSessions,
        client: HubClient,
        interval_seconds: float,
        run_db: Callable[[Callable[[], PollResult | None]], Awaitable[PollResult | None]],
        logger: logging.Logger | None = None,
        on_poll: Callable[[Sequence[RunningServer], float], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.on_poll = on_poll
        """Told every complete list of running servers, with when it was taken."""
        self.client = client
        self.interval_seconds = interval_seconds
        self._run_db = run_db
        self.log = logger or log
        self._failing: str | None = None
        self.last_poll: float | None = None
        """Wall-clock time of the last complete poll, for the report's freshness line."""

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                await self._run_db(self.poll_once)
            except Exception as error:  # the database not ready or down: its own 503s say so
                self._failed("the database", f"{type(error).__name__}: {error}")
            # Jitter, so that replicas of the service do not poll the hub in step.
            await asyncio.sleep(self.interval_seconds * (0.9 + 0.2 * random.random()))

    def poll_once(self) -> PollResult | None:
        """One poll; never raises (a poll that fails leaves every session as it was)."""
        listed_at = self.sessions.now()
        try:
            servers = running_servers(self.client)
        except HubUnavailable as error:
            self._failed("the hub", str(error))
            return None
        try:
            result = self.sessions.record_poll(servers)
            self.sessions.record_watch(listed_at, watch_periods.max_gap(self.interval_seconds))
        except Exception as error:  # the database: its own outage handling answers for it
            self._failed("the database", f"{type(error).__name__}: {error}")
            return None
        if self._failing is not None:
            self.log.info("Watching the hub's servers again (%d running)", result.running)
            self._failing = None
        self.last_poll = self.sessions.now()
        if self.on_poll is not None:
            self.on_poll(servers, self.last_poll)
        if result.opened or result.closed or result.merged:
            self.log.info(
                "Hub poll: %d servers running, %d sessions opened, %d closed, %d merged",
                result.running,
                result.opened,
                result.closed,
                result.merged,
            )
        return result

    def _failed(self, what: str, message: str) -> None:
        if self._failing is None:
            self.log.warning(
                "Cannot list the hub's servers (%s): %s; sessions stay as they are, "
                "retrying every %.0f s",
                what,
                self.client.scrub(message),
                self.interval_seconds,
            )
        self._failing = what
