"""GET /api/usage/v1/budget on a server outside a hub: an empty list and why, never an error.

The answers of a real hub and its usage service are in tests/integration/test_budget_hub.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.api_contract import validate

from jupyter_usage.budget import NO_HUB


@pytest.fixture(autouse=True)
def outside_a_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JUPYTERHUB_API_URL", "JUPYTERHUB_API_TOKEN", "JUPYTER_USAGE_SERVICE_URL"):
        monkeypatch.delenv(name, raising=False)


async def test_outside_a_hub_there_is_no_budget_and_the_reason_says_why(usage_get: Any) -> None:
    body = await usage_get("budget")
    validate(body, "Budgets")
    assert body["budgets"] == []
    assert body["reason"] == NO_HUB
    assert body["fetched_at"] is None


async def test_the_current_summary_lists_no_budget_outside_a_hub(usage_get: Any) -> None:
    summary = await usage_get("summary")
    validate(summary, "Summary")
    assert summary["budgets"] == []


async def test_the_budget_takes_no_parameters(jp_fetch: Any) -> None:
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as error:
        await jp_fetch("api", "usage", "v1", "budget", params={"user": "bob"})
    assert error.value.code == 400
