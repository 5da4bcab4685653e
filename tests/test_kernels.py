"""Per-kernel figures against the truth of /proc, with real kernels running real code."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest


@pytest.fixture
def usage_config() -> dict[str, Any]:
    return {"UsageApp": {"sample_interval": 0.25}}


async def start_notebook(jp_fetch: Any, path: str) -> str:
    response = await jp_fetch(
        "api",
        "sessions",
        method="POST",
        body=json.dumps({"path": path, "type": "notebook", "kernel": {"name": "python3"}}),
    )
    return json.loads(response.body)["kernel"]["id"]  # type: ignore[no-any-return]


async def execute(jp_serverapp: Any, kernel_id: str, code: str) -> Any:
    """Send code to the kernel; return the client (call `stop_channels()` when done)."""
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    client.execute(code)
    return client


def vm_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def kernel_row(usage_get: Any, kernel_id: str, ready: Any) -> dict[str, Any]:
    for _ in range(240):
        body = await usage_get("snapshot")
        for row in body["kernels"]:
            if row["id"] == kernel_id and ready(row):
                return row  # type: ignore[no-any-return]
        await asyncio.sleep(0.25)
    raise AssertionError(f"kernel {kernel_id} never matched; last snapshot: {body['kernels']}")


async def test_a_kernel_holding_512_mib_shows_up_with_its_notebook(
    jp_fetch: Any, jp_serverapp: Any, usage_get: Any
) -> None:
    kernel_id = await start_notebook(jp_fetch, "analysis.ipynb")
    client = await execute(jp_serverapp, kernel_id, 'ballast = b"\\x01" * (512 * 1024**2)')
    try:
        row = await kernel_row(
            usage_get, kernel_id, lambda r: (r["memory_bytes"] or 0) > 512 * 2**20
        )
        assert row["path"] == "analysis.ipynb"
        assert row["name"] == "python3"
        truth = vm_rss_bytes(row["pid"])
        assert row["memory_bytes"] == pytest.approx(truth, rel=0.05)
    finally:
        client.stop_channels()


async def test_a_kernel_burning_a_core_shows_about_one_core(
    jp_fetch: Any, jp_serverapp: Any, usage_get: Any
) -> None:
    kernel_id = await start_notebook(jp_fetch, "burn.ipynb")
    client = await execute(
        jp_serverapp,
        kernel_id,
        "import time\nend = time.time() + 20\nwhile time.time() < end:\n    pass",
    )
    try:
        await kernel_row(usage_get, kernel_id, lambda r: r["execution_state"] == "busy")
        await asyncio.sleep(1.5)
        readings = []
        for _ in range(8):
            row = await kernel_row(usage_get, kernel_id, lambda r: r["cpu_cores"] is not None)
            readings.append(row["cpu_cores"])
            await asyncio.sleep(0.3)
        readings.sort()
        median = readings[len(readings) // 2]
        assert 0.8 <= median <= 1.2, readings
    finally:
        await jp_serverapp.kernel_manager.get_kernel(kernel_id).interrupt_kernel()
        client.stop_channels()
