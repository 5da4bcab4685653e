"""The hub history service: a JupyterHub service that keeps every user's sessions.

Run by the hub (`python -m jupyter_usage.hub`) as a managed service, it reads the
standard `JUPYTERHUB_SERVICE_*` variables. Single-user servers post their session
summaries with their own tokens; the user always comes from the token. Users read their
own sessions; admins, and holders of `UsageService.admin_scope`, read everyone's and the
KPIs. The report page logs browsers in through the hub (OAuth).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlparse

from jupyterhub.services.auth import (
    HubOAuth,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Float, Int, TraitError, Unicode, default, validate
from traitlets.config import Application

from jupyter_usage._version import __version__
from jupyter_usage.cost import CostModel
from jupyter_usage.hubclient import HubClient
from jupyter_usage.traits import BoundedFloat

from .budgets.config import BudgetConfig
from .budgets.keeper import BudgetKeeper
from .budgets.metering import Metering
from .budgets.metering_config import MeteringConfig
from .db import watch_periods
from .db.availability import (
    UNAVAILABLE,
    DatabaseHealth,
    is_unavailable,
)
from .db.availability import reason as failure_reason
from .db.storage import NewerSchemaError, UsageDB
from .handlers import Unavailable, routes
from .intake.hub_sessions import HubSessions
from .intake.hub_watch import HubPoller
from .intake.report_intake import ReportIntake
from .intake.report_limits import AllocationLookup
from .intake.validation import (
    MAX_BODY_BYTES,
)

_T = TypeVar("_T")


class UsageService(Application, BudgetConfig, MeteringConfig):
    """Keeps the session history of every user of a JupyterHub and reports KPIs."""

    # The mixins come after Application: their traits count as this class's own
    # (`c.UsageService.…`).
    _budget_keeper: BudgetKeeper | None = None
    _metering: Metering | None = None
    _allocation_lookup: AllocationLookup | None = None
    classes = [CostModel]
    hub_watch_gap: float | None = None
    """The longest gap between two polls of one watched period; None while not polling."""
    _report_intake: ReportIntake | None = None

    name = "jupyter-usage-hub"
    description = __doc__ or ""
    version = __version__

    aliases = {
        "db-url": "UsageService.db_url",
        "config": "UsageService.config_file",
        "log-level": "Application.log_level",
    }

    config_file = Unicode(
        "jupyter_usage_hub_config.py",
        config=True,
        help="""Python config file to load at start, if it exists (relative to the
        working directory). Default: "jupyter_usage_hub_config.py".
        """,
    )

    db_url = Unicode(
        config=True,
        help="""SQLAlchemy URL of the session database.

        SQLite (the default) suits a hub of a few hundred users; for more, or for a hub
        whose pod has no persistent volume, use PostgreSQL:
        `postgresql+psycopg://user:password@host/dbname` (needs `psycopg[binary]`).
        The schema is created and migrated at start. Default:
        $JUPYTER_USAGE_HUB_DB_URL, else "sqlite:///jupyter_usage_hub.sqlite" (in the
        working directory of the service).
        """,
    )

    regular_user_hours_per_week = Float(
        8.0,
        config=True,
        help="""Server hours per week, averaged over the report's window, from which a
        user counts as a regular user. Must be between 0 and 168. Default: 8.
        """,
    )

    admin_scope = Unicode(
        "custom:usage:read-all",
        config=True,
        help="""A JupyterHub custom scope whose holders read everyone's sessions and the
        KPIs, as admins do. Define it in `c.JupyterHub.custom_scopes`, grant it with a
        role, and list it in the service's `oauth_client_allowed_scopes` so that the
        report page sees it. Only the unfiltered scope counts. Empty: admins only.
        Default: "custom:usage:read-all".
        """,
    )

    hub_name = Unicode(
        "JupyterHub",
        config=True,
        help="""Name of the hub as the report page's title and header show it, e.g.
        "Physics JupyterHub"; its link leads back to the hub's home page.
        Default: "JupyterHub".
        """,
    )

    service_name = Unicode(
        config=True,
        help="""Name of this service in the hub. Default: $JUPYTERHUB_SERVICE_NAME, else
        "usage".""",
    )

    service_prefix = Unicode(
        config=True,
        help="""URL prefix the service answers under. Default: $JUPYTERHUB_SERVICE_PREFIX,
        else /services/<service_name>/.""",
    )

    service_url = Unicode(
        config=True,
        help="""Where the service listens. Default: $JUPYTERHUB_SERVICE_URL, else
        http://127.0.0.1:10101.""",
    )

    ip = Unicode(
        config=True,
        help="""Address to listen on. Default: the host of `service_url` when it is an IP
        address or "localhost", else all interfaces ("0.0.0.0"), as in a Kubernetes pod
        whose `service_url` names the hub's Service (http://hub:10101).""",
    )

    default_window_days = Int(
        30,
        config=True,
        help="Days the report and the KPIs cover when no `since` is given. Default: 30.",
    )

    max_window_days = Int(
        400,
        config=True,
        help="Longest window, in days, the KPIs may be asked for. Default: 400.",
    )

    hub_poll_interval = BoundedFloat(
        60.0,
        min=0,
        max=86400,
        config=True,
        help="""Seconds between two looks at the hub's running servers, through its REST
        API with the service's own token. Every server's start and stop is recorded from
        them, including servers whose image lacks jupyter_usage (as sessions without
        resource figures), and a server found gone is closed at the last time it was seen
        running. Needs the scopes `list:users`, `read:users:groups` and `read:servers` in
        a role of the service (see docs/hub.md). Between 0 and 86400; 0: do not poll.
        Default: 60.
        """,
    )

    db_retry_max_seconds = Float(
        30.0,
        config=True,
        help="""Longest wait, in seconds, between two attempts to open and migrate the
        database at start. The service never exits because the database is late (the hub
        would stop with it): it retries, 1 s after the first failure, then doubling up to
        this, and answers 503 until it is ready. Must be between 1 and 3600. Default: 30.
        """,
    )

    shutdown_grace_seconds = Float(
        10.0,
        config=True,
        help="""Seconds the service waits, once told to stop, for the requests in flight
        to finish before it closes their connections. New requests get a 503 meanwhile.
        Must be between 0 and 600. Default: 10.
        """,
    )

    @validate("db_retry_max_seconds", "shutdown_grace_seconds")
    def _validate_seconds(self, proposal: Any) -> float:
        value = float(proposal["value"])
        low, high = (1, 3600) if proposal["trait"].name == "db_retry_max_seconds" else (0, 600)
        if not low <= value <= high:
            raise TraitError(
                f"UsageService.{proposal['trait'].name} must be between {low} and {high} "
                f"seconds, got {value}"
            )
        return value

    @default("db_url")
    def _default_db_url(self) -> str:
        return os.environ.get("JUPYTER_USAGE_HUB_DB_URL") or "sqlite:///jupyter_usage_hub.sqlite"

    @default("service_name")
    def _default_service_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_NAME") or "usage"

    @default("service_prefix")
    def _default_service_prefix(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or f"/services/{self.service_name}/"

    @default("service_url")
    def _default_service_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:10101"

    @default("ip")
    def _default_ip(self) -> str:
        host = urlparse(self.service_url).hostname or "127.0.0.1"
        if host == "localhost":
            return host
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return "0.0.0.0"
        return host

    @default("log_level")
    def _default_log_level(self) -> int:
        return logging.INFO

    @validate("regular_user_hours_per_week")
    def _validate_regular(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0 <= value <= 168:
            raise TraitError(
                f"UsageService.regular_user_hours_per_week must be between 0 and 168, got {value}"
            )
        return value

    @validate("admin_scope")
    def _validate_admin_scope(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and (not value.startswith("custom:") or "!" in value):
            raise TraitError(
                "UsageService.admin_scope must be an unfiltered custom scope "
                f"('custom:…', see c.JupyterHub.custom_scopes) or empty, got {value!r}"
            )
        return value

    @validate("db_url")
    def _validate_db_url(self, proposal: Any) -> str:
        value = str(proposal["value"])
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            backend = ""
        if backend not in {"sqlite", "postgresql"}:
            # Not the value itself: it may hold a database password.
            got = f"a URL of {backend!r}" if backend else "no URL"
            raise TraitError(
                "UsageService.db_url must be an SQLAlchemy URL of SQLite or PostgreSQL "
                f"('sqlite:///path' or 'postgresql+psycopg://user@host/db'), got {got}"
            )
        return value

    @validate("service_url")
    def _validate_service_url(self, proposal: Any) -> str:
        value = str(proposal["value"])
        url = urlparse(value)
        try:
            url.port  # noqa: B018  (raises ValueError for a port that is not a number)
        except ValueError:
            url = url._replace(netloc="")
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise TraitError(
                f"UsageService.service_url must be an http(s) URL with a host, got {value!r}"
            )
        return value

    @validate("service_prefix")
    def _validate_prefix(self, proposal: Any) -> str:
        value = str(proposal["value"])
        return "/" + value.strip("/") + "/" if value.strip("/") else "/"

    @validate("default_window_days", "max_window_days")
    def _validate_days(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if not 1 <= value <= 3660:
            raise TraitError(f"UsageService.{proposal['trait'].name} must be 1 to 3660 days")
        return value

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        if os.path.isfile(self.config_file):
            self.load_config_file(self.config_file)
            # The command line beats the file.
            self.update_config(self.cli_config)
        self.executor = ThreadPoolExecutor(4, thread_name_prefix="usage-db")
        self.health = DatabaseHealth(self.log)
        self.stopping = False
        self.requests_in_flight = 0

    # -- the web app -----------------------------------------------------------------

    def make_app(self, db: UsageDB, hub_auth: HubOAuth) -> web.Application:
        self.db = db
        self.hub_auth = hub_auth
        return web.Application(
            routes(self),
            cookie_secret=secrets.token_bytes(32),
            log_function=self._log_request,
        )

    @default("log_format")
    def _default_log_format(self) -> str:
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

    @default("log_datefmt")
    def _default_log_datefmt(self) -> str:
        return "%Y-%m-%d %H:%M:%S"

    def _log_request(self, handler: web.RequestHandler) -> None:
        """One line per request: refusals at info, with their reason; errors as warnings."""
        status = handler.get_status()
        level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
        reason = getattr(handler, "refusal", None)
        if getattr(handler, "unavailable", False):
            # DatabaseHealth logs the outage once; a line per request would flood the log.
            level = logging.DEBUG
        self.log.log(
            level,
            "%d %s %s %.1f ms%s",
            status,
            handler.request.method,
            handler.request.path,
            1000 * handler.request.request_time(),
            f": {reason}" if reason else "",
        )

    async def run_db(self, function: Callable[[], _T]) -> _T:
        """Database work off the event loop (PostgreSQL answers over the network); a 503
        while the database cannot be reached."""
        if not self.health.ready:
            raise Unavailable(self.health.not_ready_message)
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.executor, function)
        except Exception as error:
            if not is_unavailable(error):
                raise
            self.health.failed(error)
            raise Unavailable(UNAVAILABLE) from None
        self.health.succeeded()
        return result

    async def open_database(self, db: UsageDB) -> None:
        """Create or migrate the schema, retrying until the database is there."""
        delay = 1.0
        for attempt in itertools.count(1):
            try:
                version = await asyncio.get_running_loop().run_in_executor(
                    self.executor, db.upgrade
                )
            except NewerSchemaError as error:
                self.log.error("%s The service answers 503 until it is upgraded.", error)
                self.health.not_ready_message = str(error)
                return
            except Exception as error:  # never exit over it: the hub would stop with us
                self.log.warning(
                    "Cannot open the usage database %s (attempt %d: %s); retrying in %g s",
                    _redact(self.db_url),
                    attempt,
                    _redact(failure_reason(error)),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.db_retry_max_seconds)
                continue
            self.health.ready = True
            self.log.info(
                "The usage database %s is ready (schema version %d)",
                _redact(self.db_url),
                version,
            )
            return

    async def poll_when_ready(self, opening: asyncio.Task[None], poller: HubPoller) -> None:
        """Polls from when the database is first ready: a poll before could only fail, and
        warn about an outage on every clean start."""
        await asyncio.shield(opening)
        if self.health.ready:
            await poller.run()

    def hub_poller(self, db: UsageDB) -> HubPoller | None:
        """The watch on the hub's servers, when polling is on and the hub gave a token."""
        client = HubClient.from_env(timeout_seconds=10, logger=self.log)
        if not self.hub_poll_interval or client is None:
            return None
        self.hub_sessions = HubSessions(db)
        self.hub_watch_gap = watch_periods.max_gap(self.hub_poll_interval)
        return HubPoller(
            self.hub_sessions,
            client,
            self.hub_poll_interval,
            self.run_db,
            self.log,
            on_poll=self.metering.saw_running,
        )

    @property
    def budget_keeper(self) -> BudgetKeeper:
        """The budgets at run time (made on first use, once the database is known)."""
        if self._budget_keeper is None:
            self._budget_keeper = BudgetKeeper(self)
        return self._budget_keeper

    @property
    def metering(self) -> Metering:
        """The price list (`c.CostModel.…` in the service's config) and the profiles'
        allocations; the rates that apply to money on the hub."""
        if self._metering is None:
            self._metering = Metering(
                CostModel(parent=self),
                self.parsed_profile_allocations,
                configured=bool(self.config.get("CostModel")),
            )
        return self._metering

    @property
    def allocation_lookup(self) -> AllocationLookup:
        """Each reported session's allocation, cached (report_limits.py)."""
        if self._allocation_lookup is None:
            self._allocation_lookup = AllocationLookup(self.db)
        return self._allocation_lookup

    @property
    def report_intake(self) -> ReportIntake:
        """Users' reports, written a batch per transaction (made on first use)."""
        if self._report_intake is None:
            self._report_intake = ReportIntake(
                self.db, self.run_db, lambda: self.hub_watch_gap, self.allocation_lookup
            )
        return self._report_intake

    def report_arrived(self, user: str, groups: Sequence[str]) -> None:
        """A session report was stored: budgets it may have spent are evaluated now."""
        if self.budgets:
            self.budget_keeper.on_report(user, groups)

    def is_reader_of_all(self, model: dict[str, Any]) -> bool:
        """Admins, and holders of the admin scope, read everyone's sessions."""
        if model.get("admin") is True:
            return True
        return bool(self.admin_scope) and self.admin_scope in (model.get("scopes") or ())

    # -- running ---------------------------------------------------------------------

    def start(self) -> None:
        asyncio.run(self.serve())

    async def serve(self) -> None:
        """Listen, open the database, and serve until SIGTERM or SIGINT.

        Listening comes first: until the database is ready every request gets a 503,
        which the servers retry, rather than a refused connection.
        """
        db = UsageDB(self.db_url)
        loop = asyncio.get_running_loop()
        opening: asyncio.Task[None] | None = None
        try:
            hub_auth = HubOAuth(parent=self, cache_max_age=60, base_url=self.service_prefix)
            app = self.make_app(db, hub_auth)
            where = urlparse(self.service_url)
            server = HTTPServer(app, xheaders=True, max_body_size=2 * MAX_BODY_BYTES)
            server.listen(where.port or 80, address=self.ip)
            self.log.info(
                "jupyter_usage hub service %s at %s%s (database %s)",
                self.service_name,
                self.service_url.rstrip("/"),
                self.service_prefix,
                _redact(self.db_url),
            )
            if self.metering.configured:
                self.log.info(
                    "Pricing sessions with c.CostModel of this service's config: %s; it is "
                    "the price list of the hub (servers fetch it from api/v1/rates)",
                    json.dumps(self.metering.rates((), None).to_json(), sort_keys=True),
                )
            else:
                self.log.info(
                    "No c.CostModel in this service's config: servers price sessions with "
                    "their own, and budgets count the costs they report"
                )
            opening = asyncio.create_task(self.open_database(db))
            poller = self.hub_poller(db)
            poll_task = (
                asyncio.create_task(self.poll_when_ready(opening, poller))
                if poller is not None
                else None
            )
            budget_task = None
            if self.budgets:
                budget_task = asyncio.create_task(self.budget_keeper.enforcer.run())
            stop = asyncio.Event()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
            self.log.info("Stopping the jupyter_usage hub service")
            for task in (poll_task, budget_task):
                if task is not None:
                    task.cancel()
            if self._budget_keeper is not None:
                self._budget_keeper.enforcer.cancel_timers()
            await self.drain(server)
        finally:
            if opening is not None:
                opening.cancel()
            self.executor.shutdown(wait=True)
            db.close()

    async def drain(self, server: HTTPServer) -> None:
        """Stop accepting, let the requests in flight finish, then close."""
        self.stopping = True
        server.stop()
        deadline = time.monotonic() + self.shutdown_grace_seconds
        while self.requests_in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.requests_in_flight:
            self.log.warning(
                "Closing %d requests still in flight after %g s",
                self.requests_in_flight,
                self.shutdown_grace_seconds,
            )
        await asyncio.wait_for(server.close_all_connections(), 5)


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def main(argv: list[str] | None = None) -> None:
    service = UsageService.instance()
    service.initialize(argv)
    service.start()
