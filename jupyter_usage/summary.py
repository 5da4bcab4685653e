"""The end-of-session summary: what a session used and cost, and advice in plain words.

Pure functions over the stored JSON forms (a store record with its `totals` and `cost`
dicts), so a summary can be rebuilt from any record, including a recovered one.
Each piece of advice is one small rule in `RULES`; a new rule is one more function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .i18n import trans

GIB = 2**30
MIB = 2**20
MIN_SESSION_SECONDS = 600.0
"""Averages over a shorter session say little, so rules based on them stay quiet."""


@dataclass(frozen=True)
class SessionFacts:
    """What the advice rules look at; None means unknown and skips the rules needing it."""

    duration_seconds: float | None = None
    """Wall-clock length of the session."""
    accounted_seconds: float | None = None
    """Seconds the ledger integrated (the base of idle time and cost)."""
    idle_seconds: float | None = None
    cost_total: float | None = None
    currency: str | None = None
    peak_memory_bytes: int | None = None
    memory_limit_bytes: int | None = None
    peak_cpu_cores: float | None = None
    cpu_limit_cores: float | None = None
    gpu_count: int | None = None
    gpu_seconds: float | None = None
    """Device-seconds of attached GPUs, busy or not."""
    gpu_utilization_seconds: float | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any], limits: Mapping[str, Any]) -> SessionFacts:
        totals = record.get("totals") or {}
        cost = record.get("cost") or {}
        return cls(
            duration_seconds=record.get("duration_seconds", totals.get("duration_seconds")),
            accounted_seconds=totals.get("duration_seconds"),
            idle_seconds=totals.get("idle_seconds"),
            cost_total=cost.get("total"),
            currency=cost.get("currency"),
            peak_memory_bytes=totals.get("peak_memory_bytes"),
            memory_limit_bytes=limits.get("memory_limit_bytes"),
            peak_cpu_cores=totals.get("peak_cpu_cores"),
            cpu_limit_cores=limits.get("cpu_limit_cores"),
            gpu_count=limits.get("gpu_count"),
            gpu_seconds=totals.get("gpu_seconds"),
            gpu_utilization_seconds=totals.get("gpu_utilization_seconds"),
        )

    @property
    def _base_seconds(self) -> float | None:
        return self.accounted_seconds or self.duration_seconds or None

    @property
    def idle_fraction(self) -> float | None:
        base = self._base_seconds
        if self.idle_seconds is None or base is None:
            return None
        return min(1.0, max(0.0, self.idle_seconds / base))

    @property
    def cost_per_hour(self) -> float | None:
        base = self._base_seconds
        if self.cost_total is None or base is None:
            return None
        return self.cost_total / (base / 3600.0)

    @property
    def gpu_utilization_fraction(self) -> float | None:
        """Mean utilization of the attached GPUs over the session."""
        if not self.gpu_seconds or self.gpu_utilization_seconds is None:
            return None
        return self.gpu_utilization_seconds / self.gpu_seconds

    @property
    def long_enough(self) -> bool:
        return self.duration_seconds is not None and self.duration_seconds >= MIN_SESSION_SECONDS


# -- numbers for people ------------------------------------------------------------------


def format_number(value: float) -> str:
    """One decimal, without a trailing ".0": 8 and 1.1."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def format_bytes(value: float) -> str:
    if value < GIB:
        return f"{round(value / MIB)} MiB"
    return f"{format_number(value / GIB)} GiB"


def format_percent(fraction: float) -> str:
    percent = round(fraction * 100)
    if percent == 0 and fraction > 0:
        return "under 1 %"
    return f"{percent} %"


def format_money(amount: float, currency: str | None) -> str:
    return f"{amount:.2f} {currency or ''}".rstrip()


# -- rules ---------------------------------------------------------------------------------


class Advice(str):
    """A sentence of advice in plain English that also carries a stable `code` and the
    `params` it was made from, so the UI can say it in the user's language."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, params: dict[str, Any], message: str) -> Advice:
        advice = super().__new__(cls, message)
        advice.code = code
        advice.params = params
        return advice

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params, "message": str(self)}


Rule = Callable[[SessionFacts], str | None]
"""A rule returns an `Advice` (or, for a rule of one's own, a plain sentence) or None."""


def memory_near_limit(facts: SessionFacts) -> str | None:
    peak, limit = facts.peak_memory_bytes, facts.memory_limit_bytes
    if peak is None or not limit or peak < 0.9 * limit:
        return None
    return Advice(
        "advice.memory_near_limit",
        {"peak_bytes": peak, "limit_bytes": limit},
        trans.gettext(
            "Your memory peaked at %1 of the %2 limit (%3): a larger server profile would "
            "keep your kernels from running out of memory.",
            format_bytes(peak),
            format_bytes(limit),
            format_percent(peak / limit),
        ),
    )


def cpu_at_limit(facts: SessionFacts) -> str | None:
    peak, limit = facts.peak_cpu_cores, facts.cpu_limit_cores
    if peak is None or not limit or peak < 0.95 * limit:
        return None
    return Advice(
        "advice.cpu_at_limit",
        {"peak_cores": peak, "limit_cores": limit},
        trans.gettext(
            "Your CPU use reached %1 of %2 cores: a profile with more CPU would run your "
            "code faster.",
            format_number(peak),
            format_number(limit),
        ),
    )


SIZE_MARGIN = 0.2
"""Headroom above the peak that a suggested size keeps (a fifth, as jobstats advises)."""

MEMORY_SIZES_BYTES = tuple(2**n * 256 * MIB for n in range(13))
"""Sizes a profile is usually offered in: 256 MiB, 512 MiB, 1 GiB … 1 TiB."""

CPU_SIZES_CORES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


def suggested_size(peak: float, sizes: tuple[float, ...]) -> float | None:
    """The smallest of `sizes` that holds `peak` with `SIZE_MARGIN`; None above them all."""
    wanted = peak * (1 + SIZE_MARGIN)
    return next((size for size in sizes if size >= wanted), None)


def format_duration(seconds: float) -> str:
    """`45 min`, `2 h`, `1.5 h`: how long a reservation lasted."""
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    return f"{format_number(seconds / 3600)} h"


def memory_oversized(facts: SessionFacts) -> str | None:
    peak, limit = facts.peak_memory_bytes, facts.memory_limit_bytes
    if peak is None or not limit or not facts.long_enough or facts.duration_seconds is None:
        return None
    suggested = suggested_size(peak, MEMORY_SIZES_BYTES)
    if suggested is None or suggested >= limit:
        return None
    unused = limit - peak
    return Advice(
        "advice.memory_oversized",
        {
            "peak_bytes": peak,
            "limit_bytes": limit,
            "suggested_bytes": int(suggested),
            "unused_bytes": unused,
            "duration_seconds": facts.duration_seconds,
        },
        trans.gettext(
            "Your memory peaked at %1 of %2: a %3 profile would have been enough; %4 was "
            "reserved and unused for %5.",
            format_bytes(peak),
            format_bytes(limit),
            format_bytes(suggested),
            format_bytes(unused),
            format_duration(facts.duration_seconds),
        ),
    )


def memory_fits(facts: SessionFacts) -> str | None:
    peak, limit = facts.peak_memory_bytes, facts.memory_limit_bytes
    if peak is None or not limit or not facts.long_enough or peak >= 0.9 * limit:
        return None
    suggested = suggested_size(peak, MEMORY_SIZES_BYTES)
    if suggested is not None and suggested < limit:
        return None  # memory_oversized says what would do
    return Advice(
        "advice.memory_fits",
        {"peak_bytes": peak, "limit_bytes": limit},
        trans.gettext(
            "Your memory peaked at %1 of the %2 limit (%3): this size fits, with room to spare.",
            format_bytes(peak),
            format_bytes(limit),
            format_percent(peak / limit),
        ),
    )


def memory_peak(facts: SessionFacts) -> str | None:
    """Without a known limit the peak is still the number to ask for next time."""
    peak = facts.peak_memory_bytes
    if peak is None or facts.memory_limit_bytes or not facts.long_enough or peak <= 0:
        return None
    suggested = suggested_size(peak, MEMORY_SIZES_BYTES)
    if suggested is None:
        return None
    return Advice(
        "advice.memory_peak",
        {"peak_bytes": peak, "suggested_bytes": int(suggested)},
        trans.gettext(
            "Your memory peaked at %1: ask for at least %2 next time.",
            format_bytes(peak),
            format_bytes(suggested),
        ),
    )


def cpu_oversized(facts: SessionFacts) -> str | None:
    peak, limit = facts.peak_cpu_cores, facts.cpu_limit_cores
    if peak is None or not limit or not facts.long_enough or facts.duration_seconds is None:
        return None
    suggested = suggested_size(peak, CPU_SIZES_CORES)
    if suggested is None or suggested >= limit:
        return None
    unused = limit - peak
    return Advice(
        "advice.cpu_oversized",
        {
            "peak_cores": peak,
            "limit_cores": limit,
            "suggested_cores": suggested,
            "unused_cores": unused,
            "duration_seconds": facts.duration_seconds,
        },
        trans.gettext(
            "Your CPU use peaked at %1 of %2 cores: %3 cores would have been enough; %4 "
            "cores were reserved and unused for %5.",
            format_number(peak),
            format_number(limit),
            format_number(suggested),
            format_number(unused),
            format_duration(facts.duration_seconds),
        ),
    )


def gpu_underused(facts: SessionFacts) -> str | None:
    utilization = facts.gpu_utilization_fraction
    if utilization is None or facts.gpu_count == 0 or not facts.long_enough:
        return None
    if utilization >= 0.05:
        return None
    message = (
        trans.gettext(
            "The GPUs were busy only %1 of the time: a CPU profile would cost less.",
            format_percent(utilization),
        )
        if (facts.gpu_count or 1) > 1
        else trans.gettext(
            "The GPU was busy only %1 of the time: a CPU profile would cost less.",
            format_percent(utilization),
        )
    )
    return Advice(
        "advice.gpu_underused",
        {"gpu_count": facts.gpu_count, "utilization_fraction": utilization},
        message,
    )


def mostly_idle(facts: SessionFacts) -> str | None:
    idle, per_hour = facts.idle_fraction, facts.cost_per_hour
    if idle is None or per_hour is None or idle < 0.5 or per_hour <= 0 or not facts.long_enough:
        return None
    return Advice(
        "advice.mostly_idle",
        {"idle_fraction": idle, "per_hour": per_hour, "currency": facts.currency},
        trans.gettext(
            "The server was idle %1 of the time at %2/h: stop it when you are done.",
            format_percent(idle),
            format_money(per_hour, facts.currency),
        ),
    )


RULES: tuple[Rule, ...] = (
    memory_near_limit,
    cpu_at_limit,
    memory_oversized,
    memory_fits,
    memory_peak,
    cpu_oversized,
    gpu_underused,
    mostly_idle,
)


def advice(facts: SessionFacts, rules: tuple[Rule, ...] = RULES) -> list[str]:
    """The sentences of every rule that has something to say, in rule order."""
    return [sentence for rule in rules if (sentence := rule(facts)) is not None]


def advice_items(sentences: list[str]) -> list[dict[str, Any]]:
    """`code`, `params` and `message` of each sentence (`advice.other` for a plain one)."""
    return [
        sentence.to_json()
        if isinstance(sentence, Advice)
        else {"code": "advice.other", "params": {}, "message": sentence}
        for sentence in sentences
    ]


# -- the summary ---------------------------------------------------------------------------


def _per_hour(value: Any, divisor: float = 1.0) -> float | None:
    return None if value is None else float(value) / divisor / 3600.0


def build_summary(record: Mapping[str, Any], *, limits: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a stored session; `limits`: cpu_limit_cores, memory_limit_bytes,
    gpu_count (None = unknown)."""
    totals = record.get("totals") or {}
    facts = SessionFacts.from_record(record, limits)
    sentences = advice(facts)
    return {
        "session_id": record.get("id"),
        "started": record.get("started"),
        "ended": record.get("ended"),
        "duration_seconds": facts.duration_seconds,
        "idle_seconds": facts.idle_seconds,
        "idle_fraction": facts.idle_fraction,
        "resource_hours": {
            "cpu_core_hours": _per_hour(totals.get("cpu_core_seconds")),
            "memory_gib_hours": _per_hour(totals.get("memory_byte_seconds"), GIB),
            "gpu_hours": _per_hour(totals.get("gpu_seconds")),
        },
        "peaks": {
            "memory_bytes": facts.peak_memory_bytes,
            "memory_limit_bytes": facts.memory_limit_bytes,
            "cpu_cores": facts.peak_cpu_cores,
            "cpu_limit_cores": facts.cpu_limit_cores,
            "gpu_memory_bytes": totals.get("peak_gpu_memory_bytes"),
            "gpu_utilization_percent": totals.get("peak_gpu_utilization_percent"),
        },
        "cost": record.get("cost"),
        "advice": [str(sentence) for sentence in sentences],
        "advice_items": advice_items(sentences),
    }
