"""The admin report page: server-rendered HTML, tables and inline SVG bars, no script.

Everything that comes from users or groups is escaped; numbers are formatted here and
only here, for humans (the API keeps SI base units).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from jupyter_usage.records import iso_utc

from .export import KPI_TABLES

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
        ("CPU", f"{value('cpu_core_seconds') / 3600:,.1f} core-h", "cpu_core_seconds"),
        (
            "Memory",
            f"{value('memory_byte_seconds') / GIB / 3600:,.1f} GiB-h",
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
    notes = {"peak_concurrent_servers": f"at {iso_utc(peak_at)}" if peak_at is not None else ""}
    cards_html = "".join(
        _card(title, shown, kpis[name]["explanation"], notes.get(name, ""))
        for title, shown, name in cards
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
{group_note} · signed in as {escape(viewer)}</p>
<form method="get" action="{escape(base_url)}">
<label>From <input type="date" name="since" value="{escape(since_day)}"></label>
<label>Until <input type="date" name="until" value="{escape(until_day)}"></label>
<label>Group <select name="group">{options_html}</select></label>
<button type="submit">Show</button>
</form>
<div class="cards">
{cards_html}
</div>
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


def render_message(title: str, message: str) -> str:
    """A small page for errors and refusals."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    )
