"""The spawn check, for the hub's own process: refuse a server when its user's budget is spent.

In jupyterhub_config.py:

    from jupyter_usage.hub.budgets import refuse_over_budget
    c.Spawner.pre_spawn_hook = refuse_over_budget

With a hook of your own, chain them (`chain_hooks` awaits each in turn, sync or async):

    from jupyter_usage.hub.budgets import chain_hooks, refuse_over_budget
    c.Spawner.pre_spawn_hook = chain_hooks(refuse_over_budget, my_hook)

The hook asks the usage service (`GET …/api/v1/budget`) with the new server's own token,
which the hub has just made, so it needs `access:services!service=usage` in
`c.Spawner.server_token_scopes` (as the extension does). It finds the service among the
hub's services, by `c.UsageService.service_name` (default "usage"). A budget spent under
"spawn" or "stop" enforcement refuses the spawn with a 403 whose message the spawn page
shows: the budget, its use against its limit, and when it resets.

When the service cannot be asked (down, slow, refusing the token), the spawn goes through
and the hub logs a warning: an outage of the usage service must not lock everyone out of
the hub. `c.UsageService.budget_fail_open = False` refuses spawns instead.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from jupyter_usage.hub.periods import zone_time

from .rules import refusal_message
from .spawn_refusal import refusal_error, spawn_error

log = logging.getLogger("jupyter_usage.budgets")

TIMEOUT_SECONDS = 5.0


class BudgetUnknown(Exception):
    """The service could not say; the message says why."""


def _settings(spawner: Any) -> Mapping[str, Any]:
    config = getattr(spawner, "config", None)
    section = config.get("UsageService") if config is not None else None
    return section if isinstance(section, Mapping) else {}


def _service_prefix_url(spawner: Any, name: str) -> str:
    services = (getattr(spawner.user, "settings", None) or {}).get("services") or {}
    service = services.get(name)
    url = getattr(service, "url", None)
    if not url:
        raise BudgetUnknown(f"the hub has no service {name!r} with a URL")
    prefix = getattr(service, "prefix", None) or f"/services/{name}/"
    return f"{str(url).rstrip('/')}/{str(prefix).strip('/')}/"


def _usage_path(spawner: Any, name: str) -> str | None:
    """The service's pages as the user's browser reaches them (through the hub's proxy)."""
    services = (getattr(spawner.user, "settings", None) or {}).get("services") or {}
    prefix = getattr(services.get(name), "prefix", None)
    return str(prefix) if prefix else None


async def _ask(url: str, token: str, method: str = "GET", body: Any = None) -> Any:
    request = HTTPRequest(
        url,
        method=method,
        headers={
            "Authorization": f"token {token}",
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if body is not None else {}),
        },
        body=None if body is None else json.dumps(body),
        request_timeout=TIMEOUT_SECONDS,
        connect_timeout=TIMEOUT_SECONDS,
        follow_redirects=False,
    )
    try:
        response = await AsyncHTTPClient().fetch(request)
    except HTTPClientError as error:
        message = ""
        if error.response is not None and error.response.body:
            try:
                message = str(json.loads(error.response.body).get("message", ""))
            except (ValueError, AttributeError):
                message = ""
        raise BudgetUnknown(f"{error.code} {message}".strip()) from None
    except Exception as error:  # refused, reset, timed out, bad address
        raise BudgetUnknown(f"{type(error).__name__}: {error}") from None
    try:
        return json.loads(response.body)
    except ValueError:
        raise BudgetUnknown("the answer was not JSON") from None


async def refuse_over_budget(spawner: Any) -> None:
    """A `c.Spawner.pre_spawn_hook`: a 403 with the reason when the user's budget is spent."""
    settings = _settings(spawner)
    name = str(settings.get("service_name") or "usage")
    fail_open = bool(settings.get("budget_fail_open", True))
    user = getattr(spawner.user, "name", "?")
    logger = getattr(spawner, "log", None) or log
    try:
        base = _service_prefix_url(spawner, name)
        token = getattr(spawner, "api_token", None)
        if not token:
            raise BudgetUnknown("the spawner has no API token yet")
        answer = await _ask(f"{base}api/v1/budget", token)
        budgets = answer.get("budgets") if isinstance(answer, dict) else None
        if not isinstance(budgets, list):
            raise BudgetUnknown("the answer holds no budget list")
    except BudgetUnknown as error:
        if fail_open:
            logger.warning(
                "Starting %s's server without a budget check: cannot ask the usage service "
                "%r (%s). Its token needs access:services!service=%s in "
                "c.Spawner.server_token_scopes.",
                user,
                name,
                error,
                name,
            )
            return
        raise spawn_error(
            503,
            "Your server cannot start right now: the usage service, which checks budgets, "
            "does not answer. Please try again in a few minutes.",
        ) from None
    spent = [
        entry
        for entry in budgets
        if isinstance(entry, dict)
        and entry.get("exhausted") is True
        and entry.get("enforcement") in ("spawn", "stop")
    ]
    if not spent:
        return
    # The budget that frees up last is the one that keeps the user waiting.
    entry = max(spent, key=lambda e: float(e.get("resets_at") or 0))
    zone = str(settings.get("budget_timezone") or "UTC")
    when = zone_time(float(entry["resets_at"]), zone)
    message = refusal_message(entry, when)
    try:
        refusal = {"scope": entry["scope"], "message": message}
        await _ask(f"{base}api/v1/budget/refusals", token, "POST", refusal)
    except BudgetUnknown as error:
        logger.warning("Cannot record %s's refused spawn at the usage service: %s", user, error)
    logger.warning("Refusing to start %s's server: %s", user, message)
    raise refusal_error(message, float(entry["resets_at"]), when, _usage_path(spawner, name))


def chain_hooks(*hooks: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """One pre-spawn hook that runs `hooks` in order, awaiting those that are async."""

    async def chained(spawner: Any) -> None:
        for hook in hooks:
            result = hook(spawner)
            if inspect.isawaitable(result):
                await result

    return chained
