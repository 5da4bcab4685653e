"""The service's price list at run time: rates for a user's server, allocations, and each
stored session as a budget charges it (intake/trusted_cost.py does the arithmetic).

Plain Python over the database; handlers and use.py call it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from jupyter_usage.cost import CostModel, Rates
from jupyter_usage.hub.db import allocation_records
from jupyter_usage.hub.db.allocation import Allocation
from jupyter_usage.hub.db.queries import KpiSession, kpi_columns, kpi_session
from jupyter_usage.hub.intake.hub_servers import RunningServer
from jupyter_usage.hub.intake.trusted_cost import charged_session


def metered_columns(c: Any) -> tuple[Any, ...]:
    """What `Metering.charge_rows` reads of a row: `kpi_columns` and what prices it."""
    return (*kpi_columns(c), c.profile, c.from_hub)


class Metering:
    def __init__(
        self,
        cost_model: CostModel,
        profile_allocations: dict[str, Allocation],
        *,
        configured: bool = True,
    ) -> None:
        self.cost_model = cost_model
        self.configured = configured
        """Whether the service's config sets any `CostModel` trait: without, it has no
        price list, servers keep their own and budgets count what they report."""
        self.profile_allocations = profile_allocations
        self._rates: dict[tuple[tuple[str, ...], str | None], Rates] = {}
        self._running: dict[tuple[str, str], tuple[float, float]] = {}

    def saw_running(self, servers: Sequence[RunningServer], at: float) -> None:
        """The hub's latest complete list of running servers (the service's poll): a
        running session is charged until the hub last saw its server, whatever its
        latest report says."""
        self._running = {(s.user, s.server_name): (s.started, at) for s in servers}

    def hub_end(self, row: Any) -> float | None:
        """When the hub last saw the server of running session `row` running, if it did."""
        if row.ended is not None:
            return None
        seen = self._running.get((row.user_name, row.server_name))
        if seen is None or abs(seen[0] - row.started) > allocation_records.MATCH_SECONDS:
            return None
        return seen[1]

    def rates(self, groups: Sequence[str], profile: str | None) -> Rates:
        key = (tuple(sorted(set(groups))), profile)
        if key not in self._rates:
            self._rates[key] = self.cost_model.effective_rates(key[0], profile)
        return self._rates[key]

    def allocation(self, recorded: Allocation | None, profile: str | None) -> Allocation | None:
        """The hub hook's record wins; else the profile map's entry; else unknown."""
        if recorded is not None:
            return recorded
        return self.profile_allocations.get(profile) if profile else None

    def charge(self, session: KpiSession, row: Any, recorded: Allocation | None) -> KpiSession:
        """`session` (of stored `row`) as its budgets count it."""
        profile = recorded.profile if recorded is not None and recorded.profile else row.profile
        allocation = self.allocation(recorded, profile)
        rates = self.rates(session.groups, profile)
        return charged_session(session, rates, allocation, hub_only=bool(row.from_hub))

    def charge_rows(self, connection: Connection, rows: Sequence[Any]) -> list[KpiSession]:
        """Stored session rows (selected with `metered_columns`) as budgets count them: one
        query for their allocations."""
        if not self.configured:
            return [kpi_session(row) for row in rows]
        if not rows:
            return []
        users = sorted({row.user_name for row in rows})
        found = allocation_records.allocations_of(
            connection,
            users if len(users) <= 500 else None,
            min(row.started for row in rows),
            max(row.started for row in rows),
        )
        charged = []
        for row in rows:
            session = kpi_session(row)
            if (seen := self.hub_end(row)) is not None and seen > session.end:
                session = dataclasses.replace(session, end=seen)
            record = allocation_records.closest_record(
                found.get((row.user_name, row.server_name), ()), row.started
            )
            recorded = None
            if record is not None:
                spawned, recorded = record
                # The hub's start of the server, not a later one its report may claim.
                session = dataclasses.replace(session, started=min(session.started, spawned))
            charged.append(self.charge(session, row, recorded))
        return charged

    def rates_for_server(
        self,
        connection: Connection,
        user: str,
        server_name: str,
        groups: Sequence[str],
        claimed_profile: str | None,
    ) -> dict[str, Any]:
        """The body of `GET api/v1/rates`: the hub's record of the server's profile wins
        over the one the server names. `rates` null: the service has no price list."""
        if not self.configured:
            return {
                "user": user,
                "server_name": server_name,
                "rates": None,
                "reason": "the usage service sets no rates (c.CostModel in its config)",
            }
        recorded = allocation_records.latest_for(connection, user, server_name)
        if recorded is not None and recorded.profile:
            profile, profile_from = recorded.profile, "hub"
        elif claimed_profile:
            profile, profile_from = claimed_profile, "server"
        else:
            profile, profile_from = None, None
        return {
            "user": user,
            "server_name": server_name,
            "groups": sorted(set(groups)),
            "profile": profile,
            "profile_from": profile_from,
            "rates": self.rates(groups, profile).to_json(),
        }
