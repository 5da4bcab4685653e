"""Reading the hub's running servers from its user models."""

from __future__ import annotations

import pytest
from support.server_process import free_port

from jupyter_usage.hub.intake.hub_servers import HubUnavailable, running_servers, servers_of
from jupyter_usage.hubclient import HubClient


def test_every_running_server_of_a_user_model_named_ones_too() -> None:
    model = {
        "name": "ada",
        "groups": ["physics", "admins"],
        "servers": {
            "": {
                "name": "",
                "started": "2026-11-30T09:00:00.000000Z",
                "last_activity": "2026-11-30T09:30:00Z",
                "user_options": {"profile": "gpu"},
            },
            "big": {"name": "big", "started": "2026-11-30T10:00:00Z", "user_options": None},
            "pending": {"name": "pending", "started": None},  # not begun: no session yet
        },
    }
    servers = list(servers_of(model))
    assert [(s.server_name, s.profile, s.groups) for s in servers] == [
        ("", "gpu", ("admins", "physics")),
        ("big", None, ("admins", "physics")),
    ]
    assert servers[0].started == 1_796_029_200.0
    assert servers[0].last_activity == 1_796_031_000.0


@pytest.mark.parametrize(
    "model", [{}, {"name": "ada"}, {"name": "ada", "servers": []}, {"name": 3, "servers": {}}]
)
def test_a_model_the_token_may_not_read_whole_gives_no_servers(model: dict[str, object]) -> None:
    assert list(servers_of(model)) == []


def test_a_hub_that_does_not_answer_is_an_error_not_an_empty_hub() -> None:
    # An empty list would close every open session; an error closes none.
    client = HubClient(f"http://127.0.0.1:{free_port()}/hub/api", "token", timeout_seconds=1)
    with pytest.raises(HubUnavailable, match="listing the hub's users failed"):
        running_servers(client)
