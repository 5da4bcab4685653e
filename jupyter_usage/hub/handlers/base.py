"""What every handler of the hub service shares: the service as `Service` (what they may
use of it), the caller from the hub, the count of requests in flight, errors as
`{"message": …, "reason": …}` like jupyter_server's, and the checked query arguments."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from jupyterhub.services.auth import HubOAuthenticated, UserNotAllowed
from tornado import web

from jupyter_usage.hub.budgets.keeper import BudgetKeeper
from jupyter_usage.hub.budgets.metering import Metering
from jupyter_usage.hub.budgets.rules import Budget
from jupyter_usage.hub.db.availability import RETRY_AFTER_SECONDS
from jupyter_usage.hub.db.schema import MAX_NAME_LENGTH
from jupyter_usage.hub.db.storage import UsageDB
from jupyter_usage.hub.intake.report_intake import ReportIntake
from jupyter_usage.hub.intake.validation import (
    MAX_BODY_BYTES,
    BadRequest,
    parse_json_object,
    parse_time,
)
from jupyter_usage.hub.periods import DAY_SECONDS
from jupyter_usage.hub.report.page import CONTENT_SECURITY_POLICY

_T = TypeVar("_T")


class Service(Protocol):
    """What the handlers use of the service, as the single-user handlers use `UsageCore`:
    its settings, its database (through `run_db`: off the loop, 503 while it is away), its
    budgets, its price list, the batches its users' reports are stored in, and the count of
    requests in flight that its stop waits for."""

    hub_auth: Any
    service_prefix: str
    hub_name: str
    admin_scope: str
    default_window_days: int
    max_window_days: int
    regular_user_hours_per_week: float
    budget_timezone: str
    """The hub's time zone, in which the pages write their times."""
    db: UsageDB
    stopping: bool
    requests_in_flight: int

    @property
    def parsed_budgets(self) -> list[Budget]: ...

    @property
    def budget_keeper(self) -> BudgetKeeper: ...

    @property
    def metering(self) -> Metering: ...

    @property
    def report_intake(self) -> ReportIntake: ...

    def report_arrived(self, user: str, groups: Sequence[str]) -> None: ...

    def is_reader_of_all(self, model: dict[str, Any]) -> bool: ...

    def run_db(self, function: Callable[[], _T]) -> Awaitable[_T]: ...


class Unavailable(web.HTTPError):
    """A 503 with `Retry-After`: the database is not there (yet), or the service stops."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


class BaseHandler(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    """Identifies the caller with the hub, without blocking the event loop."""

    service: Service

    def initialize(self, service: Service) -> None:
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
        # jupyter_server's shape, so that a client reads both APIs' errors alike.
        exc_info = kwargs.get("exc_info")
        message = self.error_message(exc_info)
        error = exc_info[1] if exc_info is not None else None
        reason = error.reason if isinstance(error, web.HTTPError) else None
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message, "reason": reason}))

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

    def json_body(self, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
        """The request's JSON object, or a 400 that says what is wrong with it."""
        try:
            return parse_json_object(self.request.body, max_bytes=max_bytes)
        except BadRequest as error:
            raise web.HTTPError(400, str(error)) from None


def bad_user_name(name: str) -> str | None:
    """Why `name` cannot be a hub user's name, or None."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    if any(ord(char) < 32 or 0xD800 <= ord(char) <= 0xDFFF for char in name):
        return "must not hold control characters"
    return None
