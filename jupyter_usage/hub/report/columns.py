"""One unit per table column on the report page, chosen for the column's size.

A column that mixes "0.175 h" and "5.15 min", or shows "0.000244 core-h", cannot be read
down: each column here takes the largest unit in which its largest figure is at least 1
("26 min", "1.2 core-h"), and the same number of decimals for every row. A figure too
small for that precision reads "< 0.01 core-h", never a row of zeros that are not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from jupyter_usage.hub.periods import HOUR_SECONDS

from .formatting import GIB, NONE

TIME = (("h", HOUR_SECONDS), ("min", 60.0), ("s", 1.0))
"""Server and GPU time, from seconds."""
CORE_TIME = (("core-h", HOUR_SECONDS), ("core-min", 60.0), ("core-s", 1.0))
"""CPU, from core-seconds."""
MEMORY_TIME = (("GiB-h", HOUR_SECONDS * GIB), ("GiB-min", 60.0 * GIB), ("GiB-s", 1.0 * GIB))
"""Memory held over time, from byte-seconds."""


@dataclass(frozen=True)
class Column:
    unit: str
    size: float
    """Base units (seconds, core-seconds, byte-seconds) in one `unit`."""
    decimals: int

    def cell(self, value: float | None) -> str:
        if value is None:
            return NONE
        if value == 0:
            return f"0 {self.unit}"
        shown = round(value / self.size, self.decimals)
        if value > 0 and shown == 0:
            return f"< {10**-self.decimals:.{self.decimals}f} {self.unit}"
        return f"{shown:,.{self.decimals}f} {self.unit}"


def column(values: Iterable[float | None], units: Sequence[tuple[str, float]]) -> Column:
    """The unit and precision of a column of `values` (in the base unit of `units`, whose
    entries run from the largest unit to the smallest)."""
    top = max((abs(v) for v in values if v is not None), default=0.0)
    # An empty or all-zero column reads in the largest unit: "0 h", not "0 s".
    unit, size = next(((u, s) for u, s in units if top >= s), units[-1 if top else 0])
    scaled = top / size
    decimals = 0 if scaled >= 100 else 1 if scaled >= 10 else 2
    return Column(unit, size, decimals)


def usage_cells(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` (of `cost_by_user` or `cost_by_group`) with the text of their server time,
    CPU, memory and GPU columns, each column in one unit."""
    keys = {
        "server_time": ("server_seconds", TIME),
        "cpu": ("cpu_core_seconds", CORE_TIME),
        "memory": ("memory_byte_seconds", MEMORY_TIME),
        "gpu": ("gpu_seconds", TIME),
    }
    columns = {
        name: (key, column((_number(row.get(key)) for row in rows), units))
        for name, (key, units) in keys.items()
    }
    return [
        {**row, **{name: col.cell(_number(row.get(key))) for name, (key, col) in columns.items()}}
        for row in rows
    ]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None
