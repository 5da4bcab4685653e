"""Helpers for the in-process test server (pytest-jupyter's `jp_serverapp`)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tornado.httpclient import HTTPClientError

from jupyter_usage.handlers import API_PREFIX


async def wait_for_sample(usage_get: Any) -> dict[str, Any]:
    for _ in range(50):
        try:
            return await usage_get("snapshot")  # type: ignore[no-any-return]
        except HTTPClientError as error:
            if error.code != 503:
                raise
        await asyncio.sleep(0.1)
    raise AssertionError("no sample within 5 s")


def registered_routes(serverapp: Any) -> dict[str, type]:
    """Every URL pattern under the extension's prefix, with its handler class."""
    routes: dict[str, type] = {}
    for outer in serverapp.web_app.default_router.rules:
        for rule in getattr(outer.target, "rules", [outer]):
            pattern = getattr(rule.matcher, "regex", re.compile("")).pattern
            if API_PREFIX in pattern:
                routes[pattern.rstrip("$").replace("\\", "")] = rule.target
    return routes
