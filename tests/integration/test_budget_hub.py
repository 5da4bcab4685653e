"""The extension's GET /api/usage/v1/budget against a real JupyterHub and its usage service.

A hub of this module's own (tests/support/hub_process.py) runs the service with two budgets:
group physics (alice) may run servers for 36 seconds a day, everyone else may spend
100 USD a month. Real `jupyter server`s get the hub's environment as a spawner would give
it (the hub's API, a token of the user, the user's name): they report their sessions to
the service and read their budgets from it, so alice's budget runs out while her server
runs, as it would in production.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import hub_process
from support.api_contract import validate
from support.hub_process import Hub, start_hub, wait_for
from support.server_process import ServerProcess

REPORT_SECONDS = 10
SERVER_SECONDS = 36.0
BUDGETS = [
    {"group": "physics", "period": "day", "server_hours": SERVER_SECONDS / 3600},
    {"default": True, "period": "month", "limit": 100, "currency": "USD"},
]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hub_process, "BUDGETS", BUDGETS)
        started = start_hub(tmp_path_factory.mktemp("budget-hub"))
    try:
        yield started
    finally:
        started.stop()


def server_of(hub: Hub, user: str, root: Path, *args: str) -> ServerProcess:
    """A server as the hub would start one for `user`, reporting every REPORT_SECONDS."""
    env = {
        "JUPYTERHUB_API_URL": hub.hub_api,
        "JUPYTERHUB_API_TOKEN": hub.tokens[user],
        "JUPYTERHUB_USER": user,
        "JUPYTERHUB_SERVER_NAME": "",
        "JUPYTERHUB_BASE_URL": "/",
    }
    return ServerProcess(
        root,
        "--ServerApp.jpserver_extensions=jupyter_usage=True",
        f"--UsageApp.data_dir={root / 'usage-data'}",
        "--UsageApp.sample_interval=0.5",
        "--UsageApp.checkpoint_interval=1",
        f"--UsageApp.report_interval={REPORT_SECONDS}",
        *args,
        env=env,
    )


@pytest.fixture(scope="module")
def alice(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_of(hub, "alice", tmp_path_factory.mktemp("alice")) as server:
        yield server


@pytest.fixture(scope="module")
def bob(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("bob")
    pricing = ("--CostModel.currency=USD", "--CostModel.server_hour=36")
    with server_of(hub, "bob", root, *pricing) as server:
        yield server


def budget_of(server: ServerProcess) -> dict[str, Any]:
    body: dict[str, Any] = server.get("api/usage/v1/budget")
    validate(body, "Budgets")
    return body


def test_a_member_of_a_group_sees_its_budget_as_the_service_counts_it(
    hub: Hub, alice: ServerProcess
) -> None:
    body = budget_of(alice)
    assert body["user"] == "alice"
    [budget] = body["budgets"]
    assert "reason" not in body
    assert budget["scope"] == "group:physics"
    assert budget["period"] == "day"
    assert budget["unit"] == "server_seconds"
    assert budget["limit"] == pytest.approx(SERVER_SECONDS)
    # The service's own answer for her says the same.
    [theirs] = hub.api("GET", "budget", "alice").json()["budgets"]
    assert {k: theirs[k] for k in ("scope", "period", "unit", "limit", "resets_at")} == {
        k: budget[k] for k in ("scope", "period", "unit", "limit", "resets_at")
    }
    # A running server spends a server-second a second.
    if not budget["exhausted"]:
        assert budget["projected_exhaustion_seconds"] == pytest.approx(
            budget["remaining"] - (time.time() - body["fetched_at"]), abs=2
        )


def test_the_service_is_asked_once_per_report_interval(alice: ServerProcess) -> None:
    fetched = sorted({budget_of(alice)["fetched_at"] for _ in range(6)})
    # Six requests within a second or two: one fetch, or two across an interval's end.
    assert len(fetched) <= 2
    if len(fetched) == 2:
        assert fetched[1] - fetched[0] >= REPORT_SECONDS - 1


def test_her_budget_runs_out_while_her_server_runs(alice: ServerProcess) -> None:
    def spent() -> dict[str, Any] | None:
        body = budget_of(alice)
        return body if body["budgets"] and body["budgets"][0]["exhausted"] else None

    body = wait_for("alice's budget to be spent", spent, SERVER_SECONDS + 6 * REPORT_SECONDS)
    [budget] = body["budgets"]
    assert budget["used"] >= SERVER_SECONDS
    assert budget["remaining"] == 0
    assert budget["projected_exhaustion_seconds"] == 0
    # Her session's summary says what it took: most of what the budget counts.
    summary = alice.get("api/usage/v1/summary")
    validate(summary, "Summary")
    [take] = summary["budgets"]
    assert take["scope"] == "group:physics"
    assert 0 < take["taken"] <= budget["used"]


def test_a_user_of_another_group_sees_the_default_budget_projected_at_his_cost(
    bob: ServerProcess,
) -> None:
    def with_budget() -> dict[str, Any] | None:
        body = budget_of(bob)
        return body if body["budgets"] else None

    body = wait_for("bob's budget", with_budget, 30)
    [budget] = body["budgets"]
    assert budget["scope"] == "default"
    assert budget["currency"] == "USD"
    assert budget["limit"] == 100
    assert not budget["exhausted"]
    # 36 USD a server-hour is 0.01 USD a second.
    session = bob.get("api/usage/v1/session")
    rate = session["cost"]["per_hour"] / 3600
    assert rate == pytest.approx(0.01, rel=0.01)
    expected = budget["remaining"] / rate - (time.time() - body["fetched_at"])
    assert budget["projected_exhaustion_seconds"] == pytest.approx(expected, rel=0.02)


def test_a_server_whose_hub_has_no_such_service_answers_why(hub: Hub, tmp_path: Path) -> None:
    with server_of(hub, "eve", tmp_path, "--UsageApp.hub_service_name=no-such") as server:
        body = budget_of(server)
    assert body["budgets"] == []
    assert body["reason"] == "the hub has no service named 'no-such'"
