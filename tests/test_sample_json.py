from __future__ import annotations

import dataclasses
import json

from jupyter_usage.sampling.sample import (
    CpuUsage,
    DiskUsage,
    GpuUsage,
    KernelUsage,
    MemoryUsage,
    NetworkUsage,
    Sample,
)


def full_sample() -> Sample:
    return Sample(
        time=1_700_000_000.5,
        cpu=CpuUsage(cores=0.5, limit_cores=2.0, host_cores=8, source="cgroup"),
        memory=MemoryUsage(used_bytes=1 << 30, limit_bytes=4 << 30, oom_kills=0),
        gpus=(
            GpuUsage(
                index=0,
                uuid="GPU-1",
                name="A100",
                utilization_percent=40.0,
                memory_used_bytes=1 << 20,
                memory_total_bytes=1 << 34,
                process_memory_bytes=None,
                mig_mode=True,
                mig_instances=({"uuid": "MIG-1", "memory_used_bytes": 5},),
            ),
        ),
        disk=(DiskUsage("/home/me", 10, 100, 90, directory_bytes=7),),
        network=NetworkUsage(1, 2, 0.5, None),
        kernels=(KernelUsage("k1", "python3", "a.ipynb", 42, 0.25, 1 << 25, None, "idle"),),
        idle=False,
        errors={"gpu": "NVML went away"},
    )


def test_snapshot_body_has_every_field_of_every_record() -> None:
    sample = full_sample()
    want = dataclasses.asdict(sample)
    want["cpu"]["percent"] = 25.0
    want["gpus"][0]["mig_instances"] = [{"uuid": "MIG-1", "memory_used_bytes": 5}]

    body = sample.to_json()

    # asdict keeps tuples; on the wire both are arrays.
    assert json.dumps(body) == json.dumps(want)


def test_snapshot_body_is_a_copy_the_handler_may_change() -> None:
    sample = full_sample()
    body = sample.to_json()
    body["gpus"][0]["mig_instances"][0]["uuid"] = "changed"
    body["errors"]["disk"] = "changed"
    body["kernels"][0]["path"] = "changed"

    assert sample.gpus[0].mig_instances[0]["uuid"] == "MIG-1"
    assert "disk" not in sample.errors
    assert sample.to_json()["kernels"][0]["path"] == "a.ipynb"


def test_snapshot_body_without_network_or_gpus() -> None:
    sample = Sample(time=1.0, cpu=CpuUsage(None, None), memory=MemoryUsage(None, None))
    body = sample.to_json()
    assert body["network"] is None
    assert (body["gpus"], body["kernels"], body["disk"]) == ([], [], [])
    assert body["cpu"]["percent"] is None
