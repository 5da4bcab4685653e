"""Fixtures of every fault test: the server runs with `FAULT_CONFIG` (one checkpoint a
second, one currency unit a second of server time) and is read through a counting `Api`."""

from __future__ import annotations

from typing import Any

import pytest
from support.fault_injection import FAULT_CONFIG, Api


@pytest.fixture
def usage_config() -> dict[str, Any]:
    return FAULT_CONFIG


@pytest.fixture
def api(jp_fetch: Any, usage_app: Any) -> Api:
    return Api(jp_fetch, usage_app)
