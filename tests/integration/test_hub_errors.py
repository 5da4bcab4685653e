"""The hub service's errors have jupyter_server's shape, `{"message", "reason"}`, in a real
JupyterHub (tests/support/hub_process.py): a client reads both APIs' errors alike."""

from __future__ import annotations

import pytest
from support.hub_process import Hub, shared_hub


@pytest.fixture(scope="module")
def hub(request: pytest.FixtureRequest) -> Hub:
    return shared_hub(request)


@pytest.mark.parametrize(
    ("user", "path", "status", "says"),
    [
        (None, "sessions", 403, "Authentication required"),
        ("alice", "sessions?since=yesterday", 400, "'since' must be unix seconds"),
        ("alice", "sessions?limit=0", 400, "'limit' must be between 1 and 10000"),
        ("alice", "sessions?user=bob", 403, "only your own"),
    ],
)
def test_errors_are_a_message_and_a_reason(
    hub: Hub, user: str | None, path: str, status: int, says: str
) -> None:
    answer = hub.api("GET", path, user)
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"message", "reason"}
    assert says in body["message"]
    # As jupyter_server's: the HTTPError's own reason phrase, none when it set none.
    assert body["reason"] is None
