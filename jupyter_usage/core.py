"""The operations every view needs, over the parts the app wires together.

The REST handlers and the Prometheus collector receive a `UsageCore`, never the app:
they read what it offers and format it. Plain Python (asyncio only to keep blocking
store and hub calls off the event loop), so it can be tested without a server.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._version import __version__
from .budget import (
    NO_HUB,
    BudgetReader,
    SessionRate,
    SessionTotals,
    budget_json,
    takes_json,
    unavailable,
)
from .budget_unreported import totals_of_record, with_unreported
from .hubclient import HubClient
from .kernel_history import KernelHistory
from .oom import OomWatch
from .records import SEEN_KEY
from .sampling.sampler import Sampler
from .series import SeriesStore
from .service_rates import LOCAL, RATES_SOURCE_KEY
from .session import SessionRecorder, last_unseen_summary
from .store import SessionStore
from .uploader import SessionUploader

HUB_LIST_LIMIT = 10_000
"""The most sessions the hub history service lists in one answer."""


@dataclass(frozen=True)
class CoreSettings:
    """The configuration the views report (from the app's traits)."""

    sample_interval_seconds: float
    checkpoint_interval_seconds: float
    idle_after_seconds: float
    metrics_per_kernel: bool = False
    hub_service_name: str = ""
    config_errors: tuple[dict[str, Any], ...] = ()
    """Settings not in force (config_errors.ConfigError.to_json())."""


def _unknown() -> float | None:
    return None


@dataclass
class UsageCore:
    settings: CoreSettings
    sampler: Sampler
    series: SeriesStore
    oom: OomWatch
    store: SessionStore
    recorder: SessionRecorder
    hub_client: HubClient | None = None
    hub_uploader: SessionUploader | None = None
    culler_timeout_seconds: Callable[[], float | None] = _unknown
    """Seconds of inactivity after which the idle culler stops the server, if known."""
    last_activity: Callable[[], float | None] = _unknown
    """When the server was last used (unix seconds), if known."""
    budgets: BudgetReader | None = None
    """The user's budgets from the hub service; None without one (see `no_budget_reason`)."""
    no_budget_reason: str = NO_HUB
    kernel_history: KernelHistory | None = None

    @property
    def metrics_per_kernel(self) -> bool:
        return self.settings.metrics_per_kernel

    # -- now --

    def snapshot(self) -> dict[str, Any] | None:
        """The latest sample with its out-of-memory notices; None before the first."""
        sample = self.sampler.latest
        if sample is None:
            return None
        body = sample.to_json()
        body["notices"] = self.oom.notices(since=sample.time - 3600)
        return body

    def history(
        self,
        since: float,
        step: float | None = None,
        until: float | None = None,
        *,
        kernels: bool = False,
    ) -> dict[str, Any]:
        """Columns of the series from `since`; ValueError for a query they cannot answer.

        With `kernels`, also each kernel's series over the same buckets and the
        out-of-memory notices of the range (what the dashboard draws)."""
        if until is not None and until < since:
            raise ValueError("until must not be before since")
        columns, effective_step = self.series.query_with_meta(since, step, until=until)
        body: dict[str, Any] = {"step_seconds": effective_step, "columns": columns}
        if kernels:
            times = columns["time"]
            body["kernels"] = (
                self.kernel_history.query(times, effective_step)
                if self.kernel_history is not None
                else []
            )
            end = until if until is not None else math.inf
            body["notices"] = [
                notice for notice in self.oom.notices(since=since) if notice["time"] <= end
            ]
        return body

    # -- sessions --

    def session(self) -> dict[str, Any]:
        body = self.recorder.session_json()
        body["projected"] = self.projection(body["cost"])
        return body

    async def sessions(self, limit: int, before: float | None = None) -> dict[str, Any]:
        """Past sessions from the hub history service (every server of the user) when
        it answers, else from this server's store. The list and its CSV both read this,
        so they never disagree."""
        client, name = self.hub_client, self.settings.hub_service_name
        if client is not None and name:
            remote = await asyncio.to_thread(
                functools.partial(
                    client.service_sessions,
                    name,
                    limit=min(limit, HUB_LIST_LIMIT),
                    before=before,
                )
            )
            if remote is not None:
                return {"sessions": remote, "source": "hub"}
        local = await asyncio.to_thread(self.store.list, limit, before)
        return {"sessions": local, "source": "local"}

    async def summary(
        self, session_id: str | None = None, *, last_unseen: bool = False
    ) -> dict[str, Any] | None:
        """The summary of this session, of a past one, or of the newest past one not yet
        shown (`last_unseen`); None when there is no such session."""
        if session_id and last_unseen:
            raise ValueError("give either session or last_unseen, not both")
        if last_unseen:
            return await asyncio.to_thread(last_unseen_summary, self.store, self.recorder.id)
        if not session_id or session_id == self.recorder.id:
            summary = self.recorder.summary_json()
            summary["budgets"] = await self.budget_takes()
            return summary
        record = await asyncio.to_thread(self.store.get, session_id)
        if record is None:
            return None
        if record.get("summary") is not None:
            return record["summary"]
        return await asyncio.to_thread(self.recorder.summary_of_record, record)

    def mark_summary_seen(self, session_id: str) -> None:
        if session_id == self.recorder.id:
            self.recorder.update_meta(**{SEEN_KEY: True})
        self.store.update_meta(session_id, **{SEEN_KEY: True})

    def projection(self, cost: dict[str, Any]) -> dict[str, float | None]:
        """What the session will have cost when the idle culler stops it, if it stays idle."""
        timeout = self.culler_timeout_seconds()
        last_activity = self.last_activity()
        per_hour = cost.get("per_hour")
        if timeout is None or last_activity is None or per_hour is None:
            return {"until_cull_seconds": None, "total_at_cull": None}
        remaining = max(0.0, timeout - (time.time() - last_activity))
        return {
            "until_cull_seconds": remaining,
            "total_at_cull": cost["total"] + per_hour * remaining / 3600,
        }

    # -- budgets --

    async def budget(self) -> dict[str, Any]:
        """The user's budgets as the hub service counts them (at most one report interval
        old), each with how long it lasts at this session's current rate."""
        if self.budgets is None:
            return unavailable(self.no_budget_reason, self.recorder.user)
        status = await asyncio.to_thread(self.budgets.status)
        rate = self.session_rate()
        body = budget_json(status, rate, time.time())
        if status.fetched_at is None or not body["budgets"]:
            return body
        reported = None
        if self.hub_uploader is not None:
            record = self.hub_uploader.current_reported_by(status.fetched_at)
            if record is not None and record.get("id") == self.recorder.id:
                reported = totals_of_record(record)
        return with_unreported(body, self._session_totals(), reported, rate.of)

    async def budget_takes(self) -> list[dict[str, Any]]:
        """What this session has taken from each of the user's budgets."""
        if self.budgets is None:
            return []
        status = await asyncio.to_thread(self.budgets.status)
        return takes_json(status, self._session_totals())

    def _session_totals(self) -> SessionTotals:
        body = self.recorder.session_json()
        return SessionTotals(
            started=body["started"],
            now=body["started"] + body["duration_seconds"],
            cost=body["cost"]["total"],
            currency=body["cost"]["currency"],
            cpu_core_seconds=body["cpu_core_seconds"],
            memory_byte_seconds=body["memory_byte_seconds"],
            gpu_seconds=body["gpu_seconds"],
        )

    def session_rate(self) -> SessionRate:
        """How fast this session spends at the latest sample."""
        per_hour = self.recorder.per_hour()
        sample = self.sampler.latest
        return SessionRate(
            cost_per_second=None if per_hour is None else per_hour / 3600,
            currency=self.recorder.rates.currency,
            cpu_cores=None if sample is None else sample.cpu.cores,
            memory_bytes=None if sample is None else sample.memory.used_bytes,
            gpus=None if sample is None else float(len(sample.gpus)),
        )

    # -- configuration and the hub --

    def config(self) -> dict[str, Any]:
        """What the UI needs to know about this extension's configuration."""
        return {
            "version": __version__,
            "sample_interval_seconds": self.settings.sample_interval_seconds,
            "checkpoint_interval_seconds": self.settings.checkpoint_interval_seconds,
            "idle_after_seconds": self.settings.idle_after_seconds,
            "history_bytes": self.series.memory_bytes(),
            "kernel_history_bytes": (
                self.kernel_history.memory_bytes() if self.kernel_history is not None else 0
            ),
            "sources": self.sampler.active_sources(),
            "sampler": {
                "samples_total": self.sampler.ticks_total,
                "cpu_seconds_total": self.sampler.cpu_seconds_total,
                "last_tick_cpu_seconds": self.sampler.tick_cpu_seconds,
            },
            "store": {"persistent": self.store.persistent, "status": self.store.status},
            "rates": self.recorder.rates.to_json(),
            "rates_source": self.recorder.meta.get(RATES_SOURCE_KEY, LOCAL),
            "idle_culler_timeout_seconds": self.culler_timeout_seconds(),
            "config_errors": list(self.settings.config_errors),
        }

    async def hub(self) -> dict[str, Any]:
        if self.hub_client is None:
            return {"available": False, "reason": "not running under JupyterHub"}
        info = await asyncio.to_thread(self.hub_client.user_model)
        body = info.to_json()
        if self.hub_uploader is not None:
            body["delivery"] = self.hub_uploader.status()
        return body
