"""Filesystem usage (statvfs) and an optional, bounded background size scan.

`read()` never walks a directory: the scan runs in its own thread and `read()`
reports its last result.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from jupyter_usage.logonce import LogOnce

from .sample import DiskUsage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Scan:
    directory_bytes: int | None
    complete: bool | None


class DiskReader:
    """statvfs of `paths`; with `scan`, the allocated size of the files under `scan_paths`
    (by default the first path), walked at most every `scan_interval_seconds`.

    `read()` is meant for one thread; `start()`/`stop()` own the scan thread.
    """

    def __init__(
        self,
        paths: Sequence[str],
        *,
        scan: bool = False,
        scan_paths: Sequence[str] | None = None,
        scan_budget_seconds: float = 2.0,
        scan_max_files: int = 200_000,
        scan_interval_seconds: float = 600.0,
        reserved: bool | None = None,
        home: str | None = None,
    ) -> None:
        self._paths = one_per_filesystem(paths)
        self._reservations = {
            path: (reserved, "config")
            if reserved is not None
            else reservation(path, home or os.path.expanduser("~"))
            for path in self._paths
        }
        self._scan_paths = tuple(self._paths[:1] if scan_paths is None else scan_paths)
        self._scan_enabled = scan
        self._scan_budget_seconds = scan_budget_seconds
        self._scan_max_files = scan_max_files
        self._scan_interval_seconds = scan_interval_seconds
        self._scans: dict[str, _Scan] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._log_once = LogOnce(log)

    @property
    def paths(self) -> tuple[str, ...]:
        return self._paths

    def read(self) -> tuple[DiskUsage, ...]:
        with self._lock:
            scans = self._scans
        return tuple(
            _usage(path, scans.get(path), *self._reservations[path]) for path in self._paths
        )

    def start(self) -> None:
        """Start the background scan, when enabled (a no-op otherwise or when running)."""
        if not self._scan_enabled or self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name="jupyter-usage-disk-scan", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the scan to stop and wait up to `timeout` seconds for it."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def scan_once(self) -> None:
        """Walk every scan path now, in the calling thread, and keep the result."""
        for path in self._scan_paths:
            if self._stopping.is_set():
                return
            directory_bytes, complete = _allocated_bytes(
                path,
                deadline=time.monotonic() + self._scan_budget_seconds,
                max_files=self._scan_max_files,
                stopping=self._stopping,
            )
            with self._lock:
                self._scans = {**self._scans, path: _Scan(directory_bytes, complete)}

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.scan_once()
            except Exception:  # a scan must never kill its thread; the next one may work
                self._log_once("scan", logging.WARNING, "disk scan failed", exc_info=True)
            self._stopping.wait(self._scan_interval_seconds)


def one_per_filesystem(paths: Sequence[str]) -> tuple[str, ...]:
    """`paths` without those on a filesystem (device) already listed: the home and the
    root directory are often one disk, which must be listed, and billed, once. A path
    that cannot be read is kept: it is reported as unknown."""
    devices: set[int] = set()
    kept: list[str] = []
    for path in dict.fromkeys(paths):
        try:
            device = os.stat(path).st_dev
        except OSError:
            kept.append(path)
            continue
        if device not in devices:
            devices.add(device)
            kept.append(path)
    return tuple(kept)


def mount_point(path: str) -> str:
    """The directory at which the filesystem holding `path` is mounted."""
    current = os.path.realpath(path)
    while not os.path.ismount(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def reservation(path: str, home: str) -> tuple[bool | None, str | None]:
    """Whether `path`'s space is the user's own: mounted at `path` or below `home` (a
    volume of its own), or above them (shared with others, billed on used bytes)."""
    try:
        mounted = mount_point(path)
        home = os.path.realpath(home)
        real = os.path.realpath(path)
    except OSError:
        return None, None
    own = mounted != os.sep and (
        mounted in (real, home) or mounted.startswith(home.rstrip(os.sep) + os.sep)
    )
    return own, "mount" if own else "shared"


def _usage(
    path: str, scan: _Scan | None, reserved: bool | None, reserved_source: str | None
) -> DiskUsage:
    directory_bytes = scan.directory_bytes if scan else None
    complete = scan.complete if scan else None
    try:
        fs = os.statvfs(path)
    except OSError:
        return DiskUsage(
            path, None, None, None, directory_bytes, complete, reserved, reserved_source
        )
    return DiskUsage(
        path=path,
        used_bytes=(fs.f_blocks - fs.f_bfree) * fs.f_frsize,
        total_bytes=fs.f_blocks * fs.f_frsize,
        free_bytes=fs.f_bavail * fs.f_frsize,
        directory_bytes=directory_bytes,
        directory_scan_complete=complete,
        reserved=reserved,
        reserved_source=reserved_source,
    )


def _allocated_bytes(
    top: str, *, deadline: float, max_files: int, stopping: threading.Event
) -> tuple[int | None, bool | None]:
    """Like `du -sx`: allocated bytes under `top`, on its filesystem, hard links once.

    Symlinks are not followed. Returns what was counted and whether the walk finished
    within its budget; (None, None) when `top` cannot be read at all.
    """
    try:
        top_stat = os.lstat(top)
    except OSError:
        return None, None
    device = top_stat.st_dev
    total = top_stat.st_blocks * 512
    entries = 1
    linked: set[int] = set()
    stack = [top] if stat.S_ISDIR(top_stat.st_mode) else []
    while stack:
        try:
            iterator = os.scandir(stack.pop())
        except OSError:
            continue  # unreadable or vanished: count what we can
        with iterator:
            for entry in iterator:
                entries += 1
                if entries > max_files or time.monotonic() > deadline or stopping.is_set():
                    return total, False
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if info.st_dev != device:
                    continue  # another filesystem mounted below
                if stat.S_ISDIR(info.st_mode):
                    stack.append(entry.path)
                elif info.st_nlink > 1:
                    if info.st_ino in linked:
                        continue
                    linked.add(info.st_ino)
                total += info.st_blocks * 512
    return total, True
