"""The budget traits of the hub service, and their checks.

A mixin, not a Configurable of its own: the traits belong to `UsageService`, so an admin
writes `c.UsageService.budgets` and a refused value names `UsageService.budgets`. The hub's
spawn hook (spawn_hook.py) reads some of them too, from the hub's own config.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from traitlets import Bool, HasTraits, List, TraitError, Unicode, validate

from jupyter_usage.traits import BoundedFloat, NamedCaselessStrEnum

from .rules import COMBINE_RULES, ENFORCEMENTS, Budget, BudgetConfigError, parse_budgets


class BudgetConfig(HasTraits):
    """Budgets: what each user may spend per period, and what a spent budget does."""

    budgets: List[Any] = List(
        config=True,
        help="""Budgets: what each user may spend per period. A list of dicts, each with

        - a scope: `{"user": NAME}`, `{"group": NAME}` or `{"default": True}`;
        - `"period"`: `"day"`, `"week"` (from Monday) or `"month"` (calendar periods in
          `budget_timezone`), or `{"rolling_days": N}` (the last N days, 1 to 366);
        - one or more limits: `"limit"` with `"currency"` (an ISO 4217 code; the cost the
          servers report in that currency), `"cpu_core_hours"`, `"memory_gib_hours"`,
          `"gpu_hours"`, `"server_hours"`. 0 allows nothing;
        - for a group, `"shared": True` to make the limit the group's together (default:
          each member may spend the whole limit).

        Example: `[{"group": "students", "period": "month", "limit": 20, "currency": "EUR"}]`.
        See `budget_combine` for several matching budgets. Default: none.
        """,
    )

    budget_timezone = Unicode(
        "UTC",
        config=True,
        help="""IANA time zone whose midnights start the calendar budget periods
        ("Europe/Berlin"), and in which the report page and the spawn refusal write
        times ("2026-12-08 00:00 CET"; the charts and KPI days stay in UTC).
        Default: "UTC".""",
    )

    budget_combine = NamedCaselessStrEnum(
        COMBINE_RULES,
        default_value="most_specific",
        config=True,
        help="""How several matching budgets combine. Limits of different units,
        currencies or periods always apply side by side; for the same unit and period:

        - "most_specific": the user's own budgets if there are any, else their groups'
          (the largest limit among the groups), else the default budgets;
        - "min": every matching budget counts and the smallest limit binds;
        - "max": every matching budget counts and the largest limit binds.

        Default: "most_specific".
        """,
    )

    budget_enforcement = NamedCaselessStrEnum(
        ENFORCEMENTS,
        default_value="none",
        config=True,
        help="""What a spent budget does:

        - "none": it is shown only;
        - "spawn": new servers are refused (with `refuse_over_budget` as the hub's
          `c.Spawner.pre_spawn_hook`, see docs/admins.md);
        - "stop": also running servers are stopped, `budget_grace_seconds` after the user
          was warned, through the hub API: the service's role needs the `servers` scope
          (and `list:users`, `read:users:groups`, as for `hub_poll_interval`).

        Default: "none".
        """,
    )

    budget_grace_seconds = BoundedFloat(
        300.0,
        min=0,
        max=86400,
        config=True,
        help="""Under "stop" enforcement, seconds between the warning that a budget is
        spent and the stop of the user's servers: time to save work. Between 0 and 86400.
        Default: 300.""",
    )

    budget_fail_open = Bool(
        True,
        config=True,
        help="""Whether `refuse_over_budget` lets a spawn through when the service cannot
        be asked (it warns in the hub's log). True: an outage of the service never locks
        everyone out of the hub. False: spawns are refused while it is down. This trait is
        read by the hook in the hub's process: set it in jupyterhub_config.py as
        `c.UsageService.budget_fail_open`. Default: True.""",
    )

    @validate("budgets")
    def _validate_budgets(self, proposal: Any) -> list[Any]:
        try:
            parse_budgets(proposal["value"])
        except BudgetConfigError as error:
            raise TraitError(f"{type(self).__name__}.budgets{error}") from None
        return list(proposal["value"])

    @validate("budget_timezone")
    def _validate_timezone(self, proposal: Any) -> str:
        value = proposal["value"]
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise TraitError(
                f"{type(self).__name__}.budget_timezone must be an IANA time zone such as "
                f"'Europe/Berlin', got {value!r}"
            ) from None
        return str(value)

    @property
    def parsed_budgets(self) -> list[Budget]:
        return parse_budgets(self.budgets)

    @property
    def budget_zone(self) -> ZoneInfo:
        return ZoneInfo(self.budget_timezone)
