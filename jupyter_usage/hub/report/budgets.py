"""The report page's Budgets section (templates/sections/budgets.html): who is near or
over a budget, fullest first, and the spawns the hub refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jupyter_usage.hub.budgets.rules import describe_amount, describe_period

from .formatting import format_time

NEAR_SHARE = 0.8
"""From this share of its limit on, a budget is listed as near."""


def budgets_view(
    budgets: Mapping[str, Any] | None,
    *,
    zone: str = "UTC",
    members: set[str] | None = None,
    group: str | None = None,
) -> dict[str, Any] | None:
    """What the section shows, from `UsageService.budget_overview()`: `{"users": {user:
    [budget entries]}, "refused": {"total", "by_scope", "by_user"}, "enforcement"}`;
    None (no section) when no budget is configured. Times are written in `zone` (the
    refusal's format); a group's page (`group`, whose users are `members`) counts only
    them, and the refusals of their own and their group's budgets."""
    if not budgets:
        return None
    users: Mapping[str, list[Mapping[str, Any]]] = budgets["users"]
    refused = budgets["refused"]
    by_user: Mapping[str, int] = refused["by_user"]
    by_scope: Mapping[str, int] = refused["by_scope"]
    total = refused["total"]
    if members is not None:
        users = {user: entries for user, entries in users.items() if user in members}
        by_user = {user: count for user, count in by_user.items() if user in members}
        scopes = {f"group:{group}"} | {f"user:{user}" for user in members}
        by_scope = {scope: count for scope, count in by_scope.items() if scope in scopes}
        total = sum(by_user.values())
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
    return {
        "enforcement": budgets["enforcement"],
        "near_percent": round(100 * NEAR_SHARE),
        "users": len(users),
        "near": len({user for user, _ in listed} - over),
        "over": len(over),
        "refused_total": total,
        "refused_by_scope": sorted(by_scope.items()),
        "rows": [_row(user, entry, by_user.get(user, 0), zone) for user, entry in listed],
    }


def _row(user: str, entry: Mapping[str, Any], refused: int, zone: str) -> dict[str, Any]:
    frees = format_time(float(entry["resets_at"]), zone)
    state = f"over, frees up {frees}" if entry["exhausted"] else "near"
    if entry.get("stop_at"):
        state += f", servers stop {format_time(float(entry['stop_at']), zone)}"
    return {
        "user": user,
        "scope": entry["scope"],
        "period": describe_period(entry["period"]),
        "used": describe_amount(float(entry["used"]), entry),
        "percent": f"{100 * fill(entry):.0f} %",
        "limit": describe_amount(float(entry["limit"]), entry),
        "state": state,
        "over": bool(entry["exhausted"]),
        "refused": refused,
    }


def fill(entry: Mapping[str, Any]) -> float:
    """How full a budget is: its use over its limit (infinite for a limit of 0)."""
    limit = float(entry["limit"])
    return float("inf") if limit <= 0 else float(entry["used"]) / limit
