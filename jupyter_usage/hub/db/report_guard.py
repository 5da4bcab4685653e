"""Reports can only add: within one session, the cumulative figures of a newer report are
never below the stored ones.

A session's totals are sums and peaks over its samples, its duration and its cost grow
with time; a checkpoint that lowers any of them is not a measurement but a rewrite (a
user zeroing their own budget with their own token). Plain Python: the storage calls it
with the stored row and the new report, inside the transaction that would write it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

RELATIVE_TOLERANCE = 1e-9
"""Rounding of a figure re-serialised by a client (JSON floats) is not a lowering."""
ABSOLUTE_TOLERANCE = 1e-9


class LoweringRefused(Exception):
    """A report that lowers figures of its stored session; nothing was written."""

    def __init__(self, figures: list[str]) -> None:
        self.figures = figures
        shown = ", ".join(figures[:5]) + (
            f" and {len(figures) - 5} more" if len(figures) > 5 else ""
        )
        super().__init__(
            f"The report lowers figures of the stored session ({shown}); within a session "
            "they only grow, so the stored report is kept"
        )


def lowered_figures(
    stored_duration: float | None,
    stored_totals: Any,
    stored_cost: Any,
    duration: float,
    totals: Any,
    cost: Any,
) -> list[str]:
    """The names of the figures `(duration, totals, cost)` has below the stored ones: a
    stored number that is missing or smaller in the report. Empty when nothing goes down."""
    found: list[str] = []
    if _number(stored_duration) is not None and _below(duration, stored_duration):
        found.append("duration_seconds")
    found += _lowered("totals", stored_totals, totals)
    stored_cost = stored_cost if isinstance(stored_cost, Mapping) else {}
    cost = cost if isinstance(cost, Mapping) else {}
    found += _lowered("cost.total", stored_cost.get("total"), cost.get("total"))
    found += _lowered("cost.breakdown", stored_cost.get("breakdown"), cost.get("breakdown"))
    return found


def _lowered(name: str, stored: Any, new: Any) -> list[str]:
    return [
        path for path, value in _leaves(name, stored) if _below(_at(new, path[len(name) :]), value)
    ]


def _leaves(prefix: str, value: Any) -> Iterator[tuple[str, float]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(f"{prefix}.{key}", item)
    elif _number(value) is not None:
        yield prefix, float(value)


def _at(value: Any, suffix: str) -> Any:
    for key in suffix.split(".")[1:] if suffix else ():
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _below(new: Any, stored: Any) -> bool:
    old = _number(stored)
    if old is None:
        return False
    number = _number(new)
    if number is None:
        return True  # a figure that disappears is one set to nothing
    return number < old - (ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * abs(old))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
