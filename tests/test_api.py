"""The REST API against a real server: contract, auth, bad input, activity."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from api_contract import paths, validate
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


async def test_every_route_refuses_requests_without_credentials(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    routes = [
        rule.matcher.regex.pattern
        for rule in jp_serverapp.web_app.default_router.rules
        for rule in getattr(rule.target, "rules", [rule])
        if API_PREFIX in getattr(rule.matcher, "regex", re.compile("")).pattern
    ]
    documented = {f"{API_PREFIX}{p}" for p in paths()}
    registered = {pattern.rstrip("$").replace("\\", "") for pattern in routes}
    # A route that is registered but undocumented (or the reverse) fails here.
    assert {r.split("/api/", 1)[1] for r in registered} == {
        d.split("/api/", 1)[1] for d in documented
    }
    for route in sorted(registered):
        parts = route.strip("/").split("/")[-4:]
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch(*parts, headers={"Authorization": ""})
        assert caught.value.code == 403, route


async def test_polling_does_not_count_as_activity(jp_fetch: Any, usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    before = json.loads((await jp_fetch("api", "status")).body)["last_activity"]
    await asyncio.sleep(0.05)
    for path in ("snapshot", "history", "config", "metrics"):
        await jp_fetch("api", "usage", "v1", path)
    after = json.loads((await jp_fetch("api", "status")).body)["last_activity"]
    assert after == before
