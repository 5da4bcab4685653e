"""The UTC calendar every part of the hub service counts in: hours, days, weeks and
months as unix seconds, and the day and month names the API and the report show.

Days and months are UTC whatever the hub's time zone, so that a day's figures are the same
for every reader; budgets, which reset at local midnight, keep their own zone, and a time
people read (a budget's reset, a peak's moment) is written in that zone (`zone_time`).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo

HOUR_SECONDS = 3600.0
DAY_SECONDS = 86400.0
WEEK_SECONDS = 7 * DAY_SECONDS
WEEK_HOURS = 168
MONDAY_EPOCH = 4 * DAY_SECONDS
"""1970-01-05, the first Monday after the epoch: weeks counted from it start on Mondays."""


def utc_day(time: float) -> str:
    """`2026-11-30`: the UTC day of `time`."""
    return datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m-%d")


def utc_month(time: float) -> str:
    """`2026-11`: the UTC month of `time`."""
    return datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m")


def zone_time(time: float, zone_name: str = "UTC") -> str:
    """`2026-11-30 15:05 CET`: `time` in the hub's time zone, as the report and the spawn
    refusal write it (`UTC` when the zone is unknown)."""
    try:
        zone: tzinfo = ZoneInfo(zone_name)
    except (ValueError, KeyError, OSError):  # not a zone name, not installed, a folder
        zone = timezone.utc
    return datetime.fromtimestamp(time, zone).strftime("%Y-%m-%d %H:%M %Z")


def day_start(day: str) -> float:
    """Unix seconds of a UTC day's midnight, from `2026-11-30`."""
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()


def hour_of(time: float) -> float:
    """The start of the hour of `time`."""
    return math.floor(time / HOUR_SECONDS) * HOUR_SECONDS


def day_of(time: float) -> float:
    """The start of the UTC day of `time`."""
    return math.floor(time / DAY_SECONDS) * DAY_SECONDS


def week_of(time: float) -> float:
    """The start of the ISO week (Monday, UTC) of `time`; 1970-01-01 was a Thursday."""
    day = day_of(time)
    return day - ((day // DAY_SECONDS + 3) % 7) * DAY_SECONDS


def day_starts(since: float, until: float) -> list[float]:
    """Starts of the UTC days that intersect `[since, until)`."""
    if until <= since:
        return []
    first = day_of(since)
    return [first + i * DAY_SECONDS for i in range(math.ceil((until - first) / DAY_SECONDS))]


def month_of(time: float) -> float:
    """The start of the UTC calendar month of `time`."""
    moment = datetime.fromtimestamp(time, timezone.utc)
    return datetime(moment.year, moment.month, 1, tzinfo=timezone.utc).timestamp()


def next_month(month: float) -> float:
    """The start of the month after the one starting at `month`."""
    return month_of(month + 32 * DAY_SECONDS)
