"""`api/v1/rates` and `api/v1/allocations`: the price list a user's server prices with,
and what the hub's spawn hook says a server was given."""

from __future__ import annotations

import os
import secrets
import time

from tornado import web

from jupyter_usage.hub.db import allocation_records
from jupyter_usage.hub.db.allocation import AllocationError, parse_allocation
from jupyter_usage.hub.db.schema import MAX_NAME_LENGTH

from .base import ApiHandler, bad_user_name


class RatesHandler(ApiHandler):
    """`GET api/v1/rates[?server_name=NAME&profile=SLUG]`: the rates of the caller's server,
    with their groups' and their server's profile's rates applied."""

    async def get(self) -> None:
        model = self.require_user()
        if model.get("kind", "user") != "user":
            raise web.HTTPError(400, "A service has no server to price: ask with a user's token")
        wanted = self.raw_query_argument("user")
        if wanted is not None and wanted != model.get("name"):
            raise web.HTTPError(403, "You may read only the rates of your own servers")
        server_name = self.raw_query_argument("server_name") or ""
        profile = self.raw_query_argument("profile") or None
        for name, value in (("server_name", server_name), ("profile", profile or "")):
            if len(value) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in value):
                raise web.HTTPError(
                    400, f"'{name}' must be at most {MAX_NAME_LENGTH} characters, no control ones"
                )
        groups = [g for g in model.get("groups") or () if isinstance(g, str)]
        user = str(model["name"])
        metering, db = self.service.metering, self.service.db

        def read() -> dict[str, object]:
            with db.engine.connect() as connection:
                return metering.rates_for_server(connection, user, server_name, groups, profile)

        self.write_json(await self.service.run_db(read))


class AllocationsHandler(ApiHandler):
    """`POST api/v1/allocations`: the hub's `record_allocation` hook, with the service's
    own token, says what a server spawning now is given."""

    def _from_the_hub(self) -> bool:
        # Only the hub and this service hold the service's token; a user's token, however
        # scoped, is refused: an allocation sets what the user is charged.
        own = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        sent = self.request.headers.get("Authorization", "")
        scheme, _, token = sent.partition(" ")
        return (
            bool(own)
            and scheme.lower() in ("token", "bearer")
            and (secrets.compare_digest(token.strip().encode(), own.encode()))
        )

    async def post(self) -> None:
        if not self._from_the_hub():
            raise web.HTTPError(
                403, "Allocations are recorded by the hub's spawn hook with the service's token"
            )
        body = self.json_body(max_bytes=16384)
        user, server_name = body.get("user"), body.get("server_name", "")
        if not isinstance(user, str) or bad_user_name(user):
            raise web.HTTPError(400, "'user' must be a user's name")
        if not isinstance(server_name, str) or len(server_name) > MAX_NAME_LENGTH:
            raise web.HTTPError(400, "'server_name' must be a server's name ('' the default)")
        try:
            allocation = parse_allocation(body.get("allocation"), "'allocation'")
        except AllocationError as error:
            raise web.HTTPError(400, str(error)) from None
        db = self.service.db
        now = time.time()

        def write() -> None:
            with db.engine.begin() as connection:
                allocation_records.record(connection, user, server_name, now, allocation)

        await self.service.run_db(write)
        self.write_json(
            {"user": user, "server_name": server_name, "allocation": allocation.to_json()}, 201
        )
