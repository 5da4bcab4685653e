from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_usage.sampling.processes import KernelProcessUsage, ProcessTree

MIB = 2**20

# Children talk over stdout ("ready", pids, "done") and stop when stdin closes.
ALLOCATE = """
import sys
block = b"\\x01" * (200 * 2**20)
print("ready", flush=True)
sys.stdin.read()
"""

SLEEP = """
import sys
print("ready", flush=True)
sys.stdin.read()
"""

BURN = """
import sys, time
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
"""

SPAWN_GRANDCHILD = f"""
import subprocess, sys
grandchild = subprocess.Popen([sys.executable, "-c", {BURN!r}, "5"], stdout=subprocess.PIPE)
grandchild.stdout.readline()
print(grandchild.pid, flush=True)
sys.stdin.read()
grandchild.kill()
grandchild.wait()
"""

# A kernel running a short shell command: the subprocess starts, works and is reaped
# between two reads.
RUN_SHORT_SUBPROCESS = f"""
import subprocess, sys
burn_cpu = {BURN.replace("time.monotonic", "time.process_time")!r}
print("ready", flush=True)
for line in sys.stdin:
    subprocess.run([sys.executable, "-c", burn_cpu, line.strip()], stdout=subprocess.DEVNULL)
    print("done", flush=True)
"""


class Child:
    def __init__(self, script: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self.process.pid

    def line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.close()


def start(children: list[Child], script: str, *args: str) -> Child:
    child = Child(script, *args)
    children.append(child)
    return child


def vm_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingClock:
    """The real monotonic clock, remembering what it last said."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self) -> float:
        self.times.append(time.monotonic())
        return self.times[-1]

    def since_previous(self) -> float:
        return self.times[-1] - self.times[-2]


def test_memory_of_a_kernel_matches_vmrss(children: list[Child]) -> None:
    child = start(children, ALLOCATE)
    assert child.line() == "ready"
    tree = ProcessTree(os.getpid())
    reading = tree.read({"k": child.pid})
    expected = vm_rss_bytes(child.pid)
    assert expected > 200 * MIB
    kernel = reading.kernels["k"]
    assert kernel.pid == child.pid
    assert kernel.pids == {child.pid}
    assert kernel.memory_bytes is not None
    assert abs(kernel.memory_bytes - expected) <= 0.05 * expected
    assert kernel.cpu_cores is None  # first read
    assert reading.cpu_cores is None
    assert {os.getpid(), child.pid} <= reading.pids
    assert reading.memory_bytes >= kernel.memory_bytes + vm_rss_bytes(os.getpid()) * 0.9


def cpu_seconds_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_cpu_of_a_busy_kernel(children: list[Child]) -> None:
    child = start(children, BURN, "3")
    assert child.line() == "ready"
    clock = RecordingClock()
    tree = ProcessTree(os.getpid(), clock=clock)
    tree.read({"k": child.pid})
    used_before = cpu_seconds_of(child.pid)
    time.sleep(1.0)
    used_after = cpu_seconds_of(child.pid)
    reading = tree.read({"k": child.pid})
    cores = reading.kernels["k"].cpu_cores
    assert cores is not None
    # A core when the machine is idle; other work on a loaded 2-core machine takes a share.
    assert 0.25 <= cores <= 1.3
    # What the kernel itself counted over (nearly) the same interval, give or take a tick.
    assert cores * clock.since_previous() == pytest.approx(used_after - used_before, abs=0.05)
    assert reading.cpu_cores is not None
    assert reading.cpu_cores >= cores


def test_grandchild_counts_towards_its_kernel(children: list[Child]) -> None:
    child = start(children, SPAWN_GRANDCHILD)
    grandchild = int(child.line())
    other = start(children, SLEEP)
    assert other.line() == "ready"
    clock = RecordingClock()
    tree = ProcessTree(os.getpid(), clock=clock)
    tree.read({"k": child.pid, "other": other.pid})
    used_before = cpu_seconds_of(child.pid) + cpu_seconds_of(grandchild)
    time.sleep(0.8)
    used_after = cpu_seconds_of(child.pid) + cpu_seconds_of(grandchild)
    reading = tree.read({"k": child.pid, "other": other.pid})
    kernel = reading.kernels["k"]
    assert kernel.pids == {child.pid, grandchild}
    assert kernel.memory_bytes is not None
    assert kernel.memory_bytes >= vm_rss_bytes(child.pid) + vm_rss_bytes(grandchild) * 0.95
    assert kernel.cpu_cores is not None
    assert kernel.cpu_cores >= 0.25  # the grandchild burns what it can get; the child sleeps
    assert kernel.cpu_cores * clock.since_previous() == pytest.approx(
        used_after - used_before, abs=0.05
    )
    assert reading.kernels["other"].pids == {other.pid}
    os.kill(grandchild, signal.SIGKILL)


def test_short_subprocess_between_reads_counts_once(children: list[Child]) -> None:
    """CPU of a subprocess never seen alive reaches its kernel through the reaped counter;
    one that was seen alive is not counted a second time when it is reaped."""
    child = start(children, RUN_SHORT_SUBPROCESS)
    assert child.line() == "ready"

    clock = RecordingClock()
    unseen = ProcessTree(os.getpid(), rescan_interval_seconds=3600.0, clock=clock)
    unseen.read({"k": child.pid})
    child.send("0.3")
    assert child.line() == "done"
    cores = unseen.read({"k": child.pid}).kernels["k"].cpu_cores
    assert cores is not None
    assert 0.25 <= cores * clock.since_previous() <= 0.6

    clock = RecordingClock()
    watched = ProcessTree(os.getpid(), rescan_interval_seconds=0.0, clock=clock)
    kernel = watched.read({"k": child.pid}).kernels["k"]
    child.send("0.5")
    cpu_seconds = 0.0
    seen_pids: set[int] = set()
    deadline = time.monotonic() + 10
    while len(seen_pids) < 2 or len(kernel.pids) > 1:  # until the subprocess came and went
        assert time.monotonic() < deadline
        time.sleep(0.15)
        kernel = watched.read({"k": child.pid}).kernels["k"]
        seen_pids |= kernel.pids
        assert kernel.cpu_cores is not None
        cpu_seconds += kernel.cpu_cores * clock.since_previous()
    assert child.line() == "done"
    kernel = watched.read({"k": child.pid}).kernels["k"]
    assert kernel.cpu_cores is not None
    cpu_seconds += kernel.cpu_cores * clock.since_previous()
    assert len(seen_pids) == 2  # the subprocess was seen alive
    assert 0.45 <= cpu_seconds <= 0.8  # not twice 0.5


def test_process_exiting_between_reads(children: list[Child]) -> None:
    killed = start(children, ALLOCATE)
    zombie = start(children, ALLOCATE)
    assert killed.line() == "ready"
    assert zombie.line() == "ready"
    tree = ProcessTree(os.getpid())
    kernels = {"killed": killed.pid, "zombie": zombie.pid}
    first = tree.read(kernels)
    assert {killed.pid, zombie.pid} <= first.pids

    killed.process.kill()
    killed.process.wait()
    os.kill(zombie.pid, signal.SIGKILL)  # not reaped: a zombie until close()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{zombie.pid}/stat").read_text().split(") ")[1][0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)

    second = tree.read(kernels)
    assert killed.pid not in second.pids
    assert second.kernels["killed"] == KernelProcessUsage(killed.pid, None, None, frozenset())
    assert second.cpu_cores is not None
    assert second.memory_bytes < first.memory_bytes - 150 * MIB
    zombie_usage = second.kernels["zombie"]
    assert not zombie_usage.memory_bytes


def test_rescan_only_at_the_interval_unless_a_kernel_is_new(children: list[Child]) -> None:
    clock = FakeClock()
    tree = ProcessTree(os.getpid(), rescan_interval_seconds=5.0, clock=clock)
    assert tree.read({}).pids >= {os.getpid()}

    first = start(children, SLEEP)
    assert first.line() == "ready"
    clock.now += 1.0
    assert first.pid not in tree.read({}).pids  # known processes only between rescans
    clock.now += 4.0
    assert first.pid in tree.read({}).pids  # interval elapsed

    kernel = start(children, SLEEP)
    sibling = start(children, SLEEP)
    assert kernel.line() == "ready"
    assert sibling.line() == "ready"
    clock.now += 1.0
    reading = tree.read({"k": kernel.pid})  # an unknown kernel forces a rescan
    assert {kernel.pid, sibling.pid} <= reading.pids
    assert reading.kernels["k"].pids == {kernel.pid}

    # A kernel pid outside the tree forces one rescan, not one per read.
    late = start(children, SLEEP)
    assert late.line() == "ready"
    clock.now += 1.0
    outside = {"k": kernel.pid, "gateway": 1}
    assert late.pid in tree.read(outside).pids
    latest = start(children, SLEEP)
    assert latest.line() == "ready"
    clock.now += 1.0
    reading = tree.read(outside)
    assert latest.pid not in reading.pids
    assert reading.kernels["gateway"] == KernelProcessUsage(1, None, None, frozenset())


def test_kernels_without_a_local_process() -> None:
    tree = ProcessTree(os.getpid())
    reading = tree.read({"remote": None, "elsewhere": 1})
    assert reading.kernels == {
        "remote": KernelProcessUsage(None, None, None, frozenset()),
        "elsewhere": KernelProcessUsage(1, None, None, frozenset()),
    }


def test_root_gone_gives_an_empty_reading(children: list[Child]) -> None:
    child = start(children, SLEEP)
    assert child.line() == "ready"
    tree = ProcessTree(child.pid)
    assert tree.read({}).pids == {child.pid}
    child.close()
    reading = tree.read({})
    assert reading.pids == frozenset()
    assert reading.memory_bytes == 0


@pytest.mark.parametrize("metric", ["pss", "uss"])
def test_pss_and_uss(metric: str) -> None:
    tree = ProcessTree(os.getpid(), memory_metric=metric)
    assert tree.memory_metric == metric
    memory = tree.read({}).memory_bytes
    assert 0 < memory <= vm_rss_bytes(os.getpid()) * 1.05 + 64 * MIB


def test_unknown_memory_metric() -> None:
    with pytest.raises(ValueError, match="memory_metric"):
        ProcessTree(os.getpid(), memory_metric="vms")
