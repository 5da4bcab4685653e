"""Container totals from cgroup files (v2, else v1): O(1) whatever the process count.

Every figure is read fresh on each `read()` (limits can change at run time), a
missing or unparseable file gives `None` for what it feeds, never an exception.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

_UNLIMITED_FLOOR_BYTES = 2**62
"""v1 says "no limit" with a huge page-aligned value (2**63 - 4096 on x86-64)."""

_CPU_CONTROLLERS = ("cpu", "cpuacct")


@dataclass(frozen=True, slots=True)
class CgroupReading:
    version: int
    cpu_usage_seconds: float | None
    """CPU time used by the cgroup since it was created."""
    cpu_limit_cores: float | None
    """quota / period; None when unlimited."""
    memory_used_bytes: int | None
    """Working set: usage minus inactive file pages, as kubelet and `docker stats` show it."""
    memory_limit_bytes: int | None
    oom_kills: int | None
    cpu_pressure_some_avg10_percent: float | None = None
    memory_pressure_some_avg10_percent: float | None = None
    cpu_throttled_seconds: float | None = None
    """Time the cgroup's tasks were held back by its CPU quota, since it was created
    (v2 `cpu.stat` throttled_usec, v1 `cpu.stat` throttled_time)."""
    cpu_pressure_some_seconds: float | None = None
    """PSI counter: time in which some task waited for CPU, since the cgroup was created."""
    memory_pressure_some_seconds: float | None = None
    """PSI counter: time in which some task stalled on memory (reclaim, swap-in)."""
    memory_peak_bytes: int | None = None
    """The most memory the cgroup has held since it was created, between samples too
    (v2 `memory.peak`, v1 `memory.max_usage_in_bytes`; page cache included)."""


class CgroupReader:
    """Reads this process's cgroup; paths are resolved once, files on every `read()`.

    Not thread-safe: call it from one thread.
    """

    def __init__(
        self, *, root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup"
    ) -> None:
        self._root = root
        self._host_memory_bytes = _host_memory_bytes()
        v2_path, v1_paths = _parse_proc_cgroup(_read_text(proc_cgroup) or "")
        self._version: int
        self._cpu_usage_dir: str | None = None
        self._cpu_stat_dir: str | None = None
        self._cpu_limit_dirs: tuple[str, ...] = ()
        self._memory_dir: str | None = None
        self._memory_limit_dirs: tuple[str, ...] = ()
        self._cpu_pressure_file: str | None = None
        self._memory_pressure_file: str | None = None

        unified = _resolve(root, v2_path) if _is_unified_mount(root) else None
        if unified is not None and _has_any(unified, ("cpu.stat", "memory.current")):
            self._version = 2
            self._cpu_usage_dir = self._memory_dir = self._cpu_stat_dir = unified
            self._cpu_limit_dirs = self._memory_limit_dirs = _ancestors(unified, root)
            pressure_dirs: tuple[str | None, ...] = (unified,)
        else:
            _, memory_dir = _resolve_v1(root, "memory", v1_paths)
            _, cpuacct_dir = _resolve_v1(root, "cpuacct", v1_paths)
            cpu_mount, cpu_dir = _resolve_v1(root, "cpu", v1_paths)
            if not (
                (memory_dir and _has_any(memory_dir, ("memory.usage_in_bytes",)))
                or (cpuacct_dir and _has_any(cpuacct_dir, ("cpuacct.usage", "cpuacct.stat")))
            ):
                raise ValueError(f"no usable cgroup v2 or v1 files under {root}")
            self._version = 1
            self._memory_dir = memory_dir
            self._memory_limit_dirs = (memory_dir,) if memory_dir else ()
            self._cpu_usage_dir = cpuacct_dir
            self._cpu_stat_dir = cpu_dir
            if cpu_mount and cpu_dir:
                self._cpu_limit_dirs = _ancestors(cpu_dir, cpu_mount)
            # Hybrid hosts mount a v2 hierarchy (often holding only PSI files) at root/unified.
            hybrid = os.path.join(root, "unified")
            hybrid_dir = _resolve(hybrid, v2_path) if _is_unified_mount(hybrid) else None
            pressure_dirs = (hybrid_dir, cpuacct_dir, memory_dir)
        self._cpu_pressure_file = _first_file(pressure_dirs, "cpu.pressure")
        self._memory_pressure_file = _first_file(pressure_dirs, "memory.pressure")

    @classmethod
    def detect(
        cls, *, root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup"
    ) -> CgroupReader | None:
        """A reader for this process's cgroup, or None when there is no usable one."""
        try:
            return cls(root=root, proc_cgroup=proc_cgroup)
        except ValueError:
            return None

    @property
    def version(self) -> int:
        return self._version

    def read(self) -> CgroupReading:
        if self._version == 2:
            cpu_usage, memory_used, memory_limit, oom_kills = self._read_v2()
        else:
            cpu_usage, memory_used, memory_limit, oom_kills = self._read_v1()
        if memory_limit is not None and (
            memory_limit >= _UNLIMITED_FLOOR_BYTES
            or (self._host_memory_bytes and memory_limit > self._host_memory_bytes)
        ):
            memory_limit = None
        cpu_psi = _read_psi_some(self._cpu_pressure_file)
        memory_psi = _read_psi_some(self._memory_pressure_file)
        return CgroupReading(
            version=self._version,
            cpu_usage_seconds=cpu_usage,
            cpu_limit_cores=self._read_cpu_limit(),
            memory_used_bytes=memory_used,
            memory_limit_bytes=memory_limit,
            oom_kills=oom_kills,
            cpu_pressure_some_avg10_percent=cpu_psi.get("avg10"),
            memory_pressure_some_avg10_percent=memory_psi.get("avg10"),
            cpu_throttled_seconds=self._read_throttled_seconds(),
            cpu_pressure_some_seconds=_microseconds(cpu_psi.get("total")),
            memory_pressure_some_seconds=_microseconds(memory_psi.get("total")),
            memory_peak_bytes=self._read_memory_peak(),
        )

    def _read_memory_peak(self) -> int | None:
        if self._memory_dir is None:
            return None
        name = "memory.peak" if self._version == 2 else "memory.max_usage_in_bytes"
        return _read_int(os.path.join(self._memory_dir, name))

    def _read_throttled_seconds(self) -> float | None:
        if self._cpu_stat_dir is None:
            return None
        stat = _read_keyed(os.path.join(self._cpu_stat_dir, "cpu.stat"))
        if self._version == 2:
            return _microseconds(stat.get("throttled_usec"))
        nanoseconds = stat.get("throttled_time")
        return None if nanoseconds is None else nanoseconds / 1e9

    def procs(self, resource: Literal["cpu", "memory"] | None = None) -> frozenset[int] | None:
        """PIDs in this cgroup and its children; None when cgroup.procs cannot be read.

        Under v1, cpu and memory may be different cgroups (on some hosts cpu is the
        root cgroup and memory a per-job one): `resource` picks one, None gives the
        union, the set whose processes all count towards some total of `read()`.
        """
        if resource == "cpu":
            dirs: tuple[str | None, ...] = (self._cpu_usage_dir,)
        elif resource == "memory":
            dirs = (self._memory_dir,)
        else:
            dirs = (self._cpu_usage_dir, self._memory_dir)
        pids: set[int] = set()
        readable = False
        for top in dict.fromkeys(d for d in dirs if d):
            for directory in _walk_dirs(top):
                text = _read_text(os.path.join(directory, "cgroup.procs"))
                if text is None:
                    continue
                readable = True
                pids.update(int(word) for word in text.split() if word.isdigit())
        pids.discard(0)  # PIDs outside our PID namespace read as 0
        return frozenset(pids) if readable else None

    def describe(self) -> dict[str, Any]:
        """What the /config endpoint shows about this source."""
        return {
            "version": self._version,
            "paths": {
                "cpu_usage": self._cpu_usage_dir,
                "cpu_limit": self._cpu_limit_dirs[0] if self._cpu_limit_dirs else None,
                "memory": self._memory_dir,
                "cpu_pressure": self._cpu_pressure_file,
                "memory_pressure": self._memory_pressure_file,
            },
        }

    def _read_v2(self) -> tuple[float | None, int | None, int | None, int | None]:
        directory = self._memory_dir
        assert directory is not None
        usage_usec = _read_keyed(os.path.join(directory, "cpu.stat")).get("usage_usec")
        current = _read_int(os.path.join(directory, "memory.current"))
        inactive_file = _read_keyed(os.path.join(directory, "memory.stat")).get("inactive_file")
        limits = (_read_int(os.path.join(d, "memory.max")) for d in self._memory_limit_dirs)
        oom_kills = _read_keyed(os.path.join(directory, "memory.events")).get("oom_kill")
        return (
            None if usage_usec is None else usage_usec / 1e6,
            _working_set(current, inactive_file),
            _smallest(limits),
            oom_kills,
        )

    def _read_v1(self) -> tuple[float | None, int | None, int | None, int | None]:
        cpu_usage = None
        if self._cpu_usage_dir is not None:
            usage_ns = _read_int(os.path.join(self._cpu_usage_dir, "cpuacct.usage"))
            if usage_ns is not None:
                cpu_usage = usage_ns / 1e9
            else:
                ticks = _read_keyed(os.path.join(self._cpu_usage_dir, "cpuacct.stat"))
                if "user" in ticks and "system" in ticks:
                    cpu_usage = (ticks["user"] + ticks["system"]) / os.sysconf("SC_CLK_TCK")
        directory = self._memory_dir
        if directory is None:
            return cpu_usage, None, None, None
        usage = _read_int(os.path.join(directory, "memory.usage_in_bytes"))
        stat = _read_keyed(os.path.join(directory, "memory.stat"))
        inactive_file = stat.get("total_inactive_file", stat.get("inactive_file"))
        # memory.limit_in_bytes is this cgroup's own; an ancestor's may be tighter.
        limit = _smallest(
            (
                _read_int(os.path.join(directory, "memory.limit_in_bytes")),
                stat.get("hierarchical_memory_limit"),
            )
        )
        oom_kills = _read_keyed(os.path.join(directory, "memory.oom_control")).get("oom_kill")
        return cpu_usage, _working_set(usage, inactive_file), limit, oom_kills

    def _read_cpu_limit(self) -> float | None:
        limits: list[float] = []
        for directory in self._cpu_limit_dirs:
            if self._version == 2:
                words = (_read_text(os.path.join(directory, "cpu.max")) or "").split()
                quota_text, period_text = words if len(words) == 2 else ("max", "")
            else:
                quota_text = _read_text(os.path.join(directory, "cpu.cfs_quota_us")) or "-1"
                period_text = _read_text(os.path.join(directory, "cpu.cfs_period_us")) or ""
            try:
                quota, period = int(quota_text), int(period_text)
            except ValueError:
                continue  # "max", missing or garbage: no limit here
            if quota > 0 and period > 0:
                limits.append(quota / period)
        return min(limits) if limits else None


def _parse_proc_cgroup(text: str) -> tuple[str | None, dict[str, tuple[str, tuple[str, ...]]]]:
    """The v2 path, and for each v1 controller its path and its co-mounted controllers."""
    v2_path = None
    v1: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            v2_path = path
            continue
        names = tuple(name for name in controllers.split(",") if name)
        for name in names:
            v1[name] = (path, names)
    return v2_path, v1


def _resolve(mount: str, path: str | None) -> str:
    """`mount/path` when it exists, else the mount itself.

    Inside a container /proc/self/cgroup often names the host's path (or one
    outside our cgroup namespace, "/../.."), while the container sees its own
    cgroup mounted at the root of the hierarchy.
    """
    if path:
        candidate = os.path.normpath(os.path.join(mount, path.lstrip("/")))
        inside = candidate == mount or candidate.startswith(mount.rstrip("/") + "/")
        if inside and os.path.isdir(candidate):
            return candidate
    return os.path.normpath(mount)


def _resolve_v1(
    root: str, controller: str, v1_paths: dict[str, tuple[str, tuple[str, ...]]]
) -> tuple[str | None, str | None]:
    """The mount of a v1 controller and our cgroup's directory in it."""
    path, comounted = v1_paths.get(controller, ("/", (controller,)))
    names = [",".join(comounted), controller]
    if controller in _CPU_CONTROLLERS:
        names += ["cpu,cpuacct", "cpuacct,cpu"]
    for name in dict.fromkeys(names):
        mount = os.path.join(root, name)
        if os.path.isfile(os.path.join(mount, "cgroup.procs")):
            return os.path.normpath(mount), _resolve(mount, path)
    return None, None


def _is_unified_mount(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "cgroup.controllers"))


def _has_any(directory: str, names: Iterable[str]) -> bool:
    return any(os.path.isfile(os.path.join(directory, name)) for name in names)


def _first_file(directories: Iterable[str | None], name: str) -> str | None:
    for directory in directories:
        if directory and os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    return None


def _ancestors(directory: str, top: str) -> tuple[str, ...]:
    """`directory` and its parents up to and including `top` (limits are hierarchical)."""
    found = [directory]
    top = os.path.normpath(top)
    while directory != top and directory.startswith(top.rstrip("/") + "/"):
        directory = os.path.dirname(directory)
        found.append(directory)
    return tuple(found)


def _walk_dirs(top: str) -> Iterable[str]:
    stack = [top]
    while stack:
        directory = stack.pop()
        yield directory
        try:
            with os.scandir(directory) as entries:
                stack.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            continue


def _working_set(usage: int | None, inactive_file: int | None) -> int | None:
    if usage is None:
        return None
    return max(0, usage - (inactive_file or 0))


def _smallest(values: Iterable[int | None]) -> int | None:
    known = [value for value in values if value is not None and value >= 0]
    return min(known) if known else None


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: str) -> int | None:
    """An integer file; None for "max", missing or garbage."""
    try:
        return int((_read_text(path) or "").strip())
    except ValueError:
        return None


def _read_keyed(path: str) -> dict[str, int]:
    """A flat-keyed file ("key value" lines); lines that do not parse are skipped."""
    values: dict[str, int] = {}
    for line in (_read_text(path) or "").splitlines():
        words = line.split()
        if len(words) == 2:
            try:
                values[words[0]] = int(words[1])
            except ValueError:
                continue
    return values


def _read_psi_some(path: str | None) -> dict[str, float]:
    """The "some" line of a PSI file ("some avg10=1.71 avg60=... total=12345"); values
    that do not parse are left out."""
    values: dict[str, float] = {}
    if path is None:
        return values
    for line in (_read_text(path) or "").splitlines():
        words = line.split()
        if words[:1] != ["some"]:
            continue
        for word in words[1:]:
            key, _, value = word.partition("=")
            try:
                values[key] = float(value)
            except ValueError:
                continue
        break
    return values


def _microseconds(value: float | None) -> float | None:
    return None if value is None else value / 1e6


def _host_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return None
