"""A cost carries the quantities it priced, so that the money can be read beside them."""

from __future__ import annotations

import pytest

from jupyter_usage.cost import Rates, cost_of
from jupyter_usage.ledger import UsageTotals

GIB = 2**30
SECONDS = 252.0  # 4.2 min


def totals() -> UsageTotals:
    # 2 cores and 4 GiB reserved for 4.2 min; 0.12 core and 0.2 GiB used on average.
    return UsageTotals(
        duration_seconds=SECONDS,
        cpu_core_seconds=0.12 * SECONDS,
        allocated_cpu_core_seconds=2 * SECONDS,
        max_cpu_core_seconds=2 * SECONDS,
        memory_byte_seconds=0.2 * GIB * SECONDS,
        allocated_memory_byte_seconds=4 * GIB * SECONDS,
        max_memory_byte_seconds=4 * GIB * SECONDS,
    )


def test_under_max_the_reservation_is_billed_and_said_so() -> None:
    cost = cost_of(totals(), Rates(cpu_core_hour=0.04, basis="max")).to_json()
    assert cost["billed"]["cpu_core_seconds"] == pytest.approx(2 * SECONDS)
    assert cost["billed"]["memory_byte_seconds"] == pytest.approx(4 * GIB * SECONDS)
    assert cost["billed"]["seconds"] == SECONDS
    assert cost["billed_reserved"] == ["cpu", "memory"]
    # The money is the billed quantity at the rate: 2 cores for 4.2 min at 0.04/core-hour.
    assert cost["breakdown"]["cpu"] == pytest.approx(2 * SECONDS / 3600 * 0.04)


def test_under_used_the_use_is_billed() -> None:
    cost = cost_of(totals(), Rates(cpu_core_hour=0.04, basis="used")).to_json()
    assert cost["billed"]["cpu_core_seconds"] == pytest.approx(0.12 * SECONDS)
    assert cost["billed_reserved"] == []
