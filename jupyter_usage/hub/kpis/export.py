"""CSV exports of the KPIs and of the sessions, safe to open in a spreadsheet."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jupyter_usage import records
from jupyter_usage.records import RESOURCE_TOTALS, SERVER_SECONDS, write_csv

KPI_TABLES = ("summary", "users", "groups", "days", "months")

_RESOURCE_COLUMNS = (SERVER_SECONDS, *RESOURCE_TOTALS)


def _currencies(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({currency for row in rows for currency in row.get("cost", {})})


def kpis_csv(report: Mapping[str, Any], table: str) -> str:
    """One table of a KPI report as CSV (see KPI_TABLES)."""
    kpis = report["kpis"]
    if table == "summary":
        rows: list[list[Any]] = []
        for name, item in kpis.items():
            value = item["value"]
            if isinstance(value, list):
                continue
            if isinstance(value, dict):
                rows.extend(
                    [f"{name} ({currency})", amount, item["explanation"]]
                    for currency, amount in value.items()
                )
            else:
                rows.append([name, value, item["explanation"]])
        return write_csv(["kpi", "value", "explanation"], rows)
    if table in ("users", "groups"):
        key = "user" if table == "users" else "group"
        items = kpis["cost_by_user" if table == "users" else "cost_by_group"]["value"]
        currencies = _currencies(items)
        extra = ["groups"] if table == "users" else ["users"]
        header = [key, *extra, "sessions", *_RESOURCE_COLUMNS, *(f"cost_{c}" for c in currencies)]
        return write_csv(
            header,
            (
                [
                    row[key],
                    ";".join(row["groups"]) if table == "users" else row["users"],
                    row["sessions"],
                    *(row[column] for column in _RESOURCE_COLUMNS),
                    *(row["cost"].get(c) for c in currencies),
                ]
                for row in items
            ),
        )
    if table == "days":
        daily = kpis["daily_active_users"]["value"]
        return write_csv(["day", "active_users"], ([row["day"], row["users"]] for row in daily))
    if table == "months":
        monthly = kpis["monthly_active_users"]["value"]
        return write_csv(
            ["month", "active_users"], ([row["month"], row["users"]] for row in monthly)
        )
    raise ValueError(f"unknown table {table!r}; choose one of {', '.join(KPI_TABLES)}")


def sessions_csv(sessions: Iterable[Mapping[str, Any]]) -> str:
    """Stored sessions as CSV, times in ISO 8601 UTC."""
    return records.sessions_csv(sessions, records.HUB_COLUMNS)
