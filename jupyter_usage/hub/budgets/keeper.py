"""The service's budgets at run time: each user's use against their budgets, the watch
that enforces them (enforcer.py), and the refused spawns (refusals.py).

Handlers ask it; it reads the traits of `BudgetConfig` on the service, and does its
database work through the service's `run_db`: all it knows of the service is
`BudgetService`, so it never imports service.py (which makes it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import tzinfo
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from jupyter_usage.hub.db import report_flags
from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hubclient import HubClient

from . import refusals as budget_refusals
from .enforcer import BudgetEnforcer
from .metering import Metering
from .rules import Budget
from .use import budgets_of, everyone_budgets, latest_groups

_T = TypeVar("_T")


class BudgetService(Protocol):
    """What the keeper uses of the service: its budget traits, its log, its database, and
    its price list (sessions charged as budgets count them)."""

    log: logging.Logger
    db: UsageDB
    budgets: list[Any]
    budget_combine: str
    budget_enforcement: str
    budget_grace_seconds: float
    hub_poll_interval: float

    @property
    def parsed_budgets(self) -> list[Budget]: ...

    @property
    def budget_zone(self) -> tzinfo: ...

    @property
    def metering(self) -> Metering: ...

    def run_db(self, function: Callable[[], _T]) -> Awaitable[_T]: ...


class BudgetKeeper:
    def __init__(self, service: BudgetService) -> None:
        self.service = service
        client = HubClient.from_env(timeout_seconds=10, logger=service.log)
        self.enforcer = BudgetEnforcer(
            self.evaluate,
            client,
            enforcement=service.budget_enforcement,
            grace_seconds=service.budget_grace_seconds,
            interval_seconds=service.hub_poll_interval or 60.0,
            shared_scopes={b.scope for b in service.parsed_budgets if b.shared},
            logger=service.log,
        )
        self._evaluating: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def evaluate(self, user: str, groups: Sequence[str]) -> list[dict[str, Any]]:
        service = self.service
        budgets = service.parsed_budgets
        stop_at = self.enforcer.stop_at(user)
        db = service.db
        entries = await service.run_db(
            lambda: budgets_of(
                db,
                budgets,
                combine=service.budget_combine,
                user=user,
                groups=groups,
                now=time.time(),
                zone=service.budget_zone,
                enforcement=service.budget_enforcement,
                stop_at=stop_at,
                metering=service.metering,
            )
        )
        self.enforcer.remember(user, groups, entries)
        return entries

    def on_report(self, user: str, groups: Sequence[str]) -> None:
        """A report was stored: the user's budgets are evaluated now (in the background,
        one evaluation per user at a time), so that one it spends schedules its stop."""
        if self.service.budget_enforcement != "stop" or user in self._evaluating:
            return
        self._evaluating.add(user)
        task = asyncio.get_running_loop().create_task(self._after_report(user, list(groups)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_report(self, user: str, groups: list[str]) -> None:
        try:
            # Only a report schedules a stop here: it comes from a running server, where
            # the panel's or the spawn hook's question may come while none runs.
            self.enforcer.schedule(user, await self.evaluate(user, groups))
        except Exception as error:  # the database: the next check evaluates again
            self.service.log.debug("Budgets of %s not evaluated after a report: %s", user, error)
        finally:
            self._evaluating.discard(user)

    async def groups_of(self, user: str) -> list[str]:
        """The user's groups, from the hub (the service's own token, `read:users:groups`),
        else from their latest stored session."""
        client = self.enforcer.client
        if client is not None:
            url = f"{client.api_url}/users/{quote(user, safe='')}"
            answer = await asyncio.get_running_loop().run_in_executor(
                None, lambda: client.request("GET", url)
            )
            if answer.ok and isinstance(answer.body, dict):
                groups = answer.body.get("groups")
                if isinstance(groups, list):
                    return [g for g in groups if isinstance(g, str)]
        db = self.service.db
        return list(await self.service.run_db(lambda: latest_groups(db, user)))

    async def answer(self, user: str, groups: Any = None) -> dict[str, Any]:
        """The body of `GET api/v1/budget` for `user`; `groups` when the caller's token
        already said them."""
        if not self.service.budgets:
            return {"user": user, "budgets": [], "reason": "no budgets are configured"}
        if not isinstance(groups, list):
            groups = await self.groups_of(user)
        entries = await self.evaluate(user, [g for g in groups if isinstance(g, str)])
        body: dict[str, Any] = {"user": user, "budgets": entries}
        if not entries:
            body["reason"] = f"no budget applies to {user}"
        return body

    async def overview(self, since: float, until: float) -> dict[str, Any] | None:
        """Every user's budgets for the report page, and the spawns refused in
        `[since, until)`; None without budgets."""
        service = self.service
        budgets = service.parsed_budgets
        if not budgets:
            return None
        stops = dict(self.enforcer.stops)
        db = service.db

        def read() -> tuple[dict[str, Any], dict[str, Any]]:
            users = everyone_budgets(
                db,
                budgets,
                combine=service.budget_combine,
                now=time.time(),
                zone=service.budget_zone,
                enforcement=service.budget_enforcement,
                stops=stops,
                metering=service.metering,
            )
            with db.engine.connect() as connection:
                return users, budget_refusals.counts(connection, since, until)

        users, refused = await service.run_db(read)
        return {"users": users, "enforcement": service.budget_enforcement, "refused": refused}

    async def record_refusal(self, user: str, scope: str, message: str | None) -> None:
        db = self.service.db

        def write() -> None:
            with db.engine.begin() as connection:
                budget_refusals.record(connection, user, scope, time.time(), message)

        await self.service.run_db(write)

    async def refusals(self, since: float, until: float) -> dict[str, Any]:
        """The body of `GET api/v1/budget/refusals`: counts and the newest refusals."""
        db = self.service.db

        def read() -> dict[str, Any]:
            with db.engine.connect() as connection:
                return {
                    "since": since,
                    "until": until,
                    **budget_refusals.counts(connection, since, until),
                    "latest": budget_refusals.latest(connection, since, until),
                }

        return await self.service.run_db(read)

    async def exposition(self) -> bytes:
        """The budget metrics in Prometheus text; the refusals counted over all time."""
        db = self.service.db

        def read() -> tuple[dict[str, Any], dict[str, Any]]:
            with db.engine.connect() as connection:
                return budget_refusals.counts(connection), report_flags.by_user(connection)

        refused, flagged = await self.service.run_db(read)
        return self.enforcer.exposition(refused["by_scope"], flagged)
