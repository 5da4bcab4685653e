"""`api/v1/kpis`, `kpis.csv` and `sizing`: the KPIs of a window, for readers of all."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tornado import web

from jupyter_usage.hub.kpis.coverage import coverage, running
from jupyter_usage.hub.kpis.database import compared, database_kpis
from jupyter_usage.hub.kpis.export import KPI_TABLES, kpis_csv
from jupyter_usage.hub.kpis.sizing import sizing

from .base import ApiHandler, Service


async def kpi_report(
    service: Service, since: float, until: float, group: str | None
) -> dict[str, Any]:
    """The KPIs of the window and of the period before it, with coverage and what runs."""

    def kpis(a: float, b: float, tables: bool) -> dict[str, Any]:
        return database_kpis(
            service.db,
            since=a,
            until=b,
            group=group,
            regular_seconds_per_week=service.regular_user_hours_per_week * 3600,
            tables=tables,
        )

    def state() -> tuple[dict[str, Any], dict[str, Any]]:
        return coverage(service.db, since, until, group), running(service.db, time.time(), group)

    # Three independent reads at once: the answer takes as long as the slowest.
    length = until - since
    report, before, (report_coverage, now_running) = await asyncio.gather(
        service.run_db(lambda: kpis(since, until, True)),
        service.run_db(lambda: kpis(since - length, since, False)),
        service.run_db(state),
    )
    report = compared(report, before)
    report["coverage"], report["running"] = report_coverage, now_running
    return report


class KpisHandler(ApiHandler):
    async def get(self) -> None:
        self.require_reader_of_all()
        self.write_json(await kpi_report(self.service, *self.time_window()))


class KpisCsvHandler(ApiHandler):
    async def get(self) -> None:
        self.require_reader_of_all()
        table = self.get_query_argument("table", "summary")
        if table not in KPI_TABLES:
            raise web.HTTPError(400, f"'table' must be one of {', '.join(KPI_TABLES)}")
        user = self.get_query_argument("user", None) or None
        if user is not None and table != "users":
            raise web.HTTPError(
                400,
                "'user' filters the table 'users' only; one user's sessions are in "
                "sessions.csv?user=…",
            )
        report = await kpi_report(self.service, *self.time_window())
        if user is not None:
            rows = report["kpis"]["cost_by_user"]["value"]
            report["kpis"]["cost_by_user"]["value"] = [r for r in rows if r["user"] == user]
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="usage-{table}.csv"')
        self.finish(kpis_csv(report, table))


class SizingHandler(ApiHandler):
    """How often and when servers run out of memory and CPU (see sizing.py)."""

    async def get(self) -> None:
        self.require_reader_of_all()
        since, until, group = self.time_window()
        db = self.service.db
        body = await self.service.run_db(lambda: sizing(db, since, until, group))
        self.write_json({"since": since, "until": until, "group": group, "sizing": body})
