"""What a server was given, as the hub's spawner set it: the base of a trusted cost.

An `Allocation` comes from the hub process (the spawn hook, spawn_allocation.py) or from
`c.UsageService.profile_allocations`, never from the server itself. Plain values, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_PROFILE_LENGTH = 255
FIELDS = (
    "cpu_limit_cores",
    "cpu_guarantee_cores",
    "memory_limit_bytes",
    "memory_guarantee_bytes",
    "gpus",
)
"""Every figure of an allocation, in SI units (cores, bytes, devices); None: not set."""


class AllocationError(ValueError):
    """An allocation that cannot be used; the message says which field and why."""


@dataclass(frozen=True)
class Allocation:
    cpu_limit_cores: float | None = None
    cpu_guarantee_cores: float | None = None
    memory_limit_bytes: float | None = None
    memory_guarantee_bytes: float | None = None
    gpus: float | None = None
    profile: str | None = None

    @property
    def billed_cpu_cores(self) -> float | None:
        """What the `allocated` basis bills: the guarantee when the spawner set one, else
        the limit (as cost.py bills a server's own figures)."""
        return self.cpu_guarantee_cores or self.cpu_limit_cores

    @property
    def billed_memory_bytes(self) -> float | None:
        return self.memory_guarantee_bytes or self.memory_limit_bytes

    @property
    def known(self) -> bool:
        return any(getattr(self, name) for name in FIELDS)

    def to_json(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in FIELDS}, "profile": self.profile}


def _figure(where: str, value: Any) -> float | None:
    # A spawner's 0 means "no limit", as JupyterHub's own traits do.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AllocationError(f"{where} must be a number >= 0 or null, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number < 0:
        raise AllocationError(f"{where} must be a finite number >= 0, got {value!r}")
    return number or None


def parse_allocation(value: Any, where: str = "the allocation") -> Allocation:
    """An allocation from JSON (the hook's POST, the profile map); unknown keys refused."""
    if not isinstance(value, Mapping):
        raise AllocationError(f"{where} must be an object, got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in (*FIELDS, "profile"))
    if unknown:
        raise AllocationError(
            f"{where} has unknown keys {unknown}; known: {', '.join((*FIELDS, 'profile'))}"
        )
    profile = value.get("profile")
    if profile is not None and (
        not isinstance(profile, str)
        or len(profile) > MAX_PROFILE_LENGTH
        or any(ord(ch) < 32 for ch in profile)
    ):
        raise AllocationError(
            f"{where}'s 'profile' must be a profile slug of at most {MAX_PROFILE_LENGTH} "
            "characters, or null"
        )
    figures = {name: _figure(f"{where}'s {name!r}", value.get(name)) for name in FIELDS}
    return Allocation(**figures, profile=profile or None)


def parse_profile_allocations(value: Any, where: str) -> dict[str, Allocation]:
    """`{profile slug: allocation}` of the service's config."""
    if not isinstance(value, Mapping):
        raise AllocationError(f"{where} must be a dict of {{profile slug: allocation}}")
    found = {}
    for slug, entry in value.items():
        if not isinstance(slug, str) or not slug:
            raise AllocationError(f"{where} keys must be profile slugs, got {slug!r}")
        allocation = parse_allocation(entry, f"{where}[{slug!r}]")
        found[slug] = Allocation(**{n: getattr(allocation, n) for n in FIELDS}, profile=slug)
    return found
