"""Figures the reliability tests report, gathered into docs/reliability.md.

`scripts/reliability_report.py` runs the reliability tests with ``JUPYTER_USAGE_RELIABILITY_LOG``
set to a file; each call of `record` appends one JSON line to it. Without the variable (a plain
pytest run) `record` does nothing, so the tests behave the same either way.
"""

from __future__ import annotations

import json
import os

ENV = "JUPYTER_USAGE_RELIABILITY_LOG"

FIGURES = {
    "requests": "generated requests sent to the REST API",
    "responses_5xx": "responses with a 5xx status",
    "faults_injected": "faults injected into a running server or service",
    "sessions_recovered": "sessions recovered after a crash",
    "sessions_lost": "recorded sessions lost",
    "configs_rejected": "malformed configurations refused at start-up",
    "bodies_rejected": "malformed or oversized bodies refused with a 4xx",
    "routes_checked": "routes checked for refusing requests without credentials",
    "races_tried": "sessions whose reports raced each other (hub service)",
    "torn_rows": "raced sessions stored with anything but their newest report, whole",
    "outage_answers": "503 answers of the hub service while its database was down",
    "hub_restarts_survived": "hub starts with the usage database down that the hub survived",
}
"""Each figure's name and what it counts."""


def record(figure: str, count: int = 1, *, detail: str = "") -> None:
    """Add `count` to `figure` for the running test (no-op unless the report asked for it)."""
    if figure not in FIGURES:
        raise ValueError(f"unknown reliability figure {figure!r}; add it to FIGURES")
    path = os.environ.get(ENV)
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    line = json.dumps({"figure": figure, "count": count, "test": test, "detail": detail})
    with open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")
