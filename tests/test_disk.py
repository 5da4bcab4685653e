from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_usage.sampling.disk import DiskReader, mount_point, one_per_filesystem, reservation
from jupyter_usage.sampling.sample import DiskUsage

MIB = 2**20


def make_tree(top: Path, outside: Path) -> int:
    """A small home directory; returns the bytes written to regular files (each once)."""
    (top / "project" / "data").mkdir(parents=True)
    (top / ".cache").mkdir()
    written = 0
    for relative, size in [
        ("notes.txt", 100),
        ("project/analysis.ipynb", 300_000),
        ("project/data/big.bin", 3 * MIB),
        (".cache/blob", 50_000),
    ]:
        (top / relative).write_bytes(os.urandom(size))
        written += size
    os.link(top / "project" / "data" / "big.bin", top / "project" / "big-again.bin")
    (outside / "huge.bin").write_bytes(b"\x01" * 8 * MIB)
    (top / "link-to-huge").symlink_to(outside / "huge.bin")
    (top / "link-to-outside").symlink_to(outside, target_is_directory=True)
    with open(top / "sparse.img", "wb") as sparse:
        sparse.truncate(100 * MIB)  # 100 MiB long, nothing allocated
    return written


def du_bytes(path: Path) -> int:
    output = subprocess.run(
        ["du", "-s", "-x", "-B1", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return int(output.split()[0])


def wait_for(
    reader: DiskReader, condition: Callable[[DiskUsage], bool], seconds: float = 10.0
) -> DiskUsage:
    deadline = time.monotonic() + seconds
    while True:
        usage = reader.read()[0]
        if condition(usage):
            return usage
        assert time.monotonic() < deadline, f"scan did not finish: {usage}"
        time.sleep(0.02)


def test_statvfs_figures_match(tmp_path: Path) -> None:
    reader = DiskReader([str(tmp_path)])
    (usage,) = reader.read()
    fs = os.statvfs(tmp_path)
    disk = shutil.disk_usage(tmp_path)
    assert usage.path == str(tmp_path)
    assert usage.total_bytes == fs.f_blocks * fs.f_frsize == disk.total
    assert usage.used_bytes is not None
    assert usage.free_bytes is not None
    # Other work on the machine writes to this filesystem between the two calls.
    assert usage.used_bytes == pytest.approx(disk.used, abs=256 * MIB)
    assert usage.free_bytes == pytest.approx(disk.free, abs=256 * MIB)
    assert usage.used_bytes + usage.free_bytes <= usage.total_bytes
    assert usage.directory_bytes is None
    assert usage.directory_scan_complete is None


def test_missing_path_gives_nones(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone")
    reader = DiskReader([missing, str(tmp_path)], scan=True)
    reader.scan_once()
    usages = reader.read()
    assert usages[0].path == missing
    assert (usages[0].used_bytes, usages[0].total_bytes, usages[0].free_bytes) == (None,) * 3
    assert usages[1].total_bytes is not None


def test_scan_counts_allocated_bytes_like_du(tmp_path: Path) -> None:
    home, outside = tmp_path / "home", tmp_path / "outside"
    home.mkdir()
    outside.mkdir()
    written = make_tree(home, outside)
    reader = DiskReader([str(home)], scan=True)
    reader.scan_once()
    (usage,) = reader.read()
    assert usage.directory_scan_complete is True
    assert usage.directory_bytes == du_bytes(home)
    assert usage.directory_bytes is not None
    # Every byte written once (the hard link once, the sparse file and symlink targets not).
    assert written <= usage.directory_bytes < written + 1 * MIB


def test_file_budget_smaller_than_the_tree(tmp_path: Path) -> None:
    for index in range(30):
        (tmp_path / f"file{index}").write_bytes(b"x" * 5000)
    full = DiskReader([str(tmp_path)], scan=True)
    full.scan_once()
    budget = DiskReader([str(tmp_path)], scan=True, scan_max_files=10)
    budget.scan_once()
    (complete,) = full.read()
    (partial,) = budget.read()
    assert complete.directory_scan_complete is True
    assert partial.directory_scan_complete is False
    assert partial.directory_bytes is not None
    assert complete.directory_bytes is not None
    assert 0 < partial.directory_bytes < complete.directory_bytes


def test_time_budget(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file").write_bytes(b"x")
    reader = DiskReader([str(tmp_path)], scan=True, scan_budget_seconds=0.0)
    reader.scan_once()
    assert reader.read()[0].directory_scan_complete is False


def test_background_scan_repeats_and_stops(tmp_path: Path) -> None:
    (tmp_path / "first").write_bytes(os.urandom(100_000))
    reader = DiskReader([str(tmp_path)], scan=True, scan_interval_seconds=0.05)
    assert reader.read()[0].directory_bytes is None  # nothing scanned yet
    reader.start()
    try:
        first = wait_for(reader, lambda usage: usage.directory_bytes is not None)
        assert first.directory_bytes is not None
        (tmp_path / "second").write_bytes(os.urandom(1 * MIB))
        grown = wait_for(
            reader,
            lambda usage: (usage.directory_bytes or 0) >= (first.directory_bytes or 0) + MIB,
        )
        assert grown.directory_scan_complete is True
    finally:
        reader.stop(timeout=2.0)
    assert not [t for t in threading.enumerate() if t.name.endswith("disk-scan")]


def test_without_scan_start_does_nothing(tmp_path: Path) -> None:
    reader = DiskReader([str(tmp_path)])
    before = threading.active_count()
    reader.start()
    assert threading.active_count() == before
    reader.stop(timeout=1.0)
    assert reader.read()[0].directory_bytes is None


def test_a_filesystem_is_listed_once_by_device(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reader = DiskReader([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "a")])
    assert reader.paths == (str(tmp_path / "a"),)
    assert [usage.path for usage in reader.read()] == [str(tmp_path / "a")]
    # Another filesystem stays (the proc filesystem is never the one under /tmp).
    assert one_per_filesystem([str(tmp_path), "/proc", str(tmp_path / "a")]) == (
        str(tmp_path),
        "/proc",
    )


def test_the_mount_point_of_real_filesystems() -> None:
    assert mount_point("/proc/self") == "/proc"
    assert mount_point("/") == "/"


def test_a_filesystem_mounted_above_the_home_is_shared(tmp_path: Path) -> None:
    # tmp_path lies on a filesystem mounted higher up (/ or /tmp): shared with others.
    home = tmp_path / "home" / "me"
    home.mkdir(parents=True)
    assert reservation(str(home), str(home)) == (False, "shared")
    reader = DiskReader([str(home)], home=str(home))
    (usage,) = reader.read()
    assert (usage.reserved, usage.reserved_source) == (False, "shared")


def test_a_volume_mounted_at_the_home_is_reserved() -> None:
    # /proc stands in for a volume mounted at the user's directory (a PVC).
    assert reservation("/proc", "/proc") == (True, "mount")
    assert reservation("/proc/self", "/proc") == (True, "mount")
    assert reservation("/proc", "/nonexistent-home") == (True, "mount")
    # The root filesystem is never the user's own.
    assert reservation("/", "/") == (False, "shared")


def test_configuration_overrides_the_reservation(tmp_path: Path) -> None:
    (usage,) = DiskReader([str(tmp_path)], reserved=True).read()
    assert (usage.reserved, usage.reserved_source) == (True, "config")
    (usage,) = DiskReader(["/proc"], reserved=False).read()
    assert (usage.reserved, usage.reserved_source) == (False, "config")
