"""Emptying a hub database between hypothesis examples, keeping its schema; reading
its sessions as the row-by-row KPI reference wants them."""

from __future__ import annotations

from sqlalchemy import delete

from jupyter_usage.hub.db.queries import KpiSession, active_in
from jupyter_usage.hub.db.queries import kpi_sessions as matching
from jupyter_usage.hub.db.schema import (
    CONCURRENCY_TABLES,
    REPORT_CHECK_TABLES,
    ROLLUP_TABLES,
    SessionRow,
)
from jupyter_usage.hub.db.storage import UsageDB


def empty(db: UsageDB) -> None:
    """Delete every session and every table derived from them."""
    with db.engine.begin() as connection:
        tables = (*ROLLUP_TABLES, *CONCURRENCY_TABLES, *REPORT_CHECK_TABLES, SessionRow.__table__)
        for table in tables:
            connection.execute(delete(table))


def kpi_sessions(db: UsageDB, since: float, until: float) -> list[KpiSession]:
    """Sessions overlapping `[since, until)`, instants at `since` included."""
    with db.engine.connect() as connection:
        return matching(connection, active_in(SessionRow.__table__.c, since, until))
