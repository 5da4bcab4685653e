"""The admin report page: server-rendered HTML, tables and inline SVG bars, no script.

Everything that comes from users or groups is escaped; numbers are formatted here and
only here, for humans (the API keeps SI base units).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from jupyter_usage.records import iso_utc

from .export import KPI_TABLES
from .report_budgets import budgets_section

GIB = 1024**3
NONE = "\N{EN DASH}"
"""Shown where a figure is unknown."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
form { display: flex; gap: .75rem; align-items: end; flex-wrap: wrap; margin: .5rem 0 1rem; }
label { display: flex; flex-direction: column; font-size: .85rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: .75rem; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: .6rem .8rem; }
.card .value { font-size: 1.5rem; font-weight: 600; }
.card .name { font-weight: 600; } .why { color: #555; font-size: .8rem; }
.card .note { font-size: .85rem; }
table { border-collapse: collapse; margin: .25rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg { display: block; margin: .25rem 0; } svg text { font-size: 11px; fill: #333; }
.bar { fill: #4a7ebb; } .muted { color: #666; }
@media (prefers-color-scheme: dark) {
  body { background: #111; color: #eee; } .card, th, td { border-color: #444; }
  .why, .muted { color: #aaa; } svg text { fill: #ddd; } .bar { fill: #6f9fd8; }
}
"""


def format_hours(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    hours = seconds / 3600
    return f"{hours:,.1f} h" if hours >= 0.1 or hours == 0 else f"{seconds / 60:,.1f} min"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def format_money(amounts: Mapping[str, float]) -> str:
    if not amounts:
        return NONE
    return ", ".join(f"{amount:,.2f} {currency}".strip() for currency, amount in amounts.items())


def format_amount(value: float, unit: str) -> str:
    """Three significant digits at least, so small but different values do not all read 0.0."""
    if value == 0:
        return f"0 {unit}"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{min(digits, 6)}f} {unit}"


def change_note(item: Mapping[str, Any], days: float) -> str:
    """'+12 % vs the previous 30 days', from a KPI's `change_percent`."""
    change = item.get("change_percent")
    if change is None:
        return ""
    return f"{change:+g} % vs the previous {days:g} days"


def preset_url(base_url: str, until: float, days: int, group: str | None) -> str:
    """The page for the `days` days up to the same `until`, with the same group."""
    query = {"since": iso_utc(until - days * 86400), "until": iso_utc(until)}
    return base_url + "?" + urlencode({**query, **({"group": group} if group else {})})


def _card(name: str, value: str, explanation: str, note: str = "") -> str:
    noted = f'<div class="note">{escape(note)}</div>' if note else ""
    return (
        f'<div class="card"><div class="name">{escape(name)}</div>'
        f'<div class="value">{escape(value)}</div>{noted}'
        f'<div class="why">{escape(explanation)}</div></div>'
    )


def bar_chart(
    items: Sequence[tuple[str, float, str]], *, vertical: bool, width: int = 720, height: int = 160
) -> str:
    """Bars for `(label, value, tooltip)` items, as inline SVG with a text fallback."""
    if not items:
        return '<p class="muted">No data in this window.</p>'
    top = max(value for _, value, _ in items) or 1.0
    parts: list[str] = []
    if vertical:
        step = width / len(items)
        bar = max(1.0, step * 0.8)
        for index, (label, value, tooltip) in enumerate(items):
            bar_height = (height - 20) * value / top
            x = index * step
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{height - 20 - bar_height:.1f}" '
                f'width="{bar:.1f}" height="{bar_height:.1f}">'
                f"<title>{escape(tooltip)}</title></rect>"
            )
            if len(items) <= 16 or index % max(1, len(items) // 8) == 0:
                parts.append(f'<text x="{x:.1f}" y="{height - 5}">{escape(label[-5:])}</text>')
        svg_height = height
    else:
        row = 20
        label_width = 160
        svg_height = row * len(items)
        for index, (label, value, tooltip) in enumerate(items):
            bar_width = (width - label_width - 10) * value / top
            y = index * row
            parts.append(f'<text x="0" y="{y + 14}">{escape(label[:24])}</text>')
            parts.append(
                f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{bar_width:.1f}" '
                f'height="{row - 6}"><title>{escape(tooltip)}</title></rect>'
            )
    # A little room on the right for the last label.
    return (
        f'<svg role="img" width="{width + 30}" height="{svg_height}" '
        f'viewBox="0 0 {width + 30} {svg_height}" xmlns="http://www.w3.org/2000/svg">'
        f"{''.join(parts)}</svg>"
    )


def _usage_table(rows: Sequence[Mapping[str, Any]], key: str) -> str:
    head = (
        f"<tr><th>{escape(key)}</th><th>sessions</th><th>server time</th><th>CPU</th>"
        "<th>memory</th><th>GPU</th><th>cost</th></tr>"
    )
    body = []
    for row in rows:
        name = row[key] if row[key] is not None else "(no group)"
        body.append(
            f"<tr><td>{escape(str(name))}</td><td>{row['sessions']}</td>"
            f"<td>{format_hours(row['server_seconds'])}</td>"
            f"<td>{row['cpu_core_seconds'] / 3600:,.1f} core-h</td>"
            f"<td>{row['memory_byte_seconds'] / GIB / 3600:,.1f} GiB-h</td>"
            f"<td>{format_hours(row['gpu_seconds'])}</td>"
            f"<td>{escape(format_money(row['cost']))}</td></tr>"
        )
    if not body:
        return '<p class="muted">No sessions in this window.</p>'
    return f"<table>{head}{''.join(body)}</table>"


def _usage_bars(rows: Sequence[Mapping[str, Any]], key: str) -> str:
    with_cost = any(row["cost"] for row in rows)

    def amount(row: Mapping[str, Any]) -> float:
        if with_cost:
            return float(sum(row["cost"].values()))
        return float(row["server_seconds"]) / 3600

    items = [
        (
            str(row[key] if row[key] is not None else "(no group)"),
            amount(row),
            f"{row[key] or '(no group)'}: "
            + (format_money(row["cost"]) if with_cost else format_hours(row["server_seconds"])),
        )
        for row in rows[:20]
    ]
    return bar_chart(items, vertical=False)


def render_report(
    report: Mapping[str, Any],
    *,
    base_url: str,
    query: Mapping[str, str],
    groups: Sequence[str],
    viewer: str,
    hub_prefix: str = "/hub/",
) -> str:
    """The whole page for one window (and group) of `compute_kpis`."""
    kpis = report["kpis"]
    since_day = (iso_utc(report["since"]) or "")[:10]
    # The form's "until" is a day included in full (the API reads a date that way).
    until_day = (iso_utc(report["until"] - 1) or "")[:10]
    chosen = report.get("group")
    options = ['<option value="">all groups</option>'] + [
        f'<option value="{escape(g)}"{" selected" if g == chosen else ""}>{escape(g)}</option>'
        for g in groups
    ]

    def value(name: str) -> Any:
        return kpis[name]["value"]

    stickiness = value("stickiness_percent")
    peak_at = kpis["peak_concurrent_servers"].get("at")
    cards = [
        ("Active users", f"{value('active_users')}", "active_users"),
        ("DAU", f"{value('dau'):.1f}", "dau"),
        ("WAU", f"{value('wau')}", "wau"),
        ("MAU", f"{value('mau')}", "mau"),
        ("Stickiness", NONE if stickiness is None else f"{stickiness:g} %", "stickiness_percent"),
        ("Regular users", f"{value('regular_users')}", "regular_users"),
        ("Sessions", f"{value('sessions')}", "sessions"),
        (
            "Median session",
            format_duration(value("median_session_seconds")),
            "median_session_seconds",
        ),
        ("90th percentile", format_duration(value("p90_session_seconds")), "p90_session_seconds"),
        (
            "Peak concurrent servers",
            f"{value('peak_concurrent_servers')}",
            "peak_concurrent_servers",
        ),
        ("Server time", format_hours(value("server_seconds")), "server_seconds"),
        ("CPU", format_amount(value("cpu_core_seconds") / 3600, "core-h"), "cpu_core_seconds"),
        (
            "Memory",
            format_amount(value("memory_byte_seconds") / GIB / 3600, "GiB-h"),
            "memory_byte_seconds",
        ),
        ("GPU", format_hours(value("gpu_seconds")), "gpu_seconds"),
        ("Cost", format_money(value("cost")), "cost"),
    ]
    daily = value("daily_active_users")
    monthly = value("monthly_active_users")
    csv_query = {k: v for k, v in query.items() if v}
    kpis_csv_url = f"{base_url}api/v1/kpis.csv?"
    csv_links = " · ".join(
        f'<a href="{escape(kpis_csv_url + urlencode({**csv_query, "table": t}))}">{escape(t)}</a>'
        for t in KPI_TABLES
    )
    sessions_link = f"{escape(base_url)}api/v1/sessions.csv?{escape(urlencode(csv_query))}"
    daily_chart = bar_chart(
        [(d["day"], float(d["users"]), f"{d['day']}: {d['users']} users") for d in daily],
        vertical=True,
    )
    group_note = f"· group {escape(chosen)}" if chosen else ""
    options_html = "".join(options)
    days = round((report["until"] - report["since"]) / 86400, 2)
    notes = {name: change_note(kpis[name], days) for _, _, name in cards}
    if peak_at is not None:
        notes["peak_concurrent_servers"] = " · ".join(
            n for n in (f"at {iso_utc(peak_at)}", notes["peak_concurrent_servers"]) if n
        )
    cards_html = "".join(
        _card(title, shown, kpis[name]["explanation"], notes.get(name, ""))
        for title, shown, name in cards
    )
    presets = " · ".join(
        f'<a href="{escape(preset_url(base_url, report["until"], n, chosen))}">{n} days</a>'
        for n in (7, 30, 90, 365)
    )
    if chosen and value("active_users") == 0:
        group_note += f" · no sessions of group {escape(chosen)} in this window" + (
            "" if chosen in groups else " (no such group has reported)"
        )
    user_rows = value("cost_by_user")
    group_rows = value("cost_by_group")
    user_section = _usage_bars(user_rows, "user") + _usage_table(user_rows, "user")
    group_section = _usage_bars(group_rows, "group") + _usage_table(group_rows, "group")
    explain = {name: escape(kpis[name]["explanation"]) for name in kpis}
    months = "".join(
        f"<tr><td>{escape(row['month'])}</td><td>{row['users']}</td></tr>" for row in monthly
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>JupyterHub usage</title><style>{_STYLE}</style></head>
<body>
<h1>JupyterHub usage</h1>
<p class="muted">{escape(since_day)} to {escape(until_day)} (UTC days, both included)
{group_note} · signed in as {escape(viewer)} ·
<a href="{escape(hub_prefix.rstrip("/") + "/home")}">back to the hub</a> ·
<a href="{escape(hub_prefix.rstrip("/") + "/logout")}">log out</a></p>
<form method="get" action="{escape(base_url)}">
<label>From <input type="date" name="since" value="{escape(since_day)}"></label>
<label>Until <input type="date" name="until" value="{escape(until_day)}"></label>
<label>Group <select name="group">{options_html}</select></label>
<button type="submit">Show</button>
</form>
<p class="muted">Last {presets}</p>
<div class="cards">
{cards_html}
</div>
{coverage_section(report)}
{running_section(report)}
{budgets_section(report)}
{sizing_section(report)}
<h2>Daily active users</h2>
<p class="why">{explain["daily_active_users"]}</p>
{daily_chart}
<h2>Monthly active users</h2>
<table><tr><th>month</th><th>users</th></tr>{months}</table>
<h2>By user</h2>
<p class="why">{explain["cost_by_user"]}</p>
{user_section}
<h2>By group</h2>
<p class="why">{explain["cost_by_group"]}</p>
{group_section}
<h2>Export</h2>
<p>KPIs as CSV: {csv_links} · <a href="{sessions_link}">sessions</a></p>
</body></html>
"""


def coverage_section(report: Mapping[str, Any]) -> str:
    """Where the figures come from: servers with the extension, or known from the hub."""
    cover = report.get("coverage")
    if not cover or not cover["sessions"]:
        return ""
    hub_only = cover["sessions_from_hub_only"]
    share = cover["figures_share"]
    line = (
        f"{cover['sessions']:,} sessions: {cover['sessions_with_figures']:,} with resource "
        f"figures ({100 * share:.0f} %), {hub_only:,} known from the hub only."
    )
    if hub_only:
        line += " CPU, memory, GPU and cost cover only the sessions with figures."
    return (
        f'<p class="coverage">{escape(line)}</p><p class="why">{escape(cover["explanation"])}</p>'
    )


def running_section(report: Mapping[str, Any]) -> str:
    """Servers running now and when each last reported."""
    now = report.get("running")
    if not now:
        return ""
    rows = "".join(
        "<tr>"
        f"<td>{escape(s['user'])}</td><td>{escape(s['server_name'] or '(default)')}</td>"
        f"<td>{escape(iso_utc(s['started']) or NONE)}</td>"
        f"<td>{escape(iso_utc(s['last_report']) or NONE)}{' (stale)' if s['stale'] else ''}</td>"
        f"<td>{escape(s['source'])}</td>"
        "</tr>"
        for s in now["servers"]
    )
    if not rows:
        rows = '<tr><td colspan="5">No server is running.</td></tr>'
    return (
        f'<h2>Running now</h2><p class="why">{escape(now["explanation"])}</p>'
        "<table><tr><th>user</th><th>server</th><th>started (UTC)</th>"
        f"<th>last report (UTC)</th><th>known from</th></tr>{rows}</table>"
    )


def sizing_section(report: Mapping[str, Any]) -> str:
    """When servers run out, and how much of their memory limit users really use."""
    size = report.get("sizing")
    if not size or not size["sessions_with_figures"]:
        return ""
    weeks = (
        "".join(
            f"<tr><td>{escape(row['week'])}</td><td>{row['oom_kills']}</td></tr>"
            for row in size["oom_kills_by_week"]
        )
        or '<tr><td colspan="2">No OOM kill.</td></tr>'
    )
    profiles = (
        "".join(
            f"<tr><td>{escape(row['profile'])}</td><td>{row['sessions']}</td>"
            + "".join(f"<td>{_percent(row[p])}</td>" for p in ("p50", "p90", "p99"))
            + "</tr>"
            for row in size["peak_memory_to_limit_by_profile"]
        )
        or '<tr><td colspan="5">No session with a known memory limit.</td></tr>'
    )
    busiest = sorted(
        (row for row in size["throttled_share_by_hour_of_week"] if row["throttled_share"]),
        key=lambda row: -row["throttled_share"],
    )[:5]
    hours = (
        "".join(
            f"<tr><td>{_DAYS[row['hour_of_week'] // 24]} {row['hour_of_week'] % 24:02d}:00</td>"
            f"<td>{_percent(row['throttled_share'])}</td></tr>"
            for row in busiest
        )
        or '<tr><td colspan="2">No CPU throttling.</td></tr>'
    )
    return f"""<h2>Sizing</h2>
<p class="why">{escape(size["explanation"])}</p>
<p>{size["sessions_at_memory_limit"]:,} of {size["sessions_with_figures"]:,} sessions reached
their memory limit; {size["sessions_with_oom_kills"]:,} had a kernel or process OOM-killed.</p>
<table><tr><th>week (UTC)</th><th>OOM kills</th></tr>{weeks}</table>
<table><tr><th>hour of week (UTC)</th><th>time throttled</th></tr>{hours}</table>
<table><tr><th>profile</th><th>sessions</th><th>peak/limit p50</th><th>p90</th><th>p99</th></tr>
{profiles}</table>"""


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _percent(value: float | None) -> str:
    return NONE if value is None else f"{100 * value:.0f} %"


def render_message(title: str, message: str) -> str:
    """A small page for errors and refusals."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    )


def render_not_admin(user: str, why: str, *, hub_prefix: str, base_url: str) -> str:
    """What a signed-in user who may not read everyone's usage sees instead of a bare 403."""
    own = f"{base_url}api/v1/sessions.csv?{urlencode({'user': user})}"
    home = hub_prefix.rstrip("/") + "/home"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>JupyterHub usage</title><style>{_STYLE}</style></head><body>"
        f"<h1>JupyterHub usage</h1><p>Hello {escape(user)}. This report of everyone's usage "
        f"is for the hub's admins. {escape(why)}.</p>"
        f'<p>Your own usage: the Usage panel in JupyterLab, or <a href="{escape(own)}">your '
        f'sessions as CSV</a>. <a href="{escape(home)}">Back to the hub</a> · '
        f'<a href="{escape(hub_prefix.rstrip("/") + "/logout")}">Log out</a></p>'
        "</body></html>"
    )
