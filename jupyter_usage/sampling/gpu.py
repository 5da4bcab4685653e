"""NVIDIA GPUs through NVML (the `pynvml` module of the `nvidia-ml-py` distribution).

"No GPU" is a normal state, not an error: without the library, the driver or a device
the reader says why in `status`, logs it once and returns empty readings. A driver that
goes away mid-run (GPU lost, driver unloaded) is retried every `retry_interval_seconds`.

Every device NVML shows is reported. Inside a container NVML only shows the container's
GPUs, so `CUDA_VISIBLE_DEVICES` and `NVIDIA_VISIBLE_DEVICES` are not consulted.

NVML lists processes by their host PIDs. When it lists some and none of them exists in
this PID namespace, we run in a container without the host's PIDs: the memory of our
processes is then unknown (None), not guessed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import psutil

from jupyter_usage.logonce import LogOnce
from jupyter_usage.sampling.sample import GpuUsage

log = logging.getLogger(__name__)

_ABSENT_CODES = ("NOT_SUPPORTED", "NOT_FOUND", "NO_PERMISSION", "FUNCTION_NOT_FOUND")
"""A field this device, driver or user cannot have: the value is unknown, nothing is wrong."""
_GONE_CODES = (
    "UNINITIALIZED",
    "DRIVER_NOT_LOADED",
    "LIBRARY_NOT_FOUND",
    "GPU_IS_LOST",
    "RESET_REQUIRED",
    "LIB_RM_VERSION_MISMATCH",
    "GPU_NOT_FOUND",
    "UNKNOWN",
)
"""The device or the driver is gone: stop reading and start over later."""
_PERMANENT_CODES = ("FUNCTION_NOT_FOUND", "ARGUMENT_VERSION_MISMATCH")
"""This driver lacks the function (or this version of it): do not call it again."""
_PROCESS_SUFFIXES = ("_v3", "_v2", "")
"""Newest first: old drivers lack the `_v3` (then `_v2`) symbols."""
_VALUE_NOT_AVAILABLE = 2**64 - 1
"""NVML_VALUE_NOT_AVAILABLE as an unsigned long long (old bindings pass it through)."""


@dataclass(frozen=True, slots=True)
class GpuReading:
    devices: tuple[GpuUsage, ...]
    memory_by_pid: dict[int, int] | None
    """GPU bytes held by each of the asked-for pids, summed over devices; pids holding none
    (or none NVML can measure) are left out. None when NVML's PIDs cannot be matched to ours
    (a container without the host PID namespace), a device cannot list its processes, or
    the read failed part way."""


_EMPTY = GpuReading(devices=(), memory_by_pid={})


class _DriverGone(Exception):
    """An NVML call failed in a way that needs a fresh `nvmlInit`."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class GpuReader:
    """Reads every NVIDIA GPU on each `read()`; thread-safe, never raises for a missing GPU."""

    def __init__(
        self,
        *,
        nvml: ModuleType | None = None,
        retry_interval_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        pid_exists: Callable[[int], bool] = psutil.pid_exists,
    ) -> None:
        self._nvml = nvml
        self._retry_interval_seconds = retry_interval_seconds
        self._clock = clock
        self._pid_exists = pid_exists
        self._lock = threading.Lock()
        self._initialised = False
        self._needs_shutdown = False
        self._next_attempt: float | None = None
        self._was_lost = False
        self._log_once = LogOnce(log)
        self._missing_functions: set[str] = set()
        self._absent_codes: frozenset[int] = frozenset()
        self._gone_codes: frozenset[int] = frozenset()
        self._permanent_codes: frozenset[int] = frozenset()
        self._logged_calls: set[str] = set()
        self._handles: list[tuple[int, Any, str | None, str | None]] = []
        self.available = False
        self.status = "not started yet"
        self.driver_version: str | None = None
        self.device_count: int | None = None

    def describe(self) -> dict[str, Any]:
        """What the /config endpoint shows about the GPU source."""
        return {
            "available": self.available,
            "status": self.status,
            "driver_version": self.driver_version,
            "device_count": self.device_count,
        }

    def read(self, pids: frozenset[int]) -> GpuReading:
        """One reading of every device; `pids` are this server's processes."""
        with self._lock:
            if not self._initialised and not self._start():
                return _EMPTY
            read: list[tuple[GpuUsage, list[Any] | None]] = []
            try:
                for index, handle, uuid, name in self._handles:
                    read.append(self._read_device(index, handle, uuid, name))
            except _DriverGone as gone:
                self._lose(gone.error)
                return self._attribute(read, pids, complete=False)
            return self._attribute(read, pids, complete=True)

    def close(self) -> None:
        """Release NVML; a later `read()` starts it again."""
        with self._lock:
            if self._initialised or self._needs_shutdown:
                self._shutdown()
            if self._initialised:
                self.status = "closed"
            self._initialised = False
            self._next_attempt = None
            self.available = False

    # -- start, loss, retry ----------------------------------------------------------------

    def _start(self) -> bool:
        now = self._clock()
        if self._next_attempt is not None and now < self._next_attempt:
            return False
        self._next_attempt = now + self._retry_interval_seconds
        nvml = self._module()
        if nvml is None:
            return False
        if self._needs_shutdown:
            self._shutdown()
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as error:
            self._unavailable(_init_failure(nvml, error))
            return False
        self._needs_shutdown = True
        self._missing_functions.clear()
        try:
            self._handles = self._open_devices()
            self.driver_version = _text(self._call("nvmlSystemGetDriverVersion"))
        except _DriverGone as gone:
            self._unavailable(_init_failure(nvml, gone.error))
            return False
        self.device_count = len(self._handles)
        if not self._handles:
            self._shutdown()
            self._unavailable("no NVIDIA GPU found")
            return False
        self._initialised = True
        self.available = True
        plural = "" if len(self._handles) == 1 else "s"
        self.status = f"{len(self._handles)} NVIDIA GPU{plural}, driver {self.driver_version}"
        if self._was_lost:
            self._was_lost = False
            self._log_once("recovered", logging.INFO, "GPU readings restored: %s", self.status)
        return True

    def _module(self) -> Any:
        if self._nvml is None:
            try:
                # Imported here so that importing this module never loads NVML.
                import pynvml
            except ImportError:
                self._unavailable("the nvidia-ml-py package (module pynvml) is not installed")
                return None
            self._nvml = pynvml
        nvml = self._nvml
        self._absent_codes = _codes(nvml, _ABSENT_CODES)
        self._gone_codes = _codes(nvml, _GONE_CODES)
        self._permanent_codes = _codes(nvml, _PERMANENT_CODES)
        return nvml

    def _open_devices(self) -> list[tuple[int, Any, str | None, str | None]]:
        count = self._call("nvmlDeviceGetCount") or 0
        handles = []
        for index in range(count):
            handle = self._call("nvmlDeviceGetHandleByIndex", index)
            if handle is not None:
                uuid = _text(self._call("nvmlDeviceGetUUID", handle))
                name = _text(self._call("nvmlDeviceGetName", handle))
                handles.append((index, handle, uuid, name))
        return handles

    def _lose(self, error: Exception) -> None:
        self._initialised = False
        self._was_lost = True
        self._next_attempt = self._clock() + self._retry_interval_seconds
        self._unavailable(
            f"lost contact with the NVIDIA driver ({error}); "
            f"retrying every {self._retry_interval_seconds:g} s",
            key="lost",
            level=logging.WARNING,
        )

    def _unavailable(
        self, status: str, *, key: str | None = None, level: int = logging.INFO
    ) -> None:
        self.available = False
        self.status = status
        # Failed retries after a loss stay quiet: the loss itself was logged.
        key = key or ("lost" if self._was_lost else "unavailable")
        self._log_once(key, level, "GPU readings unavailable: %s", status)

    def _shutdown(self) -> None:
        self._needs_shutdown = False
        nvml = self._nvml
        if nvml is None:
            return
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError as error:
            log.debug("nvmlShutdown failed: %s", error)

    # -- the one wrapper every NVML call goes through --------------------------------------

    def _call(self, function: str, *args: Any, symbol: str | None = None, **kwargs: Any) -> Any:
        """`pynvml.<function>(*args, **kwargs)`, or None when the value cannot be had.

        `symbol` names the driver function when it differs from `function`: one missing
        from the driver or the binding is remembered and not called again until re-init.
        Raises `_DriverGone` for the errors after which only a new `nvmlInit` helps.
        """
        symbol = symbol or function
        if symbol in self._missing_functions:
            return None
        nvml: Any = self._nvml
        method = getattr(nvml, function, None)
        if method is None:  # a binding older than the function
            self._missing_functions.add(symbol)
            return None
        try:
            return method(*args, **kwargs)
        except nvml.NVMLError as error:
            code = getattr(error, "value", None)
            if code in self._gone_codes:
                raise _DriverGone(error) from error
            if code in self._permanent_codes:
                self._missing_functions.add(symbol)
            if code not in self._absent_codes and symbol not in self._logged_calls:
                self._logged_calls.add(symbol)
                log.debug("%s failed: %s", symbol, error)
            return None
        except UnicodeDecodeError:  # a binding decoding a garbled string
            return None

    # -- reading ---------------------------------------------------------------------------

    def _read_device(
        self, index: int, handle: Any, uuid: str | None, name: str | None
    ) -> tuple[GpuUsage, list[Any] | None]:
        """The device without `process_memory_bytes`, and the processes NVML lists on it."""
        processes = self._processes(handle)
        utilization = self._call("nvmlDeviceGetUtilizationRates", handle)
        used_bytes, total_bytes = self._memory(handle)
        power_milliwatts = self._call("nvmlDeviceGetPowerUsage", handle)
        energy_millijoules = self._call("nvmlDeviceGetTotalEnergyConsumption", handle)
        mig_modes = self._call("nvmlDeviceGetMigMode", handle)
        enabled = getattr(self._nvml, "NVML_DEVICE_MIG_ENABLE", 1)
        mig_mode = None if mig_modes is None else mig_modes[0] == enabled
        usage = GpuUsage(
            index=index,
            uuid=uuid,
            name=name,
            utilization_percent=None if utilization is None else float(utilization.gpu),
            memory_used_bytes=used_bytes,
            memory_total_bytes=total_bytes,
            process_memory_bytes=None,
            power_watts=None if power_milliwatts is None else power_milliwatts / 1000.0,
            energy_joules=None if energy_millijoules is None else energy_millijoules / 1000.0,
            mig_mode=mig_mode,
            mig_instances=self._mig_instances(handle) if mig_mode else (),
        )
        return usage, processes

    def _attribute(
        self,
        read: list[tuple[GpuUsage, list[Any] | None]],
        pids: frozenset[int],
        *,
        complete: bool,
    ) -> GpuReading:
        """Fill in the GPU memory of `pids`, where NVML's PIDs can be matched to ours."""
        matchable = self._pids_matchable(processes for _, processes in read)
        devices = []
        memory_by_pid: dict[int, int] = {}
        for usage, processes in read:
            ours = _memory_of(processes, pids) if matchable and processes is not None else None
            devices.append(dataclasses.replace(usage, process_memory_bytes=_sum_known(ours)))
            for pid, used_bytes in (ours or {}).items():
                if used_bytes is not None:
                    memory_by_pid[pid] = memory_by_pid.get(pid, 0) + used_bytes
        listed_everywhere = all(processes is not None for _, processes in read)
        return GpuReading(
            devices=tuple(devices),
            memory_by_pid=memory_by_pid if matchable and complete and listed_everywhere else None,
        )

    def _memory(self, handle: Any) -> tuple[int | None, int | None]:
        # v2 leaves the driver's reservation out of `used`, as nvidia-smi does.
        memory = None
        version = getattr(self._nvml, "nvmlMemory_v2", None)
        v2 = "nvmlDeviceGetMemoryInfo_v2"
        if version is not None:
            try:
                memory = self._call("nvmlDeviceGetMemoryInfo", handle, symbol=v2, version=version)
            except TypeError:  # a binding whose function takes no version
                self._missing_functions.add(v2)
        if memory is None:
            memory = self._call("nvmlDeviceGetMemoryInfo", handle)
        if memory is None:
            return None, None
        return int(memory.used), int(memory.total)

    def _processes(self, handle: Any) -> list[Any] | None:
        """Compute and graphics processes on the device; None when NVML cannot list them."""
        found: list[Any] | None = None
        for kind in ("Compute", "Graphics"):
            for suffix in _PROCESS_SUFFIXES:
                function = f"nvmlDeviceGet{kind}RunningProcesses{suffix}"
                listed = self._call(function, handle)
                if listed is None and function in self._missing_functions:
                    continue
                if listed is not None:
                    found = [*(found or []), *listed]
                break
        return found

    def _pids_matchable(self, processes_by_device: Iterable[list[Any] | None]) -> bool:
        # NVML reports host PIDs. When none of the listed ones exists here we are in a
        # container with its own PID namespace and cannot tell which processes are ours.
        listed = {process.pid for processes in processes_by_device for process in processes or ()}
        return not listed or any(self._pid_exists(pid) for pid in listed)

    def _mig_instances(self, handle: Any) -> tuple[dict[str, Any], ...]:
        count = self._call("nvmlDeviceGetMaxMigDeviceCount", handle) or 0
        instances = []
        for slot in range(count):
            mig = self._call("nvmlDeviceGetMigDeviceHandleByIndex", handle, slot)
            if mig is None:  # an empty slot
                continue
            used_bytes, total_bytes = self._memory(mig)
            instances.append(
                {
                    "index": slot,
                    "uuid": _text(self._call("nvmlDeviceGetUUID", mig)),
                    "name": _text(self._call("nvmlDeviceGetName", mig)),
                    "memory_used_bytes": used_bytes,
                    "memory_total_bytes": total_bytes,
                    "gpu_instance_id": self._call("nvmlDeviceGetGpuInstanceId", mig),
                    "compute_instance_id": self._call("nvmlDeviceGetComputeInstanceId", mig),
                    "utilization_percent": None,  # NVML does not support it on MIG devices
                }
            )
        return tuple(instances)


def _codes(nvml: Any, names: Iterable[str]) -> frozenset[int]:
    # Older bindings lack the newest constants.
    return frozenset(
        code for name in names if (code := getattr(nvml, f"NVML_ERROR_{name}", None)) is not None
    )


def _init_failure(nvml: Any, error: Exception) -> str:
    code = getattr(error, "value", None)
    if code == nvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return "no NVIDIA driver: the NVML library (libnvidia-ml.so.1) was not found"
    if code == nvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return "no NVIDIA driver: the NVIDIA kernel driver is not loaded"
    if code == nvml.NVML_ERROR_NO_PERMISSION:
        return "no permission to use the NVIDIA driver"
    if code == getattr(nvml, "NVML_ERROR_LIB_RM_VERSION_MISMATCH", None):
        return "the NVIDIA driver and its library differ in version (reload the driver or reboot)"
    return f"the NVIDIA driver failed to start: {error}"


def _memory_of(processes: list[Any], pids: frozenset[int]) -> dict[int, int | None]:
    """Our pids on one device → bytes (None where NVML cannot say)."""
    ours: dict[int, int | None] = {}
    for process in processes:
        if process.pid not in pids:
            continue
        used = process.usedGpuMemory
        known = None if used is None or used < 0 or used >= _VALUE_NOT_AVAILABLE else int(used)
        # A process with both a compute and a graphics context is listed twice.
        previous = ours.get(process.pid)
        ours[process.pid] = known if previous is None else max(previous, known or 0)
    return ours


def _sum_known(ours: dict[int, int | None] | None) -> int | None:
    if ours is None:
        return None
    known = [used for used in ours.values() if used is not None]
    if ours and not known:
        return None
    return sum(known)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return None if value is None else str(value)
