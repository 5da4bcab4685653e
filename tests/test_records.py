"""One CSV writer for both exports: a cell a spreadsheet would run as a formula is defused."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from jupyter_usage.hub.budgets.rules import RESOURCE_LIMITS
from jupyter_usage.hub.kpis.export import sessions_csv as hub_sessions_csv
from jupyter_usage.records import RESOURCE_TOTALS, SERVER_SECONDS, sessions_csv

RECORD = {
    "id": "s1",
    "user": '=HYPERLINK("http://evil")',
    "server_name": "@sum",
    "started": 0.0,
    "ended": 60.0,
    "ended_by": "stop",
    "duration_seconds": 60.0,
    "totals": {"cpu_core_seconds": 30.0},
    "cost": {"currency": "USD", "total": -1.0, "breakdown": {"cpu": 0.5}},
    "meta": {"groups": ["+physics"], "profile": "-gpu"},
}


def test_both_exports_defuse_formulas() -> None:
    for text in (sessions_csv([RECORD]), hub_sessions_csv([RECORD])):
        (row,) = csv.DictReader(io.StringIO(text))
        assert row["user"].startswith("'=")
        assert row["server_name"] == "'@sum"
        assert row["cost_total"] == "-1.0"  # numbers stay numbers
    (hub_row,) = csv.DictReader(io.StringIO(hub_sessions_csv([RECORD])))
    assert hub_row["groups"] == "'+physics"
    assert hub_row["profile"] == "'-gpu"
    (local_row,) = csv.DictReader(io.StringIO(sessions_csv([RECORD])))
    assert local_row["cost_cpu"] == "0.5"
    assert local_row["started"] == "0.0"


def test_the_resource_list_is_the_one_of_the_frontend_and_of_the_budgets() -> None:
    wire = (Path(__file__).resolve().parent.parent / "src" / "wire.ts").read_text()
    declared = re.search(r"export type BudgetUnit =([^;]*);", wire)
    assert declared is not None, "src/wire.ts declares BudgetUnit"
    units = re.findall(r"'(\w+)'", declared.group(1))
    assert units == [*RESOURCE_TOTALS, SERVER_SECONDS]
    assert [unit for unit, _ in RESOURCE_LIMITS.values()] == units
