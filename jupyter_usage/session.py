"""The current session: samples in, accounting, checkpoints and the closing summary out.

`SessionRecorder` listens to the sampler (on its thread), feeds the ledger, prices the
totals with the session's rates and checkpoints them to the store every
`checkpoint_interval_seconds`, so a killed server loses at most one interval. At stop
it closes the session from the last sample and returns its summary.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .cost import Cost, Rates, cost_of, hourly_cost
from .ledger import Allocation, Ledger, UsageTotals
from .records import LIMITS_KEY, RATES_KEY, SEEN_KEY, SessionRecord
from .sampling.sample import Sample
from .store import SessionStore
from .summary import build_summary


class SessionRecorder:
    def __init__(
        self,
        store: SessionStore,
        rates: Rates,
        *,
        started: float,
        user: str | None,
        server_name: str | None,
        checkpoint_interval_seconds: float = 10.0,
        session_id: str | None = None,
        meta: dict[str, Any] | None = None,
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.id = session_id or uuid.uuid4().hex
        self.user = user
        self.server_name = server_name
        self.started = started
        self.checkpoint_interval_seconds = checkpoint_interval_seconds
        self.meta: dict[str, Any] = dict(meta or {})
        self.log = log or logging.getLogger(__name__)
        self._clock = clock
        self._rates = rates
        self._ledger = Ledger(self.id, started)
        self._latest: Sample | None = None
        self._last_checkpoint = started
        self._lock = threading.Lock()
        self._ended = False
        self._idle_cost = 0.0

    # -- lifecycle --

    def begin(self) -> list[SessionRecord]:
        """Record the session as open and close those a crash left open."""
        self.store.start_session(
            self.id,
            user=self.user,
            server_name=self.server_name,
            started=self.started,
            meta=self._meta(),
        )
        return self.store.recover_open_sessions(self.id, self._summary_of_record)

    def on_sample(self, sample: Sample) -> None:
        """Sampler listener: account for the sample, checkpoint when due."""
        if self._ended:
            return
        previous = self._latest
        self._ledger.add(sample)
        self._latest = sample
        if previous is not None and previous.idle:
            seconds = min(sample.time - previous.time, self._ledger.max_gap_seconds)
            if seconds > 0:
                hourly = hourly_cost(previous, self._rates, Allocation.from_sample(previous))
                self._idle_cost += hourly.total * seconds / 3600
        since_checkpoint = sample.time - self._last_checkpoint
        # Negative when the wall clock was set back: checkpoint now and count from there,
        # rather than waiting for the clock to catch up with the last checkpoint.
        if since_checkpoint >= self.checkpoint_interval_seconds or since_checkpoint < 0:
            self.checkpoint(sample.time)

    def checkpoint(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        with self._lock:
            totals = self._ledger.snapshot()
            self.store.checkpoint(
                self.id,
                time=now,
                totals=totals.to_json(),
                cost=self._cost(totals).to_json(),
                meta=self._meta(),
            )
            self._last_checkpoint = now

    def finish(self, ended_by: str = "stop") -> dict[str, Any]:
        """Close the session at its latest sample and return its summary."""
        with self._lock:
            self._ended = True
            ended = self._ledger.last_time or self._clock()
            totals = self._ledger.snapshot()
            record = self._record(totals, ended=ended, ended_by=ended_by)
            summary = self._summary_of_record(record)
            self.store.end_session(
                self.id,
                ended=ended,
                ended_by=ended_by,
                totals=record["totals"],
                cost=record["cost"],
                summary=summary,
            )
        return summary

    # -- inputs learned later (hub model) --

    @property
    def rates(self) -> Rates:
        return self._rates

    def set_rates(self, rates: Rates) -> None:
        """New rates (the hub told us the groups or profile); they price the whole session."""
        self._rates = rates

    def set_started(self, started: float, rewrite: bool = False) -> None:
        """The hub knows when the server really started (spawn time, before we loaded).
        `rewrite` stores the session's start and meta again even when unchanged."""
        if started < self.started:
            self.started = started
            self._ledger.started = started
        elif not rewrite:
            return
        with self._lock:
            self.store.restart_at(self.id, started=self.started, meta=self._meta())

    def update_meta(self, **fields: Any) -> None:
        self.meta.update(fields)

    # -- views --

    def session_json(self) -> dict[str, Any]:
        """The `/session` body."""
        totals = self._ledger.snapshot()
        cost = self._cost(totals).to_json()
        cost["per_hour"] = self.per_hour()
        last = self._ledger.last_time
        return {
            "id": self.id,
            "user": self.user,
            "server_name": self.server_name,
            "started": self.started,
            "duration_seconds": max(0.0, (last or self.started) - self.started),
            "idle_seconds": totals.idle_seconds,
            "cpu_core_seconds": totals.cpu_core_seconds,
            "memory_byte_seconds": totals.memory_byte_seconds,
            "gpu_seconds": totals.gpu_seconds,
            "gpu_utilization_seconds": totals.gpu_utilization_seconds,
            "peak_memory_bytes": totals.peak_memory_bytes,
            "peak_cpu_cores": totals.peak_cpu_cores,
            "peak_gpu_memory_bytes": totals.peak_gpu_memory_bytes,
            "cost": cost,
            "rates": self._rates.to_json(),
        }

    def per_hour(self) -> float | None:
        """What an hour costs at the latest sample's usage and allocation."""
        hourly = self.hourly_cost()
        return None if hourly is None else hourly.total

    def hourly_cost(self) -> Cost | None:
        """`per_hour`, per resource; None before the first sample."""
        sample = self._latest
        if sample is None:
            return None
        return hourly_cost(sample, self._rates, Allocation.from_sample(sample))

    def cost(self) -> Cost:
        """What the session has cost so far, at the session's rates."""
        return self._cost(self._ledger.snapshot())

    @property
    def idle_seconds(self) -> float:
        """Seconds of the session spent idle so far."""
        return self._ledger.snapshot().idle_seconds

    @property
    def idle_cost(self) -> float:
        """What the idle intervals of the session cost, each at the rates of its time."""
        return self._idle_cost

    def summary_json(self) -> dict[str, Any]:
        """The summary of the session so far (as if it ended at the latest sample)."""
        totals = self._ledger.snapshot()
        record = self._record(totals, ended=None, ended_by=None)
        return self._summary_of_record(record)

    # -- helpers --

    def _cost(self, totals: UsageTotals) -> Cost:
        return cost_of(totals, self._rates)

    def _meta(self) -> dict[str, Any]:
        # The limits and rates travel with every checkpoint: a session recovered after a
        # kill, or summarised later, must speak of its own, not of the next server's.
        return {**self.meta, RATES_KEY: self._rates.to_json(), LIMITS_KEY: self._limits()}

    def _record(
        self, totals: UsageTotals, *, ended: float | None, ended_by: str | None
    ) -> SessionRecord:
        last = self._ledger.last_time or self.started
        return {
            "id": self.id,
            "user": self.user,
            "server_name": self.server_name,
            "started": self.started,
            "ended": ended,
            "ended_by": ended_by,
            "last_checkpoint": last,
            "duration_seconds": max(0.0, (ended or last) - self.started),
            "totals": totals.to_json(),
            "cost": self._cost(totals).to_json(),
            "meta": self._meta(),
        }

    def summary_of_record(self, record: SessionRecord) -> dict[str, Any]:
        """The summary of a stored session that has none (a crash cut it short)."""
        return self._summary_of_record(record)

    def _summary_of_record(self, record: SessionRecord) -> dict[str, Any]:
        stored = (record.get("meta") or {}).get(LIMITS_KEY)
        current = record.get("id") == self.id
        limits = self._limits() if current or not isinstance(stored, dict) else stored
        return build_summary(record, limits=limits)

    def _limits(self) -> dict[str, Any]:
        sample = self._latest
        if sample is None:
            return {"cpu_limit_cores": None, "memory_limit_bytes": None, "gpu_count": None}
        return {
            "cpu_limit_cores": sample.cpu.limit_cores,
            "memory_limit_bytes": sample.memory.limit_bytes,
            "gpu_count": len(sample.gpus),
        }


def last_unseen_summary(store: SessionStore, current_id: str) -> dict[str, Any] | None:
    """The newest ended session whose summary the user has not been shown yet."""
    for record in store.list(limit=10):
        if record["id"] == current_id or record.get("ended") is None:
            continue
        if (record.get("meta") or {}).get(SEEN_KEY):
            return None
        summary = record.get("summary")
        if summary is not None:
            return {**summary, "ended_by": record.get("ended_by")}
        return None
    return None
