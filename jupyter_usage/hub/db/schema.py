"""Every table of the service's database, on one MetaData (`Base.metadata`).

The sessions as their servers last reported them, with the columns SQL reads instead of
their JSON; the rollups per user and UTC day, ISO week and month, and the users of each
day (rollups.py keeps them); the peak concurrency per hour (concurrency.py); the groups
of each session; the spawns refused over a budget; the allocations the hub's spawn hook
recorded and the reports that claimed more; the periods the service watched the hub and
what it noticed in users' reports; the schema version. migrations.py creates
and alters them, one version after another; nothing else does DDL.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from jupyter_usage.records import LIMITS_KEY, RESOURCE_TOTALS

MAX_NAME_LENGTH = 255
MAX_ID_LENGTH = 200
SOURCE_KEY = "source"
HUB_SOURCE = "hub"
"""`meta.source` of a session known from the hub alone (its server has no extension)."""
CONFIRMED = "confirmed"
UNCONFIRMED = "unconfirmed"
"""`hub_check` of a session the hub's record shows, or does not (intake/hub_check.py)."""


class Base(DeclarativeBase):
    pass


metadata = Base.metadata


class SessionRow(Base):
    """One server session of one user, as its server last reported it."""

    __tablename__ = "usage_sessions"
    __table_args__ = (
        UniqueConstraint("user_name", "session_id", name="usage_sessions_user_session"),
        Index("usage_sessions_started", "started"),
        # Session lengths in order, for the percentiles, without reading the rows (the
        # hub's check too: the KPIs leave out the sessions it found unconfirmed).
        Index("usage_sessions_lengths", "duration_seconds", "started", "ended", "hub_check"),
        # The running sessions (`ended` NULL) without a scan of every session.
        Index("usage_sessions_ended", "ended"),
        # Sessions overlapping a window, counted by source and by sizing's memory figures
        # from the index alone: a session's row is ~1 KiB of JSON, its entry here 40 bytes
        # (and the sessions seen since a time: it replaces an index on last_seen alone).
        Index(
            "usage_sessions_window_figures",
            "last_seen",
            "started",
            "from_hub",
            "oom_kills",
            "memory_near_limit_seconds",
        ),
        # Each profile's peak memory to limit in order, for sizing's percentiles: an
        # offset into one profile's entries, without reading rows.
        Index(
            "usage_sessions_profile_ratios",
            "profile",
            "memory_peak_ratio",
            "last_seen",
            "started",
            "from_hub",
        ),
        # Coverage's counts of the sessions checked against the hub, as a range of entries.
        Index("usage_sessions_hub_check", "hub_check", "last_seen", "started"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column("user_name", String(MAX_NAME_LENGTH))
    session_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    server_name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), default="")
    started: Mapped[float] = mapped_column(Float)
    ended: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_checkpoint: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_seen: Mapped[float] = mapped_column(Float)
    """`ended`, else `last_checkpoint`, else `started`: the end of the known activity."""
    ended_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duration_seconds: Mapped[float] = mapped_column(Float)
    groups: Mapped[list[str]] = mapped_column(JSON)
    profile: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH), nullable=True)
    cost_total: Mapped[float | None] = mapped_column(Float, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(16), nullable=True)
    totals: Mapped[dict[str, Any]] = mapped_column(JSON)
    cost: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    from_hub: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """`meta.source` is the hub's: a session without the extension's figures."""
    # Sizing's figures, copied out of `totals` and `meta.limits` so that SQL reads them.
    oom_kills: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_near_limit_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_throttled_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_peak_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    """`totals.peak_memory_bytes` over `meta.limits.memory_limit_bytes`."""
    report_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """SHA-256 of the stored report: tells "the same report again" from "a different one
    of the same moment" inside the UPDATE's WHERE (PostgreSQL's `json` has no `=`)."""
    hub_check: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """`confirmed` or `unconfirmed` by the hub's record (intake/hub_check.py); NULL
    unchecked."""

    def to_json(self) -> dict[str, Any]:
        """The record as the single-user store shows it, plus `received_at`."""
        return {
            "id": self.session_id,
            "user": self.user,
            "server_name": self.server_name,
            "started": self.started,
            "ended": self.ended,
            "ended_by": self.ended_by,
            "last_checkpoint": self.last_checkpoint,
            "duration_seconds": self.duration_seconds,
            "totals": self.totals,
            "cost": self.cost,
            "summary": self.summary,
            "meta": {**self.meta, "groups": list(self.groups), "profile": self.profile},
            "received_at": self.received_at,
        }


class SchemaVersion(Base):
    __tablename__ = "usage_schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)


# -- rollups (rollups.py) ------------------------------------------------------------

# Day before user: a window reads a range of days of one scope.
ROLLUP_KEY = ("filter_group", "grouping", "group_name", "day", "user_name")


# On SQLite the rows are stored in key order (no rowid): a window's rows of one scope are
# then read in one sweep, not looked up one by one from the key's index.
_CLUSTERED: dict[str, Any] = {"sqlite_with_rowid": False}


def _key_columns() -> list[Column[Any]]:
    return [
        Column("filter_group", String(255), nullable=False),
        Column("grouping", Integer, nullable=False),
        Column("group_name", String(255), nullable=False),
        Column("day", Float, nullable=False),
        Column("user_name", String(255), nullable=False),
    ]


def _totals(name: str) -> Table:
    """A table of sessions, server-seconds and resource totals per key."""
    return Table(
        name,
        metadata,
        *_key_columns(),
        Column("sessions", Integer, nullable=False),
        Column("server_seconds", Float, nullable=False),
        *(Column(column, Float, nullable=False) for column in RESOURCE_TOTALS),
        PrimaryKeyConstraint(*ROLLUP_KEY, name=f"{name}_key"),
        # A refresh replaces one user's days.
        Index(f"{name}_user", "user_name", "day"),
        **_CLUSTERED,
    )


def _costs(name: str) -> Table:
    """A table of the amounts per key and currency."""
    return Table(
        name,
        metadata,
        *_key_columns(),
        Column("currency", String(16), nullable=False),
        Column("amount", Float, nullable=False),
        PrimaryKeyConstraint(*ROLLUP_KEY, "currency", name=f"{name}_key"),
        Index(f"{name}_user", "user_name", "day"),
        **_CLUSTERED,
    )


user_days = _totals("usage_rollup_days")
user_day_costs = _costs("usage_rollup_costs")
# `day`: the month's first day.
user_months = _totals("usage_rollup_months")
user_month_costs = _costs("usage_rollup_month_costs")
# `day`: the Monday the ISO week starts on.
user_weeks = _totals("usage_rollup_weeks")
user_week_costs = _costs("usage_rollup_week_costs")

day_users = Table(
    "usage_rollup_day_users",
    metadata,
    Column("filter_group", String(255), nullable=False),
    Column("day", Float, nullable=False),
    Column("users", Integer, nullable=False),
    PrimaryKeyConstraint("filter_group", "day", name="usage_rollup_day_users_key"),
    **_CLUSTERED,
)
"""Distinct users of each scope on each UTC day: the scope's total rows of `user_days`
counted, so that daily active users read one row per day, not one per user and day.
A refresh adds to each count the change it made to its users' rows, which it holds the
lock of (see rollups.py's `_lock_users`), so the counts move with the rows they count."""

session_groups = Table(
    "usage_session_groups",
    metadata,
    Column("session_pk", Integer, nullable=False),
    Column("group_name", String(255), nullable=False),
    PrimaryKeyConstraint("session_pk", "group_name", name="usage_session_groups_key"),
)
"""Groups of each session, one per row: SQL filters on them, JSON columns are not portable."""

ROLLUP_TABLES = (
    user_days,
    user_day_costs,
    user_months,
    user_month_costs,
    user_weeks,
    user_week_costs,
    day_users,
    session_groups,
)


# -- peak concurrency per hour (concurrency.py) -----------------------------------------

hour_peaks = Table(
    "usage_concurrency_hours",
    metadata,
    Column("filter_group", String(255), nullable=False),
    Column("hour", Float, nullable=False),
    Column("peak", Integer, nullable=False),
    Column("peak_at", Float, nullable=False),
    # Sizing's CPU pressure: the seconds of sessions with a throttling figure inside the
    # hour, and the part of their throttling that falls in it (spread evenly).
    Column("figure_seconds", Float, nullable=False, server_default="0"),
    Column("throttled_seconds", Float, nullable=False, server_default="0"),
    PrimaryKeyConstraint("filter_group", "hour", name="usage_concurrency_hours_key"),
)


CONCURRENCY_TABLES = (hour_peaks,)


# -- spawns refused over a budget (budgets/refusals.py) --------------------------------

MAX_SCOPE_LENGTH = MAX_NAME_LENGTH + len("group:")
MAX_MESSAGE_LENGTH = 2000
refusals = Table(
    "usage_budget_refusals",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("user_name", String(MAX_NAME_LENGTH), nullable=False),
    Column("scope", String(MAX_SCOPE_LENGTH), nullable=False),
    Column("refused_at", Float, nullable=False),
    Column("message", String(MAX_MESSAGE_LENGTH), nullable=True),
    Index("usage_budget_refusals_refused_at", "refused_at"),
)


REFUSAL_TABLES = (refusals,)


# -- what the hub's spawn hook says each server was given (allocation_records.py) -------

allocations = Table(
    "usage_allocations",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("user_name", String(255), nullable=False),
    Column("server_name", String(255), nullable=False),
    Column("recorded_at", Float, nullable=False),
    Column("allocation", Text, nullable=False),
    Index("usage_allocations_server", "user_name", "server_name", "recorded_at"),
)

over_allocation = Table(
    "usage_over_allocation",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("user_name", String(255), nullable=False),
    Column("session_id", String(200), nullable=False),
    Column("at", Float, nullable=False),
    Column("figures", String(255), nullable=False),
    Index("usage_over_allocation_at", "at", "user_name"),
)
"""One row per report that claimed more than its allocation allows (its figures clipped)."""


ALLOCATION_TABLES = (allocations, over_allocation)


# -- the periods the service watched the hub (watch_periods.py) ------------------------

watch_periods = Table(
    "usage_hub_watch",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("started", Float, nullable=False),
    Column("ended", Float, nullable=False),
    Index("usage_hub_watch_ended", "ended"),
)


# -- what the service noticed in users' reports (report_flags.py) -----------------------

report_flags = Table(
    "usage_report_flags",
    metadata,
    Column("user_name", String(MAX_NAME_LENGTH), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("count", Integer, nullable=False),
    Column("latest", Float, nullable=False),
    PrimaryKeyConstraint("user_name", "kind", name="usage_report_flags_pk"),
)


REPORT_CHECK_TABLES = (watch_periods, report_flags)


# -- columns derived from a report ------------------------------------------------------

DERIVED_COLUMNS = (
    "from_hub",
    "oom_kills",
    "memory_near_limit_seconds",
    "cpu_throttled_seconds",
    "memory_peak_ratio",
)
"""Columns copied out of a report's `totals` and `meta` (see `derived_values`)."""


def derived_values(totals: Any, meta: Any) -> dict[str, Any]:
    """The columns SQL reads instead of the JSON of `totals` and `meta`."""
    totals = totals if isinstance(totals, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    limits = meta.get(LIMITS_KEY)
    peak = _number(totals.get("peak_memory_bytes"))
    limit = _number(limits.get("memory_limit_bytes")) if isinstance(limits, dict) else None
    return {
        "from_hub": meta.get(SOURCE_KEY) == HUB_SOURCE,
        "oom_kills": _number(totals.get("oom_kills")),
        "memory_near_limit_seconds": _number(totals.get("memory_near_limit_seconds")),
        "cpu_throttled_seconds": _number(totals.get("cpu_throttled_seconds")),
        "memory_peak_ratio": peak / limit if peak is not None and limit else None,
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
