"""The trusted cost and the clip of a report to its allocation: pure functions over frozen
values, as tests/test_cost.py tests cost.py."""

from __future__ import annotations

import pytest

from jupyter_usage.cost import CostModel, Rates
from jupyter_usage.hub.db.allocation import (
    Allocation,
    AllocationError,
    parse_allocation,
    parse_profile_allocations,
)
from jupyter_usage.hub.db.queries import KpiSession
from jupyter_usage.hub.intake.trusted_cost import (
    CLIP_SLACK_SECONDS,
    CLIP_TOLERANCE,
    allocated_totals,
    charged_cost,
    charged_session,
    charged_totals,
    clip_report,
    cost_floor,
    trusted_cost,
)

GIB = 2.0**30
HOUR = 3600.0
RATES = Rates(
    cpu_core_hour=0.5,
    memory_gib_hour=0.25,
    gpu_hour=2.0,
    server_hour=0.1,
    currency="EUR",
    basis="max",
)
GIVEN = Allocation(cpu_limit_cores=2, memory_limit_bytes=4 * GIB, gpus=1, profile="gpu")


def test_the_trusted_cost_is_duration_times_server_hour_and_allocation_times_rates() -> None:
    cost = trusted_cost(2 * HOUR, GIVEN, RATES)
    assert cost.currency == "EUR"
    assert cost.basis == "trusted"
    assert cost.breakdown == pytest.approx(
        {"cpu": 2 * 2 * 0.5, "memory": 2 * 4 * 0.25, "gpu": 2 * 2.0, "disk": 0, "server": 0.2}
    )
    assert cost.total == pytest.approx(2.0 + 2.0 + 4.0 + 0.2)


def test_guarantees_are_billed_before_limits_as_the_allocated_basis_does() -> None:
    given = Allocation(
        cpu_limit_cores=4, cpu_guarantee_cores=1, memory_limit_bytes=8 * GIB,
        memory_guarantee_bytes=2 * GIB,
    )  # fmt: skip
    cost = trusted_cost(HOUR, given, RATES)
    assert cost.breakdown["cpu"] == pytest.approx(0.5)
    assert cost.breakdown["memory"] == pytest.approx(0.5)


def test_without_a_known_allocation_only_the_server_hour_is_trusted() -> None:
    assert trusted_cost(HOUR, None, RATES).total == pytest.approx(0.1)
    assert trusted_cost(HOUR, Allocation(), RATES).total == pytest.approx(0.1)
    assert trusted_cost(-5, GIVEN, RATES).total == 0


def test_a_gpu_of_unknown_model_costs_gpu_hour_even_with_per_model_rates() -> None:
    rates = Rates(gpu_hour=1.0, gpu_hour_by_model={"Tesla T4": 0.35})
    assert trusted_cost(HOUR, Allocation(gpus=2), rates).breakdown["gpu"] == pytest.approx(2.0)


def test_group_and_profile_rates_price_the_trusted_cost() -> None:
    model = CostModel(
        server_hour=1.0,
        cpu_core_hour=1.0,
        group_rates={"students": {"server_hour": 0.5}},
        profile_rates={"gpu": {"cpu_core_hour": 3.0}},
    )
    rates = model.effective_rates(["students"], "gpu")
    cost = trusted_cost(HOUR, Allocation(cpu_limit_cores=1), rates)
    assert cost.breakdown["server"] == pytest.approx(0.5)
    assert cost.breakdown["cpu"] == pytest.approx(3.0)


def test_allocated_totals_are_what_a_server_using_all_it_was_given_reports() -> None:
    totals = allocated_totals(10, GIVEN)
    assert totals.duration_seconds == 10
    assert totals.allocated_cpu_core_seconds == 20
    assert totals.max_memory_byte_seconds == 40 * GIB
    assert totals.gpu_seconds == 10
    assert totals.cpu_core_seconds == 0  # nothing measured


@pytest.mark.parametrize(
    ("basis", "floor"), [("max", 8.2), ("allocated", 8.2), ("used", 0.2)]
)  # fmt: skip
def test_the_floor_is_the_trusted_cost_except_under_used_where_it_is_the_server_part(
    basis: str, floor: float
) -> None:
    trusted = trusted_cost(2 * HOUR, GIVEN, RATES)
    assert cost_floor(trusted, basis) == pytest.approx(floor)
    # A report of less is charged the floor, one of more what it says.
    for reported, charged in ((0.0, floor), (100.0, 100.0)):
        assert charged_cost(
            trusted, basis, hub_only=False, reported_total=reported, reported_currency="EUR"
        ) == pytest.approx(charged)


def test_a_session_the_hub_alone_knows_is_charged_the_trusted_cost_under_every_basis() -> None:
    trusted = trusted_cost(2 * HOUR, GIVEN, RATES)
    for basis in ("used", "allocated", "max"):
        assert charged_cost(
            trusted, basis, hub_only=True, reported_total=None, reported_currency=None
        ) == pytest.approx(8.2)


@pytest.mark.parametrize(
    ("total", "currency"), [(5.0, "USD"), (None, "EUR"), (-3.0, "EUR"), (True, "EUR")]
)
def test_a_reported_cost_in_another_currency_or_not_a_cost_counts_nothing(
    total: object, currency: str
) -> None:
    trusted = trusted_cost(HOUR, None, RATES)
    charged = charged_cost(
        trusted,
        "max",
        hub_only=False,
        reported_total=total,  # type: ignore[arg-type]
        reported_currency=currency,
    )
    assert charged == pytest.approx(0.1)


def test_charged_figures_count_the_gpus_given_and_a_hub_only_session_its_allocation() -> None:
    reported = {"cpu_core_seconds": 5.0, "gpu_seconds": 1.0}
    with_extension = charged_totals(reported, 100, GIVEN, hub_only=False)
    assert with_extension == {"cpu_core_seconds": 5.0, "gpu_seconds": 100.0}
    hub_only = charged_totals({}, 100, GIVEN, hub_only=True)
    assert hub_only == {
        "gpu_seconds": 100.0,
        "cpu_core_seconds": 200.0,
        "memory_byte_seconds": 400 * GIB,
    }
    assert charged_totals(reported, 100, None, hub_only=True) == reported


def test_a_charged_session_keeps_its_times_and_takes_the_price_lists_currency() -> None:
    session = KpiSession(
        user="bob", started=0.0, end=HOUR, ended=True, groups=("g",), cost_total=None
    )
    charged = charged_session(session, RATES, GIVEN, hub_only=True)
    assert (charged.user, charged.started, charged.end, charged.groups) == ("bob", 0, HOUR, ("g",))
    assert charged.currency == "EUR"
    assert charged.cost_total == pytest.approx(4.1)
    assert charged.totals["gpu_seconds"] == HOUR


def test_a_report_above_its_allocation_is_clipped_to_it() -> None:
    allowed = (1 + CLIP_TOLERANCE) * (100 + CLIP_SLACK_SECONDS)
    totals = {
        "cpu_core_seconds": 10_000.0,
        "peak_memory_bytes": 64 * 2**30,
        "gpu_seconds": 1_000.0,
        "gpu_seconds_by_model": {"A100": 1_000.0},
        "memory_byte_seconds": 1.0,
        "idle_seconds": 99.0,
    }
    clipped, names = clip_report(totals, GIVEN, 100)
    assert names == ("cpu_core_seconds", "gpu_seconds", "peak_memory_bytes")
    assert clipped["cpu_core_seconds"] == pytest.approx(2 * allowed)
    assert clipped["gpu_seconds"] == pytest.approx(allowed)
    assert clipped["gpu_seconds_by_model"]["A100"] == pytest.approx(allowed)
    assert clipped["peak_memory_bytes"] == int(4 * GIB * (1 + CLIP_TOLERANCE))
    assert isinstance(clipped["peak_memory_bytes"], int)
    assert clipped["memory_byte_seconds"] == 1.0
    assert clipped["idle_seconds"] == 99.0


def test_a_report_within_its_allocation_or_without_one_is_kept_as_it_is() -> None:
    totals = {"cpu_core_seconds": 200.0, "peak_memory_bytes": 4 * 2**30}
    assert clip_report(totals, GIVEN, 100) == (totals, ())
    assert clip_report({"cpu_core_seconds": 1e12}, None, 100) == ({"cpu_core_seconds": 1e12}, ())
    assert clip_report({"cpu_core_seconds": 1e12}, Allocation(gpus=1), 100)[1] == ()


def test_allocations_from_json_are_checked_and_zero_means_not_set() -> None:
    given = parse_allocation({"cpu_limit_cores": 2, "memory_limit_bytes": 0, "profile": "small"})
    assert given == Allocation(cpu_limit_cores=2.0, profile="small")
    assert given.to_json()["memory_limit_bytes"] is None
    for bad, said in (
        ([], "must be an object"),
        ({"cpus": 1}, "unknown keys ['cpus']"),
        ({"gpus": -1}, "'gpus' must be a finite number >= 0"),
        ({"gpus": "1"}, "'gpus' must be a number"),
        ({"gpus": True}, "'gpus' must be a number"),
        ({"profile": "a\nb"}, "'profile' must be a profile slug"),
        ({"cpu_limit_cores": 10**400}, "finite"),
    ):
        with pytest.raises(AllocationError, match=said.replace("[", r"\[").replace("]", r"\]")):
            parse_allocation(bad)


def test_the_profile_map_names_each_entry_by_its_slug() -> None:
    found = parse_profile_allocations({"gpu": {"gpus": 1}}, "UsageService.profile_allocations")
    assert found == {"gpu": Allocation(gpus=1.0, profile="gpu")}
    with pytest.raises(AllocationError, match=r"UsageService.profile_allocations\['gpu'\]"):
        parse_profile_allocations({"gpu": {"gpu": 1}}, "UsageService.profile_allocations")
