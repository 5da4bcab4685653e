"""The allocation hook, for the hub's own process: tell the usage service what a server is
given as it spawns.

In jupyterhub_config.py, with the budget check and a hook of your own (`chain_hooks` runs
them in order; put `record_allocation` after any hook that changes the limits):

    from jupyter_usage.hub.budgets import chain_hooks, record_allocation, refuse_over_budget
    c.Spawner.pre_spawn_hook = chain_hooks(my_hook, record_allocation, refuse_over_budget)

It sends the spawner's `cpu_limit`, `cpu_guarantee`, `mem_limit`, `mem_guarantee`, the
GPUs of `extra_resource_limits` (`nvidia.com/gpu`, `amd.com/gpu`, …) and the profile slug,
with the chosen profile's `kubespawner_override` applied (KubeSpawner applies it only
after this hook), to `POST …/api/v1/allocations` with the service's own API token, which
only the hub and the service hold: a user cannot forge an allocation.

Fail-open: when the service cannot be reached the spawn goes on, the hub logs a warning,
and the service takes the allocation from `c.UsageService.profile_allocations`, or
leaves it unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from jupyter_usage.hub.db.allocation import Allocation
from jupyter_usage.hubclient import profile_of

from .spawn_hook import BudgetUnknown, _ask, _service_prefix_url, _settings

log = logging.getLogger("jupyter_usage.allocation")

LIMIT_TRAITS = {
    "cpu_limit": "cpu_limit_cores",
    "cpu_guarantee": "cpu_guarantee_cores",
    "mem_limit": "memory_limit_bytes",
    "mem_guarantee": "memory_guarantee_bytes",
}


def _bytes(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            from jupyterhub.traitlets import ByteSpecification

            value = ByteSpecification().validate(None, value)
        except Exception:
            return None
    return _number(value)


def _number(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return float(value) or None


def _gpus(resources: Any) -> float | None:
    if not isinstance(resources, Mapping):
        return None
    found = [
        _number(count) or 0.0
        for name, count in resources.items()
        if isinstance(name, str) and name.endswith("/gpu")
    ]
    return sum(found) or None if found else None


def _chosen_profile(spawner: Any, slug: str | None) -> Mapping[str, Any]:
    profiles = getattr(spawner, "profile_list", None)
    if not isinstance(profiles, list):
        return {}
    entries = [p for p in profiles if isinstance(p, Mapping)]
    chosen = [p for p in entries if slug is not None and p.get("slug") == slug]
    chosen = chosen or [p for p in entries if p.get("default")] or entries[:1]
    return chosen[0] if chosen else {}


def allocation_of(spawner: Any) -> Allocation:
    """What `spawner` will give its server, its chosen profile's overrides included."""
    options = getattr(spawner, "user_options", None)
    slug = profile_of(options) if isinstance(options, Mapping) else None
    profile = _chosen_profile(spawner, slug)
    override = profile.get("kubespawner_override")
    override = override if isinstance(override, Mapping) else {}
    slug = slug or (profile.get("slug") if isinstance(profile.get("slug"), str) else None)

    def setting(name: str) -> Any:
        return override[name] if name in override else getattr(spawner, name, None)

    figures = {
        field: (_bytes if name.startswith("mem") else _number)(setting(name))
        for name, field in LIMIT_TRAITS.items()
    }
    return Allocation(**figures, gpus=_gpus(setting("extra_resource_limits")), profile=slug)


async def record_allocation(spawner: Any) -> None:
    """A `c.Spawner.pre_spawn_hook`: send the server's allocation to the usage service."""
    settings = _settings(spawner)
    name = str(settings.get("service_name") or "usage")
    user = getattr(spawner.user, "name", "?")
    logger = getattr(spawner, "log", None) or log
    try:
        allocation = allocation_of(spawner)
        base = _service_prefix_url(spawner, name)
        services = (getattr(spawner.user, "settings", None) or {}).get("services") or {}
        token = getattr(services.get(name), "api_token", None)
        if not token:
            raise BudgetUnknown(f"the hub holds no API token of the service {name!r}")
        body = {
            "user": user,
            "server_name": str(getattr(spawner, "name", "") or ""),
            "allocation": allocation.to_json(),
        }
        await _ask(f"{base}api/v1/allocations", token, "POST", body)
    except BudgetUnknown as error:
        logger.warning(
            "Cannot record the allocation of %s's server at the usage service %r (%s); "
            "it starts anyway, priced from c.UsageService.profile_allocations if set",
            user,
            name,
            error,
        )
