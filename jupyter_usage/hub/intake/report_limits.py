"""A report bounded by its allocation: what a server claims is clipped to what the hub
says it was given (trusted_cost.clip_report), and the clip is counted per user
(db/allocation_records.over_allocation_counts)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from jupyter_usage.hub.db.allocation import Allocation
from jupyter_usage.hub.db.allocation_records import allocation_for, record_over_allocation
from jupyter_usage.hub.db.storage import SessionInput, UsageDB

from .trusted_cost import clip_report

UNKNOWN_FOR_SECONDS = 30.0
"""How long "no allocation recorded" is remembered: the hook records before the spawn, so
before the first report, but another replica's record may reach the database later."""


class AllocationLookup:
    """Each running session's allocation, read once rather than at every report: a
    session reports every minute, and its allocation never changes."""

    def __init__(
        self, db: UsageDB, *, size: int = 20_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.size = size
        self._clock = clock
        self._known: OrderedDict[tuple[str, str, float], tuple[Allocation | None, float]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __call__(self, user: str, server_name: str, started: float) -> Allocation | None:
        key = (user, server_name, started)
        now = self._clock()
        with self._lock:
            found = self._known.get(key)
            if found is not None and (found[0] is not None or now < found[1]):
                self._known.move_to_end(key)
                return found[0]
        with self.db.engine.connect() as connection:
            allocation = allocation_for(connection, user, server_name, started)
        with self._lock:
            self._known[key] = (allocation, now + UNKNOWN_FOR_SECONDS)
            while len(self._known) > self.size:
                self._known.popitem(last=False)
        return allocation


def within_allocation(
    user: str, session: SessionInput, lookup: Callable[[str, str, float], Allocation | None]
) -> tuple[SessionInput, tuple[str, ...]]:
    """`session` with its figures within its allocation, and the figures that were not."""
    allocation = lookup(user, session.server_name, session.started)
    if allocation is None:
        return session, ()
    totals, clipped = clip_report(session.totals, allocation, session.last_seen - session.started)
    if not clipped:
        return session, ()
    return dataclasses.replace(session, totals=totals), clipped


def bound_by_allocation(
    db: UsageDB,
    user: str,
    session: SessionInput,
    now: float,
    lookup: Callable[[str, str, float], Allocation | None] | None = None,
) -> tuple[SessionInput, tuple[str, ...]]:
    """`within_allocation`, with the clip counted in a transaction of its own."""
    bounded, clipped = within_allocation(user, session, lookup or AllocationLookup(db))
    if clipped:
        with db.engine.begin() as connection:
            record_over_allocation(connection, user, session.session_id, now, clipped)
    return bounded, clipped
