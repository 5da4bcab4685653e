"""One unit per column of the report's tables, chosen for the column's size."""

from __future__ import annotations

from jupyter_usage.hub.report.columns import CORE_TIME, MEMORY_TIME, TIME, column, usage_cells

GIB = 1024**3


def test_a_column_takes_the_largest_unit_its_largest_figure_fills() -> None:
    # 0.175 h and 5.15 min in one column: both in minutes.
    minutes = column([630.0, 309.0], TIME)
    assert (minutes.unit, minutes.cell(630.0), minutes.cell(309.0)) == (
        "min",
        "10.5 min",
        "5.2 min",
    )
    hours = column([26 * 60.0, 4320.0], TIME)
    assert (hours.cell(4320.0), hours.cell(26 * 60.0)) == ("1.20 h", "0.43 h")
    large = column([3600.0 * 250], TIME)
    assert large.cell(3600.0 * 250) == "250 h"
    assert large.cell(3600.0 * 12.4) == "12 h"


def test_a_figure_too_small_for_its_column_says_so() -> None:
    cpu = column([4320.0, 0.88], CORE_TIME)
    assert cpu.cell(4320.0) == "1.20 core-h"
    assert cpu.cell(0.88) == "< 0.01 core-h"
    assert cpu.cell(0.0) == "0 core-h"
    assert cpu.cell(None) == "\N{EN DASH}"
    tiny = column([0.88], CORE_TIME)
    assert tiny.cell(0.88) == "0.88 core-s"


def test_table_rows_get_one_unit_per_column() -> None:
    rows = [
        {
            "user": "ada",
            "server_seconds": 630.0,
            "cpu_core_seconds": 4320.0,
            "memory_byte_seconds": 3 * 3600.0 * GIB,
            "gpu_seconds": 0.0,
        },
        {
            "user": "bob",
            "server_seconds": 309.0,
            "cpu_core_seconds": 0.88,
            "memory_byte_seconds": 60.0 * GIB,
            "gpu_seconds": None,
        },
    ]
    ada, bob = usage_cells(rows)
    assert (ada["server_time"], bob["server_time"]) == ("10.5 min", "5.2 min")
    assert (ada["cpu"], bob["cpu"]) == ("1.20 core-h", "< 0.01 core-h")
    assert (ada["memory"], bob["memory"]) == ("3.00 GiB-h", "0.02 GiB-h")
    assert (ada["gpu"], bob["gpu"]) == ("0 h", "\N{EN DASH}")
    assert column([], MEMORY_TIME).unit == "GiB-h"
