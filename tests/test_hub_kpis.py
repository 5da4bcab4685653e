"""KPIs of the hub history service, over hand-built sessions with known answers."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from support.kpi_reference import (
    compute_kpis,
    daily_active_users,
    monthly_active_users,
    peak_concurrency,
    regular_users,
    usage_by_group,
    usage_by_user,
)

from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.hub.kpis.model import percentile
from jupyter_usage.hub.periods import DAY_SECONDS, day_starts

HOUR = 3600.0
# Monday 2 November 2026, midnight UTC.
T0 = datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()


def session(
    user: str,
    start_hours: float,
    hours: float,
    *,
    groups: tuple[str, ...] = (),
    cost: float | None = None,
    currency: str | None = "USD",
    ended: bool = True,
    cpu_core_seconds: float = 0.0,
    server_name: str = "",
) -> KpiSession:
    started = T0 + start_hours * HOUR
    return KpiSession(
        user=user,
        started=started,
        end=started + hours * HOUR,
        ended=ended,
        server_name=server_name,
        groups=groups,
        cost_total=cost,
        currency=currency,
        totals={"cpu_core_seconds": cpu_core_seconds, "memory_byte_seconds": 2.0 * hours * HOUR},
    )


def kpis_of(sessions: list[KpiSession], days: float, **kwargs: Any) -> dict[str, Any]:
    report = compute_kpis(sessions, since=T0, until=T0 + days * DAY_SECONDS, **kwargs)
    return {name: item["value"] for name, item in report["kpis"].items()} | {"_report": report}


# -- overlap and proration -------------------------------------------------------------


def test_overlap_clips_to_the_window_and_prorates() -> None:
    s = session("a", -2, 4)  # 22:00 the day before until 02:00
    assert s.overlap(T0, T0 + DAY_SECONDS) == (T0, T0 + 2 * HOUR)
    assert s.fraction_in(T0, T0 + DAY_SECONDS) == pytest.approx(0.5)
    assert s.overlap(T0 + 3 * HOUR, T0 + DAY_SECONDS) is None
    assert s.fraction_in(T0 + 3 * HOUR, T0 + DAY_SECONDS) == 0.0


def test_an_instant_counts_where_it_happened_only() -> None:
    s = session("a", 1, 0)
    assert s.overlap(T0, T0 + HOUR * 2) == (T0 + HOUR, T0 + HOUR)
    assert s.fraction_in(T0, T0 + 2 * HOUR) == 1.0
    assert s.overlap(T0 + 2 * HOUR, T0 + 3 * HOUR) is None
    # The window is half-open: an instant at `until` is outside it.
    assert s.overlap(T0, T0 + HOUR) is None


def test_day_starts_cover_partial_days() -> None:
    assert day_starts(T0 + HOUR, T0 + DAY_SECONDS + HOUR) == [T0, T0 + DAY_SECONDS]
    assert day_starts(T0, T0 + DAY_SECONDS) == [T0]
    assert day_starts(T0, T0) == []


# -- active users ------------------------------------------------------------------------


def test_daily_active_users_counts_each_user_once_per_day() -> None:
    sessions = [
        session("alice", 1, 1),
        session("alice", 5, 1),  # same user, same day: once
        session("bob", 23, 2),  # across midnight: both days
        session("carol", 24 + 22, 2),  # ends exactly at midnight of day 3: day 2 only
    ]
    daily = daily_active_users(sessions, T0, T0 + 3 * DAY_SECONDS)
    assert daily == [
        {"day": "2026-11-02", "users": 2},
        {"day": "2026-11-03", "users": 2},
        {"day": "2026-11-04", "users": 0},
    ]


def test_monthly_active_users_splits_a_session_across_months() -> None:
    # 30 November 2026 22:00 to 1 December 02:00.
    start_hours = 28 * 24 + 22
    sessions = [session("alice", start_hours, 4), session("bob", 2, 1)]
    monthly = monthly_active_users(sessions, T0, T0 + 40 * DAY_SECONDS)
    assert monthly == [{"month": "2026-11", "users": 2}, {"month": "2026-12", "users": 1}]


def test_dau_is_the_mean_over_the_days_of_the_window() -> None:
    sessions = [session("alice", 1, 1), session("bob", 2, 1), session("alice", 25, 1)]
    values = kpis_of(sessions, 2)
    assert values["dau"] == pytest.approx(1.5)
    assert values["active_users"] == 2


def test_wau_and_mau_look_back_from_until() -> None:
    until_days = 40
    sessions = [
        session("recent", (until_days - 1) * 24, 1),  # 1 day before until
        session("fortnight", (until_days - 10) * 24, 1),  # in MAU, not WAU
        session("old", (until_days - 31) * 24, 1),  # outside both
    ]
    values = kpis_of(sessions, until_days)
    assert values["wau"] == 1
    assert values["mau"] == 2
    assert values["active_users"] == 3


def test_stickiness_is_dau_over_mau_of_the_last_30_days() -> None:
    daily = [session("daily", day * 24 + 9, 1) for day in range(30)]
    assert kpis_of(daily, 30)["stickiness_percent"] == pytest.approx(100.0)
    once = [*daily, session("once", 12, 1)]
    # DAU over 30 days = (30 + 1) / 30, MAU = 2.
    assert kpis_of(once, 30)["stickiness_percent"] == pytest.approx(100 * (31 / 30) / 2, abs=0.01)
    assert kpis_of([], 30)["stickiness_percent"] is None


# -- regular users -------------------------------------------------------------------------


def test_regular_users_average_the_threshold_per_week() -> None:
    two_weeks = T0 + 14 * DAY_SECONDS
    sessions = [
        session("alice", 10, 8),
        session("alice", 24 * 9, 8),  # 16 h in two weeks: 8 h/week
        session("bob", 10, 15.9),  # just short
        session("carol", 10, 10, server_name="a"),
        session("carol", 10, 6, server_name="b"),  # named servers add up: 16 h
    ]
    assert regular_users(sessions, T0, two_weeks, 8 * HOUR) == ["alice", "carol"]


def test_a_window_shorter_than_a_week_counts_as_a_week() -> None:
    sessions = [session("alice", 1, 8), session("bob", 1, 7.5)]
    assert regular_users(sessions, T0, T0 + DAY_SECONDS, 8 * HOUR) == ["alice"]


def test_regular_users_count_only_time_inside_the_window() -> None:
    sessions = [session("alice", -10, 12)]  # only 2 h inside
    assert regular_users(sessions, T0, T0 + 7 * DAY_SECONDS, 2 * HOUR) == ["alice"]
    assert regular_users(sessions, T0, T0 + 7 * DAY_SECONDS, 2.1 * HOUR) == []


def test_regular_threshold_is_configurable() -> None:
    sessions = [session("alice", 1, 3)]
    assert kpis_of(sessions, 7, regular_seconds_per_week=2 * HOUR)["regular_users"] == 1
    assert kpis_of(sessions, 7)["regular_users"] == 0


# -- sessions and their lengths ------------------------------------------------------------


def test_percentile_interpolates_linearly() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 0.5) == 30.0
    assert percentile([50.0, 10.0, 40.0, 20.0, 30.0], 0.9) == pytest.approx(46.0)


def test_session_count_and_lengths() -> None:
    minutes = [10, 20, 30, 40, 50]
    sessions = [session("alice", i * 2, m / 60) for i, m in enumerate(minutes)]
    sessions.append(session("bob", 1, 5, ended=False))  # running: counted, no length yet
    sessions.append(session("carol", -30, 2))  # started before the window
    values = kpis_of(sessions, 1)
    assert values["sessions"] == 6
    assert values["median_session_seconds"] == pytest.approx(30 * 60)
    assert values["p90_session_seconds"] == pytest.approx(46 * 60)


# -- concurrency ---------------------------------------------------------------------------


def test_peak_concurrency_and_when() -> None:
    sessions = [
        session("a", 0, 4),
        session("b", 1, 1),  # 1-2
        session("c", 1.5, 2),  # 1.5-3.5: a, b, c at 1.5
        session("d", 2, 1),  # starts as b ends: still 3, not 4
    ]
    assert peak_concurrency(sessions, T0, T0 + DAY_SECONDS) == (3, T0 + 1.5 * HOUR)


def test_back_to_back_sessions_do_not_overlap() -> None:
    sessions = [session("a", 0, 1), session("a", 1, 1)]
    assert peak_concurrency(sessions, T0, T0 + DAY_SECONDS) == (1, T0)


def test_peak_concurrency_counts_only_inside_the_window() -> None:
    sessions = [session("a", -5, 4), session("b", -4, 2), session("c", 1, 1)]
    assert peak_concurrency(sessions, T0, T0 + DAY_SECONDS) == (1, T0 + HOUR)
    assert peak_concurrency([], T0, T0 + DAY_SECONDS) == (0, None)


# -- resources and cost --------------------------------------------------------------------


def test_resources_and_cost_are_prorated_at_the_edges() -> None:
    sessions = [session("alice", -5, 10, cost=10.0, cpu_core_seconds=1000.0)]
    values = kpis_of(sessions, 1)
    assert values["server_seconds"] == pytest.approx(5 * HOUR)
    assert values["cpu_core_seconds"] == pytest.approx(500.0)
    assert values["memory_byte_seconds"] == pytest.approx(2.0 * 5 * HOUR)
    assert values["cost"] == {"USD": pytest.approx(5.0)}
    # Started before the window: not one of its sessions.
    assert values["sessions"] == 0


def test_cost_by_user_and_group() -> None:
    sessions = [
        session("alice", 1, 2, groups=("physics",), cost=4.0),
        session("alice", 5, 1, groups=("physics",), cost=2.0),
        session("bob", 1, 3, groups=("biology", "physics"), cost=1.5),
        session("carol", 1, 1, cost=0.5),
    ]
    by_user = usage_by_user(sessions, T0, T0 + DAY_SECONDS)
    assert [(row["user"], row["cost"], row["sessions"]) for row in by_user] == [
        ("alice", {"USD": 6.0}, 2),
        ("bob", {"USD": 1.5}, 1),
        ("carol", {"USD": 0.5}, 1),
    ]
    assert by_user[0]["server_seconds"] == pytest.approx(3 * HOUR)
    assert by_user[1]["groups"] == ["biology", "physics"]
    by_group = {row["group"]: row for row in usage_by_group(sessions, T0, T0 + DAY_SECONDS)}
    assert by_group["physics"]["cost"] == {"USD": 7.5}
    assert by_group["physics"]["users"] == 2
    assert by_group["biology"]["cost"] == {"USD": 1.5}
    assert by_group[None]["cost"] == {"USD": 0.5}  # users in no group
    assert by_group[None]["users"] == 1


def test_currencies_are_kept_apart_and_unknown_costs_skipped() -> None:
    sessions = [
        session("alice", 1, 1, cost=2.0, currency="EUR"),
        session("bob", 1, 1, cost=3.0, currency="USD"),
        session("carol", 1, 1, cost=None),
    ]
    assert kpis_of(sessions, 1)["cost"] == {"EUR": 2.0, "USD": 3.0}


def test_group_filter_keeps_only_that_groups_users() -> None:
    sessions = [
        session("alice", 1, 2, groups=("physics",), cost=4.0),
        session("bob", 3, 2, groups=("biology",), cost=1.0),
    ]
    values = kpis_of(sessions, 1, group="physics")
    assert values["active_users"] == 1
    assert values["sessions"] == 1
    assert values["cost"] == {"USD": 4.0}
    assert values["_report"]["group"] == "physics"
    assert kpis_of(sessions, 1, group="nobody")["active_users"] == 0


# -- the report as a whole -----------------------------------------------------------------


def test_every_kpi_explains_itself_in_one_line() -> None:
    report = compute_kpis([session("alice", 1, 1)], since=T0, until=T0 + DAY_SECONDS)
    assert len(report["kpis"]) >= 18
    for name, item in report["kpis"].items():
        assert set(item) >= {"value", "explanation"}, name
        assert item["explanation"].strip(), name
        assert "\n" not in item["explanation"], name


def test_an_empty_window_gives_zeros_not_errors() -> None:
    values = kpis_of([], 7)
    assert values["active_users"] == 0
    assert values["dau"] == 0
    assert values["median_session_seconds"] is None
    assert values["peak_concurrent_servers"] == 0
    assert values["cost_by_user"] == []
    assert len(values["daily_active_users"]) == 7


def test_until_must_follow_since() -> None:
    with pytest.raises(ValueError, match="later than since"):
        compute_kpis([], since=T0, until=T0)
