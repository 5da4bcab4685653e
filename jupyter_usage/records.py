"""The session record: one shape for the store, the recorder, the uploader, the hub's
validation and both CSV exports, and the one CSV writer they share.

A record is what a session leaves behind. Its `meta` carries the facts the session ran
under (`rates`, `limits`, hub `groups` and `profile`), written again at every checkpoint,
so a past or recovered session is summarised and priced with its own facts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypedDict

RATES_KEY = "rates"
"""`meta` key: `cost.Rates.to_json()`, the rates the session was priced at."""
LIMITS_KEY = "limits"
"""`meta` key: the CPU, memory and GPU limits the session ran under."""
SEEN_KEY = "summary_seen"
"""`meta` key: true once the user has seen the session's summary."""

RESOURCE_TOTALS = ("cpu_core_seconds", "memory_byte_seconds", "gpu_seconds")
"""The resources a session's `totals` count, in SI units (core-, byte-, device-seconds):
one list for the store's CSV and the hub's KPIs, rollups, CSVs and budgets."""
SERVER_SECONDS = "server_seconds"
"""What the hub counts besides them: server time. With RESOURCE_TOTALS, the units a
budget can count (`BudgetUnit` in src/wire.ts, checked by tests/test_records.py)."""


class SessionRecord(TypedDict, total=False):
    """A stored session, as the store returns it and the hub service receives it."""

    id: str
    user: str | None
    server_name: str | None
    started: float | None
    ended: float | None
    ended_by: str | None
    """"stop", "recovered" (a crash left it open), "hub", …; None while it runs."""
    last_checkpoint: float | None
    duration_seconds: float | None
    totals: dict[str, Any]
    """`ledger.UsageTotals.to_json()`: seconds, byte-seconds, peaks."""
    cost: dict[str, Any]
    """`cost.Cost.to_json()`: currency, total, basis, breakdown."""
    meta: dict[str, Any]
    """`rates`, `limits`, `groups`, `profile`, `summary_seen`."""
    summary: dict[str, Any] | None


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    if value is None:
        return ""
    return value


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The one CSV writer of every export: RFC 4180 line ends, formulas defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()


def iso_utc(time: float | None) -> str | None:
    if time is None:
        return None
    return datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


Column = tuple[str, Callable[[Mapping[str, Any]], Any]]


def _top(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda record: record.get(key)


def _in(part: str, key: str, name: str | None = None) -> Column:
    return (name or key, lambda record: (record.get(part) or {}).get(key))


def _breakdown(resource: str) -> Column:
    return (
        f"cost_{resource}",
        lambda record: ((record.get("cost") or {}).get("breakdown") or {}).get(resource),
    )


_TOTALS = ("idle_seconds", *RESOURCE_TOTALS)

LOCAL_COLUMNS: tuple[Column, ...] = (
    *((key, _top(key)) for key in ("id", "user", "server_name", "started", "ended")),
    ("ended_by", _top("ended_by")),
    ("duration_seconds", _top("duration_seconds")),
    *(_in("totals", key) for key in (*_TOTALS, "peak_cpu_cores", "peak_memory_bytes")),
    _in("cost", "currency"),
    _in("cost", "total", "cost_total"),
    *(_breakdown(name) for name in ("cpu", "memory", "gpu", "disk", "server")),
)
"""This server's export (`/api/usage/v1/sessions.csv`): times as unix seconds."""

HUB_COLUMNS: tuple[Column, ...] = (
    ("id", _top("id")),
    ("user", _top("user")),
    ("server_name", _top("server_name")),
    ("started", lambda record: iso_utc(record.get("started"))),
    ("ended", lambda record: iso_utc(record.get("ended"))),
    ("ended_by", _top("ended_by")),
    ("duration_seconds", _top("duration_seconds")),
    *(_in("totals", key) for key in _TOTALS),
    _in("cost", "total", "cost_total"),
    _in("cost", "currency"),
    ("groups", lambda record: ";".join((record.get("meta") or {}).get("groups") or ())),
    _in("meta", "profile"),
)
"""The hub history service's export: times in ISO 8601 UTC, with groups and profile."""


def sessions_csv(
    records: Iterable[Mapping[str, Any]], columns: Sequence[Column] = LOCAL_COLUMNS
) -> str:
    """Session records as CSV, one row a session, figures in the units of their names."""
    return write_csv(
        [name for name, _ in columns],
        ([value(record) for _, value in columns] for record in records),
    )
