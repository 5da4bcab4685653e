"""Server sessions known from the hub itself, merged with the extension's reports.

Two places tell the service about a server session: the extension inside the server
(resource figures and cost), and the hub (its REST API while the server runs, its
`server-action` events afterwards): start and stop only, but for every server, images
without the extension included. A session known from the hub is stored as a session row
with `meta.source == "hub"`, no totals and no cost.

Both views of one server session are one row, never two: a hub row and an extension row
are twins when they are of the same user and server name and started within
`TWIN_TOLERANCE_SECONDS` of each other (the hub's `started` is the spawn's start, the
extension's first sample comes seconds or, with an image pull, minutes later), unless the
earlier one had ended before the other began. The extension's row wins: it has the figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jupyter_usage.hub.db import watch_periods
from jupyter_usage.hub.db.schema import CONFIRMED, HUB_SOURCE, SOURCE_KEY, SessionRow
from jupyter_usage.hub.db.storage import SessionInput, UsageDB

from .hub_check import confirm, recheck_recent
from .hub_servers import RunningServer
from .server_events import InferredSession, hub_session_id

log = logging.getLogger(__name__)

TWIN_TOLERANCE_SECONDS = 900.0
CLOSED_BY_POLL = "gone"
"""`ended_by` of a session the hub poll found gone: closed when it was last seen running."""
CLOSED_BY_EVENT = "hub-stop"


def is_hub_only(meta: dict[str, Any] | None) -> bool:
    return bool(meta) and meta.get(SOURCE_KEY) == HUB_SOURCE  # type: ignore[union-attr]


@dataclass
class PollResult:
    running: int = 0
    opened: int = 0
    closed: int = 0
    merged: int = 0


@dataclass
class EventsImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    """Already stored from a newer report of the same session: kept as it was."""
    merged: int = 0
    """Sessions the extension (or an earlier poll) already knew: kept once."""
    flagged: list[str] = field(default_factory=list)


class HubSessions:
    """Writes what the hub knows about server sessions into the service's database."""

    def __init__(self, db: UsageDB, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock

    def now(self) -> float:
        return float(self._clock())

    # -- the poll --------------------------------------------------------------------

    def record_poll(self, servers: Sequence[RunningServer]) -> PollResult:
        """One successful poll: every server running now, and the end of those gone.

        Only call it with a complete list: a server missing from it is closed.
        """
        now = self._clock()
        result = PollResult(running=len(servers))
        seen: set[str] = set()
        for server in servers:
            twins = self.twins(server.user, server.server_name, server.started)
            hub_rows = [row for row in twins if is_hub_only(row["meta"])]
            if len(hub_rows) < len(twins):
                # The extension reports this session itself: the hub's copy would count
                # it twice.
                result.merged += self._drop(server.user, [row["id"] for row in hub_rows])
                unchecked = [
                    row["id"]
                    for row in twins
                    if not is_hub_only(row["meta"]) and row["hub_check"] != CONFIRMED
                ]
                confirm(self.db, server.user, unchecked, now)
                continue
            session_id = hub_rows[0]["id"] if hub_rows else None
            if session_id is None:
                session_id = hub_session_id(server.user, server.server_name, server.started)
                result.opened += 1
            seen.add(session_id)
            started = min([server.started, *(row["started"] for row in hub_rows)])
            self._store(
                server.user,
                session_id,
                server.server_name,
                started,
                ended=None,
                last_seen=max(now, started),
                groups=server.groups,
                profile=server.profile,
                meta={"user_options": dict(server.user_options)},
            )
        for row in self.open_hub_sessions():
            if row["id"] in seen:
                continue
            self._store(
                row["user"],
                row["id"],
                row["server_name"],
                row["started"],
                ended=row["last_seen"],
                last_seen=row["last_seen"],
                groups=row["groups"],
                profile=row["profile"],
                meta=row["meta"],
                ended_by=CLOSED_BY_POLL,
            )
            result.closed += 1
        return result

    def record_watch(self, listed_at: float, max_gap_seconds: float) -> None:
        """A complete list of the hub's servers as of `listed_at` (db/watch_periods.py)."""
        with self.db.engine.begin() as connection:
            watch_periods.record_poll(connection, listed_at, max_gap_seconds)
        recheck_recent(self.db, listed_at, max_gap_seconds)

    # -- JupyterHub's events -----------------------------------------------------------

    def import_sessions(self, sessions: Iterable[InferredSession]) -> EventsImportResult:
        """Sessions inferred from `server-action` events; running it twice changes nothing."""
        result = EventsImportResult()
        for session in sessions:
            twins = self.twins(session.user, session.server_name, session.started)
            twins = [row for row in twins if row["id"] != session.session_id]
            if twins:
                result.merged += 1
                continue
            if session.flags:
                result.flagged.append(
                    f"{session.user}/{session.server_name}: {', '.join(session.flags)}"
                )
            outcome = self._store(
                session.user,
                session.session_id,
                session.server_name,
                session.started,
                ended=session.ended,
                last_seen=session.ended if session.ended is not None else session.started,
                groups=(),
                profile=None,
                meta={"flags": list(session.flags)},
                ended_by=CLOSED_BY_EVENT if session.ended is not None else None,
            )
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    # -- an extension report ----------------------------------------------------------

    def absorb_twins(self, user: str, body: SessionInput) -> int:
        """After an extension report: drop the hub's copies of the same session."""
        if is_hub_only(body.meta):
            return 0
        twins = self.twins(user, body.server_name, body.started)
        return self._drop(user, [row["id"] for row in twins if is_hub_only(row["meta"])])

    # -- queries ---------------------------------------------------------------------

    def twins(self, user: str, server_name: str, started: float) -> list[dict[str, Any]]:
        """Stored sessions that are the server session of `user` started at `started`."""
        query = select(SessionRow).where(
            SessionRow.user == user,
            SessionRow.server_name == server_name,
            SessionRow.started >= started - TWIN_TOLERANCE_SECONDS,
            SessionRow.started <= started + TWIN_TOLERANCE_SECONDS,
        )
        with Session(self.db.engine) as db_session:
            rows = [_row(row) for row in db_session.scalars(query)]
        return [row for row in rows if _overlaps(row, started)]

    def open_hub_sessions(self) -> list[dict[str, Any]]:
        query = select(SessionRow).where(SessionRow.ended.is_(None))
        with Session(self.db.engine) as db_session:
            rows = [_row(row) for row in db_session.scalars(query)]
        return [row for row in rows if is_hub_only(row["meta"])]

    # -- writes ----------------------------------------------------------------------

    def _store(
        self,
        user: str,
        session_id: str,
        server_name: str,
        started: float,
        *,
        ended: float | None,
        last_seen: float,
        groups: Sequence[str],
        profile: str | None,
        meta: dict[str, Any],
        ended_by: str | None = None,
    ) -> str:
        body = SessionInput(
            session_id=session_id,
            server_name=server_name,
            started=started,
            ended=ended,
            last_checkpoint=None if ended is not None else last_seen,
            ended_by=ended_by,
            totals={},
            cost=None,
            summary=None,
            meta={**meta, SOURCE_KEY: HUB_SOURCE, "groups": list(groups), "profile": profile},
            profile=profile,
        )
        return self.db.upsert_session(user, body, groups, self._clock())

    def _drop(self, user: str, session_ids: list[str]) -> int:
        dropped = self.db.delete_sessions(user, session_ids)
        if dropped:
            log.debug("merged %d hub-known sessions of %s into the extension's", dropped, user)
        return dropped


def _row(row: SessionRow) -> dict[str, Any]:
    return {
        "id": row.session_id,
        "user": row.user,
        "server_name": row.server_name,
        "started": row.started,
        "ended": row.ended,
        "last_seen": row.last_seen,
        "groups": list(row.groups or ()),
        "profile": row.profile,
        "meta": dict(row.meta or {}),
        "hub_check": row.hub_check,
    }


def _overlaps(row: dict[str, Any], started: float) -> bool:
    """Not a twin: a session of the same server that ended before the other began, or
    began after the other ended (a quick stop and start again)."""
    if row["started"] <= started:
        return row["ended"] is None or row["ended"] > started
    return True
