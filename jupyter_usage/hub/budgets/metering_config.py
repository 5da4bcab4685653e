"""The metering traits of the hub service: its price list and the profiles' allocations.

A mixin, as config.py: `c.UsageService.profile_allocations`. The rates themselves
are `c.CostModel.…` in the service's config, the same traits the servers read.
"""

from __future__ import annotations

from typing import Any

from traitlets import Dict, HasTraits, TraitError, validate

from jupyter_usage.hub.db.allocation import Allocation, AllocationError, parse_profile_allocations


class MeteringConfig(HasTraits):
    """What the service prices sessions with, beside `CostModel`."""

    profile_allocations = Dict(
        config=True,
        help="""What a server of each spawn profile is given, for servers whose spawn the
        hub's `record_allocation` hook did not report: {profile slug: {figure: value}}.

        Figures: `cpu_limit_cores`, `cpu_guarantee_cores`, `memory_limit_bytes`,
        `memory_guarantee_bytes` (bytes, not "2G") and `gpus`; each a number >= 0, 0 or
        absent: not set. Example: `{"gpu": {"cpu_limit_cores": 8, "gpus": 1}}`. The
        trusted cost of a session prices this allocation with the `CostModel` rates (see
        docs/admins.md). The default, an empty dict: a server without a hook record has no
        known allocation and is charged `server_hour` only.
        """,
    )

    @validate("profile_allocations")
    def _validate_profile_allocations(self, proposal: Any) -> dict[str, Any]:
        try:
            parse_profile_allocations(
                proposal["value"], f"{type(self).__name__}.profile_allocations"
            )
        except AllocationError as error:
            raise TraitError(str(error)) from None
        return dict(proposal["value"])

    @property
    def parsed_profile_allocations(self) -> dict[str, Allocation]:
        return parse_profile_allocations(self.profile_allocations, "profile_allocations")
