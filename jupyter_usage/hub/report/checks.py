"""The report page's section on what the service noticed in users' reports
(templates/sections/report_checks.html): per user, the reports refused for lowering
figures, the sessions the hub never ran, the reports above their allocation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jupyter_usage.hub.db.report_flags import KINDS
from jupyter_usage.records import iso_utc


def report_checks_view(flags: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """Rows from `report_flags.by_user`, the most flagged user first; None (no section)
    when the page was not given the counts."""
    if flags is None:
        return None
    rows: list[dict[str, Any]] = [
        {
            "user": user,
            **{kind: int(counts.get(kind, 0)) for kind in KINDS},
            "latest": iso_utc(float(counts["latest"])),
            "total": sum(int(counts.get(kind, 0)) for kind in KINDS),
        }
        for user, counts in flags.items()
    ]
    rows.sort(key=lambda row: (-row["total"], row["user"]))
    return {"rows": rows, "totals": {kind: sum(row[kind] for row in rows) for kind in KINDS}}
