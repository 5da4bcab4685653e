"""Which limit wins: cgroup, then the spawner's environment, then config."""

from __future__ import annotations

import pytest

from jupyter_usage.sampling.limits import parse_bytes, parse_cores, resolve_limits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4294967296", 4 * 2**30),
        ("4G", 4 * 2**30),
        ("512M", 512 * 2**20),
        ("1.5GiB", int(1.5 * 2**30)),
        ("2T", 2 * 2**40),
        ("0", None),
        ("", None),
        (None, None),
        ("lots", None),
        ("-1G", None),
    ],
)
def test_parse_bytes(text: str | None, expected: int | None) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2", 2.0), ("0.5", 0.5), ("500m", 0.5), ("0", None), ("x", None), ("inf", None)],
)
def test_parse_cores(text: str, expected: float | None) -> None:
    assert parse_cores(text) == expected


def test_cgroup_beats_env_beats_config() -> None:
    env = {"CPU_LIMIT": "4", "MEM_LIMIT": "8G", "CPU_GUARANTEE": "1", "MEM_GUARANTEE": "2G"}
    limits = resolve_limits(
        cgroup_cpu_cores=2.0,
        cgroup_memory_bytes=4 * 2**30,
        env=env,
        config_cpu_cores=8,
        config_memory_bytes=16 * 2**30,
    )
    assert (limits.cpu_limit_cores, limits.cpu_limit_source) == (2.0, "cgroup")
    assert (limits.memory_limit_bytes, limits.memory_limit_source) == (4 * 2**30, "cgroup")
    assert limits.cpu_guarantee_cores == 1.0
    assert limits.memory_guarantee_bytes == 2 * 2**30

    limits = resolve_limits(
        cgroup_cpu_cores=None,
        cgroup_memory_bytes=None,
        env=env,
        config_cpu_cores=8,
        config_memory_bytes=16 * 2**30,
    )
    assert (limits.cpu_limit_cores, limits.cpu_limit_source) == (4.0, "env")
    assert (limits.memory_limit_bytes, limits.memory_limit_source) == (8 * 2**30, "env")

    limits = resolve_limits(
        cgroup_cpu_cores=None,
        cgroup_memory_bytes=None,
        env={},
        config_cpu_cores=8,
        config_memory_bytes=16 * 2**30,
    )
    assert (limits.cpu_limit_cores, limits.cpu_limit_source) == (8, "config")
    assert (limits.memory_limit_bytes, limits.memory_limit_source) == (16 * 2**30, "config")

    limits = resolve_limits(
        cgroup_cpu_cores=None,
        cgroup_memory_bytes=None,
        env={},
        config_cpu_cores=None,
        config_memory_bytes=None,
    )
    assert limits.cpu_limit_cores is None
    assert limits.cpu_limit_source is None
