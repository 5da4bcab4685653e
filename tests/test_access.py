"""Access to the extension's REST API from a browser: XSRF, and secrets that stay secret.

Against a real Jupyter server with the extension (pytest-jupyter), logged in the way a
browser logs in (the login form, then cookies):

- every route that takes something other than GET follows jupyter_server's XSRF rules: a
  cookie-authenticated request needs the `X-XSRFToken` header matching the `_xsrf`
  cookie; a request with the token in its `Authorization` header is exempt by design
  (another site cannot make a browser send that header);
- the hub's API token and credentials in the hub's URLs reach neither the browser (any GET
  route, the JupyterLab page) nor the server's log, also while the hub fails.

Which routes refuse requests without credentials is proven in test_api.py; the hub
history service's routes in tests/integration/test_access_hub.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
from support.fake_hub import SERVICE, USER, FakeHub
from support.in_process import registered_routes
from support.reliability_log import record
from tornado import web
from tornado.httpclient import HTTPResponse

from jupyter_usage.handlers import API_PREFIX
from jupyter_usage.hubclient import HubClient
from jupyter_usage.uploader import SessionUploader

METHODS = ("POST", "PUT", "PATCH", "DELETE")
"""The methods jupyter_server checks XSRF on (its API handlers refuse a GET from another
site by its Origin instead)."""


@pytest.fixture
def usage_config() -> dict[str, Any]:
    # The JupyterLab page too: everything a browser gets from this server.
    return {
        "ServerApp": {
            "jpserver_extensions": {
                "jupyter_usage": True,
                "jupyterlab": True,
                "jupyter_server_terminals": False,
            },
        },
        "UsageApp": {"checkpoint_interval": 1},
    }


def body_for(method: str, route: str, usage_app: Any) -> dict[str, Any]:
    """A valid body for each non-GET route: a new route must be added here."""
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "summary/seen"): {"session": usage_app.recorder.id},
    }
    return bodies[(method, route)]


def implements(handler: type, method: str) -> bool:
    return getattr(handler, method.lower()) is not getattr(web.RequestHandler, method.lower())


def routes_with(serverapp: Any, methods: tuple[str, ...]) -> list[tuple[str, str]]:
    """(method, route under the prefix) for each of `methods` a route's handler implements."""
    return [
        (method, route.split(API_PREFIX, 1)[1].strip("/"))
        for route, handler in sorted(registered_routes(serverapp).items())
        for method in methods
        if implements(handler, method)
    ]


def non_get_routes(serverapp: Any) -> list[tuple[str, str]]:
    return routes_with(serverapp, METHODS)


class Browser:
    """Cookies as a browser keeps them for the test server; no Authorization header."""

    def __init__(self, jp_fetch: Any) -> None:
        self.fetch = jp_fetch
        self.cookies: dict[str, str] = {}

    async def request(
        self, *parts: str, method: str = "GET", body: bytes | None = None, **headers: str
    ) -> HTTPResponse:
        sent = {"Authorization": "", **headers}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response: HTTPResponse = await self.fetch(
            *parts,
            method=method,
            body=body,
            headers=sent,
            raise_error=False,
            follow_redirects=False,
        )
        for line in response.headers.get_list("Set-Cookie"):
            for name, morsel in SimpleCookie(line).items():
                self.cookies[name] = morsel.value
        return response

    async def log_in(self, token: str) -> None:
        """The login form, as a person who pastes the token into it."""
        await self.request("login")
        form = urllib.parse.urlencode({"password": token, "_xsrf": self.cookies["_xsrf"]})
        answer = await self.request("login", method="POST", body=form.encode())
        assert answer.code == 302, answer.body
        assert any(name.startswith("username-") for name in self.cookies), self.cookies


@pytest.fixture
def browser(jp_fetch: Any, jp_serverapp: Any, jp_asyncio_loop: Any) -> Browser:
    logged_in = Browser(jp_fetch)
    jp_asyncio_loop.run_until_complete(logged_in.log_in(jp_serverapp.identity_provider.token))
    return logged_in


async def test_non_get_routes_need_the_xsrf_header_with_a_login_cookie(
    browser: Browser, jp_serverapp: Any, usage_app: Any
) -> None:
    routes = non_get_routes(jp_serverapp)
    assert ("POST", "summary/seen") in routes  # the enumeration finds the known route
    xsrf = browser.cookies["_xsrf"]
    for method, route in routes:
        body = json.dumps(body_for(method, route, usage_app)).encode()
        parts = ("api", "usage", "v1", *route.split("/"))

        refused = await browser.request(*parts, method=method, body=body)
        assert refused.code == 403, f"{method} {route} without X-XSRFToken: {refused.code}"
        assert b"XSRF" in refused.body or b"_xsrf" in refused.body, refused.body
        wrong = await browser.request(
            *parts, method=method, body=body, **{"X-XSRFToken": "2|00000000|" + "0" * 32 + "|1"}
        )
        assert wrong.code == 403, f"{method} {route} with a wrong X-XSRFToken: {wrong.code}"
        # Another site's page: its Origin is refused even with the right header.
        foreign = await browser.request(
            *parts,
            method=method,
            body=body,
            **{"X-XSRFToken": xsrf, "Origin": "http://evil.example"},
        )
        assert foreign.code in (403, 404), f"{method} {route} from another origin"

        accepted = await browser.request(*parts, method=method, body=body, **{"X-XSRFToken": xsrf})
        assert 200 <= accepted.code < 300, f"{method} {route} with X-XSRFToken: {accepted.code}"
        record("routes_checked", detail=f"XSRF {method} {route}")


async def test_a_token_in_the_authorization_header_is_exempt_from_xsrf(
    jp_fetch: Any, jp_serverapp: Any, usage_app: Any
) -> None:
    """jupyter_server by design: a browser never adds the header to a forged request, so a
    token-authenticated request needs no XSRF token (scripts, Prometheus, the hub)."""
    routes = non_get_routes(jp_serverapp)
    assert routes
    for method, route in routes:
        body = json.dumps(body_for(method, route, usage_app)).encode()
        response = await jp_fetch(
            "api", "usage", "v1", *route.split("/"), method=method, body=body
        )  # jp_fetch sends "Authorization: token …", no cookie, no X-XSRFToken
        assert 200 <= response.code < 300, f"{method} {route}"


async def test_cookie_gets_from_another_site_are_refused(
    browser: Browser, jp_serverapp: Any, jp_http_port: int
) -> None:
    """GETs carry no XSRF token (jupyter_server checks it on other methods only) and change
    nothing. A script of another site that makes the browser send one (with the login
    cookie, and its own `Origin`) gets a 404 without CORS headers; this server's own pages
    get the answer."""
    gets = [route for _, route in routes_with(jp_serverapp, ("GET",))]
    assert "config" in gets
    for route in gets:
        parts = ("api", "usage", "v1", *route.split("/"))
        foreign = await browser.request(*parts, Origin="http://evil.example")
        assert foreign.code == 404, (route, foreign.code)
        assert "Access-Control-Allow-Origin" not in foreign.headers, route
        own = await browser.request(*parts, Origin=f"http://127.0.0.1:{jp_http_port}")
        assert own.code in (200, 503), (route, own.code)  # 503: no sample yet
        record("routes_checked", detail=f"cross-origin GET {route}")


# -- secrets ------------------------------------------------------------------------------

HUB_TOKEN = "hubtoken-" + "5ec7e7" * 6
"""The hub API token of the server under test: distinctive, so a leak is unmistakable."""
PASSWORD = "pa55-w0rd-Zq8Xv"
"""A password in the hub's URLs, which nothing may show either."""
SECRETS = (HUB_TOKEN, PASSWORD)


@pytest.fixture(params=["api-url", "service-url", "public-url"])
def leaky_hub(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A hub (fake, on loopback) whose token is `HUB_TOKEN` and one of whose URLs carries
    credentials: the API's (every request fails), the history service's override (the
    deliveries fail) or the public URL (the fallback address of the service). Requested
    before the server, so that the server starts with this environment."""
    fake = FakeHub(HUB_TOKEN, hang_seconds=5)
    env = fake.env()
    port = fake.url.rsplit(":", 1)[1]
    credentials = f"hub-admin:{PASSWORD}@127.0.0.1:{port}"
    if request.param == "api-url":
        env["JUPYTERHUB_API_URL"] = f"http://{credentials}/hub/api"
    elif request.param == "service-url":
        env["JUPYTER_USAGE_SERVICE_URL"] = f"http://{credentials}/services/usage/"
        fake.modes[USER] = "500"  # the hub fails too, at first
    else:
        env["JUPYTERHUB_PUBLIC_HUB_URL"] = f"http://{credentials}/"
        fake.modes[SERVICE] = "403"  # no scope to read the address: the fallback
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.close()


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
def every_log_record(monkeypatch: pytest.MonkeyPatch) -> list[logging.LogRecord]:
    """Every record any logger handles from now on, whether it propagates or not
    (the server's loggers do not, while it starts)."""
    seen: list[logging.LogRecord] = []
    handle = logging.Logger.handle

    def keep(self: logging.Logger, log_record: logging.LogRecord) -> None:
        seen.append(log_record)
        handle(self, log_record)

    monkeypatch.setattr(logging.Logger, "handle", keep)
    return seen


async def test_no_secret_reaches_the_browser_or_the_log(
    leaky_hub: FakeHub,
    # Before the server, so that what it logs while it starts is captured too.
    every_log_record: list[logging.LogRecord],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    jp_fetch: Any,
    jp_serverapp: Any,
    usage_app: Any,
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    variant = request.node.callspec.params["leaky_hub"]
    get_routes = [route for _, route in routes_with(jp_serverapp, ("GET",))]
    assert {"hub", "config", "sessions", "sessions.csv", "metrics"} <= set(get_routes)

    async def hub_json() -> dict[str, Any]:
        body: dict[str, Any] = json.loads((await jp_fetch("api", "usage", "v1", "hub")).body)
        return body

    # The failure is reported (to the browser, redacted) before anything is read.
    async def failure_reported() -> bool:
        body = await hub_json()
        return bool(body.get("reason") or (body.get("delivery") or {}).get("last_error"))

    await until(failure_reported, "the hub's failure to show in /hub")
    if variant == "service-url":
        leaky_hub.modes[USER] = "ok"  # the hub answers again; the service address still fails

        async def available() -> bool:
            return bool((await hub_json())["available"])

        await until(available, "the hub to answer again")
    failed = await hub_json()

    shown: list[str] = []
    for route in get_routes:
        response = await jp_fetch("api", "usage", "v1", *route.split("/"), raise_error=False)
        assert response.code < 500, (route, response.code)
        shown.append(f"{route} {response.code} {dict(response.headers)} {response.body!r}")
    lab = await jp_fetch("lab")
    assert b"jupyter-config-data" in lab.body
    shown.append(f"lab {dict(lab.headers)} {lab.body!r}")
    assert not [leaks(text) for text in shown if leaks(text)]

    # The failures were logged (so the log was read), with the URL's credentials redacted.
    records = [*every_log_record, *caplog.get_records("setup"), *caplog.records]
    logged = "\n".join([caplog.text, *(r.getMessage() for r in records), *capfd.readouterr()])
    assert not leaks(logged), [line for line in logged.splitlines() if leaks(line)]
    redacted = json.dumps(failed)
    expected = {
        "api-url": "cannot reach the hub",
        "service-url": "cannot deliver sessions to the hub history service",
        "public-url": "cannot read the address of the hub service",
    }[variant]
    assert expected in logged, logged[-3000:]
    assert "//***@127.0.0.1" in logged, logged[-3000:]
    assert "//***@127.0.0.1" in redacted, redacted
    if variant != "api-url":
        # The token was used, on the wire to the hub: it is the real one, kept out of view.
        assert leaky_hub.requests_to(USER, "GET")


@pytest.mark.parametrize(
    "api_url",
    [
        f"http://hub-admin:{PASSWORD}@127.0.0.1:9/hub/api",  # refused: nothing listens
        f"http://hub-admin:{PASSWORD}@hub/hub/api",  # no port: urllib reads a bad one
        "http://hub-admin:{}@hub:8081/hub/api".format(urllib.parse.quote(PASSWORD + "@/", safe="")),
    ],
)
def test_the_hub_client_never_shows_its_credentials(
    api_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = HubClient(api_url, HUB_TOKEN, timeout_seconds=1)
    uploader = SessionUploader(client, _NoStore(), "usage")
    info = client.user_model()
    assert info.available is False
    assert info.reason
    client.service_url_override = api_url.replace("/hub/api", "/services/usage")
    assert uploader.deliver_pending({"id": "s1", "started": 1.0}) == 0
    assert uploader.last_error
    shown = [info.reason, uploader.last_error, caplog.text]
    assert not [leaks(text) for text in shown if leaks(text)], shown
    assert "***@" in info.reason


class _NoStore:
    def undelivered(self, limit: int = 100) -> list[dict[str, Any]]:
        return []

    def mark_delivered(self, ids: Any) -> None:
        pass
