"""Check the GPU source against a real NVIDIA GPU, and time it.

    python benchmarks/gpu_check.py [--reads 5] [--interval 1.0] [--allocate-mib 256]

Reads every GPU with the real `pynvml` a few times, one interval apart. When `torch` or
`cupy` can be imported, a child process first allocates some GPU memory, so the output
shows whether that memory is attributed to the child's pid (it is not inside a container
without the host PID namespace: then `memory_by_pid` is null). Prints one JSON document;
exits 0 without a GPU too (the JSON then says why there is none). Needs only `psutil` and
`nvidia-ml-py` besides this checkout.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jupyter_usage.sampling.gpu import GpuReader

_CHILD = """
import sys
mib = int(sys.argv[1])
if sys.argv[2] == "torch":
    import torch
    block = torch.empty(mib * 2**20, dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
else:
    import cupy
    block = cupy.empty(mib * 2**20, dtype=cupy.uint8)
    cupy.cuda.Device().synchronize()
print("ready", flush=True)
sys.stdin.read()
"""


def _start_child(mib: int) -> tuple[subprocess.Popen[str] | None, dict[str, Any]]:
    """A process holding `mib` MiB of GPU memory, when torch or cupy can make one."""
    library = next((n for n in ("torch", "cupy") if importlib.util.find_spec(n)), None)
    if library is None:
        return None, {"skipped": "neither torch nor cupy is importable"}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(mib), library],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if line != "ready":
        _, stderr = child.communicate("", timeout=60)
        return None, {"library": library, "failed": stderr.strip().splitlines()[-1:]}
    return child, {"library": library, "pid": child.pid, "allocated_bytes": mib * 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between reads")
    parser.add_argument("--allocate-mib", type=int, default=256)
    options = parser.parse_args()

    child, child_report = _start_child(options.allocate_mib)
    pids = frozenset({os.getpid()} | ({child.pid} if child else set()))
    reader = GpuReader()
    reads: list[dict[str, Any]] = []
    try:
        for number in range(options.reads):
            if number:
                time.sleep(options.interval)
            wall, cpu = time.perf_counter(), time.process_time()
            reading = reader.read(pids)
            wall_ms = (time.perf_counter() - wall) * 1000
            cpu_ms = (time.process_time() - cpu) * 1000
            reads.append(
                {
                    "wall_ms": round(wall_ms, 3),
                    "cpu_ms": round(cpu_ms, 3),
                    "devices": [dataclasses.asdict(device) for device in reading.devices],
                    "memory_by_pid": reading.memory_by_pid,
                }
            )
        description = reader.describe()
    finally:
        reader.close()
        if child is not None:
            child.communicate("", timeout=60)

    later = [r["wall_ms"] for r in reads[1:]]
    report: dict[str, Any] = {
        "gpu": description,
        "child": child_report,
        "first_read_ms": reads[0]["wall_ms"] if reads else None,  # imports and starts NVML
        "per_read_ms": {
            "median": round(statistics.median(later), 3) if later else None,
            "max": max(later) if later else None,
            "cpu_median": (
                round(statistics.median(r["cpu_ms"] for r in reads[1:]), 3) if later else None
            ),
        },
        "reads": reads,
    }
    if child is not None and reads:
        seen = (reads[-1]["memory_by_pid"] or {}).get(child.pid)
        report["child"]["seen_bytes"] = seen
        report["child"]["attributed"] = seen is not None and seen >= child_report["allocated_bytes"]
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
