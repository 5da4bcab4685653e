"""The report page's Budgets section: who is near or over a budget, and refused spawns."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from jupyter_usage.records import iso_utc

from .budget_enforcer import fill
from .budget_rules import describe_amount, describe_period

NEAR_SHARE = 0.8
"""From this share of its limit on, a budget is listed as near."""


def budgets_section(report: Mapping[str, Any]) -> str:
    """`report["budgets"]`: `{"users": {user: [budget entries]}, "refused": {"total",
    "by_scope", "by_user"}, "enforcement"}`; nothing when no budget is configured."""
    budgets = report.get("budgets")
    if not budgets:
        return ""
    users: Mapping[str, list[Mapping[str, Any]]] = budgets["users"]
    listed = sorted(
        (
            (user, entry)
            for user, entries in users.items()
            for entry in entries
            if entry["exhausted"] or fill(entry) >= NEAR_SHARE
        ),
        key=lambda item: (-fill(item[1]), item[0]),
    )
    over = {user for user, entry in listed if entry["exhausted"]}
    near = {user for user, _ in listed} - over
    refused = budgets["refused"]
    by_scope = ", ".join(
        f"{escape(scope)}: {count}" for scope, count in sorted(refused["by_scope"].items())
    )
    rows = "".join(_row(user, entry, refused["by_user"].get(user, 0)) for user, entry in listed)
    if not rows:
        rows = '<tr><td colspan="7">No user is near a budget.</td></tr>'
    return f"""<h2>Budgets</h2>
<p class="why">Use of each budget in its current period, from the sessions that overlap it
(a running session by its latest report). Listed from {100 * NEAR_SHARE:.0f} % of the limit.
Enforcement: {escape(str(budgets["enforcement"]))}.</p>
<p>{len(users):,} users with a budget and a session this period: {len(near):,} near,
{len(over):,} over. Spawns refused since the service started: {refused["total"]:,}{
        f" ({by_scope})" if by_scope else ""
    }.</p>
<table><tr><th>user</th><th>budget</th><th>period</th><th>used</th><th>limit</th>
<th>state</th><th>spawns refused</th></tr>{rows}</table>"""


def _row(user: str, entry: Mapping[str, Any], refused: int) -> str:
    state = f"over, frees up {iso_utc(entry['resets_at'])}" if entry["exhausted"] else "near"
    if entry.get("stop_at"):
        state += f", servers stop {iso_utc(entry['stop_at'])}"
    return (
        f"<tr><td>{escape(user)}</td><td>{escape(entry['scope'])}</td>"
        f"<td>{escape(describe_period(entry['period']))}</td>"
        f"<td>{escape(describe_amount(float(entry['used']), entry))} "
        f"({100 * fill(entry):.0f} %)</td>"
        f"<td>{escape(describe_amount(float(entry['limit']), entry))}</td>"
        f"<td>{escape(state)}</td><td>{refused}</td></tr>"
    )
