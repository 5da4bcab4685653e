"""Equality of two answers up to float noise: the database and the reference add the same
numbers in different orders."""

from __future__ import annotations

import math
from typing import Any


def close(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert a is not None, where
        assert b is not None, where
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-5), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict), where
        assert a.keys() == b.keys(), f"{where}: {a} != {b}"
        for key in a:
            close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and a and isinstance(a[0], dict) and a[0].keys() & {"user", "group"}:
        # Rows whose order ties on float noise compare by their key.
        name = "user" if "user" in a[0] else "group"
        close({row[name]: row for row in a}, {row[name]: row for row in b}, where)
    elif isinstance(a, list):
        assert isinstance(b, list), where
        assert len(a) == len(b), f"{where}: {a} != {b}"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{where}[{index}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
