"""The REST API against a real server: contract, auth, bad input, activity."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support.api_contract import paths, validate
from support.in_process import registered_routes, wait_for_sample
from support.reliability_log import record
from tornado import web
from tornado.httpclient import HTTPClientError

from jupyter_usage.handlers import API_PREFIX


async def test_snapshot_matches_the_contract(usage_get: Any) -> None:
    body = await wait_for_sample(usage_get)
    validate(body, "Snapshot")
    assert body["memory"]["used_bytes"] > 10 * 2**20  # a Jupyter server is never this small
    assert body["cpu"]["source"] in ("cgroup", "processes")
    assert body["cpu"]["host_cores"] >= 1


async def test_cpu_becomes_known_after_two_samples(usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    await asyncio.sleep(0.6)
    body = await usage_get("snapshot")
    assert body["cpu"]["cores"] is not None
    assert 0 <= body["cpu"]["cores"] <= body["cpu"]["host_cores"] * 1.5


async def test_history_returns_columns(usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    await asyncio.sleep(1.2)
    body = await usage_get("history", step="1")
    validate(body, "History")
    columns = body["columns"]
    assert len(columns["time"]) >= 1
    assert {len(v) for v in columns.values()} == {len(columns["time"])}
    assert any(v is not None for v in columns["memory_bytes"])


async def test_config_lists_the_sources(usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    body = await usage_get("config")
    validate(body, "Config")
    # This machine has no NVIDIA driver: the GPU source says so and is not an error.
    assert body["sources"]["gpu"]["available"] is False
    assert body["sample_interval_seconds"] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("history", {"since": "yesterday"}, "since must be a number"),
        ("history", {"step": "-1"}, "step must be between"),
        ("history", {"step": "nan"}, "step must be between"),
        ("history", {"step": "1e12"}, "step must be between"),
        ("history", {"since": "100", "until": "50"}, "until must not be before since"),
        ("snapshot", {"bogus": "1"}, "unknown parameter 'bogus'"),
        ("config", {"x": "1"}, "unknown parameter"),
    ],
)
async def test_bad_parameters_get_400_with_a_message(
    jp_fetch: Any, path: str, params: dict[str, str], fragment: str
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "usage", "v1", path, params=params)
    assert caught.value.code == 400
    assert caught.value.response is not None
    body = json.loads(caught.value.response.body)
    validate(body, "Error")
    assert fragment in body["message"]


async def test_a_token_in_the_url_authenticates_as_in_jupyter_server(
    jp_fetch: Any, jp_serverapp: Any, usage_get: Any
) -> None:
    await wait_for_sample(usage_get)
    token = jp_serverapp.identity_provider.token
    for path in ("snapshot", "history", "config", "session"):
        response = await jp_fetch(
            "api", "usage", "v1", path, params={"token": token}, headers={"Authorization": ""}
        )
        assert response.code == 200, path
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "api",
            "usage",
            "v1",
            "snapshot",
            params={"token": "wrong"},
            headers={"Authorization": ""},
        )
    assert caught.value.code == 403


async def test_every_route_is_documented_and_refuses_requests_without_credentials(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    routes = registered_routes(jp_serverapp)
    documented = {f"{API_PREFIX}{p}" for p in paths()}
    # A route that is registered but undocumented (or the reverse) fails here.
    assert {r.split("/api/", 1)[1] for r in routes} == {d.split("/api/", 1)[1] for d in documented}
    for route, handler in sorted(routes.items()):
        parts = route.split(API_PREFIX, 1)[1].strip("/").split("/")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if getattr(handler, method.lower()) is getattr(web.RequestHandler, method.lower()):
                continue
            with pytest.raises(HTTPClientError) as caught:
                await jp_fetch(
                    "api",
                    "usage",
                    "v1",
                    *parts,
                    method=method,
                    headers={"Authorization": ""},
                    body=None if method == "GET" else b"{}",
                )
            assert caught.value.code == 403, f"{method} {route}"
            record("routes_checked", detail=f"{method} {route}")


async def test_polling_does_not_count_as_activity(jp_fetch: Any, usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    before = json.loads((await jp_fetch("api", "status")).body)["last_activity"]
    await asyncio.sleep(0.05)
    for path in ("snapshot", "history", "config", "metrics"):
        await jp_fetch("api", "usage", "v1", path)
    after = json.loads((await jp_fetch("api", "status")).body)["last_activity"]
    assert after == before
