"""Access to the hub history service, inside a real JupyterHub (tests/support/hub_process.py).

- Every route the service's web application registers (enumerated from
  `UsageService.make_app`, not listed here) refuses requests without credentials, with a
  made-up token and with a revoked one, for every method its handler implements; the
  methods it does not implement answer 405.
- A user's token never reads another user's sessions, through any per-user route: the
  JSON and CSV sessions, the KPIs and their CSV, the report page.
- User and group names that are HTML come back as plain strings in JSON and CSV (served
  as data, never sniffed as HTML) and escaped in the report page.
"""

from __future__ import annotations

import html
import time
import urllib.parse
import uuid
from typing import Any, cast

import pytest
from support.hub_process import HTML_NAME, SERVICE_PREFIX, Answer, Hub, call, shared_hub
from support.reliability_log import record
from tornado import web

from jupyter_usage.hub.handlers import (
    BaseHandler,
    BudgetHandler,
    PageHandler,
    RatesHandler,
    SessionsCsvHandler,
    SessionsHandler,
)
from jupyter_usage.hub.service import UsageService

DAY = 86400.0
METHODS = web.RequestHandler.SUPPORTED_METHODS


def service_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    """(path, handler class) of every route the service serves."""
    service = UsageService(service_prefix=SERVICE_PREFIX)
    # make_app only keeps the database and the hub client: neither is used here.
    app = service.make_app(cast(Any, None), cast(Any, None))
    routes = []
    for rule in app.wildcard_router.rules:
        pattern = rule.matcher.regex.pattern.rstrip("$").replace("\\", "")  # type: ignore[attr-defined]
        assert pattern.startswith(SERVICE_PREFIX.rstrip("/")), pattern
        routes.append((pattern, rule.target))
    return routes


def implements(handler: type[web.RequestHandler], method: str) -> bool:
    return getattr(handler, method.lower()) is not getattr(web.RequestHandler, method.lower())


@pytest.fixture(scope="module")
def hub(request: pytest.FixtureRequest) -> Hub:
    return shared_hub(request)


@pytest.fixture(scope="module")
def posted(hub: Hub) -> dict[str, str]:
    """One ended session each for alice, bob and the user named like HTML, posted with
    their own tokens two days ago (inside the report's default window)."""
    started = time.time() - 2 * DAY
    ids = {}
    for user in ("alice", "bob", HTML_NAME):
        session_id = f"access-{uuid.uuid4().hex}"
        body = {"id": session_id, "started": started, "ended": started + 3600}
        answer = hub.api("POST", "sessions", user, body)
        assert answer.status == 201, answer.body
        ids[user] = session_id
    return ids


@pytest.fixture(scope="module")
def revoked_token(hub: Hub) -> str:
    """A real token of eve's that the hub has since revoked."""
    answer = hub.admin("POST", "users/eve/tokens", {"expires_in": 3600})
    assert answer.status == 201, answer.body
    token, token_id = answer.json()["token"], answer.json()["id"]
    assert hub.admin("DELETE", f"users/eve/tokens/{token_id}").status == 204
    return str(token)


def url_of(hub: Hub, path: str, **query: str) -> str:
    """The service's own address of `path` (a route's full path)."""
    encoded = urllib.parse.urlencode(query)
    origin = hub.service[: -len(SERVICE_PREFIX)]
    return f"{origin}{path}" + (f"?{encoded}" if encoded else "")


def is_refusal(handler: type[web.RequestHandler], answer: Answer) -> bool:
    """Refused: a 403 (the API), a 400 (the OAuth callback without an OAuth code), or a
    page (the report, a user's sessions) sending a browser to log in at the hub."""
    if answer.status == 302:
        location = answer.headers.get("Location", "")
        return issubclass(handler, PageHandler) and "/hub/api/oauth2/authorize" in location
    return answer.status in (400, 403)


def test_every_route_refuses_requests_without_valid_credentials(
    hub: Hub, posted: dict[str, str], revoked_token: str
) -> None:
    routes = service_routes()
    # The enumeration finds the routes known to exist (and more, when there are).
    known = {"", "api/v1/sessions", "api/v1/sessions.csv", "api/v1/kpis", "api/v1/kpis.csv"}
    assert {SERVICE_PREFIX + path for path in known} <= {path for path, _ in routes}
    credentials: dict[str, dict[str, str]] = {
        "none": {},
        "made-up token": {"Authorization": f"token {uuid.uuid4().hex}"},
        "made-up bearer": {"Authorization": f"Bearer {uuid.uuid4().hex}"},
        "revoked token": {"Authorization": f"token {revoked_token}"},
        "made-up cookie": {"Cookie": f"jupyterhub-services-usage={uuid.uuid4().hex}"},
    }
    secret_ids = [session_id.encode() for session_id in posted.values()]
    checked = 0
    for path, handler in routes:
        for method in METHODS:
            for what, headers in credentials.items():
                body = b"{}" if method in ("POST", "PUT", "PATCH") else None
                answer = call(method, url_of(hub, path), raw=body, headers=headers)
                where = f"{method} {path} with {what}: {answer.status}"
                assert not [i for i in secret_ids if i in answer.body], where
                if handler is web.StaticFileHandler:
                    # The report page's scripts and styles: files of the package, no data.
                    assert answer.status in (404, 405), where
                elif not implements(handler, method):
                    assert answer.status == 405, where
                elif handler is web.RedirectHandler:
                    # The prefix without its slash: sent on to the report page, checked too.
                    assert answer.status == 301, where
                    assert answer.headers["Location"] == SERVICE_PREFIX, where
                else:
                    assert is_refusal(handler, answer), where
            if implements(handler, method):
                record("routes_checked", detail=f"hub service {method} {path}")
                checked += 1
    assert checked >= len(routes)
    # Anyone may fetch the page's scripts and styles: they hold no data.
    script = call("GET", url_of(hub, f"{SERVICE_PREFIX}static/report.js"))
    assert script.status == 200
    assert script.headers["Content-Type"].startswith(("application/javascript", "text/javascript"))


def per_user_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    """Every GET route that reads stored sessions: the API's and the report page."""
    return [
        (path, handler)
        for path, handler in service_routes()
        if issubclass(handler, BaseHandler) and implements(handler, "GET")
    ]


@pytest.mark.parametrize("reader", ["alice", HTML_NAME])
def test_a_user_reads_only_their_own_sessions_through_every_route(
    hub: Hub, posted: dict[str, str], reader: str
) -> None:
    others = [user for user in posted if user != reader]
    # What would show another user's data: a session id or a user name, in any form.
    forbidden = [posted[user] for user in others] + [
        form for user in others for form in (user, html.escape(user), urllib.parse.quote(user))
    ]
    routes = per_user_routes()
    answered = set()
    for path, handler in routes:
        for query in ({}, *({"user": user} for user in others)):
            answer = call("GET", url_of(hub, path, **query), hub.tokens[reader])
            where = f"GET {path} {query} as {reader!r}: {answer.status}"
            shown = answer.body.decode(errors="replace")
            assert not [text for text in forbidden if text in shown], where
            if answer.status == 200:
                if handler in (BudgetHandler, RatesHandler):  # the reader's own, by the token
                    assert answer.json()["user"] == reader, where
                else:
                    assert posted[reader] in shown, where
                answered.add(path)
            else:
                assert answer.status == 403, where
    # The user's own sessions come back, in JSON and CSV; everything else is refused.
    mine = (SessionsHandler, SessionsCsvHandler, BudgetHandler, RatesHandler)
    own = {path for path, handler in routes if handler in mine}
    assert answered == own


def test_admins_and_scope_holders_read_everyone_through_every_route(
    hub: Hub, posted: dict[str, str]
) -> None:
    """The other side of the refusals above: the same routes answer readers of all."""
    for reader in ("ada", "dana"):  # an admin; a member of a group holding the scope
        for path, _ in per_user_routes():
            answer = call("GET", url_of(hub, path), hub.tokens[reader])
            assert answer.status == 200, (reader, path, answer.body[:300])
        sessions = call("GET", url_of(hub, f"{SERVICE_PREFIX}api/v1/sessions"), hub.tokens[reader])
        assert set(posted.values()) <= {s["id"] for s in sessions.json()["sessions"]}, reader


def test_html_names_are_text_in_json_and_csv_and_escaped_in_the_report(
    hub: Hub, posted: dict[str, str]
) -> None:
    escaped = html.escape(HTML_NAME)
    sessions = hub.api("GET", "sessions?" + urllib.parse.urlencode({"user": HTML_NAME}), "ada")
    assert sessions.status == 200, sessions.body
    assert sessions.headers["Content-Type"].startswith("application/json")
    assert sessions.headers["X-Content-Type-Options"] == "nosniff"
    [mine] = [s for s in sessions.json()["sessions"] if s["id"] == posted[HTML_NAME]]
    assert mine["user"] == HTML_NAME
    assert mine["meta"]["groups"] == [HTML_NAME]

    window = {"since": f"{time.time() - 3 * DAY:.0f}"}
    kpis = hub.api("GET", "kpis?" + urllib.parse.urlencode(window), "ada").json()["kpis"]
    assert HTML_NAME in {row["user"] for row in kpis["cost_by_user"]["value"]}
    assert HTML_NAME in {row["group"] for row in kpis["cost_by_group"]["value"]}

    # CSV carries the name as it is, served as a download that no browser renders.
    for path in ("sessions.csv", "kpis.csv?table=users"):
        csv = hub.api("GET", path, "ada")
        assert csv.status == 200, (path, csv.body)
        assert csv.headers["Content-Type"].startswith("text/csv")
        assert csv.headers["Content-Disposition"].startswith("attachment")
        assert csv.headers["X-Content-Type-Options"] == "nosniff"
        assert HTML_NAME.encode() in csv.body, path

    # The report page, for all groups and for the HTML-named group: escaped, never markup.
    for query in ({}, {"group": HTML_NAME}):
        page = call("GET", url_of(hub, SERVICE_PREFIX, **query), hub.tokens["ada"])
        assert page.status == 200, page.body[:500]
        assert page.headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        text = page.body.decode()
        assert escaped in text, query
        assert HTML_NAME not in text, query
        assert "<img" not in text, query
    # Signed in as the HTML-named user: refused, and the page says who without markup.
    refused = call("GET", hub.service, hub.tokens[HTML_NAME])
    assert refused.status == 403
    assert b"<img" not in refused.body


def test_a_refused_spawn_is_checked_recorded_and_read_by_readers_of_all(hub: Hub) -> None:
    """What the spawn hook posts; physics has a budget in this hub (support.hub_process)."""
    long = {"scope": "group:physics", "message": "x" * 2001}
    answer = hub.api("POST", "budget/refusals", "alice", long)
    assert answer.status == 400, answer.body
    assert "'message' must be a string of at most 2000 characters" in answer.json()["message"]
    unknown = hub.api("POST", "budget/refusals", "alice", {"scope": "group:biology"})
    assert unknown.status == 400, unknown.body
    assert "no budget has the scope 'group:biology'" in unknown.json()["message"]
    before = hub.api("GET", "budget/refusals", "ada").json()["by_user"].get("alice", 0)
    posted = {"scope": "group:physics", "message": "Your monthly budget is spent."}
    assert hub.api("POST", "budget/refusals", "alice", posted).status == 201
    assert hub.api("GET", "budget/refusals", "alice").status == 403
    assert hub.api("GET", "budget/refusals?group=physics", "ada").status == 400
    answer = hub.api("GET", "budget/refusals", "dana")
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["by_user"]["alice"] == before + 1
    newest = body["latest"][0]
    assert (newest["user"], newest["scope"]) == ("alice", "group:physics")
    assert newest["message"] == "Your monthly budget is spent."
    assert body["since"] <= newest["time"] < body["until"]
