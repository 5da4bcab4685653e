"""What a session costs: configurable rates, billing bases and hub overrides.

`CostModel` holds the admin's configuration; `effective_rates` resolves it for one user
(groups) and one spawn profile into `Rates`; `cost_of` and `hourly_cost` price usage with
them. Everything below the traits is pure: no I/O, no clocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from traitlets import Dict, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable
from traitlets.utils.bunch import Bunch

from .currencies import ACTIVE_CURRENCY_CODES
from .ledger import Allocation, UsageTotals, integrate_sample
from .sampling.sample import Sample
from .traits import BoundedFloat, NamedCaselessStrEnum

RATE_NAMES = ("cpu_core_hour", "memory_gib_hour", "gpu_hour", "disk_gib_month", "server_hour")
"""The flat rates, each in currency units per unit of resource and time."""
OVERRIDE_NAMES = (
    "cpu_core_hour",
    "memory_gib_hour",
    "gpu_hour",
    "gpu_hour_by_model",
    "disk_gib_month",
    "server_hour",
)
"""What a `group_rates` or `profile_rates` entry may set."""
BASES = ("used", "allocated", "max")
BYTES_PER_GIB = 2**30
SECONDS_PER_HOUR = 3600.0
HOURS_PER_MONTH = 365 * 24 / 12
"""730: a billing month is a twelfth of a 365-day year."""

_T = TypeVar("_T")


def _rate_help(what: str, unit: str) -> str:
    return (
        f"Price of {what}, in `currency` units per {unit}. "
        "The default, 0, makes it free. Must be a finite number >= 0."
    )


class CostModel(LoggingConfigurable):
    """Rates, currency and billing basis that turn measured usage into money."""

    cpu_core_hour = BoundedFloat(
        0.0,
        min=0,
        config=True,
        help=_rate_help("CPU", "core-hour (one core for one hour)"),
    )
    memory_gib_hour = BoundedFloat(
        0.0,
        min=0,
        config=True,
        help=_rate_help("memory", "GiB-hour (2**30 bytes for one hour)"),
    )
    gpu_hour = BoundedFloat(
        0.0,
        min=0,
        config=True,
        help=_rate_help("a GPU", "GPU-hour (one device for one hour)")
        + " Used for every GPU model that `gpu_hour_by_model` does not name.",
    )
    gpu_hour_by_model = Dict(
        config=True,
        help="""Price of a GPU-hour per GPU model, in `currency` units.

        Keys are device names exactly as NVML reports them (what `nvidia-smi -L` shows), e.g.
        `{"NVIDIA A100-SXM4-40GB": 2.9, "Tesla T4": 0.35}`. A model not named here costs
        `gpu_hour`. The default, an empty dict, prices every model at `gpu_hour`.
        """,
    )
    disk_gib_month = BoundedFloat(
        0.0,
        min=0,
        config=True,
        help=_rate_help("storage", "GiB-month (2**30 bytes for 730 hours, a twelfth of 365 days)")
        + " The first disk the sampler reports (the home volume) is billed. Under the"
        " `allocated` and `max` bases that is the size of its filesystem only when the space"
        " is reserved for the user (a volume of its own, or `UsageApp.disk_reserved`);"
        " a shared filesystem is billed on the bytes used.",
    )
    server_hour = BoundedFloat(
        0.0,
        min=0,
        config=True,
        help=_rate_help("a running server", "hour it runs, whatever it uses")
        + " Charged the same under every basis.",
    )
    currency = Unicode(
        "USD",
        config=True,
        help="""ISO 4217 code of the currency all rates are in, e.g. "EUR".

        Lowercase is accepted and upper-cased. Only codes in current use are valid. The
        default is "USD". Costs are never converted: the code is shown next to the figures.
        """,
    )
    basis = NamedCaselessStrEnum(
        BASES,
        "max",
        config=True,
        help="""What is billed for CPU, memory, GPU and disk: "used", "allocated" or "max".

        "used" bills measured usage over time (GPU usage is utilization: a device at 50%
        for an hour is half a GPU-hour). "allocated" bills what the server is given over
        time, whether used or not: for CPU and memory the guarantee when the spawner set one,
        else the limit; for GPUs the devices attached; for disk the size of the home
        volume when it is reserved for the user (see `UsageApp.disk_reserved`), else
        the bytes used. "max" bills, at every sample, the larger of the two (as OpenCost does).
        Where no allocation is known for a resource (no limit, say), "allocated" and "max"
        bill its usage instead and the cost says so in `basis_fallbacks`. `server_hour` is
        billed the same under every basis. The default is "max".
        """,
    )
    group_rates = Dict(
        config=True,
        help="""Rates for members of JupyterHub groups: {group name: {rate name: value}}.

        Rate names are those of this class: cpu_core_hour, memory_gib_hour, gpu_hour,
        gpu_hour_by_model (a dict, as above), disk_gib_month and server_hour; values are
        in `currency` units and must be >= 0. A rate a group does not set keeps its base
        value. For a user in several groups the cheapest matching group wins, rate by rate.
        An entry that sets gpu_hour prices every GPU model its own gpu_hour_by_model does
        not name, the base gpu_hour_by_model included. `profile_rates` beats group rates.
        The default, an empty dict, sets no group rates.
        """,
    )
    profile_rates = Dict(
        config=True,
        help="""Rates for servers started with a spawn profile: {profile slug: {rate: value}}.

        Same rate names and units as `group_rates`. A profile is the most specific choice,
        so its rates beat both the base rates and any group's. The default, an empty dict,
        sets no profile rates.
        """,
    )

    @validate("gpu_hour_by_model")
    def _validate_gpu_hour_by_model(self, proposal: Bunch) -> dict[str, float]:
        return _check_model_rates("CostModel.gpu_hour_by_model", proposal.value)

    @validate("currency")
    def _validate_currency(self, proposal: Bunch) -> str:
        code = str(proposal.value).strip().upper()
        if code not in ACTIVE_CURRENCY_CODES:
            raise TraitError(
                f"CostModel.currency must be an ISO 4217 code in current use,"
                f" such as 'USD' or 'EUR', got {proposal.value!r}"
            )
        return code

    @validate("group_rates", "profile_rates")
    def _validate_overrides(self, proposal: Bunch) -> dict[str, dict[str, Any]]:
        return _check_overrides(f"CostModel.{proposal.trait.name}", proposal.value)

    def effective_rates(self, groups: Sequence[str] = (), profile: str | None = None) -> Rates:
        """The rates for a user in `groups` running a server from spawn `profile`.

        Base rates, overridden by the cheapest matching group (rate by rate), overridden by
        the profile.
        """
        matched = sorted({g for g in groups if g in self.group_rates})
        group_layers = [(f"group:{g}", self.group_rates[g]) for g in matched]
        profile_layers = (
            [(f"profile:{profile}", self.profile_rates[profile])]
            if profile is not None and profile in self.profile_rates
            else []
        )
        applied: set[str] = set()
        flat = {
            name: _override(
                float(getattr(self, name)), profile_layers, group_layers, _flat, name, applied
            )
            for name in RATE_NAMES
        }
        base_by_model: dict[str, float] = dict(self.gpu_hour_by_model)
        models = set(base_by_model)
        for _, layer in profile_layers + group_layers:
            models.update(layer.get("gpu_hour_by_model", {}))
        by_model = {
            model: _override(
                base_by_model.get(model, float(self.gpu_hour)),
                profile_layers,
                group_layers,
                _gpu_model,
                model,
                applied,
            )
            for model in sorted(models)
        }
        labels = [label for label, _ in group_layers + profile_layers]
        return Rates(
            cpu_core_hour=flat["cpu_core_hour"],
            memory_gib_hour=flat["memory_gib_hour"],
            gpu_hour=flat["gpu_hour"],
            gpu_hour_by_model=by_model,
            disk_gib_month=flat["disk_gib_month"],
            server_hour=flat["server_hour"],
            currency=self.currency,
            basis=self.basis,
            sources=tuple(label for label in labels if label in applied),
        )


@dataclass(frozen=True)
class Rates:
    """The rates that apply to one session, resolved from a `CostModel`."""

    cpu_core_hour: float = 0.0
    memory_gib_hour: float = 0.0
    gpu_hour: float = 0.0
    gpu_hour_by_model: Mapping[str, float] = field(default_factory=dict)
    disk_gib_month: float = 0.0
    server_hour: float = 0.0
    currency: str = "USD"
    basis: str = "max"
    sources: tuple[str, ...] = ()
    """The overrides that set at least one rate, e.g. ("group:physics", "profile:gpu")."""

    def gpu_rate(self, model: str) -> float:
        """Price of a GPU-hour of `model` (an NVML device name)."""
        return self.gpu_hour_by_model.get(model, self.gpu_hour)

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu_core_hour": self.cpu_core_hour,
            "memory_gib_hour": self.memory_gib_hour,
            "gpu_hour": self.gpu_hour,
            "gpu_hour_by_model": dict(self.gpu_hour_by_model),
            "disk_gib_month": self.disk_gib_month,
            "server_hour": self.server_hour,
            "currency": self.currency,
            "basis": self.basis,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class Cost:
    """An amount of money, per resource, and how it was reckoned."""

    currency: str
    total: float
    basis: str
    breakdown: dict[str, float]
    """Keys cpu, memory, gpu, disk and server."""
    basis_fallbacks: tuple[str, ...] = ()
    """Resources billed on usage because no allocation was known for some of the time."""
    billed: dict[str, float] | None = None
    """The quantities priced: cpu_core_seconds, memory_byte_seconds, gpu_seconds,
    disk_byte_seconds and seconds (the duration), so that a view can show "2 cores
    reserved for 4 min" beside the money."""
    billed_reserved: tuple[str, ...] = ()
    """Resources whose billed quantity is the reservation, larger than the use."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "currency": self.currency,
            "total": self.total,
            "basis": self.basis,
            "breakdown": dict(self.breakdown),
            "basis_fallbacks": list(self.basis_fallbacks),
        }
        if self.billed is not None:
            body["billed"] = dict(self.billed)
            body["billed_reserved"] = list(self.billed_reserved)
        return body


def cost_of(totals: UsageTotals, rates: Rates) -> Cost:
    """Price `totals` with `rates` under `rates.basis`."""
    basis = rates.basis
    if basis not in BASES:
        raise ValueError(f"unknown basis {basis!r}; known: {', '.join(BASES)}")
    cpu = _pick(
        basis,
        totals.cpu_core_seconds,
        totals.allocated_cpu_core_seconds,
        totals.max_cpu_core_seconds,
    )
    memory = _pick(
        basis,
        totals.memory_byte_seconds,
        totals.allocated_memory_byte_seconds,
        totals.max_memory_byte_seconds,
    )
    gpu_by_model = _pick(
        basis,
        totals.gpu_utilization_seconds_by_model,
        totals.allocated_gpu_seconds_by_model,
        totals.max_gpu_seconds_by_model,
    )
    disk = _pick(
        basis,
        totals.disk_byte_seconds,
        totals.allocated_disk_byte_seconds,
        totals.max_disk_byte_seconds,
    )
    breakdown = {
        "cpu": cpu / SECONDS_PER_HOUR * rates.cpu_core_hour,
        "memory": memory / BYTES_PER_GIB / SECONDS_PER_HOUR * rates.memory_gib_hour,
        "gpu": math.fsum(
            seconds / SECONDS_PER_HOUR * rates.gpu_rate(model)
            for model, seconds in gpu_by_model.items()
        ),
        "disk": disk / BYTES_PER_GIB / (HOURS_PER_MONTH * SECONDS_PER_HOUR) * rates.disk_gib_month,
        "server": totals.duration_seconds / SECONDS_PER_HOUR * rates.server_hour,
    }
    billed = {
        "cpu_core_seconds": cpu,
        "memory_byte_seconds": memory,
        "gpu_seconds": math.fsum(gpu_by_model.values()),
        "disk_byte_seconds": disk,
        "seconds": totals.duration_seconds,
    }
    return Cost(
        currency=rates.currency,
        total=math.fsum(breakdown.values()),
        basis=basis,
        breakdown=breakdown,
        basis_fallbacks=_fallbacks(totals) if basis != "used" else (),
        billed=billed,
        billed_reserved=_reserved(totals, billed) if basis != "used" else (),
    )


def hourly_cost(sample: Sample, rates: Rates, allocation: Allocation) -> Cost:
    """What an hour costs if usage and allocation stay as they are in `sample`."""
    totals = UsageTotals()
    integrate_sample(totals, sample, allocation, SECONDS_PER_HOUR)
    return cost_of(totals, rates)


_Layers = list[tuple[str, Mapping[str, Any]]]


def _override(
    base: float,
    profile_layers: _Layers,
    group_layers: _Layers,
    price: Callable[[Mapping[str, Any], str], float | None],
    key: str,
    applied: set[str],
) -> float:
    """The profile's price for `key`, else the cheapest group's, else `base`."""
    for label, layer in profile_layers:
        if (value := price(layer, key)) is not None:
            applied.add(label)
            return value
    priced = [(v, label) for label, layer in group_layers if (v := price(layer, key)) is not None]
    if not priced:
        return base
    value, label = min(priced)
    applied.add(label)
    return value


def _flat(layer: Mapping[str, Any], name: str) -> float | None:
    value = layer.get(name)
    return None if value is None else float(value)


def _gpu_model(layer: Mapping[str, Any], model: str) -> float | None:
    # Within one layer a per-model rate beats that layer's gpu_hour; a layer that prices
    # GPUs at all beats every less specific one, per-model rates included.
    value = layer.get("gpu_hour_by_model", {}).get(model, layer.get("gpu_hour"))
    return None if value is None else float(value)


def _pick(basis: str, used: _T, allocated: _T, larger: _T) -> _T:
    return {"used": used, "allocated": allocated, "max": larger}[basis]


def _reserved(totals: UsageTotals, billed: Mapping[str, float]) -> tuple[str, ...]:
    # Where the bill is for more than was used, it is the reservation that was billed.
    used = {
        "cpu": (totals.cpu_core_seconds, billed["cpu_core_seconds"]),
        "memory": (totals.memory_byte_seconds, billed["memory_byte_seconds"]),
        "gpu": (totals.gpu_utilization_seconds, billed["gpu_seconds"]),
        "disk": (totals.disk_byte_seconds, billed["disk_byte_seconds"]),
    }
    return tuple(r for r, (use, bill) in used.items() if bill > use * (1 + 1e-9) and bill > 0)


def _fallbacks(totals: UsageTotals) -> tuple[str, ...]:
    # Only where it changed something: no GPU attached is no fallback worth mentioning.
    used = {
        "cpu": totals.cpu_core_seconds,
        "memory": totals.memory_byte_seconds,
        "gpu": totals.gpu_utilization_seconds,
        "disk": totals.disk_byte_seconds,
    }
    unallocated = {
        "cpu": totals.unallocated_seconds_cpu,
        "memory": totals.unallocated_seconds_memory,
        "gpu": totals.unallocated_seconds_gpu,
        "disk": totals.unallocated_seconds_disk,
    }
    return tuple(r for r in used if unallocated[r] > 0 and used[r] > 0)


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value)


def _check_rate(where: str, value: Any) -> float:
    if isinstance(value, str):
        # Dict items from the command line arrive as strings: --CostModel.gpu_hour_by_model=T4=0.5
        try:
            value = float(value)
        except ValueError:
            raise TraitError(f"{where} must be a number >= 0, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TraitError(f"{where} must be a number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise TraitError(f"{where} must be >= 0, got {_show(value)}")
    return float(value)


def _check_model_rates(where: str, value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise TraitError(f"{where} must be a dict of {{GPU model: rate}}, got {value!r}")
    checked = {}
    for model, rate in value.items():
        if not isinstance(model, str) or not model:
            raise TraitError(f"{where} keys must be GPU model names, got {model!r}")
        checked[model] = _check_rate(f"{where}[{model!r}]", rate)
    return checked


def _check_overrides(where: str, value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise TraitError(f"{where} must be a dict of {{name: {{rate name: value}}}}, got {value!r}")
    checked: dict[str, dict[str, Any]] = {}
    for name, rates in value.items():
        entry = f"{where}[{name!r}]"
        if not isinstance(name, str):
            raise TraitError(f"{where} keys must be names (strings), got {name!r}")
        if not isinstance(rates, Mapping):
            raise TraitError(f"{entry} must be a dict of {{rate name: value}}, got {rates!r}")
        checked[name] = {}
        for rate, rate_value in rates.items():
            if rate not in OVERRIDE_NAMES:
                raise TraitError(
                    f"{entry} has unknown rate {rate!r}; known: {', '.join(OVERRIDE_NAMES)}"
                )
            if rate == "gpu_hour_by_model":
                checked[name][rate] = _check_model_rates(f"{entry}[{rate!r}]", rate_value)
            else:
                checked[name][rate] = _check_rate(f"{entry}[{rate!r}]", rate_value)
    return checked
