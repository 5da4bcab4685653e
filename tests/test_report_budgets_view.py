"""The report's times in the hub's time zone, and its Budgets section on a group's page,
which counts only the group."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jupyter_usage.hub.report.budgets import budgets_view
from jupyter_usage.hub.report.formatting import format_time
from jupyter_usage.hub.report.page import _env as report_templates

BERLIN = ZoneInfo("Europe/Berlin")
RESETS = datetime(2026, 12, 8, tzinfo=BERLIN).timestamp()  # 2026-12-07T23:00:00Z


def spent(scope: str) -> dict[str, Any]:
    return {
        "scope": scope,
        "period": "day",
        "resets_at": RESETS,
        "limit": 1.0,
        "used": 2.0,
        "currency": "EUR",
        "exhausted": True,
        "stop_at": None,
    }


OVERVIEW = {
    "users": {"ada": [spent("group:physics")], "bob": [spent("group:biology")]},
    "enforcement": "spawn",
    "refused": {
        "total": 5,
        "by_scope": {"group:physics": 2, "group:biology": 3},
        "by_user": {"ada": 2, "bob": 3},
    },
}


def test_times_are_in_the_hubs_zone_as_the_refusal_writes_them() -> None:
    view = budgets_view(OVERVIEW, zone="Europe/Berlin")
    assert view is not None
    assert [row["state"] for row in view["rows"]] == ["over, frees up 2026-12-08 00:00 CET"] * 2
    assert "T23:00:00Z" not in str(view)


def test_a_groups_page_counts_only_its_users_and_their_refusals() -> None:
    view = budgets_view(OVERVIEW, members={"ada"}, group="physics")
    assert view is not None
    assert [row["user"] for row in view["rows"]] == ["ada"]
    assert (view["users"], view["over"], view["refused_total"]) == (1, 1, 2)
    assert view["refused_by_scope"] == [("group:physics", 2)]
    everyone = budgets_view(OVERVIEW)
    assert everyone is not None
    assert (everyone["users"], everyone["refused_total"]) == (2, 5)


def test_every_time_of_the_page_is_written_in_the_hubs_zone() -> None:
    assert format_time(RESETS, "Europe/Berlin") == "2026-12-08 00:00 CET"
    assert format_time(RESETS) == "2026-12-07 23:00 UTC"
    assert format_time(RESETS, "No/Such_Zone") == "2026-12-07 23:00 UTC"
    running = [{"user": "ada", "server_name": "", "started": RESETS, "last_report": RESETS + 60}]
    page = report_templates.get_template("sections/running.html").render(
        running={"servers": running}, zone="Europe/Berlin", user_url=lambda name: name
    )
    assert "2026-12-08 00:00 CET" in page
    assert "2026-12-08 00:01 CET" in page
    assert "UTC" not in page
