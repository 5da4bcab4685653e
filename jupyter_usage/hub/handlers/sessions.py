"""`api/v1/sessions` and `sessions.csv`: the servers post their sessions; users read their
own, readers of all everyone's."""

from __future__ import annotations

from typing import Any

from tornado import web

from jupyter_usage.hub.intake.report_intake import Report
from jupyter_usage.hub.intake.validation import BadRequest, claimed_groups, parse_session
from jupyter_usage.hub.kpis.export import sessions_csv

from .base import ApiHandler


class SessionsReader(ApiHandler):
    async def sessions_query(self) -> list[dict[str, Any]]:
        """Sessions the caller asked for and may read."""
        model = self.require_user()
        wanted = self.get_query_argument("user", None) or None
        if not self.service.is_reader_of_all(model):
            if model.get("kind", "user") != "user":
                raise web.HTTPError(403, self._only_admins())
            if wanted is not None and wanted != model["name"]:
                raise web.HTTPError(
                    403, f"You may read only your own sessions. {self._only_admins()}"
                )
            wanted = model["name"]
        _, since, until, group, limit = self.session_filters()
        db = self.service.db
        return await self.service.run_db(
            lambda: db.list_sessions(
                user=wanted, since=since, until=until, limit=limit, group=group
            )
        )


class SessionsHandler(SessionsReader):
    async def get(self) -> None:
        sessions = await self.sessions_query()
        self.write_json({"sessions": sessions})

    async def post(self) -> None:
        model = self.require_user()
        if not self.token_authenticated:
            # No cookie-authenticated writes: nothing to forge from another site.
            raise web.HTTPError(403, "Session reports must be sent with an API token")
        if model.get("kind", "user") != "user":
            raise web.HTTPError(403, "Only users' servers report sessions")
        body = self.json_body()
        try:
            session = parse_session(body)
        except BadRequest as error:
            raise web.HTTPError(400, str(error)) from None
        user = model["name"]
        claimed = body.get("user")
        if claimed is not None and claimed != user:
            raise web.HTTPError(
                403, f"The session's user is {claimed!r}, but the token belongs to {user!r}"
            )
        # The hub's word on groups beats the server's, which a user could edit.
        groups = model["groups"] if isinstance(model.get("groups"), list) else claimed_groups(body)
        answer = await self.service.report_intake.store(Report(user, session, tuple(groups)))
        outcome = answer["status"]
        if outcome == "refused":
            self.write_json(answer, 409)
            return
        if outcome in ("created", "updated"):
            self.service.report_arrived(user, groups)
        self.write_json(answer, 201 if outcome == "created" else 200)


class SessionsCsvHandler(SessionsReader):
    async def get(self) -> None:
        sessions = await self.sessions_query()
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="sessions.csv"')
        self.finish(sessions_csv(sessions))
