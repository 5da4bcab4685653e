"""Budgets: configuration, which budgets apply, periods across their resets, and use."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.server_process import free_port
from tornado import web
from traitlets.config import Config

from jupyter_usage.hub.budgets import chain_hooks, refuse_over_budget
from jupyter_usage.hub.budgets.enforcer import BudgetEnforcer
from jupyter_usage.hub.budgets.rules import (
    BudgetConfigError,
    applicable,
    calendar_bounds,
    evaluate,
    parse_budgets,
    refusal_message,
)
from jupyter_usage.hub.budgets.use import budgets_of, everyone_budgets
from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.hub.db.storage import SessionInput, UsageDB
from jupyter_usage.hub.report.budgets import budgets_view
from jupyter_usage.hub.report.page import _env as report_templates
from jupyter_usage.hubclient import HubClient

UTC = timezone.utc
HOUR = 3600.0
DAY = 86400.0


def at(text: str, zone: Any = UTC) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def session(start: float, hours: float, **totals: float) -> KpiSession:
    cost = totals.pop("cost", None)
    return KpiSession(
        user="ada",
        started=start,
        end=start + hours * HOUR,
        cost_total=cost,
        currency="EUR" if cost is not None else None,
        totals=totals,
    )


def entries_at(now: float, budgets: list[dict[str, Any]], sessions: list[KpiSession]) -> Any:
    chosen = applicable(parse_budgets(budgets), "ada", ["students"], "most_specific")
    return evaluate(chosen, lambda _b, _s, _u: sessions, now, UTC, "spawn")


# -- configuration -------------------------------------------------------------------------


def test_a_budget_with_every_limit_parses_to_base_units() -> None:
    [budget] = parse_budgets(
        [
            {
                "group": "students",
                "period": "month",
                "limit": 20,
                "currency": "EUR",
                "cpu_core_hours": 2,
                "memory_gib_hours": 1,
                "gpu_hours": 0.5,
                "server_hours": 10,
            }
        ]
    )
    assert budget.scope == "group:students"
    amounts = {limit.kind: limit.amount for limit in budget.limits}
    assert amounts == {
        "currency:EUR": 20.0,
        "cpu_core_seconds": 7200.0,
        "memory_byte_seconds": 3600.0 * 2**30,
        "gpu_seconds": 1800.0,
        "server_seconds": 36000.0,
    }


@pytest.mark.parametrize(
    ("budgets", "says"),
    [
        ({"group": "x"}, "must be a list"),
        (["month"], "[0]: a budget must be a dict"),
        ([{"period": "day", "gpu_hours": 1}], "exactly one scope"),
        ([{"group": "a", "user": "b", "period": "day", "gpu_hours": 1}], "exactly one scope"),
        ([{"default": False, "period": "day", "gpu_hours": 1}], "'default' must be True"),
        ([{"group": "", "period": "day", "gpu_hours": 1}], "non-empty name"),
        ([{"group": "a", "gpu_hours": 1}], "needs a 'period'"),
        ([{"group": "a", "period": "year", "gpu_hours": 1}], "'period' must be"),
        ([{"group": "a", "period": {"rolling_days": 0}, "gpu_hours": 1}], "'period' must be"),
        ([{"group": "a", "period": {"rolling_days": 2.5}, "gpu_hours": 1}], "'period' must be"),
        ([{"group": "a", "period": "day"}], "needs a limit"),
        ([{"group": "a", "period": "day", "limit": 5}], "'limit' and 'currency' go together"),
        ([{"group": "a", "period": "day", "limit": 5, "currency": "EURO"}], "ISO 4217"),
        ([{"group": "a", "period": "day", "gpu_hours": -1}], "'gpu_hours' must be a finite"),
        ([{"group": "a", "period": "day", "gpu_hours": float("inf")}], "finite"),
        ([{"group": "a", "period": "day", "gpu_hours": True}], "must be a number"),
        ([{"group": "a", "period": "day", "gpu_hour": 1}], "unknown keys ['gpu_hour']"),
        ([{"user": "a", "period": "day", "gpu_hours": 1, "shared": True}], "'shared'"),
    ],
)
def test_a_bad_budget_says_what_is_wrong(budgets: Any, says: str) -> None:
    with pytest.raises(BudgetConfigError) as caught:
        parse_budgets(budgets)
    assert says in str(caught.value)


# -- which budgets apply --------------------------------------------------------------------

BUDGETS = [
    {"default": True, "period": "month", "limit": 5, "currency": "EUR"},
    {"group": "students", "period": "month", "limit": 20, "currency": "EUR"},
    {"group": "gpu", "period": "month", "limit": 50, "currency": "EUR", "gpu_hours": 10},
    {"user": "ada", "period": "month", "limit": 30, "currency": "EUR"},
]


def chosen(user: str, groups: list[str], combine: str) -> list[tuple[str, str, float]]:
    return [
        (a.budget.scope, a.limit.kind, a.limit.amount)
        for a in applicable(parse_budgets(BUDGETS), user, groups, combine)
    ]


def test_most_specific_takes_the_own_budget_then_the_most_generous_group_then_default() -> None:
    assert chosen("ada", ["students"], "most_specific") == [("user:ada", "currency:EUR", 30.0)]
    assert chosen("bob", ["students", "gpu"], "most_specific") == [
        ("group:gpu", "currency:EUR", 50.0),
        ("group:gpu", "gpu_seconds", 36000.0),
    ]
    assert chosen("cy", ["students"], "most_specific") == [("group:students", "currency:EUR", 20)]
    assert chosen("dee", [], "most_specific") == [("default", "currency:EUR", 5.0)]


def test_min_and_max_weigh_every_matching_budget() -> None:
    assert chosen("ada", ["students"], "min") == [("default", "currency:EUR", 5.0)]
    assert chosen("ada", ["students"], "max") == [("user:ada", "currency:EUR", 30.0)]
    # Another unit applies side by side.
    assert ("group:gpu", "gpu_seconds", 36000.0) in chosen("bob", ["gpu"], "min")


def test_no_matching_budget_gives_an_empty_list() -> None:
    budgets = parse_budgets([{"group": "staff", "period": "day", "gpu_hours": 1}])
    assert applicable(budgets, "ada", ["students"], "most_specific") == []


# -- periods across their resets -------------------------------------------------------------


def test_calendar_periods_start_and_reset_at_midnights_of_the_zone() -> None:
    now = at("2026-03-31T23:30:00")  # a Tuesday
    assert calendar_bounds("day", now, UTC) == (at("2026-03-31"), at("2026-04-01"))
    assert calendar_bounds("week", now, UTC) == (at("2026-03-30"), at("2026-04-06"))
    assert calendar_bounds("month", now, UTC) == (at("2026-03-01"), at("2026-04-01"))
    berlin = ZoneInfo("Europe/Berlin")
    # 23:30 UTC is already April 1st in Berlin (summer time since March 29th).
    assert calendar_bounds("month", now, berlin) == (
        at("2026-04-01", berlin),
        at("2026-05-01", berlin),
    )
    assert calendar_bounds("day", now, berlin)[1] - calendar_bounds("day", now, berlin)[0] == DAY
    # The day summer time starts has 23 hours.
    start, end = calendar_bounds("day", at("2026-03-29T12:00:00"), berlin)
    assert end - start == 23 * HOUR


def test_a_monthly_budget_spent_at_the_end_of_a_month_is_free_after_the_reset() -> None:
    budgets = [{"group": "students", "period": "month", "cpu_core_hours": 2}]
    # 3 core-hours in a 3-hour session on the evening of March 31st.
    sessions = [session(at("2026-03-31T20:00:00"), 3, cpu_core_seconds=3 * HOUR)]
    [before] = entries_at(at("2026-03-31T23:30:00"), budgets, sessions)
    assert before["exhausted"] is True
    assert before["used"] == pytest.approx(3 * HOUR)
    assert before["remaining"] == 0
    assert before["resets_at"] == at("2026-04-01")
    assert before["unit"] == "cpu_core_seconds"
    assert before["period"] == "month"
    [after] = entries_at(at("2026-04-01T00:00:01"), budgets, sessions)
    assert after["exhausted"] is False
    assert after["used"] == 0
    assert after["starts_at"] == at("2026-04-01")
    assert after["resets_at"] == at("2026-05-01")


def test_a_session_across_midnight_counts_its_part_in_each_day() -> None:
    budgets = [{"group": "students", "period": "day", "server_hours": 24}]
    sessions = [session(at("2026-05-01T22:00:00"), 4)]
    [first_day] = entries_at(at("2026-05-01T23:59:59"), budgets, sessions)
    assert first_day["used"] == pytest.approx(2 * HOUR, abs=1)
    [next_day] = entries_at(at("2026-05-02T03:00:00"), budgets, sessions)
    assert next_day["used"] == pytest.approx(2 * HOUR)


def test_a_rolling_budget_resets_when_old_use_leaves_the_window() -> None:
    budgets = [{"group": "students", "period": {"rolling_days": 7}, "gpu_hours": 3}]
    # 2 GPU-hours 6 days ago, 2 more yesterday: 4 of 3 in the window.
    now = at("2026-06-10T12:00:00")
    sessions = [
        session(now - 6 * DAY, 2, gpu_seconds=2 * HOUR),
        session(now - DAY, 2, gpu_seconds=2 * HOUR),
    ]
    [entry] = entries_at(now, budgets, sessions)
    assert entry["period"] == {"rolling_days": 7}
    assert entry["starts_at"] == now - 7 * DAY
    assert entry["exhausted"] is True
    # The first session starts leaving the window at now + 1 day; the use falls under
    # 3 h once its first hour has left.
    assert entry["resets_at"] == pytest.approx(now + DAY + HOUR, abs=2)
    [later] = entries_at(entry["resets_at"] + 1, budgets, sessions)
    assert later["exhausted"] is False
    assert later["resets_at"] == later["starts_at"] + 7 * DAY


def test_a_rolling_budget_not_spent_resets_at_the_end_of_its_window() -> None:
    budgets = [{"group": "students", "period": {"rolling_days": 30}, "gpu_hours": 3}]
    now = at("2026-06-10T12:00:00")
    [entry] = entries_at(now, budgets, [session(now - DAY, 1, gpu_seconds=HOUR)])
    assert entry["exhausted"] is False
    assert entry["remaining"] == pytest.approx(2 * HOUR)
    assert entry["resets_at"] == now


def test_currency_use_counts_only_sessions_in_that_currency() -> None:
    budgets = [{"group": "students", "period": "month", "limit": 10, "currency": "EUR"}]
    now = at("2026-06-10T12:00:00")
    usd = KpiSession("ada", now - 2 * HOUR, now - HOUR, cost_total=100.0, currency="USD")
    [entry] = entries_at(now, budgets, [session(now - 2 * HOUR, 1, cost=4.0), usd])
    assert entry["used"] == pytest.approx(4.0)
    assert entry["currency"] == "EUR"
    assert "unit" not in entry
    assert entry["enforcement"] == "spawn"
    assert entry["stop_at"] is None


def test_the_refusal_names_the_budget_the_use_the_limit_and_the_reset() -> None:
    budgets = [{"group": "students", "period": "week", "gpu_hours": 2}]
    now = at("2026-06-10T12:00:00")
    [entry] = entries_at(now, budgets, [session(now - 3 * HOUR, 3, gpu_seconds=2.5 * HOUR)])
    message = refusal_message(entry, "2026-06-15 00:00 UTC")
    assert message == (
        "Your weekly budget (group:students) is spent: 2.50 GPU-hours used of 2.00 "
        "GPU-hours. It resets at 2026-06-15 00:00 UTC."
    )


# -- from the database ---------------------------------------------------------------------


def report(session_id: str, start: float, hours: float, *, ended: bool, **totals: float) -> Any:
    end = start + hours * HOUR
    return SessionInput(
        session_id=session_id,
        started=start,
        ended=end if ended else None,
        last_checkpoint=end,
        ended_by="stop" if ended else None,
        server_name="",
        totals=totals,
        cost=None,
        summary=None,
        meta={},
        profile=None,
    )


def test_use_counts_ended_sessions_and_the_latest_report_of_a_running_one(
    tmp_path: Path,
) -> None:
    db = UsageDB(f"sqlite:///{tmp_path / 'usage.sqlite'}")
    db.upgrade()
    now = at("2026-06-10T12:00:00")
    db.upsert_session(
        "ada", report("a", now - 5 * HOUR, 1, ended=True, cpu_core_seconds=1000), ["students"], now
    )
    db.upsert_session(
        "ada", report("b", now - HOUR, 0.5, ended=False, cpu_core_seconds=300), ["students"], now
    )
    # Another user's and last month's sessions do not count.
    db.upsert_session(
        "bob", report("c", now - HOUR, 1, ended=True, cpu_core_seconds=9000), ["students"], now
    )
    db.upsert_session(
        "ada", report("d", now - 40 * DAY, 1, ended=True, cpu_core_seconds=9000), ["students"], now
    )
    budgets = parse_budgets([{"group": "students", "period": "month", "cpu_core_hours": 1}])
    arguments: dict[str, Any] = {
        "combine": "most_specific",
        "now": now,
        "zone": UTC,
        "enforcement": "stop",
    }
    [entry] = budgets_of(db, budgets, user="ada", groups=["students"], **arguments)
    assert entry["used"] == pytest.approx(1300)
    assert entry["exhausted"] is False
    # A later report of the running session replaces the earlier one.
    db.upsert_session(
        "ada", report("b", now - HOUR, 0.9, ended=False, cpu_core_seconds=2700), ["students"], now
    )
    [entry] = budgets_of(
        db, budgets, user="ada", groups=["students"], stop_at=now + 60, **arguments
    )
    assert entry["used"] == pytest.approx(3700)
    assert entry["exhausted"] is True
    assert entry["stop_at"] == now + 60
    # A shared group budget adds up every member's sessions of the group.
    shared = parse_budgets(
        [{"group": "students", "period": "month", "cpu_core_hours": 10, "shared": True}]
    )
    [entry] = budgets_of(db, shared, user="ada", groups=["students"], **arguments)
    assert entry["used"] == pytest.approx(3700 + 9000)
    db.close()


# -- the spawn hook, the stop, the metrics -------------------------------------------------


def spawner_for(url: str, **settings: Any) -> Any:
    service = SimpleNamespace(url=url, prefix="/services/usage/")
    return SimpleNamespace(
        user=SimpleNamespace(name="alice", settings={"services": {"usage": service}}),
        api_token="a-token",
        config=Config({"UsageService": settings}),
        log=logging.getLogger("test-hub"),
    )


async def test_the_hook_lets_a_spawn_through_when_the_service_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING, "test-hub"):
        assert await refuse_over_budget(spawner_for(closed)) is None
    assert "Starting alice's server without a budget check" in caplog.text
    assert "access:services!service=usage" in caplog.text


async def test_the_hook_refuses_spawns_while_the_service_is_down_when_told_to() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(web.HTTPError) as caught:
        await refuse_over_budget(spawner_for(closed, budget_fail_open=False))
    assert caught.value.status_code == 503
    assert "usage service" in str(caught.value.log_message)


async def test_chained_hooks_run_in_order_sync_and_async() -> None:
    ran: list[str] = []

    async def first(spawner: Any) -> None:
        ran.append("first")

    def second(spawner: Any) -> None:
        ran.append("second")

    await chain_hooks(first, second)(object())
    assert ran == ["first", "second"]


class HubApi(BaseHTTPRequestHandler):
    """The two hub API calls the budget check makes: the running servers, and a stop."""

    deleted: list[str] = []

    def do_GET(self) -> None:
        started = "2026-06-10T10:00:00Z"
        users = [{"name": "alice", "groups": ["students"], "servers": {"": {"started": started}}}]
        self._answer(200, users if self.path.startswith("/hub/api/users?") else [])

    def do_DELETE(self) -> None:
        HubApi.deleted.append(self.path)
        self._answer(204, None)

    def _answer(self, status: int, body: Any) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


async def test_a_spent_budget_is_warned_then_stopped_after_the_grace() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HubApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    HubApi.deleted = []
    spent = {"exhausted": True, "scope": "group:students", "stop_at": None}
    answer: dict[str, Any] = {"entries": [spent]}
    clock = {"now": 1000.0}

    async def evaluate(user: str, groups: Any) -> Any:
        assert (user, tuple(groups)) == ("alice", ("students",))
        return [dict(entry) for entry in answer["entries"]]

    client = HubClient(f"http://127.0.0.1:{server.server_port}/hub/api", "token")
    enforcer = BudgetEnforcer(
        evaluate,
        client,
        enforcement="stop",
        grace_seconds=300,
        interval_seconds=60,
        clock=lambda: clock["now"],
    )
    try:
        await enforcer.check_once()
        assert enforcer.stop_at("alice") == 1300.0
        assert enforcer.latest["alice"][1][0]["stop_at"] == 1300.0
        clock["now"] = 1299.0
        await enforcer.check_once()
        assert HubApi.deleted == []
        # A budget freed meanwhile (a raised limit) cancels the stop.
        answer["entries"] = [{**spent, "exhausted": False}]
        await enforcer.check_once()
        assert enforcer.stop_at("alice") is None
        answer["entries"] = [spent]
        await enforcer.check_once()
        assert enforcer.stop_at("alice") == 1599.0
        clock["now"] = 1600.0
        await enforcer.check_once()
        assert HubApi.deleted == ["/hub/api/users/alice/server"]
        assert enforcer.stopped_servers == 1
        assert enforcer.stop_at("alice") is None
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_lints_the_budget_metrics_clean() -> None:
    enforcer = BudgetEnforcer(
        lambda *_: None,  # type: ignore[arg-type, return-value]
        None,
        enforcement="spawn",
        grace_seconds=0,
        interval_seconds=60,
        shared_scopes={"group:physics"},
    )
    entry = {
        "scope": "group:students",
        "period": {"rolling_days": 7},
        "limit": 20.0,
        "used": 25.0,
        "currency": "EUR",
        "exhausted": True,
    }
    shared = {**entry, "scope": "group:physics", "period": "month", "unit": "gpu_seconds"}
    del shared["currency"]
    enforcer.remember("ada", ["students", "physics"], [entry, shared])
    enforcer.remember("bob", ["students"], [{**entry, "used": 2.0, "exhausted": False}])
    text = enforcer.exposition({"group:students": 1})
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    group_used = {
        s.labels["group"]: s.value for s in families["jupyter_usage_budget_group_used"].samples
    }
    assert group_used == {"students": 27.0, "physics": 25.0}
    group_limit = {
        s.labels["group"]: s.value for s in families["jupyter_usage_budget_group_limit"].samples
    }
    assert group_limit == {"students": 40.0, "physics": 20.0}  # 2 members; shared
    [refused] = families["jupyter_usage_budget_spawns_refused"].samples
    assert refused.value == 1.0


BUDGET_ALERT_TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # students: 80 % for 30 minutes, then 95 %; staff: 50 % throughout.
      - series: 'jupyter_usage_budget_group_used{{group="students", period="month",
          unit="EUR", instance="hub"}}'
        values: '16x30 19x60'
      - series: 'jupyter_usage_budget_group_limit{{group="students", period="month",
          unit="EUR", instance="hub"}}'
        values: '20x90'
      - series: 'jupyter_usage_budget_group_used{{group="staff", period="month",
          unit="EUR", instance="hub"}}'
        values: '50x90'
      - series: 'jupyter_usage_budget_group_limit{{group="staff", period="month",
          unit="EUR", instance="hub"}}'
        values: '100x90'
    alert_rule_test:
      - eval_time: 35m
        alertname: JupyterGroupBudgetNearlySpent
        exp_alerts: []
      - eval_time: 45m
        alertname: JupyterGroupBudgetNearlySpent
        exp_alerts:
          - exp_labels:
              severity: warning
              group: students
              period: month
              unit: EUR
            exp_annotations:
              summary: "Group students has used 90 % of its monthly budget"
              description: >-
                Group students has used 95% of its monthly budget in EUR.
"""


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_the_budget_alert_fires_for_a_group_at_90_percent(tmp_path: Path) -> None:
    rules = Path(__file__).resolve().parents[1] / "jupyter_usage" / "prometheus" / "rules.yml"
    tests = tmp_path / "budget-alert-tests.yml"
    tests.write_text(BUDGET_ALERT_TESTS.format(rules=json.dumps(str(rules))))
    result = subprocess.run(
        ["promtool", "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- the report page ----------------------------------------------------------------------


def test_everyone_near_or_over_a_budget_is_listed_on_the_report(tmp_path: Path) -> None:
    db = UsageDB(f"sqlite:///{tmp_path / 'usage.sqlite'}")
    db.upgrade()
    now = at("2026-06-10T12:00:00")
    html_name = "<b>eve</b>"
    for user, groups, core_seconds in (
        ("ada", ["students"], 4000.0),  # over 1 core-hour
        ("bob", ["students"], 3000.0),  # 83 %: near
        ("cy", ["students"], 100.0),  # far
        (html_name, ["staff"], 10.0),  # no budget of staff
    ):
        body = report(f"s-{user}", now - 2 * HOUR, 1, ended=True, cpu_core_seconds=core_seconds)
        db.upsert_session(user, body, groups, now)
    budgets = parse_budgets(
        [
            {"group": "students", "period": "month", "cpu_core_hours": 1},
            {"user": html_name, "period": "day", "server_hours": 0.5},
        ]
    )
    users = everyone_budgets(
        db,
        budgets,
        combine="most_specific",
        now=now,
        zone=UTC,
        enforcement="stop",
        stops={"ada": now + 120},
    )
    db.close()
    assert sorted(users) == [html_name, "ada", "bob", "cy"]
    assert users["ada"][0]["exhausted"] is True
    assert users["ada"][0]["stop_at"] == now + 120
    assert users[html_name][0]["used"] == pytest.approx(HOUR)
    view = budgets_view(
        {
            "users": users,
            "enforcement": "stop",
            "refused": {"total": 2, "by_scope": {"group:students": 2}, "by_user": {"ada": 2}},
        }
    )
    assert view is not None
    assert (view["users"], view["near"], view["over"]) == (4, 1, 2)
    # Fullest first: eve's 200 %, ada's 111 %, bob's 83 %; cy is not listed.
    assert [row["user"] for row in view["rows"]] == [html_name, "ada", "bob"]
    ada = view["rows"][1]
    assert ada["state"] == "over, frees up 2026-07-01 00:00 UTC, servers stop 2026-06-10 12:02 UTC"
    assert (ada["used"], ada["percent"], ada["refused"]) == ("1.11 CPU core-hours", "111 %", 2)
    assert budgets_view(None) is None
    page = report_templates.get_template("sections/budgets.html").render(
        budgets=view, user_url=lambda name: f"sessions?user={name}"
    )
    assert "<h2>Budgets</h2>" in page
    assert "4 users with a budget and a session this period: 1 near, 2 over." in page
    assert "Spawns refused in this window: 2 (group:students: 2)." in page
    assert "&lt;b&gt;eve&lt;/b&gt;" in page
    assert "<b>" not in page


# -- refused spawns, kept in the database -------------------------------------------------


def started_service(db_url: str) -> Any:
    """The service as its start makes it (traits, executor, schema), without listening."""
    from jupyter_usage.hub.service import UsageService

    service = UsageService(
        budgets=[{"group": "students", "period": "day", "cpu_core_hours": 1}],
        budget_enforcement="spawn",
    )
    service.initialize([])
    service.db = UsageDB(db_url)
    return service


def stopped(service: Any) -> None:
    service.executor.shutdown(wait=True)
    service.db.close()


async def test_refused_spawns_are_counted_by_window_and_survive_a_restart(db_url: str) -> None:
    service = started_service(db_url)
    try:
        await service.open_database(service.db)
        keeper = service.budget_keeper
        before = time.time()
        await keeper.record_refusal("alice", "group:students", "Your daily budget is spent.")
        await keeper.record_refusal("bob", "group:students", None)
        await keeper.record_refusal("alice", "group:students", None)
        after = time.time() + 1
    finally:
        stopped(service)

    service = started_service(db_url)  # a new process's service, on the same database
    try:
        await service.open_database(service.db)
        keeper = service.budget_keeper
        overview = await keeper.overview(before - 1, after)
        assert overview["refused"] == {
            "total": 3,
            "by_scope": {"group:students": 3},
            "by_user": {"alice": 2, "bob": 1},
        }
        # A window that ends before them counts none.
        earlier = await keeper.refusals(before - DAY, before - 1)
        assert (earlier["total"], earlier["latest"]) == (0, [])
        answer = await keeper.refusals(before - 1, after)
        assert answer["total"] == 3
        assert [r["user"] for r in answer["latest"]] == ["alice", "bob", "alice"]
        assert answer["latest"][-1]["message"] == "Your daily budget is spent."
        assert before <= answer["latest"][-1]["time"] <= answer["latest"][0]["time"] < after
        # Prometheus reads the count over all time.
        families = text_string_to_metric_families((await keeper.exposition()).decode())
        refused = [
            (sample.labels, sample.value)
            for family in families
            for sample in family.samples
            if sample.name == "jupyter_usage_budget_spawns_refused_total"
        ]
        assert refused == [({"scope": "group:students"}, 3.0)]
    finally:
        stopped(service)
