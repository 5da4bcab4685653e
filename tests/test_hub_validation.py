"""What the hub service accepts from clients, and the CSV and HTML it gives back."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from support.kpi_reference import compute_kpis

from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.hub.intake.validation import (
    MAX_BODY_BYTES,
    BadRequest,
    claimed_groups,
    parse_json_object,
    parse_session,
    parse_time,
)
from jupyter_usage.hub.kpis.export import kpis_csv, sessions_csv

T0 = datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()


def body(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": "abc",
        "started": T0,
        "ended": T0 + 60,
        "totals": {"cpu_core_seconds": 1.5},
        "cost": {"currency": "USD", "total": 0.01},
        "meta": {"groups": ["physics"], "profile": "small"},
    }
    value.update(changes)
    return value


# -- bodies ------------------------------------------------------------------------------


def test_a_valid_body_parses() -> None:
    parsed = parse_session(parse_json_object(json.dumps(body()).encode()))
    assert parsed.session_id == "abc"
    assert parsed.started == T0
    assert parsed.ended == T0 + 60
    assert parsed.last_seen == T0 + 60
    assert parsed.profile == "small"
    assert parsed.server_name == ""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1, 2]", "JSON object"),
        (b"{not json", "not valid JSON"),
        (b'{"id": "a", "started": NaN}', "finite"),
        (b'{"id": "a", "started": Infinity}', "finite"),
        (b'{"id": "a", "started": 1e400}', "finite"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_bad_json_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_json_object(raw)


def test_a_body_over_the_limit_is_refused() -> None:
    raw = json.dumps(body(summary={"pad": "x" * MAX_BODY_BYTES})).encode()
    with pytest.raises(BadRequest, match="larger than"):
        parse_json_object(raw)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": None}, "'id' is required"),
        ({"id": ""}, "'id' is required"),
        ({"id": 5}, "'id' must be a string"),
        ({"id": "x" * 201}, "at most 200"),
        ({"id": "a\nb"}, "control characters"),
        ({"started": None}, "'started' is required"),
        ({"started": "yesterday"}, "'started' must be a number"),
        ({"started": True}, "'started' must be a number"),
        ({"started": -1}, "non-negative"),
        ({"ended": T0 - 1}, "before 'started'"),
        ({"totals": [1]}, "'totals' must be an object"),
        ({"cost": {"total": "1"}}, "'total' must be a number"),
        ({"cost": {"currency": 3}}, "'currency' must be a string"),
        ({"meta": "x"}, "'meta' must be an object"),
        ({"meta": {"limits": 8}}, "'limits' must be an object"),
        ({"meta": {"rates": "cheap"}}, "'rates' must be an object"),
        ({"server_name": 1}, "'server_name' must be a string"),
    ],
)
def test_bad_fields_are_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_session(body(**changes))


def test_the_facts_a_session_ran_under_are_kept() -> None:
    limits = {"cpu_limit_cores": 2.0, "memory_limit_bytes": 8 * 2**30, "gpu_count": 0}
    rates = {"currency": "USD", "memory_gib_hour": 1.0}
    parsed = parse_session(body(meta={"limits": limits, "rates": rates, "source": "hub"}))
    assert parsed.meta == {"limits": limits, "rates": rates}


def test_a_running_session_lasts_until_its_last_checkpoint() -> None:
    parsed = parse_session(body(ended=None, last_checkpoint=T0 + 30))
    assert parsed.ended is None
    assert parsed.last_seen == T0 + 30
    assert parse_session(body(ended=None, last_checkpoint=None)).last_seen == T0


def test_claimed_groups_keep_only_names() -> None:
    assert claimed_groups(body(meta={"groups": ["b", "a", 3, "", "a"]})) == ["a", "b"]
    assert claimed_groups(body(meta=None)) == []
    assert claimed_groups(body(meta={"groups": "a"})) == []


# -- query times ---------------------------------------------------------------------------


def test_times_are_unix_seconds_or_iso_dates() -> None:
    assert parse_time("since", None) is None
    assert parse_time("since", "") is None
    assert parse_time("since", "1790000000.5") == 1790000000.5
    assert parse_time("since", "2026-11-02") == T0
    assert parse_time("until", "2026-11-02", end_of_day=True) == T0 + 86400
    assert parse_time("since", "2026-11-02T01:00:00Z") == T0 + 3600
    assert parse_time("since", "2026-11-02T02:00:00+01:00") == T0 + 3600
    for bad in ("soon", "nan", "inf", "-5"):
        with pytest.raises(BadRequest, match="'since'"):
            parse_time("since", bad)


# -- exports -------------------------------------------------------------------------------


def report() -> dict[str, Any]:
    sessions = [
        KpiSession("=HYPERLINK(1)", T0 + 10, T0 + 3610, groups=("<b>g</b>",), cost_total=1.0,
                   currency="USD"),
        KpiSession("bob", T0 + 20, T0 + 1820, cost_total=2.0, currency="EUR"),
    ]  # fmt: skip
    return compute_kpis(sessions, since=T0, until=T0 + 86400)


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_kpis_csv_tables() -> None:
    summary = rows(kpis_csv(report(), "summary"))
    assert summary[0] == ["kpi", "value", "explanation"]
    named = {row[0]: row[1] for row in summary[1:]}
    assert named["active_users"] == "2"
    assert named["cost (USD)"] == "1.0"
    assert named["cost (EUR)"] == "2.0"
    users = rows(kpis_csv(report(), "users"))
    assert users[0][-2:] == ["cost_EUR", "cost_USD"]
    # A name a spreadsheet would run as a formula is quoted.
    assert {row[0] for row in users[1:]} == {"'=HYPERLINK(1)", "bob"}
    groups = rows(kpis_csv(report(), "groups"))
    assert sorted(row[0] for row in groups[1:]) == ["", "<b>g</b>"]
    assert rows(kpis_csv(report(), "days"))[1] == ["2026-11-02", "2"]
    assert rows(kpis_csv(report(), "months"))[1] == ["2026-11", "2"]
    with pytest.raises(ValueError, match="unknown table"):
        kpis_csv(report(), "secrets")


def test_sessions_csv() -> None:
    session = {
        "id": "s1",
        "user": "@alice",
        "server_name": "",
        "started": T0,
        "ended": None,
        "duration_seconds": 60.0,
        "totals": {"cpu_core_seconds": 2.5},
        "cost": {"total": 0.5, "currency": "USD"},
        "meta": {"groups": ["a", "b"], "profile": None},
    }
    table = rows(sessions_csv([session]))
    header, row = table
    values = dict(zip(header, row, strict=True))
    assert values["user"] == "'@alice"
    assert values["started"] == "2026-11-02T00:00:00Z"
    assert values["ended"] == ""
    assert values["cpu_core_seconds"] == "2.5"
    assert values["groups"] == "a;b"


# -- the service's configuration -----------------------------------------------------------


def test_service_defaults_come_from_the_hubs_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_usage.hub.service import UsageService

    monkeypatch.setenv("JUPYTERHUB_SERVICE_NAME", "costs")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:12345")
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    monkeypatch.delenv("JUPYTER_USAGE_HUB_DB_URL", raising=False)
    service = UsageService()
    assert service.service_name == "costs"
    assert service.service_prefix == "/services/costs/"
    assert service.ip == "127.0.0.1"
    assert service.db_url == "sqlite:///jupyter_usage_hub.sqlite"
    assert service.regular_user_hours_per_week == 8
    assert service.admin_scope == "custom:usage:read-all"
    # In a pod, the URL names the hub's Service: listen on every interface.
    assert UsageService(service_url="http://hub:10101").ip == "0.0.0.0"


def test_service_config_is_checked() -> None:
    from traitlets import TraitError

    from jupyter_usage.hub.service import UsageService

    with pytest.raises(TraitError, match="regular_user_hours_per_week"):
        UsageService(regular_user_hours_per_week=200)
    with pytest.raises(TraitError, match="admin_scope"):
        UsageService(admin_scope="admin:users")
    with pytest.raises(TraitError, match="admin_scope"):
        UsageService(admin_scope="custom:usage:read-all!group=x")
    assert UsageService(admin_scope="").admin_scope == ""
    assert UsageService(service_prefix="services/x").service_prefix == "/services/x/"
