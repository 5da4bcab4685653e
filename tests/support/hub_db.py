"""Emptying a hub database between hypothesis examples, keeping its schema."""

from __future__ import annotations

from sqlalchemy import delete

from jupyter_usage.hub import concurrency, hub_watch, report_flags, rollups
from jupyter_usage.hub.storage import SessionRow, UsageDB


def empty(db: UsageDB) -> None:
    """Delete every session and every table derived from them."""
    with db.engine.begin() as connection:
        tables = [*rollups.metadata.sorted_tables, *concurrency.metadata.sorted_tables]
        tables += [*hub_watch.metadata.sorted_tables, *report_flags.metadata.sorted_tables]
        tables.append(SessionRow.__table__)  # type: ignore[arg-type]
        for table in tables:
            connection.execute(delete(table))
