"""A past session's summary speaks of the limits and rates it ran under, not today's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.samples import GIB, sample

from jupyter_usage.cost import Rates
from jupyter_usage.session import SessionRecorder
from jupyter_usage.store import SessionStore


def recorder(store: SessionStore, started: float, rates: Rates) -> SessionRecorder:
    return SessionRecorder(
        store,
        rates,
        started=started,
        user="alice",
        server_name="",
        checkpoint_interval_seconds=10.0,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    with SessionStore(tmp_path / "sessions.sqlite") as opened:
        yield opened


def run(session: SessionRecorder, seconds: range, memory_bytes: int, limit_bytes: int) -> None:
    for second in seconds:
        session.on_sample(sample(float(second), memory_bytes=memory_bytes, limit_bytes=limit_bytes))


def test_a_recovered_session_keeps_the_limits_it_ran_under(store: SessionStore) -> None:
    first = recorder(store, 1000.0, Rates(memory_gib_hour=1.0))
    first.begin()
    run(first, range(1000, 1031), 7 * GIB, 8 * GIB)
    # Killed with SIGKILL: no finish(); the server comes back with 2 GiB and new rates.
    second = recorder(store, 2000.0, Rates(memory_gib_hour=5.0))
    second.on_sample(sample(2000.0, memory_bytes=GIB, limit_bytes=2 * GIB))
    (recovered,) = second.begin()
    assert recovered["id"] == first.id
    assert recovered["summary"]["peaks"]["memory_limit_bytes"] == 8 * GIB
    assert not any("2 GiB" in line for line in recovered["summary"]["advice"])

    # A stored record without a summary is summarised with its own facts too.
    record = store.get(first.id)
    assert record is not None
    rebuilt = second.summary_of_record({**record, "summary": None})
    assert rebuilt["peaks"]["memory_limit_bytes"] == 8 * GIB
    assert record["meta"]["rates"]["memory_gib_hour"] == 1.0


def test_every_checkpoint_stores_the_limits_and_rates(store: SessionStore) -> None:
    running = recorder(store, 1000.0, Rates(memory_gib_hour=1.0))
    running.begin()
    run(running, range(1000, 1011), GIB, 8 * GIB)
    first = store.get(running.id)
    assert first is not None
    assert first["meta"]["limits"]["memory_limit_bytes"] == 8 * GIB
    # The limit changes mid-session (a resize): the next checkpoint says so.
    running.set_rates(Rates(memory_gib_hour=3.0))
    run(running, range(1011, 1022), GIB, 4 * GIB)
    later = store.get(running.id)
    assert later is not None
    assert later["last_checkpoint"] > first["last_checkpoint"]
    assert later["meta"]["limits"]["memory_limit_bytes"] == 4 * GIB
    assert later["meta"]["rates"]["memory_gib_hour"] == 3.0
