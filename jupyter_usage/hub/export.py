"""CSV exports of the KPIs and of the sessions, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

KPI_TABLES = ("summary", "users", "groups", "days", "months")

_RESOURCE_COLUMNS = ("server_seconds", "cpu_core_seconds", "memory_byte_seconds", "gpu_seconds")


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if value is None:
        return ""
    return value


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def iso_utc(time: float | None) -> str | None:
    if time is None:
        return None
    return datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _currencies(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({currency for row in rows for currency in row.get("cost", {})})


def kpis_csv(report: Mapping[str, Any], table: str) -> str:
    """One table of a `compute_kpis` report as CSV (see KPI_TABLES)."""
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
        return _csv(["kpi", "value", "explanation"], rows)
    if table in ("users", "groups"):
        key = "user" if table == "users" else "group"
        items = kpis["cost_by_user" if table == "users" else "cost_by_group"]["value"]
        currencies = _currencies(items)
        extra = ["groups"] if table == "users" else ["users"]
        header = [key, *extra, "sessions", *_RESOURCE_COLUMNS, *(f"cost_{c}" for c in currencies)]
        return _csv(
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
        return _csv(["day", "active_users"], ([row["day"], row["users"]] for row in daily))
    if table == "months":
        monthly = kpis["monthly_active_users"]["value"]
        return _csv(["month", "active_users"], ([row["month"], row["users"]] for row in monthly))
    raise ValueError(f"unknown table {table!r}; choose one of {', '.join(KPI_TABLES)}")


SESSION_COLUMNS = (
    "id",
    "user",
    "server_name",
    "started",
    "ended",
    "ended_by",
    "duration_seconds",
    "idle_seconds",
    "cpu_core_seconds",
    "memory_byte_seconds",
    "gpu_seconds",
    "cost_total",
    "currency",
    "groups",
    "profile",
)


def sessions_csv(sessions: Iterable[Mapping[str, Any]]) -> str:
    """Stored sessions as CSV, times in ISO 8601 UTC."""

    def row(session: Mapping[str, Any]) -> list[Any]:
        totals = session.get("totals") or {}
        cost = session.get("cost") or {}
        meta = session.get("meta") or {}
        return [
            session["id"],
            session["user"],
            session.get("server_name"),
            iso_utc(session.get("started")),
            iso_utc(session.get("ended")),
            session.get("ended_by"),
            session.get("duration_seconds"),
            totals.get("idle_seconds"),
            totals.get("cpu_core_seconds"),
            totals.get("memory_byte_seconds"),
            totals.get("gpu_seconds"),
            cost.get("total"),
            cost.get("currency"),
            ";".join(meta.get("groups") or ()),
            meta.get("profile"),
        ]

    return _csv(SESSION_COLUMNS, (row(session) for session in sessions))
