"""Overlapping reports of the same sessions, as a busy hub sends them: a start, two
checkpoints and the final report of each session posted at the same moment by several
threads, in one process or in several. Used by test_hub_races.py.

Each poster takes one of the reports of every session, in turn, so every ordering of
"final before checkpoint" and "checkpoint before final" comes up.
"""

from __future__ import annotations

import threading
from typing import Any

from jupyter_usage.hub.db.storage import SessionInput, UsageDB
from jupyter_usage.hub.intake.validation import parse_session

T0 = 1_790_000_000.0
HOUR = 3600.0
REPORTS_PER_SESSION = 4
"""The start, the checkpoints at 1 h and 2 h, and the end at 3 h."""


def report(session_id: str, step: int) -> SessionInput:
    """Report `step` of a session: 0 the start, 1 and 2 checkpoints, 3 the end at 3 h."""
    seconds = step * HOUR
    body: dict[str, Any] = {
        "id": session_id,
        "started": T0,
        "last_checkpoint": T0 + seconds if step else None,
        "ended": T0 + seconds if step == 3 else None,
        "ended_by": "stop" if step == 3 else None,
        "totals": {"duration_seconds": seconds, "cpu_core_seconds": seconds / 2},
        "cost": {"currency": "EUR", "total": round(0.1 * step, 1)},
        "meta": {"step": step},
    }
    return parse_session(body)


def torn(row: dict[str, Any]) -> bool:
    """Whether a stored session is anything but its final report, whole."""
    final = 3 * HOUR
    return not (
        row["ended"] == T0 + final
        and row["ended_by"] == "stop"
        and row["last_checkpoint"] == T0 + final
        and row["duration_seconds"] == final
        and row["totals"] == {"duration_seconds": final, "cpu_core_seconds": final / 2}
        and row["cost"] == {"currency": "EUR", "total": 0.3}
        and row["meta"]["step"] == 3
    )


def post_all(
    url: str,
    session_ids: list[str],
    posters: int,
    first_poster: int,
    barrier: Any,
) -> list[str]:
    """`posters` threads of this process post their report of every session at once;
    `barrier` lines them (and the other processes' threads) up before each session."""
    db = UsageDB(url)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def poster(number: int) -> None:
        try:
            for index, session_id in enumerate(session_ids):
                barrier.wait(60)
                step = (number + index) % REPORTS_PER_SESSION
                outcomes.append(db.upsert_session("alice", report(session_id, step), [], T0))
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=poster, args=(first_poster + n,)) for n in range(posters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.close()
    if errors:
        raise errors[0]
    return outcomes


def process_main(
    url: str, session_ids: list[str], posters: int, first_poster: int, barrier: Any, queue: Any
) -> None:
    """Entry point of a second process (multiprocessing, spawn)."""
    try:
        queue.put(post_all(url, session_ids, posters, first_poster, barrier))
    except BaseException as error:
        queue.put(repr(error))
