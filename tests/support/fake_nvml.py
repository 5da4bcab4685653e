"""A `pynvml`-shaped module for the GPUs this machine lacks.

Same names, error classes and return shapes as `nvidia-ml-py`'s `pynvml`, backed by plain
objects a test can change between reads: devices, processes, errors per function, symbols
the "driver" lacks (`missing`) and names the "binding" lacks (`hidden`).
"""

from __future__ import annotations

import string
import threading
import types
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25
NVML_ERROR_GPU_NOT_FOUND = 28
NVML_ERROR_UNKNOWN = 999

NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1
nvmlMemory_v2 = 0x02000028
NVML_VALUE_NOT_AVAILABLE = 2**64 - 1

_CODES = {name: value for name, value in globals().items() if name.startswith("NVML_ERROR_")}


class NVMLError(Exception):
    """As in pynvml: `NVMLError(code)` builds the subclass for that code."""

    _valClassMapping: dict[int, type[NVMLError]] = {}
    value: int

    def __new__(cls, value: int) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        error = Exception.__new__(cls)
        error.value = value
        return error

    def __str__(self) -> str:
        names = {code: name for name, code in _CODES.items()}
        return names.get(self.value, f"NVML Error with code {self.value}")


def _error_class(name: str, code: int) -> type[NVMLError]:
    # pynvml: NVML_ERROR_GPU_IS_LOST -> NVMLError_GpuIsLost, constructible without arguments.
    class_name = "NVMLError_" + string.capwords(name.removeprefix("NVML_ERROR_"), "_").replace(
        "_", ""
    )

    def new(cls: type[NVMLError], *args: object) -> NVMLError:
        return NVMLError.__new__(cls, code)

    return type(class_name, (NVMLError,), {"__new__": new})


ERROR_CLASSES: dict[str, type[NVMLError]] = {}
"""By class name, e.g. "NVMLError_GpuIsLost"."""
for _name, _code in _CODES.items():
    _class = _error_class(_name, _code)
    ERROR_CLASSES[_class.__name__] = _class
    NVMLError._valClassMapping[_code] = _class


@dataclass
class FakeProcess:
    """Like pynvml's process info objects."""

    pid: int
    usedGpuMemory: int | None
    gpuInstanceId: int = 0xFFFFFFFF
    computeInstanceId: int = 0xFFFFFFFF


@dataclass
class FakeMemory:
    """Like c_nvmlMemory_t (version 0) and c_nvmlMemory_v2_t."""

    total: int
    free: int
    used: int
    version: int = 0
    reserved: int = 0


@dataclass
class FakeUtilization:
    gpu: int
    memory: int


@dataclass
class FakeMigDevice:
    uuid: str
    name: str
    memory_used_bytes: int
    memory_total_bytes: int
    gpu_instance_id: int
    compute_instance_id: int
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class FakeDevice:
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    name: str | bytes = "NVIDIA A100-SXM4-40GB"
    utilization_percent: int = 0
    memory_used_bytes: int = 0
    memory_reserved_bytes: int = 0
    memory_total_bytes: int = 40 * 2**30
    compute_processes: list[FakeProcess] = field(default_factory=list)
    graphics_processes: list[FakeProcess] = field(default_factory=list)
    power_milliwatts: int = 60_000
    energy_millijoules: int = 1_000_000
    mig_mode: int = NVML_DEVICE_MIG_DISABLE
    mig_slots: list[FakeMigDevice | None] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    """Function name (or "*" for every function) → the NVML error code it raises."""


class FakeNvml(types.ModuleType):
    """An instance stands in for the `pynvml` module."""

    NVMLError = NVMLError
    hidden: frozenset[str] = frozenset()

    def __init__(
        self,
        devices: Iterable[FakeDevice] = (),
        *,
        driver_version: str = "550.54.15",
        init_error: int | None = None,
        missing: Iterable[str] = (),
        hidden: Iterable[str] = (),
    ) -> None:
        super().__init__("pynvml")
        self.devices = list(devices)
        self.driver_version = driver_version
        self.init_error = init_error
        self.missing = set(missing)
        self.hidden = frozenset(hidden)
        self.lost: int | None = None
        """When set, every call raises this code and nvmlInit fails: a driver gone away."""
        self.init_gate: threading.Event | None = None
        self.initialised = False
        self.calls: Counter[str] = Counter()

    def __getattribute__(self, name: str) -> Any:
        if name in types.ModuleType.__getattribute__(self, "hidden"):
            raise AttributeError(name)
        return types.ModuleType.__getattribute__(self, name)

    def _enter(self, name: str, handle: object = None) -> None:
        self.calls[name] += 1
        if not self.initialised:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        if name in self.missing:
            raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
        if self.lost is not None:
            raise NVMLError(self.lost)
        errors: dict[str, int] = getattr(handle, "errors", {})
        code = errors.get(name, errors.get("*"))
        if code is not None:
            raise NVMLError(code)

    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.init_gate is not None:
            self.init_gate.wait(5)
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        if self.lost is not None:
            raise NVMLError(NVML_ERROR_DRIVER_NOT_LOADED)
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeDevice:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.devices):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return self.devices[index]

    def nvmlDeviceGetUUID(self, handle: FakeDevice | FakeMigDevice) -> str:
        self._enter("nvmlDeviceGetUUID", handle)
        return handle.uuid

    def nvmlDeviceGetName(self, handle: FakeDevice | FakeMigDevice) -> str | bytes:
        self._enter("nvmlDeviceGetName", handle)
        return handle.name

    def nvmlDeviceGetUtilizationRates(self, handle: FakeDevice | FakeMigDevice) -> FakeUtilization:
        self._enter("nvmlDeviceGetUtilizationRates", handle)
        if isinstance(handle, FakeMigDevice) or handle.mig_mode == NVML_DEVICE_MIG_ENABLE:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return FakeUtilization(gpu=handle.utilization_percent, memory=0)

    def nvmlDeviceGetMemoryInfo(
        self, handle: FakeDevice | FakeMigDevice, version: int | None = None
    ) -> FakeMemory:
        self._enter("nvmlDeviceGetMemoryInfo_v2" if version else "nvmlDeviceGetMemoryInfo", handle)
        if version and version != nvmlMemory_v2:
            raise NVMLError(NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        if isinstance(handle, FakeMigDevice):
            used, reserved, total = handle.memory_used_bytes, 0, handle.memory_total_bytes
        else:
            used, reserved = handle.memory_used_bytes, handle.memory_reserved_bytes
            total = handle.memory_total_bytes
        if version:
            free = total - used - reserved
            return FakeMemory(total, free, used, version=version, reserved=reserved)
        # Version 1 counts the driver's reservation as used.
        return FakeMemory(total, total - used - reserved, used + reserved)

    def _processes(self, name: str, handle: FakeDevice) -> list[FakeProcess]:
        self._enter(name, handle)
        kind = handle.compute_processes if "Compute" in name else handle.graphics_processes
        return [FakeProcess(**vars(process)) for process in kind]

    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle: FakeDevice) -> list[FakeProcess]:
        return self._processes("nvmlDeviceGetComputeRunningProcesses_v3", handle)

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle: FakeDevice) -> list[FakeProcess]:
        return self._processes("nvmlDeviceGetComputeRunningProcesses_v2", handle)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeDevice) -> list[FakeProcess]:
        return self._processes("nvmlDeviceGetComputeRunningProcesses", handle)

    def nvmlDeviceGetGraphicsRunningProcesses_v3(self, handle: FakeDevice) -> list[FakeProcess]:
        return self._processes("nvmlDeviceGetGraphicsRunningProcesses_v3", handle)

    def nvmlDeviceGetGraphicsRunningProcesses_v2(self, handle: FakeDevice) -> list[FakeProcess]:
        return self._processes("nvmlDeviceGetGraphicsRunningProcesses_v2", handle)

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: FakeDevice) -> list[FakeProcess]:
        return self._processes("nvmlDeviceGetGraphicsRunningProcesses", handle)

    def nvmlDeviceGetPowerUsage(self, handle: FakeDevice) -> int:
        self._enter("nvmlDeviceGetPowerUsage", handle)
        return handle.power_milliwatts

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeDevice) -> int:
        self._enter("nvmlDeviceGetTotalEnergyConsumption", handle)
        return handle.energy_millijoules

    def nvmlDeviceGetMigMode(self, handle: FakeDevice) -> list[int]:
        self._enter("nvmlDeviceGetMigMode", handle)
        return [handle.mig_mode, handle.mig_mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeDevice) -> int:
        self._enter("nvmlDeviceGetMaxMigDeviceCount", handle)
        return len(handle.mig_slots)

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeDevice, index: int) -> FakeMigDevice:
        self._enter("nvmlDeviceGetMigDeviceHandleByIndex", handle)
        mig = handle.mig_slots[index]
        if mig is None:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return mig

    def nvmlDeviceGetGpuInstanceId(self, handle: FakeMigDevice) -> int:
        self._enter("nvmlDeviceGetGpuInstanceId", handle)
        return handle.gpu_instance_id

    def nvmlDeviceGetComputeInstanceId(self, handle: FakeMigDevice) -> int:
        self._enter("nvmlDeviceGetComputeInstanceId", handle)
        return handle.compute_instance_id


# The module-level names of pynvml, as attributes of every fake.
for _name, _value in {**_CODES, **ERROR_CLASSES}.items():
    setattr(FakeNvml, _name, _value)
for _name in ("NVML_SUCCESS", "NVML_DEVICE_MIG_DISABLE", "NVML_DEVICE_MIG_ENABLE", "nvmlMemory_v2"):
    setattr(FakeNvml, _name, globals()[_name])
