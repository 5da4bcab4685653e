"""Trait types that check their own bounds and name `Class.trait` when they refuse a value.

traitlets' `Float(min=, max=)` and `CaselessStrEnum` check the same things, but their
messages say "the 'x' trait of a Y instance" and let NaN through; an admin reading a
start-up error should see the name they wrote in their config file.
"""

from __future__ import annotations

import math
from typing import Any

from traitlets import CaselessStrEnum, Float, Int, TraitError


def _named(obj: Any, name: str | None) -> str:
    return f"{type(obj).__name__}.{name}"


def _bounds(low: float | None, high: float | None) -> str:
    if high is None or math.isinf(high):
        return f">= {low:g}"
    return f"between {low:g} and {high:g}"


class BoundedFloat(Float):  # type: ignore[type-arg]
    """A finite float between `min` and `max` (both inclusive)."""

    def validate(self, obj: Any, value: Any) -> float:
        if isinstance(value, int):
            value = float(value)
        if not isinstance(value, float):
            self.error(obj, value)
        low = -math.inf if self.min is None else self.min
        high = math.inf if self.max is None else self.max
        if not (math.isfinite(value) and low <= value <= high):
            raise TraitError(
                f"{_named(obj, self.name)} must be {_bounds(low, high)}, got {value:g}"
            )
        return float(value)


class BoundedInt(Int):  # type: ignore[type-arg]
    """An integer of at least `min` (and at most `max`, when given)."""

    def validate(self, obj: Any, value: Any) -> int:
        if not isinstance(value, int):
            self.error(obj, value)
        low = -math.inf if self.min is None else self.min
        high = math.inf if self.max is None else self.max
        if not low <= value <= high:
            raise TraitError(f"{_named(obj, self.name)} must be {_bounds(low, high)}, got {value}")
        return int(value)


class NamedCaselessStrEnum(CaselessStrEnum):  # type: ignore[type-arg]
    """One of `values`, case and surrounding spaces ignored, given back as listed."""

    def validate(self, obj: Any, value: Any) -> Any:
        if not isinstance(value, str):
            self.error(obj, value)
        try:
            return super().validate(obj, value.strip())
        except TraitError:
            choices = ", ".join(repr(choice) for choice in self.values or ())
            raise TraitError(
                f"{_named(obj, self.name)} must be one of {choices}, got {value!r}"
            ) from None
