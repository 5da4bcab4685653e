"""The service's metering over its database, on SQLite and PostgreSQL: allocations kept
and matched to sessions, budgets charged the trusted cost, reports bounded by their
allocation, the rates a server is told, and the spawn hook's allocation."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import timezone
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import inspect, text
from support.server_process import free_port
from traitlets.config import Config

from jupyter_usage.cost import CostModel
from jupyter_usage.hub.budgets import allocation_of, record_allocation
from jupyter_usage.hub.budgets.metering import Metering
from jupyter_usage.hub.budgets.rules import parse_budgets
from jupyter_usage.hub.budgets.use import budgets_of, everyone_budgets
from jupyter_usage.hub.db import allocation_records
from jupyter_usage.hub.db.allocation import Allocation
from jupyter_usage.hub.db.migrations import MIGRATIONS
from jupyter_usage.hub.db.schema import HUB_SOURCE
from jupyter_usage.hub.db.storage import SessionInput, UsageDB
from jupyter_usage.hub.intake.hub_servers import RunningServer
from jupyter_usage.hub.intake.report_limits import (
    UNKNOWN_FOR_SECONDS,
    AllocationLookup,
    bound_by_allocation,
)

T0 = 1_790_000_000.0
HOUR = 3600.0
GIB = 2.0**30


@pytest.fixture
def db(db_url: str) -> Iterator[UsageDB]:
    database = UsageDB(db_url)
    database.upgrade()
    yield database
    database.close()


def report(
    session_id: str,
    start: float,
    seconds: float,
    *,
    cost: float | None = None,
    hub_only: bool = False,
    profile: str | None = None,
    **totals: float,
) -> SessionInput:
    return SessionInput(
        session_id=session_id,
        server_name="",
        started=start,
        ended=start + seconds,
        last_checkpoint=start + seconds,
        ended_by="stop",
        totals=dict(totals),
        cost=None if cost is None else {"total": cost, "currency": "EUR"},
        summary=None,
        meta={"source": HUB_SOURCE} if hub_only else {},
        profile=profile,
    )


def metering(basis: str = "max", **allocations: Allocation) -> Metering:
    model = CostModel(
        server_hour=1.0,
        cpu_core_hour=2.0,
        gpu_hour=10.0,
        currency="EUR",
        basis=basis,
        group_rates={"cheap": {"server_hour": 0.5}},
    )
    return Metering(model, dict(allocations))


BUDGET = parse_budgets([{"default": True, "period": "day", "limit": 1000, "currency": "EUR"}])
GPU_BUDGET = parse_budgets([{"default": True, "period": "day", "gpu_hours": 1000}])


def used(db: UsageDB, meter: Metering | None, user: str = "ada", budgets: Any = BUDGET) -> float:
    [entry] = budgets_of(
        db,
        budgets,
        combine="most_specific",
        user=user,
        groups=[],
        now=T0 + 4 * HOUR,
        zone=timezone.utc,
        enforcement="none",
        metering=meter,
    )
    return float(entry["used"])


def test_a_version_7_database_gets_the_allocation_tables(db_url: str) -> None:
    old = UsageDB(db_url)
    old.upgrade(MIGRATIONS[:7])
    old.upsert_session("ada", report("kept", T0, 60), [], T0)
    old.close()
    database = UsageDB(db_url)
    try:
        assert database.upgrade() == len(MIGRATIONS)
        with database.engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            count = connection.execute(text("SELECT count(*) FROM usage_sessions")).scalar()
        assert {"usage_allocations", "usage_over_allocation"} <= tables
        assert count == 1
    finally:
        database.close()


def test_a_sessions_allocation_is_the_one_recorded_nearest_its_start(db: UsageDB) -> None:
    small, large = Allocation(cpu_limit_cores=1), Allocation(cpu_limit_cores=8, profile="big")
    with db.engine.begin() as connection:
        allocation_records.record(connection, "ada", "", T0 - 5, small)
        allocation_records.record(connection, "ada", "", T0 + 2 * HOUR, large)
        allocation_records.record(connection, "ada", "other", T0, large)
    with db.engine.connect() as connection:
        assert allocation_records.allocation_for(connection, "ada", "", T0) == small
        assert allocation_records.allocation_for(connection, "ada", "", T0 + 2 * HOUR + 60) == (
            large
        )
        # Too far from any spawn, another user, another server: unknown.
        assert allocation_records.allocation_for(connection, "ada", "", T0 + HOUR) is None
        assert allocation_records.allocation_for(connection, "bob", "", T0) is None
        assert allocation_records.allocation_for(connection, "ada", "x", T0) is None
        assert allocation_records.latest_for(connection, "ada", "") == large


def test_a_session_from_the_hub_alone_is_charged_its_time_and_allocation(db: UsageDB) -> None:
    db.upsert_session("ada", report("h", T0, HOUR, hub_only=True), [], T0)
    assert used(db, None) == 0  # what the hub's record says by itself: no cost
    assert used(db, metering()) == pytest.approx(1.0)  # one server-hour
    with db.engine.begin() as connection:
        allocation_records.record(connection, "ada", "", T0, Allocation(cpu_limit_cores=2, gpus=1))
    assert used(db, metering()) == pytest.approx(1.0 + 2 * 2.0 + 10.0)
    # Its GPU-hours count against a GPU budget, which it would otherwise never touch.
    assert used(db, None, budgets=GPU_BUDGET) == 0
    assert used(db, metering(), budgets=GPU_BUDGET) == pytest.approx(HOUR)


def test_a_report_of_less_than_the_trusted_cost_is_charged_the_trusted_cost(db: UsageDB) -> None:
    db.upsert_session("ada", report("r", T0, HOUR, cost=0.01), [], T0)
    with db.engine.begin() as connection:
        allocation_records.record(connection, "ada", "", T0 + 3, Allocation(cpu_limit_cores=1))
    assert used(db, None) == pytest.approx(0.01)
    assert used(db, metering("max")) == pytest.approx(3.0)
    assert used(db, metering("allocated")) == pytest.approx(3.0)
    # Under "used" the allocation is no floor, the server's time still is.
    assert used(db, metering("used")) == pytest.approx(1.0)
    # A report of more is charged what it says.
    db.upsert_session("ada", report("r2", T0 + 2 * HOUR, 60, cost=50.0), [], T0)
    assert used(db, metering("used")) == pytest.approx(1.0 + 50.0)


def test_a_report_that_starts_after_the_spawn_is_charged_from_the_spawn(db: UsageDB) -> None:
    db.upsert_session("ada", report("late", T0 + 600, HOUR, cost=0.0), [], T0)
    with db.engine.begin() as connection:
        allocation_records.record(connection, "ada", "", T0, Allocation(cpu_limit_cores=1))
    # 600 s more than it says, at one server-hour and two core-hours an hour.
    assert used(db, metering()) == pytest.approx((HOUR + 600) / HOUR * 3.0)


def test_a_running_session_is_charged_until_the_hub_last_saw_its_server(db: UsageDB) -> None:
    running = dataclasses.replace(report("quiet", T0, 600, cost=0.0), ended=None, ended_by=None)
    db.upsert_session("ada", running, [], T0)
    meter = metering()
    assert used(db, meter) == pytest.approx(600 / HOUR)  # as its last report says
    # Its reports stopped; the hub still lists its server an hour after the start.
    server = RunningServer("ada", "", T0, None, (), None)
    meter.saw_running([server], T0 + HOUR)
    assert used(db, meter) == pytest.approx(1.0)
    # Another server of the same name, started later: not this session's.
    meter.saw_running([dataclasses.replace(server, started=T0 + 2 * HOUR)], T0 + 3 * HOUR)
    assert used(db, meter) == pytest.approx(600 / HOUR)
    # An ended session ends when it says.
    db.upsert_session("ada", report("quiet", T0, 900, cost=0.0), [], T0)
    meter.saw_running([server], T0 + HOUR)
    assert used(db, meter) == pytest.approx(900 / HOUR)


def test_without_a_hook_record_the_profile_map_gives_the_allocation(db: UsageDB) -> None:
    db.upsert_session("ada", report("p", T0, HOUR, hub_only=True, profile="gpu"), [], T0)
    meter = metering(gpu=Allocation(gpus=2, profile="gpu"))
    assert used(db, meter) == pytest.approx(1.0 + 2 * 10.0)


def test_group_rates_apply_to_the_trusted_cost(db: UsageDB) -> None:
    db.upsert_session("ada", report("g", T0, HOUR, hub_only=True), ["cheap"], T0)
    [entry] = budgets_of(
        db,
        BUDGET,
        combine="most_specific",
        user="ada",
        groups=["cheap"],
        now=T0 + 4 * HOUR,
        zone=timezone.utc,
        enforcement="none",
        metering=metering(),
    )
    assert entry["used"] == pytest.approx(0.5)


def test_the_report_page_charges_every_user_the_same_way(db: UsageDB) -> None:
    db.upsert_session("ada", report("h", T0, HOUR, hub_only=True), [], T0)
    db.upsert_session("bob", report("r", T0, HOUR, cost=0.25), [], T0)
    found = everyone_budgets(
        db,
        BUDGET,
        combine="most_specific",
        now=T0 + 4 * HOUR,
        zone=timezone.utc,
        enforcement="none",
        stops={},
        metering=metering(),
    )
    assert {user: entries[0]["used"] for user, entries in found.items()} == pytest.approx(
        {"ada": 1.0, "bob": 1.0}
    )


def test_a_service_without_a_price_list_counts_what_servers_report(db: UsageDB) -> None:
    db.upsert_session("ada", report("r", T0, HOUR, cost=0.01), [], T0)
    unconfigured = Metering(CostModel(), {}, configured=False)
    assert used(db, unconfigured) == pytest.approx(0.01)
    with db.engine.connect() as connection:
        body = unconfigured.rates_for_server(connection, "ada", "", [], None)
    assert body["rates"] is None
    assert "c.CostModel" in body["reason"]


def test_a_report_above_its_allocation_is_clipped_and_counted(db: UsageDB) -> None:
    with db.engine.begin() as connection:
        allocation_records.record(connection, "ada", "", T0, Allocation(cpu_limit_cores=1))
    claimed = report("big", T0, 100, cpu_core_seconds=1e6, peak_cpu_cores=0.5)
    bounded, clipped = bound_by_allocation(db, "ada", claimed, T0 + 100)
    assert clipped == ("cpu_core_seconds",)
    assert bounded.totals["cpu_core_seconds"] == pytest.approx(110 * 1.02)
    assert bounded.totals["peak_cpu_cores"] == 0.5
    fine = report("fine", T0, 100, cpu_core_seconds=50)
    assert bound_by_allocation(db, "ada", fine, T0 + 100) == (fine, ())
    # bob has no allocation recorded: nothing to bound by.
    assert bound_by_allocation(db, "bob", claimed, T0 + 100) == (claimed, ())
    bound_by_allocation(db, "ada", claimed, T0 + 200)
    with db.engine.connect() as connection:
        assert allocation_records.over_allocation_counts(connection) == {"ada": 2}
        assert allocation_records.over_allocation_counts(connection, T0 + 150) == {"ada": 1}
        assert allocation_records.over_allocation_counts(connection, None, T0) == {}


def test_a_sessions_allocation_is_read_once_and_its_absence_for_a_while(db: UsageDB) -> None:
    now = [0.0]
    lookup = AllocationLookup(db, size=2, clock=lambda: now[0])
    assert lookup("ada", "", T0) is None
    with db.engine.begin() as connection:
        allocation_records.record(connection, "ada", "", T0, Allocation(cpu_limit_cores=1))
    assert lookup("ada", "", T0) is None  # remembered as unknown for a while
    now[0] = UNKNOWN_FOR_SECONDS
    assert lookup("ada", "", T0) == Allocation(cpu_limit_cores=1)
    with db.engine.begin() as connection:
        connection.execute(allocation_records.allocations.delete())
    assert lookup("ada", "", T0) == Allocation(cpu_limit_cores=1)  # kept once known
    # At most `size` sessions are kept: the oldest is read again.
    lookup("bob", "", T0)
    lookup("eve", "", T0)
    assert lookup("ada", "", T0) is None


def test_a_server_is_told_the_rates_of_its_profile_as_the_hub_recorded_it(db: UsageDB) -> None:
    model = CostModel(server_hour=1.0, currency="EUR", profile_rates={"gpu": {"server_hour": 4}})
    meter = Metering(model, {})
    with db.engine.connect() as connection:
        claimed = meter.rates_for_server(connection, "ada", "", ["g"], "gpu")
    assert (claimed["profile"], claimed["profile_from"]) == ("gpu", "server")
    assert claimed["rates"]["server_hour"] == 4
    with db.engine.begin() as connection:
        allocation_records.record(connection, "ada", "", T0, Allocation(profile="small"))
    with db.engine.connect() as connection:
        body = meter.rates_for_server(connection, "ada", "", ["g"], "gpu")
    assert (body["profile"], body["profile_from"]) == ("small", "hub")
    assert body["rates"]["server_hour"] == 1.0
    assert body["rates"]["currency"] == "EUR"


# -- the spawn hook ----------------------------------------------------------------------


def kube_like_spawner(**traits: Any) -> Any:
    defaults: dict[str, Any] = {
        "cpu_limit": None,
        "cpu_guarantee": None,
        "mem_limit": None,
        "mem_guarantee": None,
        "user_options": {},
        "name": "",
    }
    return SimpleNamespace(**{**defaults, **traits})


def test_the_hook_reads_the_spawners_limits_gpus_and_profile() -> None:
    spawner = kube_like_spawner(
        cpu_limit=2.0,
        cpu_guarantee=0.5,
        mem_limit=4 * 2**30,
        mem_guarantee=2**30,
        extra_resource_limits={"nvidia.com/gpu": "2"},
        user_options={"profile": "gpu"},
    )
    assert allocation_of(spawner) == Allocation(
        cpu_limit_cores=2.0,
        cpu_guarantee_cores=0.5,
        memory_limit_bytes=4 * GIB,
        memory_guarantee_bytes=GIB,
        gpus=2.0,
        profile="gpu",
    )


def test_the_hook_applies_the_chosen_profiles_overrides_kubespawner_applies_later() -> None:
    profiles = [
        {"slug": "small", "default": True, "kubespawner_override": {"cpu_limit": 1}},
        {
            "slug": "gpu",
            "kubespawner_override": {
                "cpu_limit": 8,
                "mem_limit": "16G",
                "extra_resource_limits": {"nvidia.com/gpu": 1},
            },
        },
    ]
    chosen = allocation_of(
        kube_like_spawner(cpu_limit=0.5, profile_list=profiles, user_options={"profile": "gpu"})
    )
    assert (chosen.cpu_limit_cores, chosen.memory_limit_bytes, chosen.gpus) == (8, 16 * GIB, 1)
    assert chosen.profile == "gpu"
    default = allocation_of(kube_like_spawner(cpu_limit=0.5, profile_list=profiles))
    assert (default.cpu_limit_cores, default.profile) == (1, "small")


async def test_the_hook_lets_the_spawn_go_on_when_the_service_cannot_be_reached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = SimpleNamespace(
        url=f"http://127.0.0.1:{free_port()}", prefix="/services/usage/", api_token="t"
    )
    spawner = kube_like_spawner(
        cpu_limit=1.0,
        user=SimpleNamespace(name="alice", settings={"services": {"usage": service}}),
        config=Config(),
        log=logging.getLogger("test-hub"),
    )
    with caplog.at_level(logging.WARNING, "test-hub"):
        assert await record_allocation(spawner) is None
    assert "Cannot record the allocation of alice's server" in caplog.text
    assert "it starts anyway" in caplog.text
