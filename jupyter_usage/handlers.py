"""Thin REST handlers: parse and check parameters, format what the core already has.

No handler samples anything, and none knows the app: each receives the `UsageCore`
and formats what it offers. Errors are `web.HTTPError(status, message)`, which
jupyter_server's `APIHandler.write_error` turns into a JSON `{"message": …}`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .core import UsageCore
from .metrics import UsageCollector
from .records import sessions_csv

API_PREFIX = "/api/usage/v1"
AUTH_RESOURCE = "usage"


class UsageHandler(APIHandler):
    """Every handler: authenticated, authorized on `usage`, JSON with no caching, errors
    as `web.HTTPError` so jupyter_server's JSON error path answers `{"message": …}`."""

    # A panel polling all night must not keep the idle culler away.
    _track_activity = False
    auth_resource = AUTH_RESOURCE
    known_arguments: tuple[str, ...] = ()

    def initialize(self, core: UsageCore) -> None:
        self.core = core

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Set again by tornado's clear() before an error is written: errors are not cached.
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        # After authentication: a request without credentials gets its 403 first.
        if self.request.method == "GET" and self.current_user:
            self.check_known_arguments()

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, web.HTTPError) and value.status_code < 500:
            # tornado would %-format the message, which may quote the user's "%".
            self.log.info(
                "%d %s: %s", value.status_code, self._request_summary(), value.log_message
            )
            return
        super().log_exception(typ, value, tb)

    def write_json(self, body: Any) -> None:
        self.finish(json.dumps(body, allow_nan=False))

    def float_argument(
        self,
        name: str,
        default: float | None,
        *,
        low: float = -math.inf,
        high: float = math.inf,
    ) -> float | None:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise web.HTTPError(400, f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise web.HTTPError(400, f"{name} must be between {low:g} and {high:g}, got {raw!r}")
        return value

    def int_argument(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise web.HTTPError(400, f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise web.HTTPError(400, f"{name} must be between {low} and {high}, got {raw!r}")
        return value

    def check_known_arguments(self) -> None:
        # JupyterLab's ServerConnection adds `?<timestamp>` to bust caches: not a parameter.
        # `token` is jupyter_server's own way of authenticating a URL (a scraper, a link).
        known = self.known_arguments
        unknown = sorted(
            name
            for name, values in self.request.query_arguments.items()
            if name not in known
            and name != "token"
            and not (name.isdigit() and values in ([b""], []))
        )
        if unknown:
            raise web.HTTPError(
                400,
                f"unknown parameter {unknown[0]!r}; this endpoint takes "
                + (", ".join(known) if known else "no parameters"),
            )


def _is_unicode(text: str) -> bool:
    """False for text with lone surrogates, which UTF-8 (and so SQLite) cannot hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SnapshotHandler(UsageHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        body = self.core.snapshot()
        if body is None:
            raise web.HTTPError(503, "The first sample is not taken yet; try again in a second.")
        self.write_json(body)


class HistoryHandler(UsageHandler):
    known_arguments = ("since", "step", "until")

    @web.authenticated
    @authorized
    async def get(self) -> None:
        now = time.time()
        since = self.float_argument("since", now - 600, low=0, high=now + 3600)
        until = self.float_argument("until", None, low=0, high=now + 3600)
        step = self.float_argument("step", None, low=0.001, high=30 * 86400)
        assert since is not None
        try:
            body = self.core.history(since, step, until)
        except ValueError as error:
            raise web.HTTPError(400, str(error)) from None
        self.write_json(body)


class ConfigHandler(UsageHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(self.core.config())


class SessionHandler(UsageHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(self.core.session())


class SessionsHandler(UsageHandler):
    known_arguments = ("limit", "before")
    default_limit, max_limit = 50, 1000

    async def sessions(self) -> dict[str, Any]:
        limit = self.int_argument("limit", self.default_limit, low=1, high=self.max_limit)
        before = self.float_argument("before", None, low=0)
        return await self.core.sessions(limit, before)

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self.sessions())


class SessionsCsvHandler(SessionsHandler):
    default_limit, max_limit = 1000, 100_000

    @web.authenticated
    @authorized
    async def get(self) -> None:
        body = await self.sessions()
        self.set_header("Content-Disposition", 'attachment; filename="jupyter-usage-sessions.csv"')
        self.finish(sessions_csv(body["sessions"]), set_content_type="text/csv; charset=utf-8")


class SummaryHandler(UsageHandler):
    known_arguments = ("session", "last_unseen")

    @web.authenticated
    @authorized
    async def get(self) -> None:
        session_id = self.get_query_argument("session", None)
        last_unseen = self.get_query_argument("last_unseen", None)
        if session_id and last_unseen:
            raise web.HTTPError(400, "give either session or last_unseen, not both")
        if last_unseen is not None and last_unseen not in ("1", "true"):
            raise web.HTTPError(400, "last_unseen must be 1 or true")
        summary = await self.core.summary(session_id, last_unseen=last_unseen is not None)
        if summary is None and last_unseen is not None:
            raise web.HTTPError(404, "Every past session's summary has been shown.")
        if summary is None:
            raise web.HTTPError(404, f"There is no session {session_id!r}.")
        self.write_json(summary)


class SummarySeenHandler(UsageHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        # Not get_json_body(): it lets a body that is not UTF-8 through as a 500.
        try:
            body = json.loads(self.request.body.decode("utf-8")) if self.request.body else {}
        except (ValueError, RecursionError):
            raise web.HTTPError(400, "the body must be a JSON object in UTF-8") from None
        session_id = body.get("session") if isinstance(body, dict) else None
        if not isinstance(session_id, str) or not session_id:
            raise web.HTTPError(400, 'the body must be {"session": "<session id>"}')
        if not _is_unicode(session_id):
            # A lone surrogate ("\ud800") parses as JSON but no database can store it.
            raise web.HTTPError(400, "the session id must be valid Unicode text")
        await asyncio.to_thread(self.core.mark_summary_seen, session_id)
        self.set_status(204)
        self.finish()


class HubHandler(UsageHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self.core.hub())


class BudgetHandler(UsageHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self.core.budget())


class MetricsHandler(UsageHandler):
    def initialize(self, core: UsageCore, collector: UsageCollector) -> None:  # type: ignore[override]
        super().initialize(core)
        self.collector = collector

    @web.authenticated
    @authorized
    async def get(self) -> None:
        body, content_type = self.collector.exposition()
        self.finish(body, set_content_type=content_type)


def handlers(
    core: UsageCore, collector: UsageCollector
) -> list[tuple[str, type[UsageHandler], dict[str, Any]]]:
    core_only: dict[str, Any] = {"core": core}
    with_collector: dict[str, Any] = {"core": core, "collector": collector}
    routes: list[tuple[str, type[UsageHandler]]] = [
        (rf"{API_PREFIX}/snapshot", SnapshotHandler),
        (rf"{API_PREFIX}/history", HistoryHandler),
        (rf"{API_PREFIX}/config", ConfigHandler),
        (rf"{API_PREFIX}/metrics", MetricsHandler),
        (rf"{API_PREFIX}/session", SessionHandler),
        (rf"{API_PREFIX}/sessions", SessionsHandler),
        (rf"{API_PREFIX}/sessions\.csv", SessionsCsvHandler),
        (rf"{API_PREFIX}/summary", SummaryHandler),
        (rf"{API_PREFIX}/summary/seen", SummarySeenHandler),
        (rf"{API_PREFIX}/hub", HubHandler),
        (rf"{API_PREFIX}/budget", BudgetHandler),
    ]
    return [
        (route, handler, with_collector if handler is MetricsHandler else core_only)
        for route, handler in routes
    ]
