"""Run a command (the Galata suite's Jupyter server) in a cgroup v1 memory group of its
own, as a spawner's container would: the server then has real cgroup totals, a real
OOM-kill counter, and a limit a test can set (`memory.limit_in_bytes`, no limit at
first). Where the machine does not allow a child group (no cgroup v1 memory
controller, or no permission) the command runs as it is and says why on stderr; the
tests that need the group skip themselves.

    python in_memory_cgroup.py jupyter lab --config jupyter_server_test_config.py
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup/memory")
PREFIX = "jupyter-usage-ui-"


def own_group() -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            directory = ROOT / path.lstrip("/")
            return directory if directory.is_dir() else None
    return None


def make_group(name: str) -> tuple[Path | None, str]:
    parent = own_group()
    if parent is None:
        return None, "no cgroup v1 memory controller here"
    for stale in parent.glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):
            stale.rmdir()  # left by a run that was killed; only an empty one goes
    group = parent / name
    try:
        group.mkdir(exist_ok=True)
    except OSError as error:
        return None, f"cannot create {group}: {error.strerror}"
    return group, ""


def main() -> int:
    command = sys.argv[1:]
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    group, why = make_group(f"{PREFIX}{os.environ.get('UI_PORT', '8888')}")
    if group is None:
        print(f"in_memory_cgroup: running without a cgroup of its own: {why}", file=sys.stderr)
        os.execvp(command[0], command)
    assert group is not None

    def join() -> None:
        (group / "cgroup.procs").write_text(f"{os.getpid()}\n")

    child = subprocess.Popen(command, preexec_fn=join)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: child.send_signal(number))
    code = child.wait()
    for _ in range(100):  # the kernel empties the group a moment after the last exit
        try:
            group.rmdir()
            break
        except OSError:
            time.sleep(0.1)
    return code


if __name__ == "__main__":
    sys.exit(main())
