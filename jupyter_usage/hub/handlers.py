"""The hub service's HTTP handlers: thin, each raising `web.HTTPError` with a message.

The JSON API answers errors as `{"message": …}`; the report page as HTML. Every database
call goes through `UsageService.run_db`, so a slow or absent database never blocks the loop.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated, UserNotAllowed
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from tornado import web

from .activity import database_activity, group_exists, known_groups, session_details
from .availability import RETRY_AFTER_SECONDS
from .coverage import coverage, running
from .export import KPI_TABLES, kpis_csv, sessions_csv
from .hub_sessions import HubSessions
from .kpis_sql import database_kpis, with_previous_period
from .report import (
    CONTENT_SECURITY_POLICY,
    render_message,
    render_not_admin,
    render_report,
    render_sessions,
)
from .sizing import sizing
from .storage import MAX_NAME_LENGTH
from .validation import BadRequest, claimed_groups, parse_json_object, parse_session, parse_time

if TYPE_CHECKING:
    from .service import UsageService

DAY_SECONDS = 86400.0


class Unavailable(web.HTTPError):
    """A 503 with `Retry-After`: the database is not there (yet), or the service stops."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


class BaseHandler(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    """Identifies the caller with the hub, without blocking the event loop."""

    service: UsageService

    def initialize(self, service: UsageService) -> None:
        self.service = service
        self.hub_auth = service.hub_auth
        self.refused: str | None = None
        self.counted = False

    def get_current_user(self) -> Any:
        # The user is resolved in prepare(); never a blocking call to the hub here.
        return None

    async def prepare(self) -> None:
        self.service.requests_in_flight += 1
        self.counted = True
        if self.service.stopping:
            raise Unavailable("the usage service is stopping; retry in a moment")
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            return
        try:
            self.current_user = self.check_hub_user(model)
        except UserNotAllowed:
            scopes = ", ".join(sorted(self.hub_scopes or ()))
            self.refused = (
                f"{model.get('kind', 'user')} {model.get('name')} may not use this service: "
                f"the token or login lacks the scope {scopes}"
            )

    @property
    def user_model(self) -> dict[str, Any]:
        return self.current_user  # type: ignore[no-any-return]

    @property
    def token_authenticated(self) -> bool:
        # Set by HubAuth when the token (not a cookie) identified the caller.
        return bool(getattr(self, "_token_authenticated", False))

    refusal: str | None = None
    unavailable = False

    def on_finish(self) -> None:
        self._uncount()

    def on_connection_close(self) -> None:
        self._uncount()

    def _uncount(self) -> None:
        if self.counted:
            self.counted = False
            self.service.requests_in_flight -= 1

    def error_message(self, exc_info: Any) -> str:
        """What a `web.HTTPError` says (else the status's reason), and `Retry-After` on a
        503 (set here: send_error clears the headers before write_error)."""
        if exc_info is not None and isinstance(exc_info[1], Unavailable):
            self.unavailable = True
            self.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
        if exc_info is not None and isinstance(exc_info[1], web.HTTPError):
            return exc_info[1].log_message or self._reason
        return self._reason

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, web.HTTPError):
            # The access log line says it, once; tornado would log it a second time.
            self.refusal = value.log_message
            return
        super().log_exception(typ, value, tb)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)


class ApiHandler(BaseHandler):
    """JSON in and out; unauthenticated requests get a 403, never a login redirect."""

    def write_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, allow_nan=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self.error_message(kwargs.get("exc_info"))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))

    def require_user(self) -> dict[str, Any]:
        if self.current_user is None:
            raise web.HTTPError(
                403, self.refused or "Authentication required: send 'Authorization: token …'"
            )
        return self.user_model

    def require_reader_of_all(self) -> dict[str, Any]:
        model = self.require_user()
        if not self.service.is_reader_of_all(model):
            raise web.HTTPError(403, self._only_admins())
        return model

    def _only_admins(self) -> str:
        scope = self.service.admin_scope
        holders = f" and holders of the scope {scope}" if scope else ""
        return f"Only admins{holders} may read everyone's usage"

    def raw_query_argument(self, name: str) -> str | None:
        """A query argument exactly as sent (tornado's own turns control characters into
        spaces and strips them, which would name another user)."""
        values = self.request.query_arguments.get(name)
        if not values:
            return None
        try:
            return values[-1].decode("utf-8")
        except UnicodeDecodeError:
            raise web.HTTPError(400, f"'{name}' must be UTF-8") from None

    def time_window(self) -> tuple[float, float, str | None]:
        """`since`, `until` and `group` of a KPI request, checked."""
        now = time.time()
        try:
            until = parse_time("until", self.get_query_argument("until", None), end_of_day=True)
            since = parse_time("since", self.get_query_argument("since", None))
        except BadRequest as error:
            raise web.HTTPError(400, str(error)) from None
        until = now if until is None else until
        since = until - self.service.default_window_days * DAY_SECONDS if since is None else since
        if not since < until:
            raise web.HTTPError(400, "'since' must be before 'until'")
        if until - since > self.service.max_window_days * DAY_SECONDS:
            raise web.HTTPError(
                400, f"the window may span at most {self.service.max_window_days} days"
            )
        group = self.get_query_argument("group", None) or None
        return since, until, group

    async def kpi_report(self) -> dict[str, Any]:
        since, until, group = self.time_window()
        service = self.service

        def compute() -> dict[str, Any]:
            report = with_previous_period(
                lambda a, b, tables: database_kpis(
                    service.db,
                    since=a,
                    until=b,
                    group=group,
                    regular_seconds_per_week=service.regular_user_hours_per_week * 3600,
                    tables=tables,
                ),
                since,
                until,
            )
            report["coverage"] = coverage(service.db, since, until, group)
            report["running"] = running(service.db, time.time(), group)
            return report

        return await service.run_db(compute)

    async def kpi_window_report(self, since: float, until: float, group: str | None) -> Any:
        """The KPIs of one window without the previous period (the drill-down's users)."""
        service = self.service
        return await service.run_db(
            lambda: database_kpis(
                service.db,
                since=since,
                until=until,
                group=group,
                regular_seconds_per_week=service.regular_user_hours_per_week * 3600,
            )
        )

    async def group_state(self, group: str | None, active: int) -> str | None:
        """What to say of a chosen group without sessions in the window, else None."""
        if group is None or active:
            return None
        db = self.service.db

        def exists() -> bool:
            with db.engine.connect() as connection:
                return group_exists(connection, group)

        known = await self.service.run_db(exists)
        return f"No sessions of group {group} in this window" + (
            "" if known else " (no such group has reported)"
        )

    def session_filters(self) -> tuple[str | None, float | None, float | None, str | None, int]:
        """`user`, `since`, `until`, `group` and `limit` of a sessions request, checked."""
        try:
            since = parse_time("since", self.get_query_argument("since", None))
            until = parse_time("until", self.get_query_argument("until", None), end_of_day=True)
            limit = int(self.get_query_argument("limit", "500"))
        except BadRequest as error:
            raise web.HTTPError(400, str(error)) from None
        except ValueError:
            raise web.HTTPError(400, "'limit' must be a whole number") from None
        if not 1 <= limit <= 10000:
            raise web.HTTPError(400, "'limit' must be between 1 and 10000")
        if since is not None and until is not None and not since < until:
            raise web.HTTPError(400, "'since' must be before 'until'")
        user = self.get_query_argument("user", None) or None
        group = self.get_query_argument("group", None) or None
        return user, since, until, group, limit

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


class SessionsHandler(ApiHandler):
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
        try:
            body = parse_json_object(self.request.body)
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
        db = self.service.db

        def store() -> str:
            outcome = db.upsert_session(user, session, groups, time.time())
            if outcome == "created":
                # The hub's poll or its events may have known this session first.
                HubSessions(db).absorb_twins(user, session)
            return outcome

        outcome = await self.service.run_db(store)
        self.write_json(
            {"id": session.session_id, "user": user, "status": outcome},
            201 if outcome == "created" else 200,
        )


class SessionsCsvHandler(ApiHandler):
    async def get(self) -> None:
        sessions = await self.sessions_query()
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="sessions.csv"')
        self.finish(sessions_csv(sessions))


class KpisHandler(ApiHandler):
    async def get(self) -> None:
        self.require_reader_of_all()
        self.write_json(await self.kpi_report())


class SizingHandler(ApiHandler):
    """How often and when servers run out of memory and CPU (see sizing.py)."""

    async def get(self) -> None:
        self.require_reader_of_all()
        since, until, group = self.time_window()
        db = self.service.db
        body = await self.service.run_db(lambda: sizing(db, since, until, group))
        self.write_json({"since": since, "until": until, "group": group, "sizing": body})


class BudgetHandler(ApiHandler):
    """`GET api/v1/budget[?user=NAME]`: what the user may still spend (budget_rules.py)."""

    async def get(self) -> None:
        model = self.require_user()
        wanted = self.raw_query_argument("user")
        if wanted is not None:
            problem = bad_user_name(wanted)
            if problem:
                raise web.HTTPError(400, f"'user' {problem}")
        reader = self.service.is_reader_of_all(model)
        own = model.get("kind", "user") == "user"
        if wanted is not None and (not own or wanted != model.get("name")) and not reader:
            raise web.HTTPError(403, f"You may read only your own budgets. {self._only_admins()}")
        if wanted is None:
            if not own:
                raise web.HTTPError(400, "A service has no budget: name a user with ?user=")
            wanted = str(model["name"])
        body = await self.service.budget_answer(
            wanted, model.get("groups") if wanted == model.get("name") and own else None
        )
        self.write_json(body)


class BudgetRefusalsHandler(ApiHandler):
    """`POST api/v1/budget/refusals`: the spawn hook counts a spawn it refused."""

    async def post(self) -> None:
        model = self.require_user()
        if not self.token_authenticated:
            raise web.HTTPError(403, "Refusals must be sent with an API token")
        try:
            body = parse_json_object(self.request.body, max_bytes=4096)
        except BadRequest as error:
            raise web.HTTPError(400, str(error)) from None
        user = body.get("user", model.get("name"))
        scope = body.get("scope")
        if not isinstance(scope, str) or not 0 < len(scope) <= MAX_NAME_LENGTH + 6:
            raise web.HTTPError(400, "'scope' must be a budget's scope, such as 'group:students'")
        if not isinstance(user, str) or bad_user_name(user):
            raise web.HTTPError(400, "'user' must be a user's name")
        own = model.get("kind", "user") == "user" and user == model.get("name")
        if not own and not self.service.is_reader_of_all(model):
            raise web.HTTPError(403, f"Only your own refusals count. {self._only_admins()}")
        scopes = {budget.scope for budget in self.service.parsed_budgets}
        if scope not in scopes:
            raise web.HTTPError(400, f"no budget has the scope {scope!r}")
        self.service.budget_enforcer().refusals.add(user, scope)
        self.write_json({"user": user, "scope": scope}, 201)


class MetricsHandler(ApiHandler):
    """`GET api/v1/metrics`: the budgets in Prometheus text (admins and scope holders)."""

    async def get(self) -> None:
        self.require_reader_of_all()
        body = self.service.budget_enforcer().exposition()
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(body)


def bad_user_name(name: str) -> str | None:
    """Why `name` cannot be a hub user's name, or None."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    if any(ord(char) < 32 or 0xD800 <= ord(char) <= 0xDFFF for char in name):
        return "must not hold control characters"
    return None


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
        kpis = (await self.kpi_window_report(since, until, group))["kpis"]
        users = kpis["cost_by_user"]["value"]
        self.write_json(
            {
                "since": since,
                "until": until,
                "group": group,
                "users": users,
                "message": await self.group_state(group, len(users)),
            }
        )


class SessionDetailsHandler(ApiHandler):
    """The drill-down's last step: sessions with profile, duration, peaks and idle share."""

    async def get(self) -> None:
        self.require_reader_of_all()
        user, since, until, group, limit = self.session_filters()
        db = self.service.db
        records = await self.service.run_db(
            lambda: db.list_sessions(user=user, since=since, until=until, limit=limit, group=group)
        )
        self.write_json(
            {
                "user": user,
                "group": group,
                "since": since,
                "until": until,
                "sessions": [session_details(record) for record in records],
                "truncated": len(records) >= limit,
            }
        )


class KpisCsvHandler(ApiHandler):
    async def get(self) -> None:
        self.require_reader_of_all()
        table = self.get_query_argument("table", "summary")
        if table not in KPI_TABLES:
            raise web.HTTPError(400, f"'table' must be one of {', '.join(KPI_TABLES)}")
        user = self.get_query_argument("user", None) or None
        if user is not None and table != "users":
            raise web.HTTPError(
                400,
                "'user' filters the table 'users' only; one user's sessions are in "
                "sessions.csv?user=…",
            )
        report = await self.kpi_report()
        if user is not None:
            rows = report["kpis"]["cost_by_user"]["value"]
            report["kpis"]["cost_by_user"]["value"] = [r for r in rows if r["user"] == user]
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="usage-{table}.csv"')
        self.finish(kpis_csv(report, table))


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
        report = await self.kpi_report()
        db = self.service.db
        since, until, group = report["since"], report["until"], report.get("group")

        def more() -> tuple[list[str], dict[str, Any], dict[str, Any]]:
            with db.engine.connect() as connection:
                groups = known_groups(connection, since)
            return (
                groups,
                sizing(db, since, until, group),
                database_activity(db, since, until, group),
            )

        groups, report["sizing"], activity = await self.service.run_db(more)
        report["budgets"] = await self.service.budget_overview()
        state = await self.group_state(group, report["kpis"]["active_users"]["value"])
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
        db = self.service.db
        records = await self.service.run_db(
            lambda: db.list_sessions(user=user, since=since, until=until, limit=limit, group=group)
        )
        self.write_html(
            render_sessions(
                [session_details(record) for record in records],
                base_url=self.service.service_prefix,
                since=since,
                until=until,
                user=user,
                group=group,
                limit=limit,
                viewer=str(model.get("name")),
                hub_prefix=self.hub_auth.hub_prefix,
                hub_name=self.service.hub_name,
            )
        )


class OAuthCallbackHandler(HubOAuthCallbackHandler):  # type: ignore[misc]
    def initialize(self, service: UsageService) -> None:
        self.hub_auth = service.hub_auth
