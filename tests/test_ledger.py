"""The session ledger: sample-and-hold integration, gaps, clock jumps, idle time, checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from pathlib import Path

import pytest
from support.samples import GIB, gpu, sample

from jupyter_usage.cost import Rates
from jupyter_usage.ledger import (
    UNKNOWN_GPU_MODEL,
    Allocation,
    Ledger,
    UsageTotals,
    integrate_sample,
)
from jupyter_usage.sampling.sample import Sample
from jupyter_usage.session import SessionRecorder
from jupyter_usage.store import SessionStore


def test_first_sample_only_records() -> None:
    ledger = Ledger("s", started=100.0)
    assert ledger.last_time is None
    assert ledger.duration_seconds == 0.0

    ledger.add(sample(101.0, cores=3.0, memory_bytes=5 * GIB))

    totals = ledger.totals
    assert totals.samples == 1
    assert totals.duration_seconds == 0.0
    assert totals.cpu_core_seconds == 0.0
    assert totals.memory_byte_seconds == 0.0
    assert totals.peak_cpu_cores == 3.0
    assert totals.peak_memory_bytes == 5 * GIB
    assert ledger.last_time == 101.0
    assert ledger.duration_seconds == 1.0


def test_each_interval_is_charged_at_the_previous_samples_values() -> None:
    ledger = Ledger("s", started=0.0)
    ledger.add(sample(0.0, cores=1.0, memory_bytes=GIB))
    ledger.add(sample(1.0, cores=2.0, memory_bytes=2 * GIB))
    ledger.add(sample(3.0, cores=5.0, memory_bytes=8 * GIB))

    totals = ledger.totals
    # 1 core for 1 s, then 2 cores for 2 s; the last sample's 5 cores are not integrated yet.
    assert totals.cpu_core_seconds == 5.0
    assert totals.memory_byte_seconds == 1 * GIB * 1 + 2 * GIB * 2
    assert totals.duration_seconds == 3.0
    assert totals.samples == 3
    assert totals.peak_cpu_cores == 5.0
    assert totals.peak_memory_bytes == 8 * GIB
    assert ledger.duration_seconds == 3.0


def test_unknown_usage_counts_as_zero_and_leaves_peaks_alone() -> None:
    ledger = Ledger("s", started=0.0)
    ledger.add(sample(0.0, cores=None, memory_bytes=None))
    ledger.add(sample(10.0, cores=None, memory_bytes=None))

    totals = ledger.totals
    assert totals.cpu_core_seconds == 0.0
    assert totals.memory_byte_seconds == 0.0
    assert totals.duration_seconds == 10.0
    assert totals.peak_cpu_cores is None
    assert totals.peak_memory_bytes is None


def test_a_long_gap_counts_only_max_gap_seconds() -> None:
    ledger = Ledger("s", started=0.0, max_gap_seconds=60.0)
    ledger.add(sample(0.0, cores=2.0))
    ledger.add(sample(8 * 3600.0, cores=2.0))  # the laptop slept all night

    totals = ledger.totals
    assert totals.duration_seconds == 60.0
    assert totals.cpu_core_seconds == 120.0
    # Wall-clock duration is still what the clock says.
    assert ledger.duration_seconds == 8 * 3600.0


def test_max_gap_seconds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_gap_seconds"):
        Ledger("s", started=0.0, max_gap_seconds=0.0)
    with pytest.raises(ValueError, match="max_gap_seconds"):
        Ledger("s", started=0.0, max_gap_seconds=float("nan"))


def test_clock_set_back_adds_nothing_and_resumes_from_the_new_time() -> None:
    ledger = Ledger("s", started=1000.0)
    ledger.add(sample(1000.0, cores=1.0))
    ledger.add(sample(1010.0, cores=1.0))
    ledger.add(sample(900.0, cores=1.0))  # NTP stepped the clock back
    after_jump = ledger.totals
    assert after_jump.cpu_core_seconds == 10.0
    assert after_jump.duration_seconds == 10.0
    assert ledger.duration_seconds == 0.0  # never negative

    ledger.add(sample(901.0, cores=1.0))
    ledger.add(sample(901.0, cores=1.0))  # same instant: nothing either
    totals = ledger.totals
    assert totals.cpu_core_seconds == 11.0
    assert totals.duration_seconds == 11.0
    assert totals.samples == 5
    assert all(
        value >= 0
        for value in json.loads(json.dumps(totals.to_json())).values()
        if isinstance(value, float)
    )


def test_the_recorder_checkpoints_at_once_when_the_clock_goes_back(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions.sqlite")
    store.open()
    recorder = SessionRecorder(
        store,
        Rates(),
        started=1000.0,
        user="alice",
        server_name="",
        checkpoint_interval_seconds=10.0,
    )
    recorder.begin()
    for second in range(1000, 1021):
        recorder.on_sample(sample(float(second)))
    assert store.get(recorder.id)["last_checkpoint"] == 1020.0
    # Set back an hour: waiting for the clock to pass 1030 again would leave an hour
    # without checkpoints, all of it lost to a crash.
    recorder.on_sample(sample(-2580.0))
    assert store.get(recorder.id)["last_checkpoint"] == -2580.0
    for second in range(-2579, -2569):
        recorder.on_sample(sample(float(second)))
    checkpointed = store.get(recorder.id)
    assert checkpointed["last_checkpoint"] == -2570.0
    assert checkpointed["totals"]["duration_seconds"] == 30.0
    store.close()


def test_idle_time_follows_the_previous_samples_idle_flag() -> None:
    ledger = Ledger("s", started=0.0)
    ledger.add(sample(0.0, idle=False))
    ledger.add(sample(5.0, idle=True))  # 0-5 was busy
    ledger.add(sample(12.0, idle=True))  # 5-12 idle
    ledger.add(sample(20.0, idle=False))  # 12-20 idle
    ledger.add(sample(21.0, idle=True))  # 20-21 busy

    totals = ledger.totals
    assert totals.idle_seconds == 15.0
    assert totals.duration_seconds == 21.0


def test_peaks_come_from_every_sample() -> None:
    ledger = Ledger("s", started=0.0)
    ledger.add(sample(0.0, cores=4.0, memory_bytes=GIB, gpus=(gpu(utilization_percent=10.0),)))
    ledger.add(
        sample(
            1.0,
            cores=1.0,
            memory_bytes=3 * GIB,
            gpus=(
                gpu(0, utilization_percent=90.0, memory_used_bytes=8 * GIB),
                gpu(1, utilization_percent=20.0, process_memory_bytes=GIB),
            ),
        )
    )
    ledger.add(sample(2.0, cores=0.5, memory_bytes=2 * GIB))

    totals = ledger.totals
    assert totals.peak_cpu_cores == 4.0
    assert totals.peak_memory_bytes == 3 * GIB
    assert totals.peak_gpu_utilization_percent == 90.0
    # Per device: our processes' memory where known, else the device's; summed.
    assert totals.peak_gpu_memory_bytes == 8 * GIB + GIB


def test_gpu_seconds_by_model() -> None:
    a100 = "NVIDIA A100-SXM4-40GB"
    ledger = Ledger("s", started=0.0)
    devices = (
        gpu(0, name=a100, utilization_percent=50.0),
        gpu(1, name="Tesla T4", utilization_percent=None),
        gpu(2, name=None, utilization_percent=100.0),
    )
    ledger.add(sample(0.0, gpus=devices))
    ledger.add(sample(10.0))

    totals = ledger.totals
    assert totals.gpu_seconds == 30.0
    assert totals.gpu_seconds_by_model == {a100: 10.0, "Tesla T4": 10.0, UNKNOWN_GPU_MODEL: 10.0}
    assert totals.gpu_utilization_seconds == 15.0
    assert totals.gpu_utilization_seconds_by_model == {
        a100: 5.0,
        "Tesla T4": 0.0,
        UNKNOWN_GPU_MODEL: 10.0,
    }
    # Attached GPUs are allocated, busy or not.
    assert totals.allocated_gpu_seconds == 30.0
    assert totals.max_gpu_seconds == 30.0
    assert totals.max_gpu_seconds_by_model == totals.gpu_seconds_by_model
    assert totals.unallocated_seconds_gpu == 0.0


def test_allocated_and_max_integrals_with_a_fallback_to_used() -> None:
    ledger = Ledger("s", started=0.0)
    ledger.add(sample(0.0, cores=0.5, limit_cores=2.0, memory_bytes=3 * GIB, limit_bytes=2 * GIB))
    ledger.add(sample(10.0, cores=0.5, memory_bytes=GIB))  # no limits known from here on
    ledger.add(sample(30.0))

    totals = ledger.totals
    assert totals.cpu_core_seconds == 0.5 * 30
    assert totals.allocated_cpu_core_seconds == 2.0 * 10 + 0.5 * 20
    assert totals.max_cpu_core_seconds == 2.0 * 10 + 0.5 * 20
    assert totals.unallocated_seconds_cpu == 20.0
    # Using more memory than the limit says (it was lowered): max takes the larger.
    assert totals.allocated_memory_byte_seconds == 2 * GIB * 10 + GIB * 20
    assert totals.max_memory_byte_seconds == 3 * GIB * 10 + GIB * 20
    assert totals.unallocated_seconds_memory == 20.0


def test_allocation_from_sample() -> None:
    assert Allocation.from_sample(sample(0.0)) == Allocation(None, None, None, None)
    guaranteed = sample(
        0.0,
        limit_cores=4.0,
        guarantee_cores=1.0,
        limit_bytes=8 * GIB,
        guarantee_bytes=2 * GIB,
        gpus=(gpu(0), gpu(1)),
        disk_used_bytes=GIB,
        disk_total_bytes=10 * GIB,
    )
    assert Allocation.from_sample(guaranteed) == Allocation(1.0, 2 * GIB, 2, 10 * GIB)
    limited = sample(0.0, limit_cores=4.0, guarantee_cores=0.0, limit_bytes=8 * GIB)
    assert Allocation.from_sample(limited) == Allocation(4.0, 8 * GIB, None, None)


def test_integrate_sample_with_an_explicit_allocation() -> None:
    totals = UsageTotals()
    integrate_sample(
        totals,
        sample(0.0, cores=1.0, disk_used_bytes=GIB, disk_total_bytes=4 * GIB),
        Allocation(cpu_cores=None, memory_bytes=2 * GIB, gpus=1, disk_bytes=4 * GIB),
        seconds=100.0,
    )
    assert totals.allocated_cpu_core_seconds == 100.0
    assert totals.allocated_memory_byte_seconds == 2 * GIB * 100
    assert totals.disk_byte_seconds == GIB * 100
    assert totals.max_disk_byte_seconds == 4 * GIB * 100
    # One GPU allocated but none visible: billed as a GPU of unknown model.
    assert totals.allocated_gpu_seconds_by_model == {UNKNOWN_GPU_MODEL: 100.0}
    assert totals.gpu_seconds == 0.0
    assert totals.unallocated_seconds_gpu == 0.0
    integrate_sample(totals, sample(0.0), Allocation(), seconds=1.0)
    assert totals.unallocated_seconds_gpu == 0.0  # no GPU at all is not an unknown allocation
    integrate_sample(totals, sample(0.0, gpus=(gpu(),)), Allocation(), seconds=1.0)
    assert totals.unallocated_seconds_gpu == 1.0
    assert totals.allocated_gpu_seconds_by_model["NVIDIA A100-SXM4-40GB"] == 0.5  # used

    integrate_sample(totals, sample(0.0), Allocation(), seconds=-5.0)
    assert totals.duration_seconds == 102.0


def feed(ledger: Ledger, samples: list[Sample]) -> None:
    for s in samples:
        ledger.add(s)


def scenario() -> list[Sample]:
    """Irregular samples with limits coming and going, GPUs and idle stretches."""
    samples = []
    for i in range(40):
        samples.append(
            sample(
                1000.0 + i * 1.7 + (i % 3) * 0.1,
                cores=0.1 * (i % 7),
                memory_bytes=GIB + i * 12345,
                limit_cores=2.0 if i % 5 else None,
                limit_bytes=4 * GIB if i % 4 else None,
                gpus=(gpu(0, utilization_percent=float(i % 11) * 9.0),) if i > 10 else (),
                disk_used_bytes=GIB // 3 + i,
                disk_total_bytes=10 * GIB,
                idle=i % 6 == 0,
            )
        )
    return samples


def test_checkpoint_round_trip_then_continuing_matches_no_round_trip() -> None:
    samples = scenario()
    before = Ledger("s", started=1000.0)
    feed(before, samples[:20])
    checkpoint = json.dumps(before.snapshot().to_json())

    restored = UsageTotals.from_json(json.loads(checkpoint))
    assert restored == before.totals

    resumed = Ledger("s", started=1000.0, totals=restored)
    unsaved = Ledger("s", started=1000.0, totals=before.totals)
    feed(resumed, samples[20:])
    feed(unsaved, samples[20:])
    assert resumed.totals == unsaved.totals
    assert json.dumps(resumed.totals.to_json()) == json.dumps(unsaved.totals.to_json())
    # The restart itself is not billed: the first sample after it only records.
    uninterrupted = Ledger("s", started=1000.0)
    feed(uninterrupted, samples)
    gap = samples[20].time - samples[19].time
    assert resumed.totals.duration_seconds == pytest.approx(
        uninterrupted.totals.duration_seconds - gap
    )


def test_from_json_tolerates_other_versions() -> None:
    totals = UsageTotals.from_json({"cpu_core_seconds": 7, "samples": 3.0, "from_the_future": 1})
    assert totals.cpu_core_seconds == 7.0
    assert isinstance(totals.cpu_core_seconds, float)
    assert totals.samples == 3
    assert totals.peak_memory_bytes is None
    assert totals.gpu_seconds_by_model == {}


def test_snapshot_is_a_deep_copy() -> None:
    ledger = Ledger("s", started=0.0)
    ledger.add(sample(0.0, gpus=(gpu(),)))
    ledger.add(sample(1.0))
    snapshot = ledger.snapshot()
    snapshot.gpu_seconds_by_model["NVIDIA A100-SXM4-40GB"] = 1e9
    snapshot.cpu_core_seconds = -1.0
    assert ledger.totals.gpu_seconds_by_model == {"NVIDIA A100-SXM4-40GB": 1.0}
    assert ledger.totals.cpu_core_seconds == 1.0


def test_constructor_copies_the_totals_it_resumes_from() -> None:
    totals = UsageTotals(cpu_core_seconds=5.0)
    ledger = Ledger("s", started=0.0, totals=totals)
    ledger.add(sample(0.0))
    ledger.add(sample(1.0))
    assert totals.cpu_core_seconds == 5.0
    assert ledger.totals.cpu_core_seconds == 6.0


def test_snapshots_from_another_thread_are_consistent() -> None:
    ledger = Ledger("s", started=0.0)
    count = 3000
    done = threading.Event()

    def sampler() -> None:
        for i in range(count):
            ledger.add(sample(float(i), cores=1.0, gpus=(gpu(),)))
        done.set()

    thread = threading.Thread(target=sampler)
    thread.start()
    torn = []
    while not done.is_set():
        s = ledger.snapshot()
        # One core held all the time: every figure must agree with the sample count.
        expected = float(max(s.samples - 1, 0))
        if not (s.duration_seconds == s.cpu_core_seconds == s.gpu_seconds == expected):
            torn.append(s)
    thread.join()
    assert not torn
    assert ledger.totals.duration_seconds == count - 1


def pressure_sample(
    time: float,
    memory_bytes: int,
    oom_kills: int | None,
    throttled: float | None,
    cpu_stall: float | None = None,
    memory_stall: float | None = None,
) -> Sample:
    base = sample(time, memory_bytes=memory_bytes, limit_bytes=GIB)
    return dataclasses.replace(
        base,
        cpu=dataclasses.replace(
            base.cpu, throttled_seconds=throttled, pressure_some_seconds=cpu_stall
        ),
        memory=dataclasses.replace(
            base.memory, oom_kills=oom_kills, pressure_some_seconds=memory_stall
        ),
    )


def test_oom_kills_time_near_the_limit_throttling_and_stalls_of_the_session() -> None:
    ledger = Ledger("s", 0.0)
    feed(
        ledger,
        [
            # Counters from before the session (the cgroup is older) do not count.
            pressure_sample(0, GIB // 2, oom_kills=4, throttled=100.0, cpu_stall=7.0),
            pressure_sample(10, int(0.95 * GIB), oom_kills=4, throttled=101.5, cpu_stall=7.5),
            pressure_sample(20, math.ceil(0.9 * GIB), oom_kills=5, throttled=103.0, cpu_stall=8.0),
            pressure_sample(30, GIB // 4, oom_kills=5, throttled=103.0, cpu_stall=8.0),
            pressure_sample(40, GIB // 4, oom_kills=5, throttled=103.0, cpu_stall=8.0),
        ],
    )
    totals = ledger.totals
    assert totals.oom_kills == 1
    # Held at 95 % for 10 s, then at exactly 90 % for 10 s.
    assert totals.memory_near_limit_seconds == 20.0
    assert totals.cpu_throttled_seconds == pytest.approx(3.0)
    assert totals.cpu_stall_seconds == pytest.approx(1.0)
    assert totals.memory_stall_seconds is None  # no PSI for memory: unknown, not zero
    again = UsageTotals.from_json(json.loads(json.dumps(totals.to_json())))
    assert again == totals
    assert isinstance(again.oom_kills, int)


def test_a_counter_that_goes_back_adds_nothing() -> None:
    # A new cgroup (a restarted container) starts its counters again from zero.
    ledger = Ledger("s", 0.0)
    feed(
        ledger,
        [
            pressure_sample(0, 0, oom_kills=3, throttled=50.0),
            pressure_sample(10, 0, oom_kills=0, throttled=0.0),
            pressure_sample(20, 0, oom_kills=1, throttled=0.5),
        ],
    )
    assert ledger.totals.oom_kills == 1
    assert ledger.totals.cpu_throttled_seconds == pytest.approx(0.5)


def test_no_cgroup_leaves_the_pressure_figures_unknown() -> None:
    ledger = Ledger("s", 0.0)
    feed(ledger, [sample(0), sample(10)])
    totals = ledger.totals
    assert (totals.oom_kills, totals.memory_near_limit_seconds) == (0, 0.0)
    assert totals.cpu_throttled_seconds is None
    assert totals.cpu_stall_seconds is None
