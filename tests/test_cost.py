"""The cost model: trait validation, rate resolution and the arithmetic of every basis."""

from __future__ import annotations

import json
from typing import Any

import pytest
from traitlets import TraitError
from traitlets.config import Application, Config

from jupyter_usage.cost import (
    HOURS_PER_MONTH,
    RATE_NAMES,
    CostModel,
    Rates,
    cost_of,
    hourly_cost,
)
from jupyter_usage.currencies import ACTIVE_CURRENCY_CODES
from jupyter_usage.ledger import Allocation, Ledger, UsageTotals
from jupyter_usage.sampling.sample import CpuUsage, DiskUsage, GpuUsage, MemoryUsage, Sample

GIB = 2**30
A100 = "NVIDIA A100-SXM4-40GB"
T4 = "Tesla T4"


def model(**traits: Any) -> CostModel:
    return CostModel(config=Config({"CostModel": traits}))


def gpu(index: int, name: str | None, utilization_percent: float | None) -> GpuUsage:
    return GpuUsage(index, f"GPU-{index}", name, utilization_percent, GIB, 40 * GIB, None)


def sample(
    time: float,
    cores: float | None = 0.0,
    memory_bytes: int | None = 0,
    limit_cores: float | None = None,
    guarantee_cores: float | None = None,
    limit_bytes: int | None = None,
    gpus: tuple[GpuUsage, ...] = (),
    disk: tuple[DiskUsage, ...] = (),
    idle: bool = False,
) -> Sample:
    return Sample(
        time=time,
        cpu=CpuUsage(cores=cores, limit_cores=limit_cores, guarantee_cores=guarantee_cores),
        memory=MemoryUsage(used_bytes=memory_bytes, limit_bytes=limit_bytes),
        gpus=gpus,
        disk=disk,
        idle=idle,
    )


# --- arithmetic -------------------------------------------------------------------------


def test_one_core_for_ten_seconds() -> None:
    rates = Rates(cpu_core_hour=3600.0, basis="used")
    cost = cost_of(UsageTotals(duration_seconds=10.0, cpu_core_seconds=10.0), rates)
    assert cost.total == 10.0
    assert cost.breakdown == {"cpu": 10.0, "memory": 0.0, "gpu": 0.0, "disk": 0.0, "server": 0.0}
    assert cost.currency == "USD"
    assert cost.basis == "used"


def test_two_gib_for_half_an_hour() -> None:
    rates = Rates(memory_gib_hour=1.0, basis="used")
    totals = UsageTotals(duration_seconds=1800.0, memory_byte_seconds=2 * GIB * 1800.0)
    assert cost_of(totals, rates).total == 1.0


def test_disk_is_priced_per_month_of_730_hours() -> None:
    assert HOURS_PER_MONTH == 730.0
    rates = Rates(disk_gib_month=3.0, basis="used")
    # 10 GiB for a whole 730-hour month, then 1 GiB for one hour.
    month = UsageTotals(disk_byte_seconds=10 * GIB * 730 * 3600.0)
    hour = UsageTotals(disk_byte_seconds=GIB * 3600.0)
    assert cost_of(month, rates).total == pytest.approx(30.0)
    assert cost_of(hour, rates).total == pytest.approx(3.0 / 730)


def test_server_hour_is_charged_under_every_basis() -> None:
    totals = UsageTotals(duration_seconds=5400.0, cpu_core_seconds=100.0)
    for basis in ("used", "allocated", "max"):
        cost = cost_of(totals, Rates(server_hour=2.0, basis=basis))
        assert cost.breakdown["server"] == 3.0
        assert cost.total == 3.0


def test_max_basis_charges_the_limit_when_usage_is_below_it() -> None:
    ledger = Ledger("s", started=0.0, max_gap_seconds=3600.0)
    ledger.add(sample(0.0, cores=0.5, limit_cores=2.0))
    ledger.add(sample(3600.0, cores=0.5, limit_cores=2.0))
    totals = ledger.totals

    assert cost_of(totals, Rates(cpu_core_hour=1.0, basis="max")).total == 2.0
    assert cost_of(totals, Rates(cpu_core_hour=1.0, basis="allocated")).total == 2.0
    assert cost_of(totals, Rates(cpu_core_hour=1.0, basis="used")).total == 0.5


def test_an_hour_between_two_samples_is_billed_as_one_minute() -> None:
    ledger = Ledger("s", started=0.0)  # default max_gap_seconds: 60
    ledger.add(sample(0.0, cores=0.5, limit_cores=2.0))
    ledger.add(sample(3600.0, cores=0.5, limit_cores=2.0))
    cost = cost_of(ledger.totals, Rates(cpu_core_hour=3600.0, server_hour=3600.0, basis="max"))
    assert cost.breakdown["cpu"] == 2.0 * 60
    assert cost.breakdown["server"] == 60.0


def test_allocated_without_a_limit_falls_back_to_used_and_says_so() -> None:
    ledger = Ledger("s", started=0.0)
    ledger.add(sample(0.0, cores=0.5, memory_bytes=GIB, limit_bytes=4 * GIB))
    ledger.add(sample(10.0))
    totals = ledger.totals

    cost = cost_of(totals, Rates(cpu_core_hour=3600.0, memory_gib_hour=360.0, basis="allocated"))
    assert cost.breakdown["cpu"] == 5.0  # 0.5 cores used for 10 s
    assert cost.breakdown["memory"] == 4.0  # the 4 GiB limit for 10 s
    assert cost.basis_fallbacks == ("cpu",)
    assert cost.to_json()["basis_fallbacks"] == ["cpu"]
    # Under "used" nothing fell back.
    assert cost_of(totals, Rates(cpu_core_hour=1.0, basis="used")).basis_fallbacks == ()


def test_no_gpu_is_not_a_fallback() -> None:
    ledger = Ledger("s", started=0.0)
    ledger.add(sample(0.0, cores=1.0, limit_cores=1.0, memory_bytes=GIB, limit_bytes=GIB))
    ledger.add(sample(10.0))
    assert cost_of(ledger.totals, Rates(basis="max")).basis_fallbacks == ()


def test_gpu_hour_by_model_picks_the_model_rate() -> None:
    rates = model(gpu_hour=1.0, gpu_hour_by_model={A100: 3.0}, basis="allocated").effective_rates()
    ledger = Ledger("s", started=0.0, max_gap_seconds=3600.0)
    ledger.add(sample(0.0, gpus=(gpu(0, A100, 10.0), gpu(1, T4, 10.0))))
    ledger.add(sample(3600.0))
    cost = cost_of(ledger.totals, rates)
    assert cost.breakdown["gpu"] == 3.0 + 1.0
    assert rates.gpu_rate(A100) == 3.0
    assert rates.gpu_rate(T4) == 1.0


def test_used_gpu_is_utilization_times_time() -> None:
    rates = Rates(gpu_hour=2.0, gpu_hour_by_model={A100: 4.0}, basis="used")
    ledger = Ledger("s", started=0.0, max_gap_seconds=3600.0)
    ledger.add(sample(0.0, gpus=(gpu(0, A100, 25.0), gpu(1, None, 50.0))))
    ledger.add(sample(1800.0))
    # A100 at 25% for half an hour at 4/h, plus an unnamed GPU at 50% at the 2/h fallback.
    assert cost_of(ledger.totals, rates).breakdown["gpu"] == pytest.approx(0.5 + 0.5)


def test_cost_of_a_ledger_for_every_basis() -> None:
    disk = (DiskUsage("/home/jovyan", 2 * GIB, 10 * GIB, 8 * GIB, reserved=True),)
    ledger = Ledger("s", started=0.0, max_gap_seconds=600.0)
    # 0-100 s: 1 core of a 2-core limit, 3 GiB of a 2 GiB limit, an A100 at 40%, the disk.
    ledger.add(
        sample(
            0.0,
            cores=1.0,
            limit_cores=2.0,
            memory_bytes=3 * GIB,
            limit_bytes=2 * GIB,
            gpus=(gpu(0, A100, 40.0),),
            disk=disk,
        )
    )
    # 100-300 s: 3 cores with no limit known, 1 GiB of a 2 GiB limit, no GPU, the disk.
    ledger.add(
        sample(100.0, cores=3.0, memory_bytes=GIB, limit_bytes=2 * GIB, disk=disk, idle=True)
    )
    ledger.add(sample(300.0))
    totals = ledger.totals
    base = {
        "cpu_core_hour": 36.0,  # 0.01 per core-second
        "memory_gib_hour": 360.0,  # 0.1 per GiB-second
        "gpu_hour": 1.0,
        "gpu_hour_by_model": {A100: 3600.0},  # 1 per GPU-second
        "disk_gib_month": 730 * 3600.0,  # 1 per GiB-second
        "server_hour": 3600.0,  # 1 per second
    }

    used = model(**base, basis="used").effective_rates()
    cost = cost_of(totals, used)
    assert cost.breakdown == pytest.approx(
        {
            "cpu": 0.01 * (1 * 100 + 3 * 200),
            "memory": 0.1 * (3 * 100 + 1 * 200),
            "gpu": 0.4 * 100,
            "disk": 2 * 300,
            "server": 300,
        }
    )
    assert cost.total == pytest.approx(7 + 50 + 40 + 600 + 300)
    assert cost.basis_fallbacks == ()

    allocated = model(**base, basis="allocated").effective_rates()
    cost = cost_of(totals, allocated)
    assert cost.breakdown == pytest.approx(
        {
            "cpu": 0.01 * (2 * 100 + 3 * 200),  # no limit from 100 s: used stands in
            "memory": 0.1 * (2 * 100 + 2 * 200),
            "gpu": 1 * 100,
            "disk": 10 * 300,
            "server": 300,
        }
    )
    assert cost.basis_fallbacks == ("cpu",)

    larger = model(**base, basis="max").effective_rates()
    cost = cost_of(totals, larger)
    assert cost.breakdown == pytest.approx(
        {
            "cpu": 0.01 * (2 * 100 + 3 * 200),
            "memory": 0.1 * (3 * 100 + 2 * 200),
            "gpu": 1 * 100,
            "disk": 10 * 300,
            "server": 300,
        }
    )
    assert cost.basis_fallbacks == ("cpu",)
    assert totals.idle_seconds == 200.0


def test_hourly_cost_prices_the_current_sample_for_an_hour() -> None:
    rates = model(cpu_core_hour=1.0, memory_gib_hour=0.5, server_hour=0.25).effective_rates()
    now = sample(0.0, cores=0.5, limit_cores=2.0, memory_bytes=GIB)
    cost = hourly_cost(now, rates, Allocation.from_sample(now))
    assert cost.basis == "max"
    assert cost.breakdown["cpu"] == 2.0
    assert cost.breakdown["memory"] == 0.5  # no memory limit: 1 GiB used
    assert cost.breakdown["server"] == 0.25
    assert cost.total == 2.75
    assert cost.basis_fallbacks == ("memory",)

    given = hourly_cost(now, rates, Allocation(cpu_cores=4.0, memory_bytes=4 * GIB))
    assert given.breakdown["cpu"] == 4.0
    assert given.breakdown["memory"] == 2.0
    assert given.basis_fallbacks == ()


def test_cost_and_rates_are_json() -> None:
    rates = model(
        cpu_core_hour=0.5,
        gpu_hour_by_model={A100: 2.9},
        currency="eur",
        group_rates={"physics": {"cpu_core_hour": 0.1}},
    ).effective_rates(groups=["physics"])
    body = json.loads(json.dumps(rates.to_json()))
    assert body == {
        "cpu_core_hour": 0.1,
        "memory_gib_hour": 0.0,
        "gpu_hour": 0.0,
        "gpu_hour_by_model": {A100: 2.9},
        "disk_gib_month": 0.0,
        "server_hour": 0.0,
        "currency": "EUR",
        "basis": "max",
        "sources": ["group:physics"],
    }
    totals = UsageTotals(duration_seconds=3600.0, cpu_core_seconds=1.0, max_cpu_core_seconds=3600.0)
    cost = cost_of(totals, rates)
    body = json.loads(json.dumps(cost.to_json()))
    assert body["currency"] == "EUR"
    assert body["total"] == pytest.approx(0.1)
    assert set(body["breakdown"]) == {"cpu", "memory", "gpu", "disk", "server"}


def test_cost_of_rejects_an_unknown_basis() -> None:
    with pytest.raises(ValueError, match="basis"):
        cost_of(UsageTotals(), Rates(basis="cheap"))


# --- overrides --------------------------------------------------------------------------


def test_base_rates_without_overrides() -> None:
    cost_model = model(cpu_core_hour=0.04, group_rates={"physics": {"cpu_core_hour": 0.01}})
    rates = cost_model.effective_rates(groups=["chemistry"], profile="small")
    assert rates.cpu_core_hour == 0.04
    assert rates.sources == ()


def test_cheapest_matching_group_wins_rate_by_rate() -> None:
    cost_model = model(
        cpu_core_hour=0.04,
        memory_gib_hour=0.005,
        server_hour=0.1,
        group_rates={
            "physics": {"cpu_core_hour": 0.02, "memory_gib_hour": 0.009},
            "students": {"cpu_core_hour": 0.01},
            "staff": {"cpu_core_hour": 0.03, "memory_gib_hour": 0.001},
            "premium": {"server_hour": 1.0},
        },
    )
    rates = cost_model.effective_rates(groups=["staff", "physics", "students", "other"])
    assert rates.cpu_core_hour == 0.01  # students
    assert rates.memory_gib_hour == 0.001  # staff
    assert rates.server_hour == 0.1  # no matching group sets it
    assert rates.sources == ("group:staff", "group:students")  # physics set nothing that won
    # A group's rate replaces the base even when it is dearer.
    assert cost_model.effective_rates(groups=["premium"]).server_hour == 1.0


def test_profile_beats_groups() -> None:
    cost_model = model(
        cpu_core_hour=0.04,
        gpu_hour=2.0,
        group_rates={"physics": {"cpu_core_hour": 0.01, "gpu_hour": 1.0}},
        profile_rates={"gpu-small": {"gpu_hour": 3.0}},
    )
    rates = cost_model.effective_rates(groups=["physics"], profile="gpu-small")
    assert rates.gpu_hour == 3.0
    assert rates.cpu_core_hour == 0.01
    assert rates.sources == ("group:physics", "profile:gpu-small")


def test_gpu_overrides_by_model() -> None:
    cost_model = model(
        gpu_hour=1.0,
        gpu_hour_by_model={A100: 3.0, T4: 0.5},
        group_rates={
            "lab": {"gpu_hour": 2.0},
            "sponsored": {"gpu_hour_by_model": {A100: 1.5}},
        },
        profile_rates={"t4-free": {"gpu_hour_by_model": {T4: 0.0}}},
    )
    # A group's gpu_hour prices every model, being more specific than the base by-model rates.
    lab = cost_model.effective_rates(groups=["lab"])
    assert (lab.gpu_rate(A100), lab.gpu_rate(T4), lab.gpu_rate("H100")) == (2.0, 2.0, 2.0)
    # Cheapest group per model: sponsored for the A100, lab for the rest.
    both = cost_model.effective_rates(groups=["lab", "sponsored"])
    assert (both.gpu_rate(A100), both.gpu_rate(T4), both.gpu_rate("H100")) == (1.5, 2.0, 2.0)
    # The profile prices only the T4; other models keep what groups and base say.
    free = cost_model.effective_rates(groups=["sponsored"], profile="t4-free")
    assert (free.gpu_rate(A100), free.gpu_rate(T4), free.gpu_rate("H100")) == (1.5, 0.0, 1.0)
    assert free.sources == ("group:sponsored", "profile:t4-free")


def test_effective_rates_is_pure() -> None:
    cost_model = model(gpu_hour_by_model={A100: 3.0}, group_rates={"g": {"gpu_hour": 1.0}})
    first = cost_model.effective_rates(groups=["g"])
    assert cost_model.effective_rates(groups=["g"]) == first
    assert cost_model.gpu_hour_by_model == {A100: 3.0}
    assert cost_model.group_rates == {"g": {"gpu_hour": 1.0}}


# --- validation -------------------------------------------------------------------------


def test_defaults() -> None:
    cost_model = CostModel()
    rates = cost_model.effective_rates()
    assert rates == Rates()
    assert cost_model.currency == "USD"
    assert cost_model.basis == "max"
    for name in RATE_NAMES:
        assert getattr(cost_model, name) == 0.0


@pytest.mark.parametrize("name", RATE_NAMES)
def test_negative_rate_names_the_trait(name: str) -> None:
    cost_model = CostModel()
    with pytest.raises(TraitError, match=rf"^CostModel\.{name} must be >= 0, got -1$"):
        setattr(cost_model, name, -1)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_rate_is_rejected(value: float) -> None:
    with pytest.raises(TraitError, match=r"CostModel\.cpu_core_hour must be >= 0"):
        CostModel(cpu_core_hour=value)


def test_invalid_config_fails_at_construction_naming_the_trait() -> None:
    with pytest.raises(TraitError, match=r"CostModel\.basis"):
        CostModel(config=Config({"CostModel": {"basis": "cheap"}}))
    with pytest.raises(TraitError, match=r"CostModel\.memory_gib_hour"):
        CostModel(config=Config({"CostModel": {"memory_gib_hour": -0.5}}))


def test_basis_values() -> None:
    for basis in ("used", "allocated", "max"):
        assert model(basis=basis).basis == basis
    assert model(basis="Used").basis == "used"


def test_currency_is_an_active_iso_4217_code() -> None:
    assert model(currency="eur").currency == "EUR"
    assert model(currency="CHF").currency == "CHF"
    with pytest.raises(TraitError, match=r"CostModel\.currency .* got 'EURO'"):
        model(currency="EURO")
    with pytest.raises(TraitError, match=r"CostModel\.currency"):
        model(currency="DEM")  # the Deutsche Mark is history
    assert {"USD", "EUR", "GBP", "JPY", "INR", "XCG", "ZWG"} <= ACTIVE_CURRENCY_CODES
    assert not {"ANG", "HRK", "SLL", "ZWL"} & ACTIVE_CURRENCY_CODES
    assert all(len(code) == 3 and code.isupper() for code in ACTIVE_CURRENCY_CODES)


def test_gpu_hour_by_model_is_validated() -> None:
    with pytest.raises(TraitError, match=r"^CostModel\.gpu_hour_by_model\['Tesla T4'\] .* -2$"):
        model(gpu_hour_by_model={T4: -2})
    with pytest.raises(TraitError, match=r"CostModel\.gpu_hour_by_model\['Tesla T4'\]"):
        model(gpu_hour_by_model={T4: "cheap"})
    assert model(gpu_hour_by_model={T4: 1}).gpu_hour_by_model == {T4: 1.0}


def test_rates_from_the_command_line() -> None:
    class App(Application):
        classes = [CostModel]

    app = App()
    app.parse_command_line(
        ["--CostModel.gpu_hour_by_model=Tesla T4=0.5", "--CostModel.cpu_core_hour=0.04"]
    )
    cost_model = CostModel(parent=app)
    assert cost_model.gpu_hour_by_model == {T4: 0.5}
    assert cost_model.cpu_core_hour == 0.04


def test_override_with_an_unknown_rate_names_it_and_the_known_ones() -> None:
    with pytest.raises(TraitError) as raised:
        model(group_rates={"physics": {"cpu_hours": 1.0}})
    assert str(raised.value) == (
        "CostModel.group_rates['physics'] has unknown rate 'cpu_hours'; known: cpu_core_hour,"
        " memory_gib_hour, gpu_hour, gpu_hour_by_model, disk_gib_month, server_hour"
    )


def test_override_values_are_validated() -> None:
    with pytest.raises(
        TraitError, match=r"^CostModel\.profile_rates\['gpu'\]\['gpu_hour'\] must be >= 0, got -3$"
    ):
        model(profile_rates={"gpu": {"gpu_hour": -3}})
    with pytest.raises(TraitError, match=r"CostModel\.group_rates\['g'\]\['gpu_hour_by_model'\]"):
        model(group_rates={"g": {"gpu_hour_by_model": {A100: -1.0}}})
    with pytest.raises(TraitError, match=r"CostModel\.group_rates\['g'\] must be a dict"):
        model(group_rates={"g": 0.5})
    with pytest.raises(TraitError, match=r"CostModel\.group_rates\['g'\]\['server_hour'\]"):
        model(group_rates={"g": {"server_hour": True}})


def test_every_trait_has_help() -> None:
    for name, trait in CostModel.class_traits(config=True).items():
        assert trait.help.strip().endswith("."), name
    assert "cheapest matching group wins" in CostModel.class_traits()["group_rates"].help
    assert "730 hours" in CostModel.class_traits()["disk_gib_month"].help
    assert "CostModel.basis" in CostModel.class_get_help()
