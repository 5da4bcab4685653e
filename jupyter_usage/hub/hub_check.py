"""Is a reported session one the hub knew? Marks each extension session `confirmed`,
`unconfirmed` or leaves it unchecked (`hub_check` NULL).

The hub lists every server, spawning or ready, with or without the extension; the poller
records that list (hub_sessions.py) and the periods it did so (hub_watch.py). A session
whose report says it ran through a watched stretch long enough for a poll to fall inside,
yet which overlaps no session the hub listed for that user and server name, is one the hub
never ran: `unconfirmed`. The KPIs leave it out; budgets still count it (a user cannot
lower their use by making a real session look fabricated). A session of a time the
service did not watch (a late delivery from a server's store, an import) cannot be
checked and counts as before. A later poll that finds the server running confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from . import hub_watch, report_flags
from .storage import SessionRow, UsageDB

CONFIRMED = "confirmed"
UNCONFIRMED = "unconfirmed"

SETTLE_SECONDS = 10.0
"""Clock skew between a server and the service that a session's start may carry."""
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
        row = connection.execute(
            select(
                SessionRow.server_name,
                SessionRow.started,
                SessionRow.last_seen,
                SessionRow.from_hub,
                SessionRow.hub_check,
            ).where(SessionRow.user == user, SessionRow.session_id == session_id)
        ).first()
        if row is None or row.from_hub or row.hub_check == CONFIRMED:
            return Checked(row.hub_check if row else None, row.hub_check if row else None)
        after = classify(
            connection, user, row.server_name, row.started, row.last_seen, max_gap_seconds
        )
        if after is None or after == row.hub_check:
            return Checked(row.hub_check, row.hub_check)
        connection.execute(
            update(SessionRow)
            .where(SessionRow.user == user, SessionRow.session_id == session_id)
            .values(hub_check=after)
        )
        if after == UNCONFIRMED:
            report_flags.record(connection, user, report_flags.UNCONFIRMED, now)
        elif row.hub_check == UNCONFIRMED:
            report_flags.forget(connection, user, report_flags.UNCONFIRMED)
    db._refresh_rollups(user, (row.started, row.last_seen), [(row.started, row.last_seen)])
    return Checked(row.hub_check, after)


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
) -> str | None:
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
    if hub_known is not None:
        return CONFIRMED
    since = started + SETTLE_SECONDS
    until = since + max_gap_seconds
    if last_seen >= until and hub_watch.watched_throughout(connection, since, until):
        return UNCONFIRMED
    return None


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
