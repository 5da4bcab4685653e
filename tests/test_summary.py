"""The end-of-session summary and each advice rule, both ways."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_usage.store import SessionStore
from jupyter_usage.summary import (
    GIB,
    MIB,
    RULES,
    SessionFacts,
    advice,
    advice_items,
    build_summary,
    cpu_at_limit,
    cpu_oversized,
    format_bytes,
    format_duration,
    format_money,
    format_percent,
    gpu_underused,
    memory_fits,
    memory_near_limit,
    memory_oversized,
    memory_peak,
    mostly_idle,
    suggested_size,
)

HOUR = 3600.0
# A one-hour session of the right size: memory at 60 %, CPU at 50 %, busy, no GPU.
QUIET = SessionFacts(
    duration_seconds=HOUR,
    accounted_seconds=HOUR,
    idle_seconds=0.1 * HOUR,
    cost_total=0.42,
    currency="USD",
    peak_memory_bytes=int(4.8 * GIB),
    memory_limit_bytes=8 * GIB,
    peak_cpu_cores=1.0,
    cpu_limit_cores=2.0,
    gpu_count=0,
    gpu_seconds=0.0,
    gpu_utilization_seconds=0.0,
)


def facts(**changes: Any) -> SessionFacts:
    return dataclasses.replace(QUIET, **changes)


def test_a_session_of_the_right_size_is_told_so_with_its_numbers() -> None:
    assert advice(QUIET) == [
        "Your memory peaked at 4.8 GiB of the 8 GiB limit (60 %): this size fits, with room "
        "to spare."
    ]


def test_a_session_too_short_to_judge_gets_no_advice() -> None:
    assert advice(facts(duration_seconds=599.0, peak_memory_bytes=GIB)) == []


def test_the_example_of_the_issue_names_the_size_and_the_waste() -> None:
    # Peaked at 0.7 of 4 GiB over 2 h: said as a size to ask for and what lay unused.
    sentences = advice(
        facts(
            duration_seconds=2 * HOUR,
            peak_memory_bytes=int(0.7 * GIB),
            memory_limit_bytes=4 * GIB,
        )
    )
    assert sentences[0] == (
        "Your memory peaked at 717 MiB of 4 GiB: a 1 GiB profile would have been enough; "
        "3.3 GiB was reserved and unused for 2 h."
    )


def test_suggested_sizes_keep_a_fifth_above_the_peak() -> None:
    sizes = (1.0, 2.0, 4.0)
    assert suggested_size(0.8, sizes) == 1.0
    assert suggested_size(0.9, sizes) == 2.0
    assert suggested_size(4.0, sizes) is None
    assert format_duration(45 * 60) == "45 min"
    assert format_duration(10) == "1 min"
    assert format_duration(1.5 * HOUR) == "1.5 h"


def test_formatting_for_people() -> None:
    assert format_bytes(8 * GIB) == "8 GiB"
    assert format_bytes(1.14 * GIB) == "1.1 GiB"
    assert format_bytes(300 * MIB) == "300 MiB"
    assert format_percent(0.7) == "70 %"
    assert format_percent(0.004) == "under 1 %"
    assert format_percent(0.0) == "0 %"
    assert format_money(0.4249, "USD") == "0.42 USD"


# (a) memory well below the limit


def test_memory_oversized_fires_when_a_smaller_size_holds_the_peak() -> None:
    assert memory_oversized(facts(peak_memory_bytes=int(1.1 * GIB))) == (
        "Your memory peaked at 1.1 GiB of 8 GiB: a 2 GiB profile would have been enough; "
        "6.9 GiB was reserved and unused for 1 h."
    )


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"peak_memory_bytes": 4 * GIB}, id="at-half"),
        pytest.param({"peak_memory_bytes": GIB, "duration_seconds": 599.0}, id="short"),
        pytest.param({"peak_memory_bytes": GIB, "memory_limit_bytes": None}, id="no-limit"),
        pytest.param({"peak_memory_bytes": None}, id="no-peak"),
    ],
)
def test_memory_oversized_stays_quiet(changes: dict[str, Any]) -> None:
    assert memory_oversized(facts(**changes)) is None


def test_memory_fits_and_memory_peak_speak_when_no_smaller_size_would_do() -> None:
    assert memory_fits(facts(peak_memory_bytes=int(1.1 * GIB))) is None
    assert memory_fits(facts(peak_memory_bytes=int(7.6 * GIB))) is None  # near the limit
    assert memory_peak(QUIET) is None  # the limit is known
    assert memory_peak(facts(memory_limit_bytes=None)) == (
        "Your memory peaked at 4.8 GiB: ask for at least 8 GiB next time."
    )
    assert memory_peak(facts(memory_limit_bytes=None, duration_seconds=60.0)) is None


def test_cpu_oversized_names_the_cores_that_would_do() -> None:
    assert cpu_oversized(facts(peak_cpu_cores=0.3, duration_seconds=2 * HOUR)) == (
        "Your CPU use peaked at 0.3 of 2 cores: 0.5 cores would have been enough; 1.7 cores "
        "were reserved and unused for 2 h."
    )
    assert cpu_oversized(QUIET) is None  # 1 core with its margin needs the 2
    assert cpu_oversized(facts(peak_cpu_cores=0.3, cpu_limit_cores=None)) is None


# (b) memory near the limit


def test_memory_near_limit_fires_at_90_percent() -> None:
    assert memory_near_limit(facts(peak_memory_bytes=int(7.6 * GIB))) == (
        "Your memory peaked at 7.6 GiB of the 8 GiB limit (95 %): a larger server profile "
        "would keep your kernels from running out of memory."
    )
    # Near the limit matters even in a short session.
    assert memory_near_limit(facts(peak_memory_bytes=8 * GIB, duration_seconds=60.0))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"peak_memory_bytes": int(7.1 * GIB)}, id="below-90"),
        pytest.param({"peak_memory_bytes": 8 * GIB, "memory_limit_bytes": None}, id="no-limit"),
    ],
)
def test_memory_near_limit_stays_quiet(changes: dict[str, Any]) -> None:
    assert memory_near_limit(facts(**changes)) is None


# (c) mostly idle at a price


def test_mostly_idle_fires_with_the_hourly_cost() -> None:
    assert mostly_idle(facts(idle_seconds=0.7 * HOUR)) == (
        "The server was idle 70 % of the time at 0.42 USD/h: stop it when you are done."
    )
    # The rate comes from the time the ledger accounted for, not from the wall clock.
    assert "0.84 EUR/h" in (
        mostly_idle(facts(accounted_seconds=HOUR / 2, idle_seconds=HOUR / 4, currency="EUR")) or ""
    )


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"idle_seconds": 0.49 * HOUR}, id="busy-enough"),
        pytest.param({"idle_seconds": 0.9 * HOUR, "cost_total": 0.0}, id="free"),
        pytest.param({"idle_seconds": 0.9 * HOUR, "cost_total": None}, id="cost-unknown"),
        pytest.param(
            {"idle_seconds": 500.0, "duration_seconds": 540.0, "accounted_seconds": 540.0},
            id="short",
        ),
        pytest.param({"idle_seconds": None}, id="idle-unknown"),
    ],
)
def test_mostly_idle_stays_quiet(changes: dict[str, Any]) -> None:
    assert mostly_idle(facts(**changes)) is None


# (d) an idle GPU


def test_gpu_underused_fires_below_5_percent() -> None:
    one = facts(gpu_count=1, gpu_seconds=HOUR, gpu_utilization_seconds=0.03 * HOUR)
    assert gpu_underused(one) == (
        "The GPU was busy only 3 % of the time: a CPU profile would cost less."
    )
    two = facts(gpu_count=2, gpu_seconds=2 * HOUR, gpu_utilization_seconds=0.02 * HOUR)
    assert gpu_underused(two) == (
        "The GPUs were busy only 1 % of the time: a CPU profile would cost less."
    )
    # An unknown GPU count does not hide a GPU the ledger saw.
    assert gpu_underused(facts(gpu_count=None, gpu_seconds=HOUR, gpu_utilization_seconds=0.0))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            {"gpu_count": 1, "gpu_seconds": HOUR, "gpu_utilization_seconds": 0.05 * HOUR},
            id="busy-enough",
        ),
        pytest.param({"gpu_count": 0, "gpu_seconds": 0.0}, id="no-gpu"),
        pytest.param({"gpu_count": 1, "gpu_seconds": None}, id="not-measured"),
        pytest.param({"gpu_count": 1, "gpu_seconds": 300.0, "duration_seconds": 300.0}, id="short"),
    ],
)
def test_gpu_underused_stays_quiet(changes: dict[str, Any]) -> None:
    assert gpu_underused(facts(**changes)) is None


# (e) CPU at the limit


def test_cpu_at_limit_fires_at_95_percent() -> None:
    assert cpu_at_limit(facts(peak_cpu_cores=1.96)) == (
        "Your CPU use reached 2 of 2 cores: a profile with more CPU would run your code faster."
    )
    assert "3.9 of 4 cores" in (cpu_at_limit(facts(peak_cpu_cores=3.9, cpu_limit_cores=4)) or "")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"peak_cpu_cores": 1.8}, id="below-95"),
        pytest.param({"peak_cpu_cores": 2.0, "cpu_limit_cores": None}, id="no-limit"),
        pytest.param({"peak_cpu_cores": None}, id="no-peak"),
    ],
)
def test_cpu_at_limit_stays_quiet(changes: dict[str, Any]) -> None:
    assert cpu_at_limit(facts(**changes)) is None


def test_rules_are_a_tuple_that_advice_runs_in_order() -> None:
    assert RULES[:2] == (memory_near_limit, cpu_at_limit)
    busy = facts(peak_memory_bytes=8 * GIB, peak_cpu_cores=2.0)
    assert [sentence.split(":")[0] for sentence in advice(busy)] == [
        "Your memory peaked at 8 GiB of the 8 GiB limit (100 %)",
        "Your CPU use reached 2 of 2 cores",
    ]
    assert advice(busy, rules=(lambda _: "custom",)) == ["custom"]


RECORD: dict[str, Any] = {
    "id": "s1",
    "user": "alice",
    "server_name": "",
    "started": 1000.0,
    "ended": 1000.0 + 2 * HOUR,
    "ended_by": "stop",
    "last_checkpoint": 1000.0 + 2 * HOUR,
    "duration_seconds": 2 * HOUR,
    "totals": {
        "duration_seconds": 2 * HOUR,
        "idle_seconds": 1.5 * HOUR,
        "cpu_core_seconds": 1.5 * HOUR,
        "memory_byte_seconds": 3 * GIB * HOUR,
        "gpu_seconds": 0.0,
        "gpu_utilization_seconds": 0.0,
        "peak_memory_bytes": int(1.1 * GIB),
        "peak_cpu_cores": 1.2,
        "peak_gpu_memory_bytes": None,
        "peak_gpu_utilization_percent": None,
        "samples": 7200,
    },
    "cost": {
        "currency": "USD",
        "total": 0.84,
        "basis": "max",
        "breakdown": {"cpu": 0.5, "memory": 0.34, "gpu": 0.0, "disk": 0.0, "server": 0.0},
    },
    "summary": None,
    "meta": {},
}
LIMITS = {"cpu_limit_cores": 2.0, "memory_limit_bytes": 8 * GIB, "gpu_count": 0}


def test_build_summary_from_a_store_record() -> None:
    summary = build_summary(RECORD, limits=LIMITS)
    assert summary == {
        "session_id": "s1",
        "started": 1000.0,
        "ended": 1000.0 + 2 * HOUR,
        "duration_seconds": 2 * HOUR,
        "idle_seconds": 1.5 * HOUR,
        "idle_fraction": 0.75,
        "resource_hours": {"cpu_core_hours": 1.5, "memory_gib_hours": 3.0, "gpu_hours": 0.0},
        "peaks": {
            "memory_bytes": int(1.1 * GIB),
            "memory_limit_bytes": 8 * GIB,
            "cpu_cores": 1.2,
            "cpu_limit_cores": 2.0,
            "gpu_memory_bytes": None,
            "gpu_utilization_percent": None,
        },
        "cost": RECORD["cost"],
        "advice": [
            "Your memory peaked at 1.1 GiB of 8 GiB: a 2 GiB profile would have been enough; "
            "6.9 GiB was reserved and unused for 2 h.",
            "The server was idle 75 % of the time at 0.42 USD/h: stop it when you are done.",
        ],
        "advice_items": [
            {
                "code": "advice.memory_oversized",
                "params": {
                    "peak_bytes": int(1.1 * GIB),
                    "limit_bytes": 8 * GIB,
                    "suggested_bytes": 2 * GIB,
                    "unused_bytes": 8 * GIB - int(1.1 * GIB),
                    "duration_seconds": 2 * HOUR,
                },
                "message": (
                    "Your memory peaked at 1.1 GiB of 8 GiB: a 2 GiB profile would have been "
                    "enough; 6.9 GiB was reserved and unused for 2 h."
                ),
            },
            {
                "code": "advice.mostly_idle",
                "params": {"idle_fraction": 0.75, "per_hour": 0.42, "currency": "USD"},
                "message": (
                    "The server was idle 75 % of the time at 0.42 USD/h: stop it when you are done."
                ),
            },
        ],
    }
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_every_rule_gives_a_code_and_the_params_of_its_sentence() -> None:
    busy = facts(
        peak_memory_bytes=8 * GIB,
        peak_cpu_cores=2.0,
        idle_seconds=0.7 * HOUR,
        gpu_count=2,
        gpu_seconds=HOUR,
        gpu_utilization_seconds=0.0,
    )
    items = advice_items(advice(busy))
    assert [item["code"] for item in items] == [
        "advice.memory_near_limit",
        "advice.cpu_at_limit",
        "advice.gpu_underused",
        "advice.mostly_idle",
    ]
    assert items[0]["params"] == {"peak_bytes": 8 * GIB, "limit_bytes": 8 * GIB}
    assert all(item["message"] and isinstance(item["params"], dict) for item in items)
    assert advice_items(["a plain sentence"]) == [
        {"code": "advice.other", "params": {}, "message": "a plain sentence"}
    ]


def test_build_summary_with_unknown_limits_and_no_checkpoint() -> None:
    bare = {**RECORD, "totals": None, "cost": None, "duration_seconds": 0.0}
    summary = build_summary(bare, limits={})
    assert summary["advice"] == []
    assert summary["idle_fraction"] is None
    assert summary["resource_hours"] == {
        "cpu_core_hours": None,
        "memory_gib_hours": None,
        "gpu_hours": None,
    }
    assert summary["peaks"]["memory_limit_bytes"] is None
    # Without limits, the limit-based rules are skipped but the others still speak.
    assert build_summary(RECORD, limits={})["advice"] == [
        "Your memory peaked at 1.1 GiB: ask for at least 2 GiB next time.",
        "The server was idle 75 % of the time at 0.42 USD/h: stop it when you are done.",
    ]


def test_a_recovered_session_gets_its_summary_from_the_store(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "store.sqlite")
    store.open()
    store.start_session("old", user="alice", server_name="", started=1000.0, meta=LIMITS)
    store.checkpoint("old", time=1000.0 + 2 * HOUR, totals=RECORD["totals"], cost=RECORD["cost"])
    recovered = store.recover_open_sessions(
        "new", lambda record: build_summary(record, limits=record["meta"])
    )
    assert [record["summary"]["duration_seconds"] for record in recovered] == [2 * HOUR]
    stored = store.get("old")
    assert stored is not None
    assert stored["summary"]["advice"] == build_summary(RECORD, limits=LIMITS)["advice"]
    store.close()
