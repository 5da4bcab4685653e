"""One process per SQLite file: an advisory lock on a file beside the database.

SQLite serialises writers with its own locks, so a second process would not corrupt the
file, but it is not a supported set-up (replicas need PostgreSQL): the second process
says so, loudly, at start. The lock goes with the process, however it ends.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


class SingleProcessLock:
    """Held while this process has the database open; `held` is False when another has."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None
        self.held = False
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            log.warning("Cannot open %s to check for a second process: %s", self.path, error)
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning(
                "ANOTHER PROCESS HAS THE USAGE DATABASE %s OPEN. SQLite supports one service "
                "process only; for replicas, use PostgreSQL (see docs/hub.md, Replicas).",
                database,
            )
            return
        self.held = True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None
            self.held = False
