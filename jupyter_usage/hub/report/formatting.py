"""Numbers for humans, as the report page shows them (the API keeps SI base units).

Precision follows the value: three significant digits at least (`significant`), and
money as the budget texts write it too (jupyter_usage.currencies.format_money).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from jupyter_usage.currencies import format_money as money
from jupyter_usage.currencies import significant as significant
from jupyter_usage.hub.periods import zone_time

GIB = 1024**3
NONE = "\N{EN DASH}"
"""Shown where a figure is unknown."""


def format_amount(value: float | None, unit: str) -> str:
    if value is None:
        return NONE
    return f"{significant(value)} {unit}".strip()


def format_hours(seconds: float | None) -> str:
    """Server time: hours, or minutes below a tenth of an hour."""
    if seconds is None:
        return NONE
    if seconds == 0:
        return "0 h"
    if seconds < 360:
        return f"{significant(seconds / 60)} min"
    return f"{significant(seconds / 3600)} h"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    minutes = round(seconds / 60)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def format_money_amount(amount: float | None, currency: str | None) -> str:
    return NONE if amount is None else money(amount, currency)


def format_money(amounts: Mapping[str, float] | None) -> str:
    if not amounts:
        return NONE
    return ", ".join(format_money_amount(amount, currency) for currency, amount in amounts.items())


def format_bytes(value: float | None) -> str:
    if value is None:
        return NONE
    for unit, size in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(value) >= size:
            return f"{significant(value / size)} {unit}"
    return f"{value:.0f} B"


def format_percent(share: float | None) -> str:
    """A share (0 … 1) as a percentage."""
    if share is None:
        return NONE
    percent = 100 * share
    return f"{significant(percent, 2) if 0 < percent < 1 else f'{percent:.0f}'} %"


def format_change(change_percent: float | None, days: float) -> str:
    """'+12 % vs the previous 30 days'."""
    if change_percent is None:
        return ""
    period = "day" if days == 1 else f"{days:g} days"
    return f"{change_percent:+g} % vs the previous {period}"


def format_utc(time: float | None, *, seconds: bool = False) -> str:
    """`2026-11-30 14:05 UTC`."""
    if time is None:
        return NONE
    shape = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return datetime.fromtimestamp(time, timezone.utc).strftime(shape) + " UTC"


def format_time(time: float | None, zone_name: str = "UTC") -> str:
    """`2026-11-30 15:05 CET`: a time in the hub's time zone (periods.zone_time), as every
    text of the report and the spawn refusal write it; a dash when unknown."""
    return NONE if time is None else zone_time(time, zone_name)
