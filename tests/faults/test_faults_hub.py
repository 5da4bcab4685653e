"""The hub failing a running server: its API answering 500, hanging or refusing the
token, the history service down then back (its backlog delivered once), and SIGKILL while
it is down. The hub is a loopback double (tests/support/fake_hub.py) that fails on cue, which a
real JupyterHub cannot; tests/integration/test_hub.py takes the real one down and up.
See support/fault_injection.py and conftest.py for what the tests share."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fake_hub import SERVICE, SESSIONS, USER, FakeHub
from support.fault_injection import (
    CHECKPOINT_SECONDS,
    HUB_TOKEN,
    Api,
    CostWatch,
    as_awaitable,
    assert_non_negative,
    check_kept,
    data_dir,
    session_costing,
    started,
    subprocess_server,
    until,
    wait_for,
)
from support.reliability_log import record

from jupyter_usage.store import SessionStore

# -- the hub API failing, hanging or refusing the token ---------------------------------


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A hub and history service on loopback; the server finds it through the environment."""
    fake = FakeHub(HUB_TOKEN, hang_seconds=30)
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.close()


@pytest.fixture
def hub_fault(hub: FakeHub, request: pytest.FixtureRequest) -> str:
    """The hub API fails in the way the test is parametrized with, from the server's start."""
    fault: str = request.param
    if fault == "token-refused":
        hub.token = "another-token"  # every route answers 403
    else:
        hub.modes[USER] = hub.modes[SERVICE] = "500" if fault == "500" else "hang"
    return fault


@pytest.mark.parametrize("hub_fault", ["500", "hang", "token-refused"], indirect=True)
async def test_hub_api_failing_then_back(
    hub: FakeHub, hub_fault: str, usage_app: Any, api: Api, tmp_path: Path
) -> None:
    record("faults_injected", detail=f"hub API: {hub_fault}")
    costs = CostWatch(api)

    if hub_fault == "hang":
        # While the hub holds a request, the server answers everything else.
        await until(lambda: as_awaitable(hub.hanging > 0), "a request to hang in the hub")
        pending = asyncio.ensure_future(api.get("hub"))
        await api.alive()
        await costs.read()
        assert not pending.done()
        info = await pending
    else:
        await started(api)
        info = await api.get("hub")
    expected = {
        "500": "HTTP 500",
        "hang": "timed out",
        "token-refused": "scope not granted",
    }[hub_fault]
    assert info["available"] is False
    assert expected in info["reason"]

    # Past sessions come from the local store while the hub cannot say.
    sessions = await api.get("sessions")
    assert sessions["source"] == "local"
    current = (await costs.read())["id"]
    assert current in {s["id"] for s in sessions["sessions"]}
    await api.alive()

    hub.token = HUB_TOKEN
    hub.modes[USER] = hub.modes[SERVICE] = "ok"

    async def available() -> dict[str, Any] | None:
        body: dict[str, Any] = await api.get("hub")
        return body if body["available"] else None

    back = await until(available, "the hub to answer again")
    assert back["name"] == "alice"
    await until(
        lambda: as_awaitable(current in hub.accepted_posts()),
        "the running session to reach the hub",
    )
    await api.alive()
    await costs.read()
    check_kept(data_dir(tmp_path) / "sessions.sqlite", {current})


# -- the history service down for a while, then back ------------------------------------


@pytest.fixture
def backlog(tmp_path: Path) -> list[str]:
    """Three ended sessions not delivered yet, and one a crash left open."""
    now = time.time()
    ids = [f"ended-{n}" for n in range(3)]
    with SessionStore(data_dir(tmp_path) / "sessions.sqlite") as store:
        for number, session_id in enumerate(ids):
            started_at = now - 86400 + number * 3600
            store.start_session(session_id, user="alice", server_name="", started=started_at)
            store.end_session(
                session_id,
                ended=started_at + 600,
                ended_by="stop",
                totals={"duration_seconds": 600.0},
                cost={"currency": "USD", "total": 600.0},
                summary=None,
            )
        store.start_session("crashed", user="alice", server_name="", started=now - 7200)
        store.checkpoint(
            "crashed",
            time=now - 7100,
            totals={"duration_seconds": 100.0},
            cost={"currency": "USD", "total": 100.0},
        )
    return [*ids, "crashed"]


@pytest.fixture
def history_down(hub: FakeHub) -> FakeHub:
    hub.modes[SESSIONS] = "500"
    return hub


async def test_history_service_down_then_back_delivers_the_backlog_once(
    backlog: list[str], history_down: FakeHub, usage_app: Any, api: Api, tmp_path: Path
) -> None:
    hub = history_down
    record("faults_injected", detail="history service answers 500")
    costs = CostWatch(api)
    await started(api)
    assert usage_app.store.get("crashed")["ended_by"] == "recovered"
    record("sessions_recovered", detail="left open by a crash, recovered at start")

    # Down for a while: tried (with backoff), refused, kept.
    await until(lambda: as_awaitable(hub.refused_posts() >= 2), "two refused deliveries")
    delivery = (await api.get("hub"))["delivery"]
    assert "HTTP 500" in delivery["last_error"]
    pending = {r["id"] for r in usage_app.store.undelivered()}
    assert pending == set(backlog)
    await api.alive()
    await costs.read()

    hub.modes[SESSIONS] = "ok"
    await until(
        lambda: as_awaitable(set(backlog) <= hub.accepted_posts().keys()), "the backlog to arrive"
    )
    # Give a few more delivery rounds the chance to send anything twice.
    for _ in range(4):
        await asyncio.sleep(CHECKPOINT_SECONDS)
        await api.alive()
    accepted = hub.accepted_posts()
    assert {session_id: accepted[session_id] for session_id in backlog} == dict.fromkeys(backlog, 1)
    assert hub.stored["crashed"]["ended_by"] == "recovered"
    assert (await api.get("hub"))["delivery"]["last_error"] is None
    session = await costs.read()
    assert accepted[session["id"]] >= 1  # the running session went along
    rows = check_kept(data_dir(tmp_path) / "sessions.sqlite", {*backlog, session["id"]})
    assert all(rows[session_id]["delivered"] == 1 for session_id in backlog)


def test_sigkill_while_the_history_service_is_down(hub: FakeHub, tmp_path: Path) -> None:
    hub.modes[SESSIONS] = "500"
    first = subprocess_server(tmp_path, hub).start()
    session_costing(first, 2.5)
    time.sleep(CHECKPOINT_SECONDS * 1.2)  # a checkpoint lands after the cost we read
    seen = first.get("api/usage/v1/session")
    first.stop(signal.SIGKILL)
    record("faults_injected", detail="SIGKILL mid-session, history service down")
    assert seen["id"] not in hub.accepted_posts()

    hub.modes[SESSIONS] = "ok"
    second = subprocess_server(tmp_path, hub)
    with second:
        sessions = second.get("api/usage/v1/sessions")["sessions"]
        recovered = next((s for s in sessions if s["id"] == seen["id"]), None)
        if recovered is None:
            record("sessions_lost", detail=f"killed session {seen['id']}")
        assert recovered is not None
        assert recovered["ended_by"] == "recovered"
        record("sessions_recovered", detail="SIGKILL, recovered at the next start")
        assert_non_negative(recovered, "the recovered session")
        # At most one checkpoint interval lost (1 s = 1 unit), nothing invented.
        lost_seconds = seen["cost"]["total"] - recovered["cost"]["total"]
        assert -0.5 <= lost_seconds <= CHECKPOINT_SECONDS + 0.5

        wait_for(lambda: seen["id"] in hub.accepted_posts(), "the recovered session at the hub")
        current = session_costing(second, 1.0)["id"]
        time.sleep(CHECKPOINT_SECONDS * 3)
        assert second.stop(signal.SIGTERM) == 0
    assert hub.accepted_posts()[seen["id"]] == 1
    assert hub.stored[seen["id"]]["ended_by"] == "recovered"
    assert hub.stored[seen["id"]]["cost"]["total"] == pytest.approx(recovered["cost"]["total"])
    # The second session, ended at stop, reached the hub in its final form.
    assert hub.stored[current]["ended_by"] == "stop"
    check_kept(tmp_path / "usage" / "sessions.sqlite", {seen["id"], current})
