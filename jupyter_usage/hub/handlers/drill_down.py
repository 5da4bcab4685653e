"""The report's drill-down for readers of all: servers running over time, use and cost
per user (of a group), then the sessions one by one."""

from __future__ import annotations

from typing import Any

from jupyter_usage.hub.kpis.activity import database_activity, group_exists, session_details
from jupyter_usage.hub.kpis.database import database_kpis

from .base import ApiHandler, Service


async def group_state(service: Service, group: str | None, active: int) -> str | None:
    """What to say of a chosen group without sessions in the window, else None."""
    if group is None or active:
        return None
    db = service.db

    def exists() -> bool:
        with db.engine.connect() as connection:
            return group_exists(connection, group)

    known = await service.run_db(exists)
    return f"No sessions of group {group} in this window" + (
        "" if known else " (no such group has reported)"
    )


async def session_records(
    service: Service,
    user: str | None,
    since: float | None,
    until: float | None,
    group: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Sessions of the drill-down's last step (the API's and the page's), with details."""
    db = service.db
    records = await service.run_db(
        lambda: db.list_sessions(user=user, since=since, until=until, limit=limit, group=group)
    )
    return [session_details(record) for record in records]


class ActivityHandler(ApiHandler):
    """Servers running over time, by hour of the week, and use and cost per day."""

    async def get(self) -> None:
        self.require_reader_of_all()
        since, until, group = self.time_window()
        db = self.service.db
        self.write_json(
            await self.service.run_db(lambda: database_activity(db, since, until, group))
        )


class UsersHandler(ApiHandler):
    """The drill-down's middle step: use and cost per user (of a group)."""

    async def get(self) -> None:
        self.require_reader_of_all()
        since, until, group = self.time_window()
        service = self.service
        kpis = await service.run_db(
            lambda: database_kpis(
                service.db,
                since=since,
                until=until,
                group=group,
                regular_seconds_per_week=service.regular_user_hours_per_week * 3600,
            )
        )
        users = kpis["kpis"]["cost_by_user"]["value"]
        self.write_json(
            {
                "since": since,
                "until": until,
                "group": group,
                "users": users,
                "message": await group_state(service, group, len(users)),
            }
        )


class SessionDetailsHandler(ApiHandler):
    """The drill-down's last step: sessions with profile, duration, peaks and idle share."""

    async def get(self) -> None:
        self.require_reader_of_all()
        user, since, until, group, limit = self.session_filters()
        sessions = await session_records(self.service, user, since, until, group, limit)
        self.write_json(
            {
                "user": user,
                "group": group,
                "since": since,
                "until": until,
                "sessions": sessions,
                "truncated": len(sessions) >= limit,
            }
        )
