"""Samples built by hand, for the domain tests (ledger, session, cost, summary)."""

from __future__ import annotations

from jupyter_usage.sampling.sample import CpuUsage, DiskUsage, GpuUsage, MemoryUsage, Sample

GIB = 2**30


def gpu(
    index: int = 0,
    name: str | None = "NVIDIA A100-SXM4-40GB",
    utilization_percent: float | None = 50.0,
    memory_used_bytes: int | None = 4 * GIB,
    process_memory_bytes: int | None = None,
) -> GpuUsage:
    return GpuUsage(
        index=index,
        uuid=f"GPU-{index}",
        name=name,
        utilization_percent=utilization_percent,
        memory_used_bytes=memory_used_bytes,
        memory_total_bytes=40 * GIB,
        process_memory_bytes=process_memory_bytes,
    )


def sample(
    time: float,
    cores: float | None = 1.0,
    memory_bytes: int | None = GIB,
    limit_cores: float | None = None,
    guarantee_cores: float | None = None,
    limit_bytes: int | None = None,
    guarantee_bytes: int | None = None,
    gpus: tuple[GpuUsage, ...] = (),
    disk_used_bytes: int | None = None,
    disk_total_bytes: int | None = None,
    idle: bool = False,
) -> Sample:
    disk: tuple[DiskUsage, ...] = ()
    if disk_used_bytes is not None or disk_total_bytes is not None:
        disk = (DiskUsage("/home/jovyan", disk_used_bytes, disk_total_bytes, None),)
    return Sample(
        time=time,
        cpu=CpuUsage(cores=cores, limit_cores=limit_cores, guarantee_cores=guarantee_cores),
        memory=MemoryUsage(
            used_bytes=memory_bytes, limit_bytes=limit_bytes, guarantee_bytes=guarantee_bytes
        ),
        gpus=gpus,
        disk=disk,
        idle=idle,
    )
