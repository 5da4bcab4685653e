"""The report page's templates: names escaped, figures in the units and precision shown,
the previous period, the drill-down's links, and exports that keep every filter."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from support.kpi_reference import compute_kpis

from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.hub.kpis.activity import hour_of_week
from jupyter_usage.hub.kpis.database import with_previous_period
from jupyter_usage.hub.report import formatting as fmt
from jupyter_usage.hub.report.page import (
    REPORT_SECTIONS,
    heat_cells,
    render_not_admin,
    render_report,
    render_sessions,
)

T0 = datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()
GIB = 2**30
TEMPLATES = (
    Path(__file__).resolve().parent.parent / "jupyter_usage" / "hub" / "report" / "templates"
)


def sessions() -> list[KpiSession]:
    return [
        KpiSession("=HYPERLINK(1)", T0 + 10, T0 + 3610, groups=("<b>g</b>",), cost_total=0.004,
                   currency="USD", totals={"cpu_core_seconds": 20.0,
                                           "memory_byte_seconds": 3600.0 * GIB / 100}),
        KpiSession("bob", T0 + 20, T0 + 1820, groups=("physics",), cost_total=0.002,
                   currency="USD", totals={"cpu_core_seconds": 50.0}),
        KpiSession("bob", T0 - 86400, T0 - 80000, groups=("physics",), cost_total=0.001,
                   currency="USD"),
    ]  # fmt: skip


def report(group: str | None = None) -> dict[str, Any]:
    return with_previous_period(
        lambda a, b, _tables: compute_kpis(sessions(), since=a, until=b, group=group),
        T0,
        T0 + 86400,
    )


def activity() -> dict[str, Any]:
    hourly = [{"time": T0 + 3600 * i, "servers": 2 if i == 0 else 0} for i in range(24)]
    return {
        "concurrency": {"step_seconds": 3600.0, "time": [r["time"] for r in hourly],
                        "servers": [r["servers"] for r in hourly]},
        "hour_of_week": {"hours": hour_of_week(hourly)},
        "daily": {"days": [{"day": "2026-11-02", "time": T0, "server_seconds": 5400.0,
                            "cost": {"USD": 0.006}}]},
    }  # fmt: skip


def page(**changes: Any) -> str:
    arguments: dict[str, Any] = {
        "base_url": "/services/usage/",
        "groups": ["<b>g</b>", "physics"],
        "viewer": "<admin>",
        "hub_name": "Physics <Hub>",
        "activity": activity(),
    }
    arguments.update(changes)
    return render_report(arguments.pop("report", report()), **arguments)


def links(text: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', text)]


def test_names_are_escaped_and_no_script_is_inline() -> None:
    text = page()
    assert "<b>g</b>" not in text
    assert "&lt;b&gt;g&lt;/b&gt;" in text
    assert "&lt;admin&gt;" in text
    assert "Physics &lt;Hub&gt; usage" in text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", text, re.S)
    for attributes, body in scripts:
        # Files from the service, or data that no browser runs.
        assert 'src="/services/usage/static/' in attributes or (
            'type="application/json"' in attributes
        ), attributes
        assert "</" not in body


def test_each_section_is_one_template() -> None:
    for name in REPORT_SECTIONS:
        assert (TEMPLATES / "sections" / f"{name}.html").is_file(), name
    text = page()
    for anchor in ("active-users", "concurrency", "hour-of-week", "daily-use",
                   "groups", "users", "exports"):  # fmt: skip
        assert f'id="{anchor}"' in text, anchor


def test_figures_in_the_units_shown_with_the_precision_they_need() -> None:
    text = page()
    # 70 core-seconds and 0.01 GiB-hours: neither reads "0.0".
    assert "0.0194 core-h" in text
    assert "0.0100 GiB-h" in text
    assert "0.00600 USD" in text
    assert "0.0 core-h" not in text
    assert "0.00 USD" not in text
    for api_unit in ("byte-seconds", "core-seconds", "unix seconds", "'at'"):
        assert api_unit not in text, api_unit


def test_stickiness_and_the_previous_period_are_said_in_words() -> None:
    text = page()
    assert "Stickiness (DAU ÷ MAU, last 30 days)" in text
    assert "Always over the 30 days up to 2026-11-02, whatever the window" in text
    # Sessions: 2 this day, 1 the day before.
    assert "+100 % vs the previous day" in text
    assert "changes are against 2026-11-01 00:00 UTC to 2026-11-02 00:00 UTC" in text


def test_presets_and_the_header() -> None:
    text = page()
    hrefs = links(text)
    for days in (7, 30, 90, 365):
        assert f">{days} days</a>" in text
    assert "/hub/home" in hrefs
    assert "/hub/logout" in hrefs
    week = next(h for h in hrefs if "since=2026-10-27" in h)
    assert parse_qs(urlparse(week).query)["until"] == ["2026-11-03T00:00:00Z"]


def test_the_drill_down_links_keep_the_window() -> None:
    text = page()
    hrefs = links(text)
    group = next(h for h in hrefs if "group=physics" in h and "api" not in h)
    query = parse_qs(urlparse(group).query)
    assert query["since"] == ["2026-11-02T00:00:00Z"]
    assert query["until"] == ["2026-11-03T00:00:00Z"]
    user = next(h for h in hrefs if h.startswith("/services/usage/sessions?") and "user=" in h)
    assert parse_qs(urlparse(user).query)["user"] == ["=HYPERLINK(1)"]


def test_every_export_keeps_every_filter() -> None:
    text = page(report=report("physics"))
    exports = [h for h in links(text) if "/api/v1/" in h]
    assert len(exports) == 6
    for href in exports:
        query = parse_qs(urlparse(href).query)
        assert query["group"] == ["physics"], href
        assert query["since"] == ["2026-11-02T00:00:00Z"], href
        assert query["until"] == ["2026-11-03T00:00:00Z"], href
    users = render_sessions(
        [], base_url="/s/", since=T0, until=T0 + 86400, user="bob", group="physics",
        limit=500, viewer="ada",
    )  # fmt: skip
    for href in [h for h in links(users) if "/api/v1/" in h]:
        query = parse_qs(urlparse(href).query)
        assert (query["user"], query["group"]) == (["bob"], ["physics"]), href


def test_an_unknown_group_is_an_empty_report_that_says_so() -> None:
    empty = with_previous_period(
        lambda a, b, _tables: compute_kpis([], since=a, until=b, group="nobody"),
        T0,
        T0 + 86400,
    )
    text = page(report=empty, group_known=False)
    assert "No sessions of group nobody in this window (no such group has reported)." in text
    known = page(report=empty, group_known=True)
    assert "No sessions of group nobody in this window." in known


def test_the_heatmap_shades_by_the_busiest_hour() -> None:
    hourly = [{"time": T0 + 3600 * i, "servers": i % 5} for i in range(168)]
    rows = heat_cells(hour_of_week(hourly))
    assert [row["day"] for row in rows] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    cells = rows[0]["cells"]
    assert cells[0]["level"] == 0  # nobody
    assert cells[4]["level"] == 5  # the busiest
    assert cells[4]["title"] == "Mon 04:00 UTC: 4.0 servers on average, at most 4"


def test_a_users_sessions_page() -> None:
    details = [
        {
            "id": "s1", "user": "bob", "server_name": "", "profile": "<small>", "groups": [],
            "started": T0, "ended": None, "duration_seconds": 7200.0, "peak_cpu_cores": 1.5,
            "peak_memory_bytes": 1.5 * GIB, "memory_limit_bytes": 2 * GIB,
            "idle_seconds": 5400.0, "idle_share": 0.75, "cost": 0.4, "idle_cost": 0.3,
            "currency": "EUR", "source": "extension",
        }
    ]  # fmt: skip
    text = render_sessions(
        details, base_url="/s/", since=T0, until=T0 + 86400, user="bob", group=None,
        limit=500, viewer="ada",
    )  # fmt: skip
    assert "Sessions of bob" in text
    assert "&lt;small&gt;" in text
    assert "2 h 00 min" in text
    assert "1.50 GiB of 2.00 GiB" in text
    assert "75 %" in text
    assert "0.300 EUR" in text
    assert "running" in text


def test_non_admins_get_a_page_with_their_own_usage() -> None:
    text = render_not_admin("<bob>", "Only admins may", hub_prefix="/hub/", base_url="/s/")
    assert "&lt;bob&gt;" in text
    hrefs = links(text)
    assert "/s/api/v1/sessions.csv?user=%3Cbob%3E" in hrefs
    assert "/hub/user-redirect/lab" in hrefs
    assert "/hub/logout" in hrefs


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [(0.0123, "core-h", "0.0123 core-h"), (1234.5, "core-h", "1,234 core-h"),
     (0, "GiB-h", "0 GiB-h"), (12.345, "GiB-h", "12.3 GiB-h")],
)  # fmt: skip
def test_amounts_keep_three_significant_digits(value: float, unit: str, shown: str) -> None:
    assert fmt.format_amount(value, unit) == shown


def test_money_and_time() -> None:
    assert fmt.format_money({"EUR": 1234.5, "USD": 0.0042}) == "1,234.50 EUR, 0.00420 USD"
    assert fmt.format_hours(90) == "1.50 min"
    assert fmt.format_hours(5400) == "1.50 h"
    assert fmt.format_change(-3.5, 30) == "-3.5 % vs the previous 30 days"
    assert fmt.format_percent(0.004) == "0.40 %"
