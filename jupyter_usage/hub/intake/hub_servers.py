"""The servers running on the hub right now, as its REST API lists them.

The service polls this to know every server session, including those of images without
the extension. It needs `list:users`, `read:users:groups` and `read:servers` (see
docs/hub.md). JupyterHub pages `/users` (`api_page_max_limit`, 200 by default), so the
list is read page by page with `state=active`, which leaves out users without a server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from jupyter_usage.hubclient import HubClient, parse_hub_time, profile_of

PAGE_SIZE = 200
MAX_PAGES = 10_000  # 2M users: a guard against a hub that keeps answering full pages


class HubUnavailable(RuntimeError):
    """The hub did not answer the list, or refused it: nothing may be closed on it."""


@dataclass(frozen=True)
class RunningServer:
    """One server the hub says is running (ready, or still spawning)."""

    user: str
    server_name: str
    started: float
    last_activity: float | None
    groups: tuple[str, ...]
    profile: str | None
    user_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, float]:
        return (self.user, self.server_name, self.started)


def running_servers(client: HubClient, page_size: int = PAGE_SIZE) -> list[RunningServer]:
    """Every running server of every user; raises HubUnavailable rather than guess."""
    found: list[RunningServer] = []
    offset = 0
    for _ in range(MAX_PAGES):
        query = urlencode({"state": "active", "offset": offset, "limit": page_size})
        answer = client.request("GET", f"{client.api_url}/users?{query}")
        if not answer.ok:
            raise HubUnavailable(f"listing the hub's users failed: {answer.message()}")
        page = answer.body
        if isinstance(page, dict):  # the paginated form, if a proxy asked for it
            page = page.get("items")
        if not isinstance(page, list):
            raise HubUnavailable("the hub's user list was not a list")
        for model in page:
            if isinstance(model, dict):
                found.extend(servers_of(model))
        if len(page) < page_size:
            return found
        offset += len(page)
    raise HubUnavailable(f"the hub's user list did not end after {MAX_PAGES} pages")


def servers_of(model: Mapping[str, Any]) -> Iterator[RunningServer]:
    """The running servers in one user model; a server without a start time is skipped
    (the token may not read it, or the spawn has not begun)."""
    user = model.get("name")
    servers = model.get("servers")
    if not isinstance(user, str) or not isinstance(servers, dict):
        return
    groups = tuple(sorted(g for g in model.get("groups") or () if isinstance(g, str)))
    for name, server in servers.items():
        if not isinstance(server, dict) or server.get("stopped"):
            continue
        started = parse_hub_time(server.get("started"))
        if started is None:
            continue
        options = server.get("user_options")
        options = options if isinstance(options, dict) else {}
        yield RunningServer(
            user=user,
            server_name=str(server.get("name", name) or ""),
            started=started,
            last_activity=parse_hub_time(server.get("last_activity")),
            groups=groups,
            profile=profile_of(options),
            user_options=options,
        )
