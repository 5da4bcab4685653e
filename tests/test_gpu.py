"""The GPU source: the real `pynvml` for "no GPU" (this machine has none), a fake for the rest."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pynvml
import pytest
from support.fake_nvml import (
    NVML_DEVICE_MIG_ENABLE,
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_FUNCTION_NOT_FOUND,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_NO_PERMISSION,
    NVML_ERROR_NOT_FOUND,
    NVML_ERROR_NOT_SUPPORTED,
    NVML_ERROR_UNKNOWN,
    NVML_VALUE_NOT_AVAILABLE,
    FakeDevice,
    FakeMemory,
    FakeMigDevice,
    FakeNvml,
    FakeProcess,
)

from jupyter_usage.sampling import gpu as gpu_module
from jupyter_usage.sampling.gpu import GpuReader

GIB = 2**30
ME = os.getpid()
SOMEONE_ELSE = os.getppid()  # a real process of this machine that is not ours
PID_MAX = int(Path("/proc/sys/kernel/pid_max").read_text())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a100(index: int = 0, **changes: object) -> FakeDevice:
    device = FakeDevice(
        uuid=f"GPU-{index:08x}-1111-2222-3333-444444444444",
        name="NVIDIA A100-SXM4-40GB",
        utilization_percent=37,
        memory_used_bytes=5 * GIB,
        memory_reserved_bytes=GIB // 2,
        memory_total_bytes=40 * GIB,
        power_milliwatts=61_500,
        energy_millijoules=123_456_789,
    )
    for name, value in changes.items():
        setattr(device, name, value)
    return device


def no_driver_here() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return
    pynvml.nvmlShutdown()
    pytest.skip("this machine has an NVIDIA driver")


# -- the real pynvml, without a GPU -------------------------------------------------------


def test_without_a_driver_the_reader_says_so_and_returns_nothing() -> None:
    no_driver_here()
    reader = GpuReader()  # the real pynvml

    reading = reader.read(frozenset({ME}))

    assert reading.devices == ()
    assert reading.memory_by_pid == {}
    assert reader.available is False
    assert "no NVIDIA driver" in reader.status
    assert "libnvidia-ml.so.1" in reader.status
    assert reader.describe() == {
        "available": False,
        "status": reader.status,
        "driver_version": None,
        "device_count": None,
    }
    reader.close()
    assert "no NVIDIA driver" in reader.status


def test_without_a_driver_100_reads_log_at_most_once(caplog: pytest.LogCaptureFixture) -> None:
    no_driver_here()
    caplog.set_level(logging.DEBUG, logger="jupyter_usage.sampling.gpu")
    reader = GpuReader()

    for _ in range(100):
        assert reader.read(frozenset({ME})).devices == ()

    records = [r for r in caplog.records if r.name == "jupyter_usage.sampling.gpu"]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO


def test_retrying_without_a_driver_stays_quiet(caplog: pytest.LogCaptureFixture) -> None:
    no_driver_here()
    caplog.set_level(logging.INFO, logger="jupyter_usage.sampling.gpu")
    clock = Clock()
    reader = GpuReader(retry_interval_seconds=60, clock=clock)

    for _ in range(100):
        reader.read(frozenset())
        clock.now += 61  # every read is a new attempt at nvmlInit

    assert len(caplog.records) == 1


def test_importing_the_module_neither_imports_nor_starts_nvml() -> None:
    code = (
        "import sys\n"
        "from jupyter_usage.sampling.gpu import GpuReader\n"
        "GpuReader()\n"
        "assert 'pynvml' not in sys.modules, 'pynvml imported'\n"
    )
    root = Path(__file__).parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)


# -- fake GPUs ----------------------------------------------------------------------------


def test_one_gpu() -> None:
    device = a100(
        name=b"NVIDIA A100-SXM4-40GB",  # old bindings return bytes
        compute_processes=[FakeProcess(ME, GIB), FakeProcess(SOMEONE_ELSE, 2 * GIB)],
        graphics_processes=[FakeProcess(ME, GIB)],  # the same process, listed twice
    )
    nvml = FakeNvml([device])
    reader = GpuReader(nvml=nvml)  # the real psutil.pid_exists

    assert nvml.calls["nvmlInit"] == 0  # nothing before the first read
    reading = reader.read(frozenset({ME}))

    (gpu,) = reading.devices
    assert gpu.index == 0
    assert gpu.uuid == device.uuid
    assert gpu.name == "NVIDIA A100-SXM4-40GB"
    assert gpu.utilization_percent == 37.0
    assert gpu.memory_used_bytes == 5 * GIB  # v2: without the driver's reservation
    assert gpu.memory_total_bytes == 40 * GIB
    assert gpu.process_memory_bytes == GIB
    assert gpu.power_watts == 61.5
    assert gpu.energy_joules == pytest.approx(123_456.789)
    assert gpu.mig_mode is False
    assert gpu.mig_instances == ()
    assert reading.memory_by_pid == {ME: GIB}
    assert reader.available is True
    assert reader.describe() == {
        "available": True,
        "status": "1 NVIDIA GPU, driver 550.54.15",
        "driver_version": "550.54.15",
        "device_count": 1,
    }
    assert nvml.calls["nvmlInit"] == 1


def test_readings_follow_the_device() -> None:
    device = a100()
    nvml = FakeNvml([device])
    reader = GpuReader(nvml=nvml)
    assert reader.read(frozenset({ME})).devices[0].process_memory_bytes == 0

    device.utilization_percent = 99
    device.compute_processes = [FakeProcess(ME, 3 * GIB)]
    (gpu,) = reader.read(frozenset({ME})).devices

    assert gpu.utilization_percent == 99.0
    assert gpu.process_memory_bytes == 3 * GIB
    assert nvml.calls["nvmlInit"] == 1
    assert nvml.calls["nvmlDeviceGetUUID"] == 1  # static facts are read once


def test_two_gpus() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    try:
        devices = [
            a100(0, compute_processes=[FakeProcess(ME, GIB), FakeProcess(child.pid, 2 * GIB)]),
            a100(1, compute_processes=[FakeProcess(ME, 4 * GIB), FakeProcess(SOMEONE_ELSE, GIB)]),
        ]
        reader = GpuReader(nvml=FakeNvml(devices))

        reading = reader.read(frozenset({ME, child.pid}))
    finally:
        child.communicate(b"", timeout=30)

    assert [gpu.index for gpu in reading.devices] == [0, 1]
    assert [gpu.uuid for gpu in reading.devices] == [devices[0].uuid, devices[1].uuid]
    assert [gpu.process_memory_bytes for gpu in reading.devices] == [3 * GIB, 4 * GIB]
    assert reading.memory_by_pid == {ME: 5 * GIB, child.pid: 2 * GIB}
    assert reader.describe()["device_count"] == 2
    assert reader.status == "2 NVIDIA GPUs, driver 550.54.15"


def test_mig_mode_with_two_instances() -> None:
    def instance(slot: int, gi: int, ci: int, used: int) -> FakeMigDevice:
        return FakeMigDevice(
            uuid=f"MIG-{slot:08x}-aaaa-bbbb-cccc-dddddddddddd",
            name="NVIDIA A100-SXM4-40GB MIG 3g.20gb",
            memory_used_bytes=used,
            memory_total_bytes=20 * GIB,
            gpu_instance_id=gi,
            compute_instance_id=ci,
        )

    slots: list[FakeMigDevice | None] = [None] * 7
    slots[0] = instance(0, gi=1, ci=0, used=GIB)
    slots[3] = instance(3, gi=2, ci=0, used=3 * GIB)
    device = a100(
        mig_mode=NVML_DEVICE_MIG_ENABLE,
        mig_slots=slots,
        compute_processes=[FakeProcess(ME, GIB, gpuInstanceId=1, computeInstanceId=0)],
    )
    reader = GpuReader(nvml=FakeNvml([device]))

    (gpu,) = reader.read(frozenset({ME})).devices

    assert gpu.mig_mode is True
    assert gpu.utilization_percent is None  # NVML has none for a GPU in MIG mode
    assert gpu.memory_total_bytes == 40 * GIB
    assert gpu.process_memory_bytes == GIB
    assert gpu.mig_instances == (
        {
            "index": 0,
            "uuid": "MIG-00000000-aaaa-bbbb-cccc-dddddddddddd",
            "name": "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
            "memory_used_bytes": GIB,
            "memory_total_bytes": 20 * GIB,
            "gpu_instance_id": 1,
            "compute_instance_id": 0,
            "utilization_percent": None,
        },
        {
            "index": 3,
            "uuid": "MIG-00000003-aaaa-bbbb-cccc-dddddddddddd",
            "name": "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
            "memory_used_bytes": 3 * GIB,
            "memory_total_bytes": 20 * GIB,
            "gpu_instance_id": 2,
            "compute_instance_id": 0,
            "utilization_percent": None,
        },
    )


def test_driver_lost_mid_run_then_recovered(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jupyter_usage.sampling.gpu")
    clock = Clock()
    nvml = FakeNvml([a100(compute_processes=[FakeProcess(ME, GIB)])])
    reader = GpuReader(nvml=nvml, retry_interval_seconds=60, clock=clock)
    assert len(reader.read(frozenset({ME})).devices) == 1

    nvml.lost = NVML_ERROR_GPU_IS_LOST
    clock.now += 600  # long after the first nvmlInit: the interval counts from the loss
    lost = reader.read(frozenset({ME}))

    assert lost.devices == ()
    assert lost.memory_by_pid is None
    assert reader.available is False
    assert "lost contact with the NVIDIA driver" in reader.status
    assert "GPU_IS_LOST" in reader.status

    # Before the retry interval: no NVML call at all.
    calls = sum(nvml.calls.values())
    for _ in range(50):
        clock.now += 1
        assert reader.read(frozenset({ME})).devices == ()
    assert sum(nvml.calls.values()) == calls

    # After it, a retry that fails (the driver is still gone) stays quiet.
    clock.now += 20
    assert reader.read(frozenset({ME})).devices == ()
    assert nvml.calls["nvmlInit"] == 2
    assert nvml.calls["nvmlShutdown"] == 1  # before the new nvmlInit

    nvml.lost = None
    clock.now += 30
    assert reader.read(frozenset({ME})).devices == ()  # still within the interval
    clock.now += 31
    recovered = reader.read(frozenset({ME}))

    (gpu,) = recovered.devices
    assert gpu.utilization_percent == 37.0
    assert recovered.memory_by_pid == {ME: GIB}
    assert reader.available is True
    assert nvml.calls["nvmlInit"] == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "GPU_IS_LOST" in warnings[0].getMessage()
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]
    assert "restored" in caplog.records[1].getMessage()


@pytest.mark.parametrize("code", [NVML_ERROR_GPU_IS_LOST, NVML_ERROR_UNKNOWN])
def test_one_device_lost_returns_the_devices_read_before(code: int) -> None:
    clock = Clock()
    devices = [a100(0, compute_processes=[FakeProcess(ME, GIB)]), a100(1)]
    reader = GpuReader(nvml=FakeNvml(devices), clock=clock)
    assert len(reader.read(frozenset({ME})).devices) == 2

    devices[1].errors = {"*": code}
    reading = reader.read(frozenset({ME}))

    assert [gpu.index for gpu in reading.devices] == [0]
    assert reading.devices[0].process_memory_bytes == GIB
    assert reading.memory_by_pid is None  # incomplete
    assert reader.available is False


@pytest.mark.parametrize(
    "code",
    [
        NVML_ERROR_NOT_SUPPORTED,
        NVML_ERROR_NOT_FOUND,
        NVML_ERROR_NO_PERMISSION,
        NVML_ERROR_FUNCTION_NOT_FOUND,
    ],
)
def test_fields_nvml_cannot_give_are_none(code: int) -> None:
    unsupported = [
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetMemoryInfo_v2",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetTotalEnergyConsumption",
        "nvmlDeviceGetMigMode",
        "nvmlDeviceGetName",
        *(
            f"nvmlDeviceGet{kind}RunningProcesses{suffix}"
            for kind in ("Compute", "Graphics")
            for suffix in ("_v3", "_v2", "")
        ),
    ]
    device = a100(compute_processes=[FakeProcess(ME, GIB)], errors=dict.fromkeys(unsupported, code))
    reader = GpuReader(nvml=FakeNvml([device]))

    for _ in range(2):
        reading = reader.read(frozenset({ME}))
        (gpu,) = reading.devices
        assert gpu.uuid == device.uuid
        assert gpu.name is None
        assert gpu.utilization_percent is None
        assert gpu.memory_used_bytes is None
        assert gpu.memory_total_bytes is None
        assert gpu.process_memory_bytes is None
        assert gpu.power_watts is None
        assert gpu.energy_joules is None
        assert gpu.mig_mode is None
        assert reading.memory_by_pid is None
        assert reader.available is True


def test_a_process_whose_memory_nvml_cannot_tell() -> None:
    device = a100(compute_processes=[FakeProcess(ME, None), FakeProcess(ME + 1, None)])
    reader = GpuReader(nvml=FakeNvml([device]), pid_exists=lambda pid: True)

    reading = reader.read(frozenset({ME}))
    assert reading.devices[0].process_memory_bytes is None
    assert reading.memory_by_pid == {}

    device.compute_processes = [FakeProcess(ME, NVML_VALUE_NOT_AVAILABLE), FakeProcess(ME + 1, 7)]
    reading = reader.read(frozenset({ME, ME + 1}))
    assert reading.devices[0].process_memory_bytes == 7
    assert reading.memory_by_pid == {ME + 1: 7}


def test_container_without_the_host_pid_namespace() -> None:
    # NVML lists host PIDs; none of them exists in this PID namespace.
    host_pids = [PID_MAX + 1000, PID_MAX + 2000]
    devices = [
        a100(0, compute_processes=[FakeProcess(host_pids[0], GIB)]),
        a100(1, compute_processes=[FakeProcess(host_pids[1], GIB)]),
    ]
    reader = GpuReader(nvml=FakeNvml(devices))  # the real psutil.pid_exists, on real /proc

    reading = reader.read(frozenset({ME}))

    assert [gpu.process_memory_bytes for gpu in reading.devices] == [None, None]
    assert reading.memory_by_pid is None
    assert [gpu.memory_used_bytes for gpu in reading.devices] == [5 * GIB, 5 * GIB]


def test_container_detection_uses_the_injected_pid_exists() -> None:
    device = a100(compute_processes=[FakeProcess(4242, GIB), FakeProcess(4343, GIB)])

    hidden = GpuReader(nvml=FakeNvml([device]), pid_exists=lambda pid: False)
    shared = GpuReader(nvml=FakeNvml([device]), pid_exists=lambda pid: pid == 4343)

    assert hidden.read(frozenset({4242})).devices[0].process_memory_bytes is None
    assert shared.read(frozenset({4242})).devices[0].process_memory_bytes == GIB


@pytest.mark.parametrize("how", ["driver", "binding"])
def test_process_listing_falls_back_from_v3_to_v2(how: str) -> None:
    v3 = ["nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v3"]
    # The driver lacks the symbol (FUNCTION_NOT_FOUND) or the binding lacks the function.
    nvml = FakeNvml(
        [a100(compute_processes=[FakeProcess(ME, GIB)])],
        missing=v3 if how == "driver" else (),
        hidden=v3 if how == "binding" else (),
    )
    reader = GpuReader(nvml=nvml)

    for _ in range(3):
        assert reader.read(frozenset({ME})).devices[0].process_memory_bytes == GIB

    assert nvml.calls["nvmlDeviceGetComputeRunningProcesses_v2"] == 3
    assert nvml.calls["nvmlDeviceGetComputeRunningProcesses_v3"] == (1 if how == "driver" else 0)
    assert nvml.calls["nvmlDeviceGetComputeRunningProcesses"] == 0


def test_process_listing_falls_back_to_the_plain_function() -> None:
    missing = [
        f"nvmlDeviceGet{kind}RunningProcesses{suffix}"
        for kind in ("Compute", "Graphics")
        for suffix in ("_v3", "_v2")
    ]
    nvml = FakeNvml([a100(graphics_processes=[FakeProcess(ME, GIB)])], missing=missing)

    reading = GpuReader(nvml=nvml).read(frozenset({ME}))

    assert reading.devices[0].process_memory_bytes == GIB
    assert nvml.calls["nvmlDeviceGetGraphicsRunningProcesses"] == 1


def test_memory_falls_back_to_v1() -> None:
    nvml = FakeNvml([a100()], missing=["nvmlDeviceGetMemoryInfo_v2"])
    reader = GpuReader(nvml=nvml)

    for _ in range(2):
        (gpu,) = reader.read(frozenset()).devices
        assert gpu.memory_used_bytes == 5 * GIB + GIB // 2  # v1 counts the reservation
        assert gpu.memory_total_bytes == 40 * GIB
    assert nvml.calls["nvmlDeviceGetMemoryInfo_v2"] == 1


def test_no_devices_is_a_normal_state() -> None:
    nvml = FakeNvml([])
    reader = GpuReader(nvml=nvml)

    assert reader.read(frozenset()).devices == ()
    assert reader.available is False
    assert reader.status == "no NVIDIA GPU found"
    assert reader.describe()["device_count"] == 0
    assert nvml.initialised is False  # shut down again


def test_driver_not_loaded_at_start(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="jupyter_usage.sampling.gpu")
    reader = GpuReader(nvml=FakeNvml([a100()], init_error=NVML_ERROR_DRIVER_NOT_LOADED))

    for _ in range(10):
        assert reader.read(frozenset()).devices == ()

    assert reader.status == "no NVIDIA driver: the NVIDIA kernel driver is not loaded"
    assert [r.levelno for r in caplog.records] == [logging.INFO]


def test_close_shuts_nvml_down_and_a_later_read_starts_it_again() -> None:
    nvml = FakeNvml([a100()])
    reader = GpuReader(nvml=nvml)
    reader.close()
    assert nvml.calls["nvmlShutdown"] == 0  # never started

    reader.read(frozenset())
    reader.close()
    assert nvml.calls["nvmlShutdown"] == 1
    assert nvml.initialised is False
    assert reader.available is False
    assert reader.status == "closed"

    assert len(reader.read(frozenset()).devices) == 1
    assert nvml.calls["nvmlInit"] == 2


def test_concurrent_first_reads_start_nvml_once() -> None:
    nvml = FakeNvml([a100()])
    nvml.init_gate = threading.Event()
    reader = GpuReader(nvml=nvml)
    counts: list[int] = []

    def read() -> None:
        counts.append(len(reader.read(frozenset()).devices))

    first = threading.Thread(target=read)
    first.start()
    deadline = time.monotonic() + 30
    while nvml.calls["nvmlInit"] == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    second = threading.Thread(target=read)
    second.start()
    # Give an unlocked second reader the chance to call nvmlInit too; with the lock it waits.
    second.join(0.2)
    nvml.init_gate.set()
    first.join(30)
    second.join(30)

    assert nvml.calls["nvmlInit"] == 1
    assert counts == [1, 1]


def test_memory_with_a_binding_that_takes_no_version() -> None:
    class OldBinding(FakeNvml):
        def nvmlDeviceGetMemoryInfo(self, handle: FakeDevice) -> FakeMemory:  # type: ignore[override]
            return super().nvmlDeviceGetMemoryInfo(handle)

    nvml = OldBinding([a100()])

    (gpu,) = GpuReader(nvml=nvml).read(frozenset()).devices

    assert gpu.memory_used_bytes == 5 * GIB + GIB // 2
    assert gpu.memory_total_bytes == 40 * GIB


def test_every_name_the_reader_uses_exists_in_the_real_pynvml() -> None:
    source = Path(gpu_module.__file__).read_text()
    functions = set(re.findall(r'"(nvml[A-Za-z0-9_]+)"', source))
    functions -= {"nvmlDeviceGetMemoryInfo_v2"}  # a driver symbol, called through its version
    functions |= {
        f"nvmlDeviceGet{kind}RunningProcesses{suffix}"
        for kind in ("Compute", "Graphics")
        for suffix in gpu_module._PROCESS_SUFFIXES
    }
    constants = {
        f"NVML_ERROR_{name}"
        for name in (
            *gpu_module._ABSENT_CODES,
            *gpu_module._GONE_CODES,
            *gpu_module._PERMANENT_CODES,
        )
    } | {"NVML_DEVICE_MIG_ENABLE", "nvmlMemory_v2", "NVMLError"}

    assert len(functions) > 15
    for name in sorted(functions | constants):
        assert hasattr(pynvml, name), name
        assert hasattr(FakeNvml([]), name), name  # the fake mimics the same names
    for name in constants - {"NVMLError"}:
        assert getattr(FakeNvml([]), name) == getattr(pynvml, name), name
