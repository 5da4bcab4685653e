"""A real cgroup v1 memory group below this process's own, for tests that need a real
limit and a real OOM kill (root may create one on these machines)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path("/sys/fs/cgroup/memory")


def own_memory_cgroup() -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            directory = ROOT / path.lstrip("/")
            return directory if directory.is_dir() else ROOT
    return None


@contextlib.contextmanager
def memory_cgroup(name: str, limit_bytes: int | None = None) -> Iterator[Path | None]:
    """A new memory group with `limit_bytes` (None: no limit), or None where this
    machine does not allow one; removed afterwards, once its processes have left."""
    own = own_memory_cgroup()
    group = None if own is None else own / name
    try:
        assert group is not None
        group.mkdir()
        if limit_bytes is not None:
            (group / "memory.limit_in_bytes").write_text(f"{limit_bytes}\n")
    except (AssertionError, OSError):
        group = None
    try:
        yield group
    finally:
        if group is not None:
            for _ in range(100):  # the kernel empties the group a moment after the exits
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
