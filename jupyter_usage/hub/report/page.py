"""The admin report page: Jinja2 templates (templates/), one template per section.

This module turns the KPI, activity and sizing answers into what the templates show:
numbers formatted for humans (formatting.py), help text in the units shown, chart data
for uPlot (static/report.js draws it; the page runs no inline script). A new section is
one template in templates/sections/ and one name in `REPORT_SECTIONS`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from jupyter_usage.hub.kpis.export import KPI_TABLES
from jupyter_usage.hub.periods import DAY_SECONDS, day_start, utc_day
from jupyter_usage.records import iso_utc

from . import formatting as fmt
from .budgets import budgets_view
from .checks import report_checks_view
from .columns import usage_cells

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)

REPORT_SECTIONS = (
    "cards",
    "running",
    "budgets",
    "report_checks",
    "active_users",
    "concurrency",
    "hour_of_week",
    "daily_use",
    "groups",
    "users",
    "sizing",
    "coverage",
    "exports",
)
"""The report's sections in page order, each `templates/sections/<name>.html`."""

PRESET_DAYS = (7, 30, 90, 365)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HEAT_LEVELS = 6

_env = Environment(
    loader=PackageLoader("jupyter_usage.hub.report", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    hours=fmt.format_hours,
    duration=fmt.format_duration,
    money=fmt.format_money,
    money_amount=fmt.format_money_amount,
    percent=fmt.format_percent,
    utc=fmt.format_utc,
    bytes=fmt.format_bytes,
    amount=fmt.format_amount,
    number=fmt.significant,
)


@dataclass(frozen=True)
class Page:
    """What every page's header needs."""

    base_url: str
    """The service's prefix, ending in a slash."""
    hub_prefix: str = "/hub/"
    hub_name: str = "JupyterHub"
    viewer: str | None = None

    @property
    def hub_home(self) -> str:
        return self.hub_prefix.rstrip("/") + "/home"

    @property
    def logout(self) -> str:
        return self.hub_prefix.rstrip("/") + "/logout"

    def static(self, name: str) -> str:
        return f"{self.base_url}static/{name}"


@dataclass(frozen=True)
class Card:
    name: str
    title: str
    value: str
    help: str
    note: str = ""


def _render(template: str, page: Page, **context: Any) -> str:
    return _env.get_template(template).render(page=page, **context)


@pass_context
def _when(context: Context, time: float | None) -> str:
    """A time of the page, in the hub's time zone (the page's `zone`)."""
    return fmt.format_time(time, str(context.get("zone") or "UTC"))


_env.filters["when"] = _when


# -- the report -----------------------------------------------------------------------


def _days(report: Mapping[str, Any]) -> float:
    return float(round((report["until"] - report["since"]) / DAY_SECONDS, 2))


def cards(report: Mapping[str, Any], zone: str = "UTC") -> list[Card]:
    """The KPI cards, help text in the units shown."""
    kpis = report["kpis"]
    days = _days(report)

    def value(name: str) -> Any:
        return kpis[name]["value"]

    def note(name: str) -> str:
        return fmt.format_change(kpis[name].get("change_percent"), days)

    hours = report.get("regular_seconds_per_week", 8 * 3600) / 3600
    stickiness = value("stickiness_percent")
    peak_at = kpis["peak_concurrent_servers"].get("at")
    cost = value("cost")
    previous_cost = kpis["cost"].get("previous")
    cost_note = ""
    if isinstance(previous_cost, dict) and len(cost) == 1 and len(previous_cost) == 1:
        [(currency, amount)] = cost.items()
        old = previous_cost.get(currency)
        if old:
            cost_note = fmt.format_change(round(100 * (amount - old) / old, 1), days)
    until = utc_day(report["until"] - 1)
    daily = value("daily_active_users")
    last_day = daily[-1] if daily else {"day": until, "users": 0}
    today = last_day["day"] == utc_day(time.time())
    return [
        Card(
            "users_now",
            "Users today" if today else f"Users on {last_day['day']}",
            f"{last_day['users']} {'user' if last_day['users'] == 1 else 'users'}",
            "Distinct users with a server on the window's last UTC day, and in the 7 days "
            "up to it: counts, where the cards below average.",
            f"{value('wau')} {'this week' if today else 'in its last 7 days'}",
        ),
        Card(
            "active_users",
            "Active users",
            str(value("active_users")),
            "Distinct users whose server ran at some time in the window.",
            note("active_users"),
        ),
        Card(
            "dau",
            "Daily active users (average)",
            f"{value('dau'):.1f}",
            "Distinct users with a server on a UTC day, averaged over the window's days.",
            note("dau"),
        ),
        Card(
            "wau",
            "Weekly active users",
            str(value("wau")),
            f"Distinct users with a server in the 7 days up to {until}.",
            note("wau"),
        ),
        Card(
            "mau",
            "Monthly active users",
            str(value("mau")),
            f"Distinct users with a server in the 30 days up to {until}.",
            note("mau"),
        ),
        Card(
            "stickiness_percent",
            "Stickiness (DAU ÷ MAU, last 30 days)",
            fmt.NONE if stickiness is None else f"{stickiness:g} %",
            f"Always over the 30 days up to {until}, whatever the window: on an average day "
            f"{fmt.significant(value('dau_last_30_days'))} of the {value('mau')} users of "
            "those 30 days had a server. 100 % would mean every one of them came every day.",
            note("stickiness_percent"),
        ),
        Card(
            "regular_users",
            "Regular users",
            str(value("regular_users")),
            f"Users whose servers ran at least {hours:g} hours a week on average over the window.",
            note("regular_users"),
        ),
        Card(
            "sessions",
            "Sessions",
            f"{value('sessions'):,}",
            "Server sessions that started in the window.",
            note("sessions"),
        ),
        Card(
            "median_session_seconds",
            "Median session",
            fmt.format_duration(value("median_session_seconds")),
            "Half of the ended sessions that started in the window were shorter.",
            note("median_session_seconds"),
        ),
        Card(
            "p90_session_seconds",
            "90th percentile session",
            fmt.format_duration(value("p90_session_seconds")),
            "9 in 10 of those sessions were shorter.",
            note("p90_session_seconds"),
        ),
        Card(
            "peak_concurrent_servers",
            "Peak concurrent servers",
            str(value("peak_concurrent_servers")),
            "Most servers running at the same moment in the window"
            + (f", first reached {fmt.format_time(peak_at, zone)}." if peak_at else "."),
            note("peak_concurrent_servers"),
        ),
        Card(
            "server_seconds",
            "Server time",
            fmt.format_hours(value("server_seconds")),
            "Hours of server time, all servers added up; sessions crossing the window's "
            "edges count only their part inside it.",
            note("server_seconds"),
        ),
        Card(
            "cpu_core_seconds",
            "CPU",
            fmt.format_amount(value("cpu_core_seconds") / 3600, "core-h"),
            "CPU used, in core-hours: one core busy for one hour is 1 core-h.",
            note("cpu_core_seconds"),
        ),
        Card(
            "memory_byte_seconds",
            "Memory",
            fmt.format_amount(value("memory_byte_seconds") / fmt.GIB / 3600, "GiB-h"),
            "Memory held over time, in GiB-hours: 2 GiB for 3 hours is 6 GiB-h.",
            note("memory_byte_seconds"),
        ),
        Card(
            "gpu_seconds",
            "GPU time",
            fmt.format_hours(value("gpu_seconds")),
            "Hours of GPUs attached to servers (two GPUs for one hour: 2 h).",
            note("gpu_seconds"),
        ),
        Card(
            "cost",
            "Cost",
            fmt.format_money(cost),
            "What the servers priced their sessions at, by currency.",
            cost_note,
        ),
    ]


def _chart(
    title: str, kind: str, times: Sequence[float], series: Sequence[dict[str, Any]], unit: str
) -> dict[str, Any]:
    """What static/report.js draws: x in unix seconds (UTC days or hours), y in `unit`."""
    return {"title": title, "kind": kind, "x": list(times), "series": list(series), "unit": unit}


def _bar_rows(rows: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    """Table rows with the share of the largest row, for the bar drawn beside each."""
    with_cost = any(row["cost"] for row in rows)

    def size(row: Mapping[str, Any]) -> float:
        return float(sum(row["cost"].values())) if with_cost else float(row["server_seconds"])

    top = max((size(row) for row in rows), default=0.0) or 1.0
    return [
        {
            **row,
            "name": row[key],
            "bar": round(100 * size(row) / top, 1),
            "cpu_core_hours": row["cpu_core_seconds"] / 3600,
            "memory_gib_hours": row["memory_byte_seconds"] / fmt.GIB / 3600,
        }
        for row in usage_cells([dict(row) for row in rows])
    ]


def heat_cells(hours: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The hour-of-week grid: one row a weekday, 24 cells, each with a shade 0 … 5."""
    top = max((h["max_servers"] or 0 for h in hours), default=0) or 1
    rows = []
    for day in range(7):
        cells = []
        for hour in range(24):
            cell = hours[day * 24 + hour]
            mean, most = cell["mean_servers"], cell["max_servers"]
            level = 0 if not most else 1 + min(HEAT_LEVELS - 2, int((HEAT_LEVELS - 1) * most / top))
            cells.append(
                {
                    "hour": hour,
                    "level": min(level, HEAT_LEVELS - 1),
                    "max": most,
                    "title": f"{DAYS[day]} {hour:02d}:00 UTC: "
                    + (
                        "no data"
                        if mean is None
                        else f"{fmt.significant(mean, 2)} servers on average, at most {most}"
                    ),
                }
            )
        rows.append({"day": DAYS[day], "cells": cells})
    return rows


def preset_url(base_url: str, until: float, days: int, group: str | None) -> str:
    """The page for the `days` days up to the same `until`, with the same group."""
    query = {"since": iso_utc(until - days * DAY_SECONDS), "until": iso_utc(until)}
    return base_url + "?" + urlencode({**query, **({"group": group} if group else {})})


def window_query(report: Mapping[str, Any], **extra: str | None) -> dict[str, str]:
    """The exact window (and filters) of a report, for links that must show the same."""
    query = {"since": iso_utc(report["since"]) or "", "until": iso_utc(report["until"]) or ""}
    if report.get("group"):
        query["group"] = report["group"]
    query.update({name: value for name, value in extra.items() if value})
    return query


def render_report(
    report: Mapping[str, Any],
    *,
    base_url: str,
    query: Mapping[str, str] | None = None,
    groups: Sequence[str],
    viewer: str,
    hub_prefix: str = "/hub/",
    hub_name: str = "JupyterHub",
    activity: Mapping[str, Any] | None = None,
    group_known: bool | None = None,
    zone: str = "UTC",
) -> str:
    """The whole page for one window (and group) of the KPIs; `zone` is the hub's time
    zone (`UsageService.budget_timezone`), in which the budgets' times are written."""
    page = Page(base_url, hub_prefix, hub_name, viewer)
    kpis = report["kpis"]
    chosen = report.get("group")
    days = _days(report)
    window = window_query(report)
    charts: dict[str, dict[str, Any]] = {}
    daily_users = kpis["daily_active_users"]["value"]
    day_times = [day_start(d["day"]) for d in daily_users]
    charts["active_users"] = _chart(
        "Active users per day",
        "bars",
        day_times,
        [{"label": "users", "values": [d["users"] for d in daily_users]}],
        "users",
    )
    heat: list[dict[str, Any]] = []
    daily_rows: list[dict[str, Any]] = []
    if activity is not None:
        series = activity["concurrency"]
        charts["concurrency"] = _chart(
            "Servers running",
            "steps",
            series["time"],
            [{"label": "servers", "values": series["servers"]}],
            "servers",
        )
        heat = heat_cells(activity["hour_of_week"]["hours"])
        daily_rows = activity["daily"]["days"]
        currencies = sorted({c for d in daily_rows for c in d["cost"]})
        charts["daily_cost"] = _chart(
            "Cost per day",
            "bars",
            [d["time"] for d in daily_rows],
            [
                {"label": c, "values": [round(d["cost"].get(c, 0.0), 6) for d in daily_rows]}
                for c in currencies
            ],
            currencies[0] if len(currencies) == 1 else "",
        )
        charts["daily_hours"] = _chart(
            "Server time per day",
            "bars",
            [d["time"] for d in daily_rows],
            [
                {
                    "label": "hours",
                    "values": [round(d["server_seconds"] / 3600, 3) for d in daily_rows],
                }
            ],
            "h",
        )
    empty_group = None
    if chosen and kpis["active_users"]["value"] == 0:
        empty_group = f"No sessions of group {chosen} in this window" + (
            "" if group_known or chosen in groups else " (no such group has reported)"
        )
    csv_query = {**window, "limit": "10000"}
    exports = [
        (f"KPIs: {table}", f"{base_url}api/v1/kpis.csv?" + urlencode({**window, "table": table}))
        for table in KPI_TABLES
    ] + [("Sessions", f"{base_url}api/v1/sessions.csv?" + urlencode(csv_query))]
    return _render(
        "report.html",
        page,
        title=f"{hub_name} usage",
        sections=REPORT_SECTIONS,
        report=report,
        kpis=kpis,
        cards=cards(report, zone),
        zone=zone,
        group=chosen,
        groups=groups,
        empty_group=empty_group,
        since_day=utc_day(report["since"]),
        # The form's "until" is a day included in full (the API reads a date that way).
        until_day=utc_day(report["until"] - 1),
        days=days,
        previous=report.get("previous_period"),
        presets=[(n, preset_url(base_url, report["until"], n, chosen)) for n in PRESET_DAYS],
        charts=charts,
        heat=heat,
        heat_max=max((c["max"] or 0 for row in heat for c in row["cells"]), default=0),
        activity=activity,
        by_group=_bar_rows(kpis["cost_by_group"]["value"], "group"),
        by_user=_bar_rows(kpis["cost_by_user"]["value"], "user"),
        monthly=kpis["monthly_active_users"]["value"],
        coverage=report.get("coverage"),
        running=report.get("running"),
        budgets=budgets_view(
            report.get("budgets"),
            zone=zone,
            members={row["user"] for row in kpis["cost_by_user"]["value"]} if chosen else None,
            group=chosen,
        ),
        report_checks=report_checks_view(report.get("report_flags")),
        sizing=report.get("sizing"),
        exports=exports,
        window=window,
        group_url=lambda name: base_url + "?" + urlencode({**window, "group": name}),
        user_url=lambda name: f"{base_url}sessions?" + urlencode({**window, "user": name}),
        hour_of_week_name=lambda index: f"{DAYS[index // 24]} {index % 24:02d}:00",
    )


def render_sessions(
    sessions: Sequence[Mapping[str, Any]],
    *,
    base_url: str,
    since: float,
    until: float,
    user: str | None,
    group: str | None,
    limit: int,
    viewer: str,
    hub_prefix: str = "/hub/",
    hub_name: str = "JupyterHub",
    zone: str = "UTC",
) -> str:
    """The drill-down's last step: the sessions of one user (or all) in the window;
    times in `zone`, the hub's time zone."""
    page = Page(base_url, hub_prefix, hub_name, viewer)
    window = {"since": iso_utc(since) or "", "until": iso_utc(until) or ""}
    if group:
        window["group"] = group
    filters = {**window, **({"user": user} if user else {})}
    currencies = sorted(
        {s["currency"] for s in sessions if s["currency"] and s["cost"] is not None}
    )
    totals = {
        "sessions": len(sessions),
        "seconds": sum(s["duration_seconds"] or 0 for s in sessions),
        "idle_seconds": sum(s["idle_seconds"] or 0 for s in sessions),
        "cost": {
            c: sum(s["cost"] or 0 for s in sessions if s["currency"] == c) for c in currencies
        },
        "idle_cost": {
            c: sum(s["idle_cost"] or 0 for s in sessions if s["currency"] == c) for c in currencies
        },
    }
    with_idle = sum(s["duration_seconds"] or 0 for s in sessions if s["idle_seconds"] is not None)
    totals["idle_share"] = totals["idle_seconds"] / with_idle if with_idle else None
    return _render(
        "sessions.html",
        page,
        zone=zone,
        title=f"Sessions of {user}" if user else "Sessions",
        user=user,
        group=group,
        sessions=sessions,
        totals=totals,
        truncated=len(sessions) >= limit,
        limit=limit,
        since_day=utc_day(since),
        until_day=utc_day(until - 1),
        report_url=base_url + "?" + urlencode({k: v for k, v in window.items() if k != "group"}),
        group_url=base_url + "?" + urlencode(window) if group else None,
        csv_url=f"{base_url}api/v1/sessions.csv?" + urlencode({**filters, "limit": "10000"}),
        json_url=f"{base_url}api/v1/session-details?" + urlencode(filters),
    )


def render_message(
    title: str, message: str, *, base_url: str = "/", hub_prefix: str = "/hub/"
) -> str:
    """A small page for errors and refusals."""
    return _render("message.html", Page(base_url, hub_prefix), title=title, message=message)


def render_not_admin(
    user: str, why: str, *, hub_prefix: str, base_url: str, hub_name: str = "JupyterHub"
) -> str:
    """What a signed-in user who may not read everyone's usage sees instead of a bare 403."""
    own = {"user": user}
    return _render(
        "not_admin.html",
        Page(base_url, hub_prefix, hub_name, user),
        title=f"{hub_name} usage",
        why=why,
        csv_url=f"{base_url}api/v1/sessions.csv?{urlencode(own)}",
        json_url=f"{base_url}api/v1/sessions?{urlencode(own)}",
        lab_url=hub_prefix.rstrip("/") + "/user-redirect/lab",
    )
