"""Which limits apply to this server, and who said so.

Precedence: the container's cgroup (what the kernel actually enforces), then the
spawner's environment (`CPU_LIMIT`, `MEM_LIMIT`, `CPU_GUARANTEE`, `MEM_GUARANTEE`,
as JupyterHub spawners set them), then the admin's `UsageApp` overrides.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

_BYTE_SUFFIXES = {
    "": 1,
    "K": 1024,
    "M": 1024**2,
    "G": 1024**3,
    "T": 1024**4,
    "P": 1024**5,
}
_BYTES_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([KMGTP]?)(i?B?)?\s*$", re.IGNORECASE)


def parse_bytes(text: str | None) -> int | None:
    """Parse `4294967296`, `4G`, `512M` or `1.5GiB` as bytes (binary suffixes, as
    JupyterHub's ByteSpecification reads them); None when empty, zero or garbled."""
    if not text:
        return None
    match = _BYTES_PATTERN.match(text)
    if not match:
        return None
    value = float(match.group(1)) * _BYTE_SUFFIXES[match.group(2).upper()]
    if not math.isfinite(value) or value <= 0:
        return None
    return int(value)


def parse_cores(text: str | None) -> float | None:
    """Parse `2`, `0.5` or Kubernetes-style `500m` as cores; None when absent or 0."""
    if not text:
        return None
    text = text.strip()
    try:
        value = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_limit_cores: float | None = None
    cpu_limit_source: str | None = None
    cpu_guarantee_cores: float | None = None
    memory_limit_bytes: int | None = None
    memory_limit_source: str | None = None
    memory_guarantee_bytes: int | None = None


def resolve_limits(
    *,
    cgroup_cpu_cores: float | None,
    cgroup_memory_bytes: int | None,
    env: Mapping[str, str],
    config_cpu_cores: float | None,
    config_memory_bytes: int | None,
) -> Limits:
    """Pick each limit from the first source that knows it."""
    cpu_candidates = (
        ("cgroup", cgroup_cpu_cores),
        ("env", parse_cores(env.get("CPU_LIMIT"))),
        ("config", config_cpu_cores or None),
    )
    memory_candidates = (
        ("cgroup", cgroup_memory_bytes),
        ("env", parse_bytes(env.get("MEM_LIMIT"))),
        ("config", config_memory_bytes or None),
    )
    cpu_source, cpu = next(((s, v) for s, v in cpu_candidates if v), (None, None))
    memory_source, memory = next(((s, v) for s, v in memory_candidates if v), (None, None))
    return Limits(
        cpu_limit_cores=cpu,
        cpu_limit_source=cpu_source,
        cpu_guarantee_cores=parse_cores(env.get("CPU_GUARANTEE")),
        memory_limit_bytes=int(memory) if memory else None,
        memory_limit_source=memory_source,
        memory_guarantee_bytes=parse_bytes(env.get("MEM_GUARANTEE")),
    )
