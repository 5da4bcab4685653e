"""The spawn hook's refusal as JupyterHub's spawn page shows it: text and markup of its own.

The usage service is a small HTTP server of the test's that answers the budget the hook
asks for: spent, under "spawn" enforcement.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub.utils import format_exception
from tornado import web
from traitlets.config import Config

from jupyter_usage.hub.budgets import refuse_over_budget
from jupyter_usage.hub.budgets.spawn_refusal import USAGE_LINK_TEXT, refusal_error, spawn_error

RESETS_AT = 1782856800.0  # 2026-07-01 00:00 CEST
SPENT = {
    "scope": "group:students",
    "period": "month",
    "starts_at": 1780264800.0,
    "resets_at": RESETS_AT,
    "limit": 20,
    "used": 20.31,
    "remaining": 0,
    "currency": "EUR",
    "exhausted": True,
    "enforcement": "spawn",
    "stop_at": None,
}


class Service(BaseHTTPRequestHandler):
    refusals: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        self._answer(200, {"user": "alice", "budgets": [SPENT]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Service.refusals.append(json.loads(self.rfile.read(length)))
        self._answer(201, {"status": "recorded"})

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Service.refusals = []
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def spawner(url: str, **settings: Any) -> Any:
    usage = SimpleNamespace(url=url, prefix="/hub-base/services/usage/")
    return SimpleNamespace(
        user=SimpleNamespace(name="alice", settings={"services": {"usage": usage}}),
        api_token="a-token",
        config=Config({"UsageService": settings}),
        log=logging.getLogger("test-hub"),
    )


async def test_a_refused_spawn_carries_its_message_for_the_spawn_page(service: str) -> None:
    with pytest.raises(web.HTTPError) as caught:
        await refuse_over_budget(spawner(service, budget_timezone="Europe/Berlin"))
    error = caught.value
    expected = (
        "Your monthly budget (group:students) is spent: 20.31 EUR used of 20.00 EUR. "
        "It resets at 2026-07-01 00:00 CEST."
    )
    assert error.status_code == 403
    # The REST API's answer, and the page's text and markup, as JupyterHub reads them.
    assert str(error) == f"HTTP 403: Forbidden ({expected})"
    text, html = format_exception(error, only_jupyterhub=True)
    assert text == expected
    assert html is not None
    assert '<time datetime="2026-06-30T22:00:00Z">2026-07-01 00:00 CEST</time>' in html
    assert f'<a href="/hub-base/services/usage/">{USAGE_LINK_TEXT}</a>' in html
    assert Service.refusals == [{"scope": "group:students", "message": expected}]


async def test_the_fail_closed_refusal_is_shown_on_the_page_too() -> None:
    closed = spawner("http://127.0.0.1:9", budget_fail_open=False)
    with pytest.raises(web.HTTPError) as caught:
        await refuse_over_budget(closed)
    text, html = format_exception(caught.value, only_jupyterhub=True)
    assert caught.value.status_code == 503
    assert text is not None
    assert text.startswith("Your server cannot start right now")
    assert html == f"<p>{text}</p>"


def test_markup_in_a_message_is_text_on_the_page() -> None:
    error = refusal_error("Spent <b>& more</b> at 01:00", 0.0, "01:00", '/x/"y"/')
    html = error.jupyterhub_html_message  # type: ignore[attr-defined]
    assert "<b>" not in html
    assert "Spent &lt;b&gt;&amp; more&lt;/b&gt; at <time" in html
    assert 'href="/x/&quot;y&quot;/"' in html
    percent = spawn_error(403, "50 % used")
    assert str(percent) == "HTTP 403: Forbidden (50 % used)"
    assert percent.jupyterhub_message == "50 % used"  # type: ignore[attr-defined]
    no_link = refusal_error("Spent. It resets at 01:00.", 0.0, "01:00", None)
    assert "<a " not in no_link.jupyterhub_html_message  # type: ignore[attr-defined]
