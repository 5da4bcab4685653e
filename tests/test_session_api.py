"""Session, sessions, summary and the summary event, against a real server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support.api_contract import validate
from tornado.httpclient import HTTPClientError

from jupyter_usage.summary_event import EVENT_SCHEMA_ID


@pytest.fixture
def usage_config() -> dict[str, Any]:
    return {
        "UsageApp": {"checkpoint_interval": 1, "idle_culler_timeout": 3600},
        "CostModel": {"server_hour": 3600, "cpu_core_hour": 36, "currency": "eur"},
    }


async def costly_session(usage_get: Any) -> dict[str, Any]:
    for _ in range(60):
        body = await usage_get("session")
        if body["cost"]["total"] > 0.5 and body["cost"]["per_hour"] is not None:
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError("the session's cost did not grow")


async def test_session_shows_cost_so_far_per_hour_and_projection(usage_get: Any) -> None:
    body = await costly_session(usage_get)
    validate(body, "Session")
    assert body["cost"]["currency"] == "EUR"
    # server_hour = 3600 EUR: one euro a second of server time, whatever the usage.
    assert body["cost"]["breakdown"]["server"] == pytest.approx(
        body["duration_seconds"], rel=0.2, abs=0.5
    )
    assert body["cost"]["per_hour"] >= 3600
    projected = body["projected"]
    assert projected["until_cull_seconds"] <= 3600
    assert projected["total_at_cull"] > body["cost"]["total"]


async def test_config_reports_rates_and_store(usage_get: Any) -> None:
    body = await usage_get("config")
    validate(body, "Config")
    assert body["rates"]["server_hour"] == 3600
    assert body["rates"]["currency"] == "EUR"
    assert body["store"]["persistent"] is True
    assert body["idle_culler_timeout_seconds"] == 3600


async def test_sessions_list_the_current_session(usage_get: Any) -> None:
    current = await costly_session(usage_get)
    await asyncio.sleep(1.1)  # one checkpoint
    body = await usage_get("sessions", limit="5")
    assert body["sessions"][0]["id"] == current["id"]
    for record in body["sessions"]:
        validate(record, "StoredSession")
    assert body["sessions"][0]["ended"] is None


async def test_summary_of_the_current_session_has_advice(usage_get: Any) -> None:
    await costly_session(usage_get)
    body = await usage_get("summary")
    validate(body, "Summary")
    assert isinstance(body["advice"], list)


async def test_unknown_session_is_404_with_a_message(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "usage", "v1", "summary", params={"session": "nope"})
    assert caught.value.code == 404
    assert caught.value.response is not None
    assert "nope" in json.loads(caught.value.response.body)["message"]


async def test_sessions_csv_has_a_header_and_a_row(jp_fetch: Any, usage_get: Any) -> None:
    await costly_session(usage_get)
    response = await jp_fetch("api", "usage", "v1", "sessions.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    lines = response.body.decode().splitlines()
    assert lines[0].startswith("id,user,server_name,started,ended")
    assert len(lines) >= 2


async def test_seen_needs_a_session_id(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "usage", "v1", "summary", "seen", method="POST", body="[]")
    assert caught.value.code == 400


async def test_stopping_emits_the_summary_event_quickly(
    jp_serverapp: Any,
    usage_app: Any,
    usage_get: Any,
    jp_event_handler: Any,
    jp_read_emitted_events: Any,
) -> None:
    await costly_session(usage_get)
    jp_serverapp.event_logger.register_handler(jp_event_handler)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await usage_app.stop_extension()
    elapsed = loop.time() - started
    events = jp_read_emitted_events()
    summaries = [e for e in events or [] if e["__schema__"] == EVENT_SCHEMA_ID]
    assert len(summaries) == 1
    event = summaries[0]
    assert event["ended_by"] == "stop"
    assert event["cost"]["currency"] == "EUR"
    assert event["cost"]["total"] > 0.5
    # A KubeSpawner pod gets about a second between SIGTERM and SIGKILL.
    assert elapsed < 1.0
    stored = usage_app.store
    assert stored.status == "closed"
