"""The HTML pages for readers of all: the report and one user's (or everyone's) sessions.
Browsers log in through the hub (OAuth); others are shown where their own usage is."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado import web

from jupyter_usage.hub.db import report_flags
from jupyter_usage.hub.kpis.activity import database_activity, known_groups
from jupyter_usage.hub.kpis.sizing import sizing
from jupyter_usage.hub.periods import DAY_SECONDS
from jupyter_usage.hub.report.page import (
    render_message,
    render_not_admin,
    render_report,
    render_sessions,
)

from .base import ApiHandler, Service
from .drill_down import group_state, session_records
from .kpis import kpi_report


class PageHandler(ApiHandler):
    """An HTML page for admins; browsers log in through the hub, others see where their
    own usage is."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self.error_message(kwargs.get("exc_info"))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        if status_code == 403 and self.current_user is not None:
            # Someone who found the service in the hub's menu: show where their own usage is.
            self.finish(
                render_not_admin(
                    str(self.user_model.get("name")),
                    message,
                    hub_prefix=self.hub_auth.hub_prefix,
                    base_url=self.service.service_prefix,
                    hub_name=self.service.hub_name,
                )
            )
            return
        self.finish(
            render_message(
                f"{status_code} {self._reason}",
                message,
                base_url=self.service.service_prefix,
                hub_prefix=self.hub_auth.hub_prefix if self.hub_auth else "/hub/",
            )
        )

    def reader(self) -> dict[str, Any] | None:
        """The admin reading the page, or None once a browser is sent to log in."""
        if self.current_user is None and self.refused is None:
            self.redirect(self.get_login_url())
            return None
        return self.require_reader_of_all()

    def write_html(self, page: str) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)


class ReportHandler(PageHandler):
    """The admin report page."""

    async def get(self) -> None:
        model = self.reader()
        if model is None:
            return
        since, until, group = self.time_window()
        db = self.service.db

        def groups_of_window() -> list[str]:
            with db.engine.connect() as connection:
                return known_groups(connection, since)

        def flags() -> dict[str, Any]:
            with db.engine.connect() as connection:
                return report_flags.by_user(connection)

        # The sections are independent reads: asked at once, the page takes as long as the
        # slowest (the database works while Python waits), not as long as all of them.
        report, groups, report_sizing, activity, budgets, flagged = await asyncio.gather(
            kpi_report(self.service, since, until, group),
            self.service.run_db(groups_of_window),
            self.service.run_db(lambda: sizing(db, since, until, group)),
            self.service.run_db(lambda: database_activity(db, since, until, group)),
            self.service.budget_keeper.overview(since, until),
            self.service.run_db(flags),
        )
        report["sizing"], report["budgets"] = report_sizing, budgets
        report["report_flags"] = flagged
        state = await group_state(self.service, group, report["kpis"]["active_users"]["value"])
        self.write_html(
            render_report(
                report,
                base_url=self.service.service_prefix,
                groups=groups,
                viewer=str(model.get("name")),
                hub_prefix=self.hub_auth.hub_prefix,
                hub_name=self.service.hub_name,
                activity=activity,
                group_known=state is None or "no such group" not in state,
                zone=self.service.budget_timezone,
            )
        )


class SessionsPageHandler(PageHandler):
    """The drill-down's last step as a page: one user's (or everyone's) sessions."""

    async def get(self) -> None:
        model = self.reader()
        if model is None:
            return
        user, since, until, group, limit = self.session_filters()
        until = time.time() if until is None else until
        if since is None:
            since = until - self.service.default_window_days * DAY_SECONDS
        if not since < until:
            raise web.HTTPError(400, "'since' must be before 'until'")
        self.write_html(
            render_sessions(
                await session_records(self.service, user, since, until, group, limit),
                base_url=self.service.service_prefix,
                since=since,
                until=until,
                user=user,
                group=group,
                limit=limit,
                viewer=str(model.get("name")),
                hub_prefix=self.hub_auth.hub_prefix,
                hub_name=self.service.hub_name,
                zone=self.service.budget_timezone,
            )
        )


class OAuthCallbackHandler(HubOAuthCallbackHandler):  # type: ignore[misc]
    def initialize(self, service: Service) -> None:
        self.hub_auth = service.hub_auth
