"""The single-user side of JupyterHub: who the user is, and delivery of sessions to the hub.

Plain blocking Python (urllib): the extension calls it from a worker thread. Nothing here
raises to the caller: a hub that is down, slow or refusing gives an answer that says so,
and the next attempt waits out an exponential backoff with jitter. HTTP proxies from the
environment are ignored, as JupyterHub's own clients do: the hub is a neighbour.

The server's token (`JUPYTERHUB_API_TOKEN`) reads the user's name, admin flag, groups and
last activity by default. This server's start time and profile need `read:servers!user`,
reaching the history service `access:services!service=usage`, and finding its address
`read:services!service=usage`, all in `c.Spawner.server_token_scopes` (see docs/hub.md).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast
from urllib.parse import quote, unquote, urlencode, urlparse

from ._version import __version__
from .logonce import LogOnce
from .records import SessionRecord

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
SERVERS_SCOPE = "read:servers!user"
GROUPS_SCOPE = "read:users:groups!user"


def access_scope(service: str) -> str:
    return f"access:services!service={service}"


def read_service_scope(service: str) -> str:
    return f"read:services!service={service}"


def secrets_of(token: str, urls: Iterable[str | None]) -> list[str]:
    """What a message must never show: the token, and the credentials in `urls`
    (`https://user:password@host/`), each as written and percent-decoded, with its "@"."""
    found = {token} if token else set()
    for url in urls:
        userinfo = urlparse(url).netloc.rpartition("@")[0] if url else ""
        if not userinfo:
            continue
        password = userinfo.partition(":")[2]
        for part in (userinfo, password):
            if part:
                found.update({f"{part}@", f"{unquote(part)}@"})
    # Longest first, so that the whole user info goes before the password inside it.
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with each of `secrets` replaced by "***" (an "@" kept as "***@")."""
    for secret in secrets:
        text = text.replace(secret, "***@" if secret.endswith("@") else "***")
    return text


def parse_hub_time(value: Any) -> float | None:
    """A JupyterHub ISO 8601 timestamp ("2026-11-22T10:00:00.123456Z") as unix seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


# -- plumbing --------------------------------------------------------------------------


class Backoff:
    """Exponential backoff with jitter: after n failures, wait about base·2ⁿ⁻¹, capped."""

    def __init__(
        self,
        *,
        base_seconds: float = 2.0,
        max_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds
        self._clock = clock
        self._rng = rng
        self.failures = 0
        self._next_attempt = float("-inf")

    def ready(self) -> bool:
        return self._clock() >= self._next_attempt

    def seconds_left(self) -> float:
        return max(0.0, self._next_attempt - self._clock())

    def failed(self) -> float:
        """Note a failure; returns the seconds until the next attempt."""
        self.failures += 1
        delay: float = min(self.max_seconds, self.base_seconds * 2.0 ** min(self.failures - 1, 30))
        # "Equal jitter": at least half the delay, so a down hub is never hammered, and
        # spread over the other half, so a hub's servers do not retry in lockstep.
        delay = delay / 2 + self._rng() * delay / 2
        self._next_attempt = self._clock() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self._next_attempt = float("-inf")


@dataclass(frozen=True)
class HubResponse:
    """What came back: `status` None when nothing did (refused, timed out, unparseable)."""

    status: int | None
    body: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def message(self) -> str:
        if self.status is None:
            return self.error or "no answer"
        detail = self.body.get("message") if isinstance(self.body, dict) else None
        return f"HTTP {self.status}" + (f": {detail}" if detail else "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect means a wrong address (the hub's login page, say), never success."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# -- what the hub says about this user ---------------------------------------------------


@dataclass(frozen=True)
class HubInfo:
    """The user's hub model as this server sees it."""

    available: bool
    reason: str | None = None
    name: str | None = None
    admin: bool | None = None
    groups: list[str] = field(default_factory=list)
    server_name: str | None = None
    started: float | None = None
    """When the hub started this server (unix seconds); needs read:servers!user."""
    last_activity: float | None = None
    profile: str | None = None
    user_options: dict[str, Any] = field(default_factory=dict)
    other_servers: list[dict[str, Any]] = field(default_factory=list)
    scopes_missing: list[str] = field(default_factory=list)
    fetched_at: float | None = None
    """When the hub gave this answer (unix seconds); older than a minute after a failure."""

    def to_json(self) -> dict[str, Any]:
        if not self.available:
            return {"available": False, "reason": self.reason}
        return {
            "available": True,
            "reason": self.reason,
            "name": self.name,
            "admin": self.admin,
            "groups": list(self.groups),
            "server_name": self.server_name,
            "started": self.started,
            "last_activity": self.last_activity,
            "profile": self.profile,
            "user_options": self.user_options,
            "other_servers": self.other_servers,
            "scopes_missing": list(self.scopes_missing),
            "fetched_at": self.fetched_at,
        }


def profile_of(user_options: Mapping[str, Any]) -> str | None:
    """The spawn profile's slug: KubeSpawner's `profile`, or a `profile_slug` option."""
    for key in ("profile", "profile_slug"):
        value = user_options.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def hub_info_from_model(model: Mapping[str, Any], server_name: str, fetched_at: float) -> HubInfo:
    """Read a `/hub/api/user` answer; what the token may not read is named, not guessed."""
    missing: list[str] = []
    groups_value = model.get("groups")
    if isinstance(groups_value, list):
        groups = sorted(g for g in groups_value if isinstance(g, str))
    else:
        groups = []
        missing.append(GROUPS_SCOPE)
    servers = model.get("servers")
    this: Mapping[str, Any] = {}
    others: list[dict[str, Any]] = []
    if isinstance(servers, dict):
        mine = servers.get(server_name)
        this = mine if isinstance(mine, dict) else {}
        for name, server in sorted(servers.items()):
            if name == server_name or not isinstance(server, dict):
                continue
            others.append(
                {
                    "name": name,
                    "started": parse_hub_time(server.get("started")),
                    "last_activity": parse_hub_time(server.get("last_activity")),
                    "ready": server.get("ready"),
                    "url": server.get("url"),
                    "profile": profile_of(server.get("user_options") or {}),
                }
            )
    else:
        missing.append(SERVERS_SCOPE)
    user_options = this.get("user_options")
    user_options = dict(user_options) if isinstance(user_options, dict) else {}
    last_activity = parse_hub_time(model.get("last_activity"))
    if last_activity is None:
        last_activity = parse_hub_time(this.get("last_activity"))
    admin = model.get("admin")
    return HubInfo(
        available=True,
        name=model.get("name") if isinstance(model.get("name"), str) else None,
        admin=admin if isinstance(admin, bool) else None,
        groups=groups,
        server_name=server_name,
        started=parse_hub_time(this.get("started")),
        last_activity=last_activity,
        profile=profile_of(user_options),
        user_options=user_options,
        other_servers=others,
        scopes_missing=missing,
        fetched_at=fetched_at,
    )


class HubClient:
    """Reads the hub's API with this server's token: cached, with timeouts and backoff."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        user: str | None = None,
        server_name: str = "",
        base_url: str = "/",
        public_url: str | None = None,
        service_url_override: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.user = user
        self.server_name = server_name
        self.base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
        self.public_url = public_url or None
        self.service_url_override = service_url_override or None
        self.timeout_seconds = timeout_seconds
        self.log = logger or log
        self._log_once = LogOnce(self.log)
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        self._user_lock = threading.Lock()
        self._user_backoff = self.backoff()
        self._info: HubInfo | None = None
        self._info_at = float("-inf")
        self._last_error: str | None = None
        self._service_lock = threading.Lock()
        self._service_backoff = self.backoff()
        self._service_urls: dict[str, tuple[str | None, float]] = {}
        self._history_backoff = self.backoff()
        # Shown nowhere: not in logs, not in the reasons the /hub endpoint returns.
        self._secrets = secrets_of(token, (api_url, public_url, service_url_override))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **kwargs: Any) -> HubClient | None:
        """A client for the hub that spawned this server; None outside a hub."""
        api_url = env.get("JUPYTERHUB_API_URL")
        token = env.get("JUPYTERHUB_API_TOKEN")
        if not api_url or not token:
            return None
        kwargs.setdefault("user", env.get("JUPYTERHUB_USER") or None)
        kwargs.setdefault("server_name", env.get("JUPYTERHUB_SERVER_NAME", ""))
        kwargs.setdefault("base_url", env.get("JUPYTERHUB_BASE_URL") or "/")
        kwargs.setdefault(
            "public_url",
            env.get("JUPYTERHUB_PUBLIC_HUB_URL") or env.get("JUPYTERHUB_PUBLIC_URL") or None,
        )
        kwargs.setdefault("service_url_override", env.get("JUPYTER_USAGE_SERVICE_URL") or None)
        return cls(api_url, token, **kwargs)

    def backoff(self) -> Backoff:
        return Backoff(clock=self._clock, rng=self._rng)

    def clock(self) -> float:
        """Monotonic seconds (injectable, for tests)."""
        return self._clock()

    def scrub(self, text: str) -> str:
        """`text` without the token or the credentials of the hub's URLs."""
        return scrub(text, self._secrets)

    def log_once(self, key: str, level: int, message: str, *args: Any) -> None:
        """Log at `level` the first time, at debug after that (until `forget_logged`)."""
        shown = tuple(self.scrub(arg) if isinstance(arg, str) else arg for arg in args)
        self._log_once(key, level, message, *shown)

    def forget_logged(self, key: str) -> bool:
        return self._log_once.forget(key)

    # -- HTTP ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        timeout_seconds: float | None = None,
    ) -> HubResponse:
        """One request with this server's token; never raises."""
        headers = {
            "Authorization": f"token {self.token}",
            "Accept": "application/json",
            "User-Agent": f"jupyter-usage/{__version__}",
        }
        data = None
        if body is not None:
            try:
                data = json.dumps(body, allow_nan=False).encode()
            except (TypeError, ValueError) as error:
                return HubResponse(None, error=f"cannot encode the request: {error}")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        try:
            with self._opener.open(request, timeout=timeout) as response:
                status = response.status
                raw = response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as error:
            status = error.code
            try:
                raw = error.read(MAX_RESPONSE_BYTES)
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                error.close()
        except (OSError, http.client.HTTPException, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            return HubResponse(None, error=self.scrub(f"{method} {url} failed: {reason}"))
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return HubResponse(status, parsed)

    # -- the user --------------------------------------------------------------------

    def user_model(self, max_age_seconds: float = 60) -> HubInfo:
        """The user's hub model, cached `max_age_seconds`; after a failure the last good
        answer (see `fetched_at`), or `available=False` with the reason."""
        with self._user_lock:
            if self._info is not None and self._clock() - self._info_at < max_age_seconds:
                return self._info
            if not self._user_backoff.ready():
                return self._info or HubInfo(available=False, reason=self._last_error)
            answer = self.request("GET", f"{self.api_url}/user")
            info = self._read_user(answer)
            if info is None:
                self._user_backoff.failed()
                return self._info or HubInfo(available=False, reason=self._last_error)
            self._user_backoff.succeeded()
            if self._last_error is not None and self.forget_logged("user"):
                self.log.info("jupyter_usage: the hub answers again")
            self._last_error = None
            self._info, self._info_at = info, self._clock()
            return info

    def _read_user(self, answer: HubResponse) -> HubInfo | None:
        if answer.ok and isinstance(answer.body, dict):
            info = hub_info_from_model(answer.body, self.server_name, self._wall_clock())
            for scope in info.scopes_missing:
                self.log_once(
                    f"scope:{scope}",
                    logging.WARNING,
                    "jupyter_usage: scope not granted: this server's token lacks %s, so %s is "
                    "unknown. Add %r to c.Spawner.server_token_scopes (see docs/hub.md).",
                    scope,
                    "the server's start time and profile"
                    if scope == SERVERS_SCOPE
                    else "the user's groups",
                    scope,
                )
            return info
        if answer.status == 403:
            self._last_error = (
                "scope not granted: the hub refused to tell this server who its user is (403)"
            )
            self.log_once(
                "user",
                logging.WARNING,
                "jupyter_usage: scope not granted: GET %s/user answered 403 (%s); the server "
                "token needs read:users:name!user (a default) and %s in "
                "c.Spawner.server_token_scopes",
                self.api_url,
                answer.message(),
                SERVERS_SCOPE,
            )
        elif answer.status is None:
            self._last_error = f"the hub did not answer: {answer.error}"
            self.log_once(
                "user",
                logging.WARNING,
                "jupyter_usage: cannot reach the hub (%s); will retry with backoff",
                answer.error,
            )
        else:
            self._last_error = self.scrub(f"the hub answered {answer.message()}")
            self.log_once(
                "user",
                logging.WARNING,
                "jupyter_usage: GET %s/user: %s; will retry with backoff",
                self.api_url,
                answer.message(),
            )
        return None

    # -- services --------------------------------------------------------------------

    def fallback_service_url(self, name: str) -> str:
        """The service's address through the proxy: `JUPYTERHUB_BASE_URL + services/<name>/`
        on the hub's public origin (`JUPYTERHUB_PUBLIC_HUB_URL`), else on the origin of
        `JUPYTERHUB_API_URL`, which only works when the API is reached through the proxy."""
        origin_of = urlparse(self.public_url or self.api_url)
        return f"{origin_of.scheme}://{origin_of.netloc}{self.base_url}services/{quote(name)}/"

    def service_url(self, name: str = "usage", max_age_seconds: float = 300) -> str | None:
        """Base URL of the hub service `name` (ending in "/"), or None while unknown.

        `JUPYTER_USAGE_SERVICE_URL` wins. Else GET /hub/api/services/<name> gives the
        service's own address (`url` + `prefix`), which needs `read:services!service=<name>`
        in the server's token; without it (403, or a model without `url`) the answer is
        `fallback_service_url(name)`, and the log says which scope to add.
        """
        if self.service_url_override:
            return self.service_url_override.rstrip("/") + "/"
        with self._service_lock:
            cached = self._service_urls.get(name)
            if cached is not None and self._clock() - cached[1] < max_age_seconds:
                return cached[0]
            if not self._service_backoff.ready():
                return cached[0] if cached else None
            answer = self.request("GET", f"{self.api_url}/services/{quote(name)}")
            url: str | None
            if answer.ok and isinstance(answer.body, dict) and answer.body.get("url"):
                prefix = answer.body.get("prefix") or f"{self.base_url}services/{name}/"
                url = str(answer.body["url"]).rstrip("/") + "/" + str(prefix).lstrip("/")
            elif answer.ok or answer.status == 403:
                url = self.fallback_service_url(name)
                self.log_once(
                    f"service:{name}",
                    logging.WARNING,
                    "jupyter_usage: scope not granted: this server's token cannot read the "
                    "address of the hub service %r; trying %s. Add %r to "
                    "c.Spawner.server_token_scopes.",
                    name,
                    url,
                    read_service_scope(name),
                )
            elif answer.status == 404:
                url = None
                self.log_once(
                    f"service:{name}",
                    logging.WARNING,
                    "jupyter_usage: the hub has no service named %r: sessions stay in the "
                    "local store (see docs/hub.md to run the history service)",
                    name,
                )
            else:
                self._service_backoff.failed()
                return cached[0] if cached else None
            self._service_backoff.succeeded()
            self._service_urls[name] = (url, self._clock())
            return url

    def service_sessions(
        self,
        name: str = "usage",
        *,
        limit: int = 50,
        before: float | None = None,
        timeout_seconds: float = 2.0,
    ) -> list[SessionRecord] | None:
        """The user's sessions as the history service keeps them (every server of the
        user, newest first), or None when it cannot say: then the local store answers."""
        base = self.service_url(name)
        if base is None or not self._history_backoff.ready():
            return None
        query = f"limit={int(limit)}" + (f"&until={before!r}" if before is not None else "")
        answer = self.request(
            "GET", f"{base}api/v1/sessions?{query}", timeout_seconds=timeout_seconds
        )
        sessions = answer.body.get("sessions") if isinstance(answer.body, dict) else None
        if not answer.ok or not isinstance(sessions, list):
            self._history_backoff.failed()
            self.log_once(
                f"history:{name}",
                logging.INFO,
                "jupyter_usage: the hub history service cannot list sessions (%s); showing "
                "the local store",
                answer.message(),
            )
            return None
        self._history_backoff.succeeded()
        self.forget_logged(f"history:{name}")
        # The service checked each record as it came in (hub/validation.py).
        return [cast(SessionRecord, record) for record in sessions if isinstance(record, dict)]

    def service_budget(
        self, name: str = "usage", *, timeout_seconds: float = 2.0
    ) -> HubResponse | None:
        """The service's answer about the user's budgets (`GET api/v1/budget`), or None
        while the hub knows no such service. Failures are answers too: the caller says why."""
        base = self.service_url(name)
        if base is None:
            return None
        answer = self.request("GET", f"{base}api/v1/budget", timeout_seconds=timeout_seconds)
        if answer.ok:
            if self.forget_logged(f"budget:{name}"):
                self.log.info("jupyter_usage: the usage service tells budgets again")
        else:
            self.log_once(
                f"budget:{name}",
                logging.INFO,
                "jupyter_usage: the usage service cannot tell the user's budgets (%s); the "
                "panel shows none",
                answer.message(),
            )
        return answer

    def service_rates(
        self, name: str = "usage", profile: str | None = None, *, timeout_seconds: float = 2.0
    ) -> Any:
        """The service's price list for this server (`GET api/v1/rates`), or None when it
        cannot say."""
        base = self.service_url(name)
        if base is None:
            return None
        query = urlencode(
            {"server_name": self.server_name or "", **({"profile": profile} if profile else {})}
        )
        answer = self.request("GET", f"{base}api/v1/rates?{query}", timeout_seconds=timeout_seconds)
        if not answer.ok:
            self.log_once(
                f"rates:{name}",
                logging.INFO,
                "jupyter_usage: the usage service cannot tell its rates (%s); pricing with "
                "this server's CostModel until it does",
                answer.message(),
            )
            return None
        return answer.body

    def forget_service_url(self, name: str) -> None:
        """Ask the hub again next time (the address answered 404, say)."""
        with self._service_lock:
            self._service_urls.pop(name, None)
