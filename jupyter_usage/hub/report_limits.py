"""A report bounded by its allocation: what a server claims is clipped to what the hub
says it was given (trusted_cost.clip_report), and the clip is counted per user
(allocation_records.over_allocation_counts)."""

from __future__ import annotations

import dataclasses

from .allocation_records import allocation_for, record_over_allocation
from .storage import SessionInput, UsageDB
from .trusted_cost import clip_report


def bound_by_allocation(
    db: UsageDB, user: str, session: SessionInput, now: float
) -> tuple[SessionInput, tuple[str, ...]]:
    """`session` with its figures within its allocation, and the figures that were not."""
    with db.engine.connect() as connection:
        allocation = allocation_for(connection, user, session.server_name, session.started)
    if allocation is None:
        return session, ()
    totals, clipped = clip_report(session.totals, allocation, session.last_seen - session.started)
    if not clipped:
        return session, ()
    with db.engine.begin() as connection:
        record_over_allocation(connection, user, session.session_id, now, clipped)
    return dataclasses.replace(session, totals=totals), clipped
