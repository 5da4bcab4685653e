"""`api/v1/budget`, `budget/refusals` and `metrics`: what a user may still spend, the
spawns the hub refused over a budget, and the budgets in Prometheus text."""

from __future__ import annotations

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from tornado import web

from jupyter_usage.hub.db.schema import MAX_MESSAGE_LENGTH, MAX_SCOPE_LENGTH

from .base import ApiHandler, bad_user_name


class BudgetHandler(ApiHandler):
    """`GET api/v1/budget[?user=NAME]`: what the user may still spend (budgets/rules.py)."""

    async def get(self) -> None:
        model = self.require_user()
        wanted = self.raw_query_argument("user")
        if wanted is not None:
            problem = bad_user_name(wanted)
            if problem:
                raise web.HTTPError(400, f"'user' {problem}")
        reader = self.service.is_reader_of_all(model)
        own = model.get("kind", "user") == "user"
        if wanted is not None and (not own or wanted != model.get("name")) and not reader:
            raise web.HTTPError(403, f"You may read only your own budgets. {self._only_admins()}")
        if wanted is None:
            if not own:
                raise web.HTTPError(400, "A service has no budget: name a user with ?user=")
            wanted = str(model["name"])
        body = await self.service.budget_keeper.answer(
            wanted, model.get("groups") if wanted == model.get("name") and own else None
        )
        self.write_json(body)


class BudgetRefusalsHandler(ApiHandler):
    """`POST api/v1/budget/refusals`: the spawn hook records a spawn it refused;
    `GET`: how many were refused in a window, for readers of all."""

    async def get(self) -> None:
        self.require_reader_of_all()
        since, until, group = self.time_window()
        if group is not None:
            raise web.HTTPError(400, "'group' does not filter refusals; they are by scope")
        self.write_json(await self.service.budget_keeper.refusals(since, until))

    async def post(self) -> None:
        model = self.require_user()
        if not self.token_authenticated:
            raise web.HTTPError(403, "Refusals must be sent with an API token")
        body = self.json_body(max_bytes=16384)
        user = body.get("user", model.get("name"))
        scope = body.get("scope")
        message = body.get("message")
        if not isinstance(scope, str) or not 0 < len(scope) <= MAX_SCOPE_LENGTH:
            raise web.HTTPError(400, "'scope' must be a budget's scope, such as 'group:students'")
        if not isinstance(user, str) or bad_user_name(user):
            raise web.HTTPError(400, "'user' must be a user's name")
        if message is not None and (
            not isinstance(message, str) or len(message) > MAX_MESSAGE_LENGTH
        ):
            raise web.HTTPError(
                400, f"'message' must be a string of at most {MAX_MESSAGE_LENGTH} characters"
            )
        own = model.get("kind", "user") == "user" and user == model.get("name")
        if not own and not self.service.is_reader_of_all(model):
            raise web.HTTPError(403, f"Only your own refusals count. {self._only_admins()}")
        scopes = {budget.scope for budget in self.service.parsed_budgets}
        if scope not in scopes:
            raise web.HTTPError(400, f"no budget has the scope {scope!r}")
        await self.service.budget_keeper.record_refusal(user, scope, message)
        self.write_json({"user": user, "scope": scope}, 201)


class MetricsHandler(ApiHandler):
    """`GET api/v1/metrics`: the budgets in Prometheus text (admins and scope holders)."""

    async def get(self) -> None:
        self.require_reader_of_all()
        body = await self.service.budget_keeper.exposition()
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(body)
