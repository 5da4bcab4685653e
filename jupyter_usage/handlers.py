"""Thin REST handlers: parse and check parameters, format what the core already has.

No handler samples anything: they read the sampler's latest sample, the series,
the ledger and the store.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import TYPE_CHECKING, Any, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from .export import sessions_csv
from .session import last_unseen_summary

if TYPE_CHECKING:
    from .app import UsageApp

API_PREFIX = "/api/usage/v1"
AUTH_RESOURCE = "usage"


class BadRequest(ValueError):
    """A request parameter is missing or wrong; the message is shown to the user."""


class UsageHandler(ExtensionHandlerMixin, APIHandler):
    # A panel polling all night must not keep the idle culler away.
    _track_activity = False
    auth_resource = AUTH_RESOURCE

    @property
    def usage(self) -> UsageApp:
        return cast("UsageApp", self.extensionapp)

    def write_json(self, body: Any) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body, allow_nan=False))

    def bad_request(self, message: str) -> None:
        self.set_status(400)
        self.write_json({"message": message})

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
            raise BadRequest(f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise BadRequest(f"{name} must be between {low:g} and {high:g}, got {raw!r}")
        return value

    def int_argument(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise BadRequest(f"{name} must be between {low} and {high}, got {raw!r}")
        return value

    def check_known_arguments(self, *known: str) -> None:
        # JupyterLab's ServerConnection adds `?<timestamp>` to bust caches: not a parameter.
        # `token` is jupyter_server's own way of authenticating a URL (a scraper, a link).
        unknown = sorted(
            name
            for name, values in self.request.query_arguments.items()
            if name not in known
            and name != "token"
            and not (name.isdigit() and values in ([b""], []))
        )
        if unknown:
            raise BadRequest(
                f"unknown parameter {unknown[0]!r}; this endpoint takes "
                + (", ".join(known) if known else "no parameters")
            )


def _is_unicode(text: str) -> bool:
    """False for text with lone surrogates, which UTF-8 (and so SQLite) cannot hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def answer(*arguments: str) -> Any:
    """Decorate a `get` that returns a JSON body: checks arguments, turns BadRequest
    into a 400 with a message, and keeps auth decorators in one place."""

    def decorate(method: Any) -> Any:
        @web.authenticated
        @authorized
        async def get(self: UsageHandler) -> None:
            try:
                self.check_known_arguments(*arguments)
                body = await method(self)
            except BadRequest as error:
                self.bad_request(str(error))
                return
            if body is not None:
                self.write_json(body)

        get.__name__ = method.__name__
        return get

    return decorate


class SnapshotHandler(UsageHandler):
    @answer()
    async def get(self) -> Any:
        sample = self.usage.sampler.latest
        if sample is None:
            self.set_status(503)
            return {"message": "The first sample is not taken yet; try again in a second."}
        body = sample.to_json()
        body["notices"] = self.usage.oom.notices(since=sample.time - 3600)
        return body


class HistoryHandler(UsageHandler):
    @answer("since", "step", "until")
    async def get(self) -> Any:
        now = time.time()
        since = self.float_argument("since", now - 600, low=0, high=now + 3600)
        until = self.float_argument("until", None, low=0, high=now + 3600)
        step = self.float_argument("step", None, low=0.001, high=30 * 86400)
        assert since is not None
        if until is not None and until < since:
            raise BadRequest("until must not be before since")
        try:
            columns, effective_step = self.usage.series.query_with_meta(since, step, until=until)
        except ValueError as error:
            raise BadRequest(str(error)) from None
        return {"step_seconds": effective_step, "columns": columns}


class ConfigHandler(UsageHandler):
    @answer()
    async def get(self) -> Any:
        return self.usage.config_json()


class SessionHandler(UsageHandler):
    @answer()
    async def get(self) -> Any:
        body = self.usage.recorder.session_json()
        body["projected"] = self.usage.projection(body["cost"])
        return body


class SessionsHandler(UsageHandler):
    @answer("limit", "before")
    async def get(self) -> Any:
        limit = self.int_argument("limit", 50, low=1, high=1000)
        before = self.float_argument("before", None, low=0)
        return await self.usage.sessions_json(limit, before)


class SessionsCsvHandler(UsageHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        try:
            self.check_known_arguments("limit", "before")
            limit = self.int_argument("limit", 1000, low=1, high=100_000)
            before = self.float_argument("before", None, low=0)
        except BadRequest as error:
            self.bad_request(str(error))
            return
        records = await asyncio.to_thread(self.usage.store.list, limit, before)
        self.set_header("Content-Disposition", 'attachment; filename="jupyter-usage-sessions.csv"')
        self.finish(sessions_csv(records), set_content_type="text/csv; charset=utf-8")


class SummaryHandler(UsageHandler):
    @answer("session", "last_unseen")
    async def get(self) -> Any:
        session_id = self.get_query_argument("session", None)
        last_unseen = self.get_query_argument("last_unseen", None)
        if session_id and last_unseen:
            raise BadRequest("give either session or last_unseen, not both")
        if last_unseen is not None:
            if last_unseen not in ("1", "true"):
                raise BadRequest("last_unseen must be 1 or true")
            summary = await asyncio.to_thread(
                last_unseen_summary, self.usage.store, self.usage.recorder.id
            )
            if summary is None:
                self.set_status(404)
                return {"message": "Every past session's summary has been shown."}
            return summary
        if not session_id or session_id == self.usage.recorder.id:
            return self.usage.recorder.summary_json()
        record = await asyncio.to_thread(self.usage.store.get, session_id)
        if record is None:
            self.set_status(404)
            return {"message": f"There is no session {session_id!r}."}
        if record.get("summary") is not None:
            return record["summary"]
        return await asyncio.to_thread(self.usage.recorder.summary_of_record, record)


class SummarySeenHandler(UsageHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        # Not get_json_body(): it lets a body that is not UTF-8 through as a 500.
        try:
            body = json.loads(self.request.body.decode("utf-8")) if self.request.body else {}
        except (ValueError, RecursionError):
            self.bad_request("the body must be a JSON object in UTF-8")
            return
        session_id = body.get("session") if isinstance(body, dict) else None
        if not isinstance(session_id, str) or not session_id:
            self.bad_request('the body must be {"session": "<session id>"}')
            return
        if not _is_unicode(session_id):
            # A lone surrogate ("\ud800") parses as JSON but no database can store it.
            self.bad_request("the session id must be valid Unicode text")
            return
        await asyncio.to_thread(self.usage.mark_summary_seen, session_id)
        self.set_status(204)
        self.finish()


class HubHandler(UsageHandler):
    @answer()
    async def get(self) -> Any:
        return await self.usage.hub_json()


class MetricsHandler(UsageHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        try:
            self.check_known_arguments()
        except BadRequest as error:
            self.bad_request(str(error))
            return
        body, content_type = self.usage.collector.exposition()
        self.finish(body, set_content_type=content_type)


def handlers() -> list[tuple[str, type[UsageHandler]]]:
    return [
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
    ]
