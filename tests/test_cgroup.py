from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_usage.sampling.cgroup import CgroupReader, CgroupReading

GIB = 2**30
V1_UNLIMITED = "9223372036854771712"
PSI_CPU = (
    "some avg10=12.50 avg60=3.00 avg300=1.00 total=123\nfull avg10=1.00 avg60=0 avg300=0 total=1\n"
)
PSI_MEMORY = (
    "some avg10=0.75 avg60=0.10 avg300=0.00 total=9\nfull avg10=0.00 avg60=0 avg300=0 total=0\n"
)


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def proc_cgroup(tmp_path: Path, text: str) -> str:
    path = tmp_path / "proc_self_cgroup"
    path.write_text(text)
    return str(path)


def v2_files(**overrides: str) -> dict[str, str]:
    files = {
        "cgroup.controllers": "cpu memory io pids\n",
        "cgroup.procs": "",
        "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
        "cpu.max": "150000 100000\n",
        "memory.current": "1000000\n",
        "memory.stat": "anon 600000\nfile 400000\nactive_file 100000\ninactive_file 250000\n",
        "memory.max": f"{4 * GIB}\n",
        "memory.events": "low 0\nhigh 0\nmax 7\noom 3\noom_kill 3\noom_group_kill 0\n",
        "cpu.pressure": PSI_CPU,
        "memory.pressure": PSI_MEMORY,
    }
    files.update(overrides)
    return files


def v2_tree(tmp_path: Path, **overrides: str) -> tuple[Path, Path, str]:
    """A cgroup2 mount with the pod cgroup kubepods/pod1/c1 and the matching /proc/self/cgroup."""
    root = write(tmp_path / "cgroup", {"cgroup.controllers": "cpu memory\n", "cpu.stat": ""})
    write(root / "kubepods", {"cgroup.controllers": "", "memory.max": "max\n"})
    write(root / "kubepods" / "pod1", {"cgroup.controllers": "", "cpu.max": "max 100000\n"})
    leaf = write(root / "kubepods" / "pod1" / "c1", v2_files(**overrides))
    return root, leaf, proc_cgroup(tmp_path, "0::/kubepods/pod1/c1\n")


def v1_tree(tmp_path: Path, cgroup_path: str = "/docker/abc") -> tuple[Path, str]:
    """cgroup v1 with cpu,cpuacct co-mounted and memory, as Docker on a v1 host shows it."""
    root = tmp_path / "cgroup"
    cpu = write(
        root / "cpu,cpuacct" / cgroup_path.lstrip("/"),
        {
            "cgroup.procs": "",
            "cpuacct.usage": "3000000000\n",
            "cpu.cfs_quota_us": "200000\n",
            "cpu.cfs_period_us": "100000\n",
        },
    )
    write(root / "cpu,cpuacct", {"cgroup.procs": "1\n"})
    memory = write(
        root / "memory" / cgroup_path.lstrip("/"),
        {
            "cgroup.procs": "",
            "memory.usage_in_bytes": "5000000\n",
            "memory.limit_in_bytes": f"{GIB}\n",
            "memory.stat": (
                "cache 2000000\nrss 3000000\ninactive_file 900000\n"
                f"hierarchical_memory_limit {GIB // 2}\ntotal_inactive_file 1000000\n"
            ),
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        },
    )
    write(root / "memory", {"cgroup.procs": "1\n"})
    assert cpu.is_dir()
    assert memory.is_dir()
    text = f"12:memory:{cgroup_path}\n5:cpu,cpuacct:{cgroup_path}\n1:name=systemd:/\n0::/\n"
    return root, proc_cgroup(tmp_path, text)


def detect(root: Path, proc: str) -> CgroupReader:
    reader = CgroupReader.detect(root=str(root), proc_cgroup=proc)
    assert reader is not None
    return reader


def test_v2_with_limits_oom_and_pressure(tmp_path: Path) -> None:
    root, leaf, proc = v2_tree(tmp_path)
    reader = detect(root, proc)
    assert reader.version == 2
    assert reader.read() == CgroupReading(
        version=2,
        cpu_usage_seconds=2.5,
        cpu_limit_cores=1.5,
        memory_used_bytes=1000000 - 250000,
        memory_limit_bytes=4 * GIB,
        oom_kills=3,
        cpu_pressure_some_avg10_percent=12.5,
        memory_pressure_some_avg10_percent=0.75,
        cpu_pressure_some_seconds=123e-6,
        memory_pressure_some_seconds=9e-6,
    )
    assert reader.describe()["paths"]["memory"] == str(leaf)


def test_v2_throttling_and_stall_counters(tmp_path: Path) -> None:
    cpu_stat = "usage_usec 2500000\nnr_periods 40\nnr_throttled 12\nthrottled_usec 1500000\n"
    root, _, proc = v2_tree(
        tmp_path,
        **{
            "cpu.stat": cpu_stat,
            "memory.pressure": "some avg10=0 avg60=0 avg300=0 total=2500000\n",
        },
    )
    reading = detect(root, proc).read()
    assert reading.cpu_throttled_seconds == 1.5
    assert reading.memory_pressure_some_seconds == 2.5
    assert reading.cpu_pressure_some_seconds == 123e-6


def test_v2_unlimited_and_no_pressure(tmp_path: Path) -> None:
    root, leaf, proc = v2_tree(tmp_path, **{"cpu.max": "max 100000\n", "memory.max": "max\n"})
    (leaf / "cpu.pressure").unlink()
    (leaf / "memory.pressure").unlink()
    reading = detect(root, proc).read()
    assert reading.cpu_limit_cores is None
    assert reading.memory_limit_bytes is None
    assert reading.cpu_pressure_some_avg10_percent is None
    assert reading.memory_pressure_some_avg10_percent is None
    assert reading.memory_used_bytes == 750000


def test_v2_tighter_limit_on_an_ancestor_wins(tmp_path: Path) -> None:
    root, _, proc = v2_tree(tmp_path)
    (root / "kubepods" / "memory.max").write_text(f"{GIB}\n")
    (root / "kubepods" / "pod1" / "cpu.max").write_text("50000 100000\n")
    reading = detect(root, proc).read()
    assert reading.memory_limit_bytes == GIB
    assert reading.cpu_limit_cores == 0.5


def test_v2_path_missing_in_container_falls_back_to_mount_root(tmp_path: Path) -> None:
    root = write(tmp_path / "cgroup", v2_files())
    reader = detect(root, proc_cgroup(tmp_path, "0::/system.slice/docker-0123.scope\n"))
    assert reader.describe()["paths"]["memory"] == str(root)
    assert reader.read().cpu_usage_seconds == 2.5


def test_v2_path_outside_cgroup_namespace_falls_back_to_mount_root(tmp_path: Path) -> None:
    root = write(tmp_path / "cgroup", v2_files())
    write(tmp_path / "outside", v2_files(**{"cpu.stat": "usage_usec 1\n"}))
    reader = detect(root, proc_cgroup(tmp_path, "0::/../outside\n"))
    assert reader.read().cpu_usage_seconds == 2.5


def test_files_vanishing_give_none_everywhere(tmp_path: Path) -> None:
    root, leaf, proc = v2_tree(tmp_path)
    reader = detect(root, proc)
    for path in leaf.iterdir():
        path.unlink()
    assert reader.read() == CgroupReading(2, None, None, None, None, None, None, None)

    v1_root, v1_proc = v1_tree(tmp_path / "v1")
    reader = detect(v1_root, v1_proc)
    for directory in (
        v1_root / "memory" / "docker" / "abc",
        v1_root / "cpu,cpuacct" / "docker" / "abc",
    ):
        for path in directory.iterdir():
            path.unlink()
    assert reader.read() == CgroupReading(1, None, None, None, None, None, None, None)


def test_unparseable_content_gives_none(tmp_path: Path) -> None:
    garbage = "\x00not a number\n"
    root, _, proc = v2_tree(
        tmp_path,
        **{
            "cpu.stat": "usage_usec lots\n",
            "cpu.max": "one two three\n",
            "memory.current": garbage,
            "memory.max": "-\n",
            "memory.events": "oom_kill\n",
            "cpu.pressure": "some avg10=x\n",
            "memory.pressure": garbage,
        },
    )
    assert detect(root, proc).read() == CgroupReading(2, None, None, None, None, None, None, None)


def test_non_ascii_bytes_give_none(tmp_path: Path) -> None:
    root, leaf, proc = v2_tree(tmp_path)
    (leaf / "memory.current").write_bytes(b"\xff\xfe12\n")
    assert detect(root, proc).read().memory_used_bytes is None


def test_v1_throttling_counter(tmp_path: Path) -> None:
    root, proc = v1_tree(tmp_path)
    (root / "cpu,cpuacct" / "docker" / "abc" / "cpu.stat").write_text(
        "nr_periods 10\nnr_throttled 3\nthrottled_time 2000000000\n"
    )
    assert detect(root, proc).read().cpu_throttled_seconds == 2.0


def test_v1_with_limits(tmp_path: Path) -> None:
    root, proc = v1_tree(tmp_path)
    reader = detect(root, proc)
    assert reader.version == 1
    assert reader.read() == CgroupReading(
        version=1,
        cpu_usage_seconds=3.0,
        cpu_limit_cores=2.0,
        memory_used_bytes=5000000 - 1000000,
        memory_limit_bytes=GIB // 2,  # hierarchical limit tighter than the cgroup's own
        oom_kills=2,
        cpu_pressure_some_avg10_percent=None,
        memory_pressure_some_avg10_percent=None,
    )
    paths = reader.describe()["paths"]
    assert paths["memory"] == str(root / "memory" / "docker" / "abc")
    assert paths["cpu_usage"] == paths["cpu_limit"] == str(root / "cpu,cpuacct" / "docker" / "abc")


@pytest.mark.parametrize("limit", [V1_UNLIMITED, str(2**61)])
def test_v1_unlimited(tmp_path: Path, limit: str) -> None:
    root, proc = v1_tree(tmp_path)
    memory = root / "memory" / "docker" / "abc"
    (memory / "memory.limit_in_bytes").write_text(limit + "\n")
    (memory / "memory.stat").write_text(
        f"total_inactive_file 0\nhierarchical_memory_limit {limit}\n"
    )
    (root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us").write_text("-1\n")
    reading = detect(root, proc).read()
    assert reading.memory_limit_bytes is None
    assert reading.cpu_limit_cores is None
    assert reading.memory_used_bytes == 5000000


def test_v1_hybrid_like_this_host(tmp_path: Path) -> None:
    """Separate cpu and cpuacct mounts at "/", a memory path that may not exist, PSI in unified."""
    root = tmp_path / "cgroup"
    write(
        root / "cpu",
        {"cgroup.procs": "1\n2\n", "cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n"},
    )
    write(root / "cpuacct", {"cgroup.procs": "1\n2\n", "cpuacct.usage": "62022216313\n"})
    write(
        root / "memory",
        {
            "cgroup.procs": "1\n",
            "memory.usage_in_bytes": "74629120\n",
            "memory.limit_in_bytes": V1_UNLIMITED + "\n",
            "memory.stat": "total_inactive_file 4370432\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        },
    )
    write(
        root / "unified",
        {
            "cgroup.controllers": "",
            "cgroup.procs": "1\n2\n",
            "cpu.pressure": PSI_CPU,
            "memory.pressure": PSI_MEMORY,
        },
    )
    proc = proc_cgroup(
        tmp_path,
        "9:name=systemd:/\n4:memory:/process_api/8c80638336c6\n2:cpuacct:/\n1:cpu:/\n0::/\n",
    )
    reader = detect(root, proc)
    assert reader.version == 1
    assert reader.read() == CgroupReading(
        version=1,
        cpu_usage_seconds=62.022216313,
        cpu_limit_cores=None,
        memory_used_bytes=74629120 - 4370432,
        memory_limit_bytes=None,
        oom_kills=0,
        cpu_pressure_some_avg10_percent=12.5,
        memory_pressure_some_avg10_percent=0.75,
        cpu_throttled_seconds=reader.read().cpu_throttled_seconds,
        cpu_pressure_some_seconds=123e-6,
        memory_pressure_some_seconds=9e-6,
    )
    assert reader.describe()["paths"]["memory"] == str(root / "memory")  # fell back to the mount

    job = write(
        root / "memory" / "process_api" / "8c80638336c6",
        {
            "cgroup.procs": "2\n",
            "memory.usage_in_bytes": "9000000\n",
        },
    )
    reader = detect(root, proc)
    assert reader.describe()["paths"]["memory"] == str(job)
    assert reader.read().memory_used_bytes == 9000000


def test_v1_cpuacct_stat_fallback(tmp_path: Path) -> None:
    root, proc = v1_tree(tmp_path)
    cpu = root / "cpu,cpuacct" / "docker" / "abc"
    (cpu / "cpuacct.usage").unlink()
    (cpu / "cpuacct.stat").write_text("user 300\nsystem 100\n")
    reading = detect(root, proc).read()
    assert reading.cpu_usage_seconds == pytest.approx(400 / os.sysconf("SC_CLK_TCK"))


def test_nothing_usable(tmp_path: Path) -> None:
    assert CgroupReader.detect(root=str(tmp_path), proc_cgroup=str(tmp_path / "missing")) is None
    write(tmp_path / "unified", {"cgroup.controllers": "", "cpu.pressure": PSI_CPU})
    assert (
        CgroupReader.detect(root=str(tmp_path), proc_cgroup=proc_cgroup(tmp_path, "0::/\n")) is None
    )
    with pytest.raises(ValueError, match="no usable cgroup"):
        CgroupReader(root=str(tmp_path), proc_cgroup=str(tmp_path / "missing"))


def test_procs_v2_includes_child_cgroups(tmp_path: Path) -> None:
    root, leaf, proc = v2_tree(tmp_path)
    (leaf / "cgroup.procs").write_text("10\n11\n")
    write(leaf / "kernels" / "k1", {"cgroup.procs": "12\n0\n"})
    (root / "cgroup.procs").write_text("1\n")  # outside our cgroup
    assert detect(root, proc).procs() == frozenset({10, 11, 12})


def test_procs_v1_per_resource_and_union(tmp_path: Path) -> None:
    root, proc = v1_tree(tmp_path)
    (root / "memory" / "docker" / "abc" / "cgroup.procs").write_text("10\n11\n")
    (root / "cpu,cpuacct" / "docker" / "abc" / "cgroup.procs").write_text("10\n12\n")
    reader = detect(root, proc)
    assert reader.procs("memory") == frozenset({10, 11})
    assert reader.procs("cpu") == frozenset({10, 12})
    assert reader.procs() == frozenset({10, 11, 12})
    for directory in ("memory", "cpu,cpuacct"):
        (root / directory / "docker" / "abc" / "cgroup.procs").unlink()
    assert reader.procs() is None


def burn_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


REAL_ROOT = Path("/sys/fs/cgroup")


@pytest.mark.skipif(
    CgroupReader.detect() is None, reason="no cgroup v1 or v2 hierarchy on this machine"
)
def test_real_cgroup_of_this_process() -> None:
    reader = CgroupReader.detect()
    assert reader is not None
    paths = reader.describe()["paths"]
    own = {
        line.split(":", 2)[1]: line.split(":", 2)[2]
        for line in Path("/proc/self/cgroup").read_text().splitlines()
    }
    if reader.version == 1:
        # Our memory cgroup is the one /proc/self/cgroup names, or the mount root when
        # the container does not show that path.
        named = REAL_ROOT / "memory" / own["memory"].lstrip("/")
        expected = named if named.is_dir() else REAL_ROOT / "memory"
        assert Path(paths["memory"]) == expected.resolve()
        quota = int((Path(paths["cpu_limit"]) / "cpu.cfs_quota_us").read_text())
        if quota == -1 and Path(paths["cpu_limit"]) == REAL_ROOT / "cpu":
            assert reader.read().cpu_limit_cores is None
        if (REAL_ROOT / "unified" / "cpu.pressure").is_file():
            assert paths["cpu_pressure"] == str(REAL_ROOT / "unified" / "cpu.pressure")
    else:
        assert Path(paths["memory"]).is_relative_to(REAL_ROOT)

    before = reader.read()
    assert before.cpu_usage_seconds is not None
    burn_cpu(0.3)
    after = reader.read()
    assert after.cpu_usage_seconds is not None
    assert after.cpu_usage_seconds - before.cpu_usage_seconds >= 0.25

    assert before.memory_used_bytes is not None
    assert before.memory_used_bytes > 0
    assert before.oom_kills is not None
    assert before.oom_kills >= 0
    if paths["cpu_pressure"] is not None:
        pressure = after.cpu_pressure_some_avg10_percent
        assert pressure is not None
        assert 0.0 <= pressure <= 100.0
    if before.memory_limit_bytes is not None:
        assert before.memory_used_bytes <= before.memory_limit_bytes

    procs = reader.procs()
    assert procs is not None
    assert os.getpid() in procs
    memory_procs = reader.procs("memory")
    assert memory_procs is not None
    assert os.getpid() in memory_procs


@pytest.mark.skipif(
    CgroupReader.detect() is None, reason="no cgroup v1 or v2 hierarchy on this machine"
)
def test_real_memory_grows_when_this_process_allocates() -> None:
    reader = CgroupReader.detect()
    assert reader is not None
    before = reader.read().memory_used_bytes
    block = b"\x01" * (128 * 2**20)  # written, so every page is resident
    after = reader.read().memory_used_bytes
    assert before is not None
    assert after is not None
    # Other processes in the cgroup come and go, so only ask for most of the block.
    assert after - before >= 64 * 2**20
    del block


def child_cgroups(name: str) -> list[Path]:
    """New cgroups below this process's own, one per v1 CPU controller; [] if not allowed."""
    own = {
        line.split(":", 2)[1]: line.split(":", 2)[2]
        for line in Path("/proc/self/cgroup").read_text().splitlines()
    }
    made: list[Path] = []
    for controller in ("cpu", "cpuacct"):
        if controller not in own or not (REAL_ROOT / controller / "cgroup.procs").exists():
            break
        directory = REAL_ROOT / controller / own[controller].lstrip("/") / name
        try:
            directory.mkdir()
        except OSError:
            break
        made.append(directory)
    else:
        return made
    for directory in made:
        directory.rmdir()
    return []


def test_a_real_cpu_quota_is_seen_throttling() -> None:
    groups = child_cgroups(f"jupyter-usage-test-{os.getpid()}")
    if not groups:
        pytest.skip("cannot create a child cgroup v1 (cpu, cpuacct) here")
    cpu = groups[0]
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    (cpu / "cpu.cfs_quota_us").write_text("10000\n")  # a tenth of a core
    joins = "; ".join(f"echo $$ > {group}/cgroup.procs" for group in groups)
    burner = subprocess.Popen(["sh", "-c", f"{joins}; exec {sys.executable} -c 'while True: pass'"])
    try:
        deadline = time.monotonic() + 10
        reading = None
        while time.monotonic() < deadline:
            time.sleep(0.5)
            reader = CgroupReader.detect(proc_cgroup=f"/proc/{burner.pid}/cgroup")
            assert reader is not None
            reading = reader.read()
            if reading.cpu_throttled_seconds:
                break
        assert reading is not None
        assert reading.cpu_limit_cores == pytest.approx(0.1)
        assert reading.cpu_throttled_seconds is not None
        assert reading.cpu_throttled_seconds > 0
    finally:
        burner.kill()
        burner.wait(10)
        for group in groups:
            for _ in range(50):  # the kernel empties the group a moment after the exit
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
