"""What the KPIs are built from: how many sessions carry resource figures, how many are
known from the hub only, and how fresh the running ones are.

Counted by the database (SQL `COUNT`), not by loading sessions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jupyter_usage.hub.db.queries import active_in, of_group
from jupyter_usage.hub.db.schema import CONFIRMED, UNCONFIRMED, SessionRow
from jupyter_usage.hub.db.storage import UsageDB

STALE_REPORT_SECONDS = 15 * 60.0
"""A running session whose last report is older than this may have lost its server."""
MAX_RUNNING_LISTED = 2000


def coverage(db: UsageDB, since: float, until: float, group: str | None = None) -> dict[str, Any]:
    """Sessions of the window by source: with the extension's figures, or hub-only."""
    # `last_seen >= since` follows from active_in; said, the index on (last_seen, started,
    # from_hub) answers both counts without reading a row.
    overlapping = [SessionRow.last_seen >= since, active_in(SessionRow, since, until)]
    if group is not None:
        overlapping.append(of_group(SessionRow.pk, group))
    with Session(db.engine) as session:
        total = session.scalar(select(func.count()).where(*overlapping)) or 0
        from_hub = (
            session.scalar(select(func.count()).where(*overlapping, SessionRow.from_hub)) or 0
        )
        # Each from the index on (hub_check, last_seen, started): the ones checked are a
        # range of it, without a scan of the window's sessions.
        checked = {
            state: session.scalar(
                select(func.count()).where(SessionRow.hub_check == state, *overlapping)
            )
            or 0
            for state in (CONFIRMED, UNCONFIRMED)
        }
    with_figures = total - from_hub
    return {
        "sessions": total,
        "sessions_with_figures": with_figures,
        "sessions_from_hub_only": from_hub,
        "figures_share": with_figures / total if total else None,
        "confirmed": checked[CONFIRMED],
        "unconfirmed": checked[UNCONFIRMED],
        "not_checkable": max(0, with_figures - checked[CONFIRMED] - checked[UNCONFIRMED]),
        "hub_check_explanation": (
            "Reported sessions checked against the hub's own record of its servers: "
            "confirmed (the hub ran it), unconfirmed (reported for a time the service "
            "watched the hub, yet the hub never listed such a server; left out of every "
            "KPI, still counted in budgets), or not checkable (reported for a time the "
            "service did not watch, such as a late delivery or an import, or too short to "
            "check yet; counted as any session)."
        ),
        "explanation": (
            "Sessions in the window by where they are known from. Resource and cost KPIs "
            "cover only the sessions with figures (servers whose image has jupyter_usage); "
            "user counts, session counts, lengths and concurrency cover all of them, "
            "including servers known only from the hub's poll or its events."
        ),
    }


def running(db: UsageDB, now: float, group: str | None = None) -> dict[str, Any]:
    """Sessions not ended yet, with the time each last reported (or was seen by the poll)."""
    query = select(
        SessionRow.user,
        SessionRow.server_name,
        SessionRow.started,
        SessionRow.updated_at,
        SessionRow.from_hub,
    ).where(SessionRow.ended.is_(None))
    if group is not None:
        query = query.where(of_group(SessionRow.pk, group))
    query = query.order_by(SessionRow.started.desc()).limit(MAX_RUNNING_LISTED)
    with Session(db.engine) as session:
        rows = session.execute(query).all()
    servers = [
        {
            "user": user,
            "server_name": server_name,
            "started": started,
            "last_report": last_report,
            "source": "hub" if from_hub else "extension",
            "stale": now - last_report > STALE_REPORT_SECONDS,
        }
        for user, server_name, started, last_report, from_hub in rows
    ]
    return {
        "servers": servers,
        "truncated": len(servers) == MAX_RUNNING_LISTED,
        "explanation": (
            "Sessions not ended yet and when the service last heard of each: the server's "
            "own report (every c.UsageApp.report_interval seconds) or the hub poll. "
            f"'stale': no word for more than {STALE_REPORT_SECONDS / 60:.0f} minutes."
        ),
    }
