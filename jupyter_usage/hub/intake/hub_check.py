"""Is a reported session one the hub knew? Marks each extension session `confirmed`,
`unconfirmed` or leaves it unchecked (`hub_check` NULL).

The hub lists every server, spawning or ready, with or without the extension; the poller
records that list (hub_sessions.py) and the periods it did so (db/watch_periods.py). A session
whose report says it ran through a watched stretch long enough for a poll to fall inside,
yet which overlaps no session the hub listed for that user and server name, is one the hub
never ran: `unconfirmed`. The KPIs leave it out; budgets still count it (a user cannot
lower their use by making a real session look fabricated). A session of a time the
service did not watch (a late delivery from a server's store, an import) cannot be
checked and counts as before. A later poll that finds the server running confirms it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection, select, update

from jupyter_usage.hub.db import report_flags, watch_periods
from jupyter_usage.hub.db.schema import CONFIRMED, UNCONFIRMED, SessionRow
from jupyter_usage.hub.db.storage import UsageDB

SETTLE_SECONDS = 10.0
"""Clock skew between a server and the service that a session's start may carry."""
Watched = Callable[[float, float], bool]
"""Whether one watched period covers `[since, until]` (watch_periods.watched_throughout)."""

RECHECK_GAPS = 3
"""How long after its last report (in poll gaps) an unchecked session is checked again."""


@dataclass(frozen=True)
class Checked:
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def check_session(
    db: UsageDB, user: str, session_id: str, max_gap_seconds: float, now: float
) -> Checked:
    """Classify the stored session of `user` (after a report); counts and rollups follow."""
    with db.engine.begin() as connection:
        checked, span = check_in(connection, user, session_id, max_gap_seconds, now)
    if span is not None:
        db._refresh_rollups(user, span, [span])
    return checked


@dataclass(frozen=True)
class Known:
    """What the check reads of a stored session, when the caller has it already."""

    server_name: str
    started: float
    last_seen: float
    from_hub: bool
    hub_check: str | None


def check_in(
    connection: Connection,
    user: str,
    session_id: str,
    max_gap_seconds: float,
    now: float,
    known: Known | None = None,
    watched: Watched | None = None,
) -> tuple[Checked, tuple[float, float] | None]:
    """`check_session` inside the caller's transaction: what it found, and the span whose
    rollups must be refreshed when the session's state changed (else None)."""
    row: Any = known
    if row is None:
        row = connection.execute(
            select(
                SessionRow.server_name,
                SessionRow.started,
                SessionRow.last_seen,
                SessionRow.from_hub,
                SessionRow.hub_check,
            ).where(SessionRow.user == user, SessionRow.session_id == session_id)
        ).first()
    if row is None:
        return Checked(None, None), None
    if row.from_hub or row.hub_check == CONFIRMED:
        return Checked(row.hub_check, row.hub_check), None
    after = classify(
        connection, user, row.server_name, row.started, row.last_seen, max_gap_seconds, watched
    )
    if after is None or after == row.hub_check:
        return Checked(row.hub_check, row.hub_check), None
    connection.execute(
        update(SessionRow)
        .where(SessionRow.user == user, SessionRow.session_id == session_id)
        .values(hub_check=after)
    )
    if after == UNCONFIRMED:
        report_flags.record(connection, user, report_flags.UNCONFIRMED, now)
    elif row.hub_check == UNCONFIRMED:
        report_flags.forget(connection, user, report_flags.UNCONFIRMED)
    # Only unconfirmed sessions are out of the KPIs: a change from or to it moves them.
    moved = UNCONFIRMED in (row.hub_check, after)
    return Checked(row.hub_check, after), (row.started, row.last_seen) if moved else None


def recheck_recent(db: UsageDB, now: float, max_gap_seconds: float) -> int:
    """After a poll: sessions reported lately that could not be checked yet (the watched
    period did not yet reach past the stretch they claim, as with a session posted right
    after its end), checked again; returns how many it marked."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(SessionRow.user, SessionRow.session_id).where(
                SessionRow.hub_check.is_(None),
                SessionRow.last_seen >= now - RECHECK_GAPS * max_gap_seconds,
                SessionRow.started <= now - SETTLE_SECONDS - max_gap_seconds,
                SessionRow.from_hub.is_(False),
            )
        ).all()
    marked = 0
    for user, session_id in rows:
        if check_session(db, user, session_id, max_gap_seconds, now).changed:
            marked += 1
    return marked


def classify(
    connection: Connection,
    user: str,
    server_name: str,
    started: float,
    last_seen: float,
    max_gap_seconds: float,
    watched: Watched | None = None,
) -> str | None:
    since = started + SETTLE_SECONDS
    until = since + max_gap_seconds
    if watched is None:
        watched = partial(watch_periods.watched_throughout, connection)
    if last_seen < until or not watched(since, until):
        return None  # no poll fell inside the stretch: the hub's word is not known
    hub_known = connection.execute(
        select(SessionRow.pk)
        .where(
            SessionRow.user == user,
            SessionRow.server_name == server_name,
            SessionRow.from_hub,
            SessionRow.started <= last_seen,
            SessionRow.last_seen >= started,
        )
        .limit(1)
    ).first()
    return CONFIRMED if hub_known is not None else UNCONFIRMED


def confirm(db: UsageDB, user: str, session_ids: list[str], now: float) -> int:
    """The hub listed these sessions' server: confirmed (a poll's twins of a report)."""
    if not session_ids:
        return 0
    where = (
        SessionRow.user == user,
        SessionRow.session_id.in_(session_ids),
        SessionRow.hub_check.is_distinct_from(CONFIRMED),
    )
    with db.engine.begin() as connection:
        rows = connection.execute(
            select(SessionRow.started, SessionRow.last_seen, SessionRow.hub_check).where(*where)
        ).all()
        if not rows:
            return 0
        connection.execute(update(SessionRow).where(*where).values(hub_check=CONFIRMED))
        taken_back = sum(1 for row in rows if row.hub_check == UNCONFIRMED)
        if taken_back:
            report_flags.forget(connection, user, report_flags.UNCONFIRMED, taken_back)
    if any(row.hub_check == UNCONFIRMED for row in rows):
        spans = [(row.started, row.last_seen) for row in rows]
        db._refresh_rollups(user, [t for span in spans for t in span], spans)
    return len(rows)
