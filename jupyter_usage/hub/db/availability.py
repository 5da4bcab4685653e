"""Whether the service's database can be used, told once when that changes.

A database that is late at start, restarted or unreachable is a normal state of a hub:
the single-user servers keep their reports and retry, so the service answers 503 and
logs the change of state, never a traceback per request.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

UNAVAILABLE = "the usage database is unavailable; reports are kept by the servers and retried"
NOT_READY = (
    "the usage database is not ready yet (the service is still connecting to it); "
    "reports are kept by the servers and retried"
)
RETRY_AFTER_SECONDS = 10


def is_unavailable(error: BaseException) -> bool:
    """An error of reaching the database (not of what was asked of it)."""
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def reason(error: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's SQL and links."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0][:300] if lines else type(cause).__name__


class DatabaseHealth:
    """Ready once the schema is upgraded; down from a failed call until one succeeds."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.ready = False
        self.down = False
        self.not_ready_message = NOT_READY
        self.outages = 0

    def failed(self, error: BaseException) -> None:
        if self.down:
            return
        self.down = True
        self.outages += 1
        self.log.warning(
            "The usage database is unavailable (%s); answering 503 until it is back",
            reason(error),
        )

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            self.log.info("The usage database is available again")
