"""The hub service's HTTP handlers: thin, each raising `web.HTTPError` with a message.

The JSON API answers errors as `{"message": …}`; the pages as HTML. Every database call
goes through the service's `run_db`, so a slow or absent database never blocks the loop.
One module per area; `routes` is the one list of what the service serves.
"""

from __future__ import annotations

import os
from typing import Any

from jupyterhub.utils import url_path_join
from tornado import web

from .base import ApiHandler, BaseHandler, Service, Unavailable, bad_user_name
from .budget import BudgetHandler, BudgetRefusalsHandler, MetricsHandler
from .drill_down import ActivityHandler, SessionDetailsHandler, UsersHandler
from .kpis import KpisCsvHandler, KpisHandler, SizingHandler
from .metering import AllocationsHandler, RatesHandler
from .pages import OAuthCallbackHandler, PageHandler, ReportHandler, SessionsPageHandler
from .sessions import SessionsCsvHandler, SessionsHandler

STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "report", "static")
"""The report page's scripts and styles (uPlot included), served as files: the page's
Content-Security-Policy allows no inline script."""

__all__ = [
    "ActivityHandler",
    "AllocationsHandler",
    "ApiHandler",
    "BaseHandler",
    "BudgetHandler",
    "BudgetRefusalsHandler",
    "KpisCsvHandler",
    "KpisHandler",
    "MetricsHandler",
    "OAuthCallbackHandler",
    "PageHandler",
    "RatesHandler",
    "ReportHandler",
    "SessionDetailsHandler",
    "SessionsCsvHandler",
    "SessionsHandler",
    "SessionsPageHandler",
    "SizingHandler",
    "Unavailable",
    "UsersHandler",
    "bad_user_name",
    "routes",
]


def routes(service: Service) -> list[Any]:
    """Every route of the service, under its `service_prefix`."""
    prefix = service.service_prefix
    api = url_path_join(prefix, "api/v1")
    arguments = {"service": service}
    return [
        (prefix, ReportHandler, arguments),
        (prefix.rstrip("/"), web.RedirectHandler, {"url": prefix}),
        (url_path_join(prefix, "oauth_callback"), OAuthCallbackHandler, arguments),
        (url_path_join(api, "sessions"), SessionsHandler, arguments),
        (url_path_join(api, r"sessions\.csv"), SessionsCsvHandler, arguments),
        (url_path_join(api, "kpis"), KpisHandler, arguments),
        (url_path_join(api, r"kpis\.csv"), KpisCsvHandler, arguments),
        (url_path_join(api, "sizing"), SizingHandler, arguments),
        (url_path_join(api, "budget"), BudgetHandler, arguments),
        (url_path_join(api, "budget/refusals"), BudgetRefusalsHandler, arguments),
        (url_path_join(api, "metrics"), MetricsHandler, arguments),
        (url_path_join(api, "rates"), RatesHandler, arguments),
        (url_path_join(api, "allocations"), AllocationsHandler, arguments),
        (url_path_join(api, "activity"), ActivityHandler, arguments),
        (url_path_join(api, "users"), UsersHandler, arguments),
        (url_path_join(api, "session-details"), SessionDetailsHandler, arguments),
        (url_path_join(prefix, "sessions"), SessionsPageHandler, arguments),
        (url_path_join(prefix, "static/(.*)"), web.StaticFileHandler, {"path": STATIC_DIR}),
    ]
