"""Following JupyterHub from a single-user server: learn the hub's view of this server
(start time, groups, profile), keep the hub history service fed with sessions, and give
the ended session one short try at stop.

Every call to the hub is blocking (the hub client uses urllib), so each runs in a thread;
a hub that is down or slow only delays delivery, the sessions stay in the store.
"""

from __future__ import annotations

import asyncio
import logging

from .cost import CostModel
from .hubclient import HubClient, HubInfo
from .metrics import UsageCollector
from .service_rates import LOCAL, RATES_SOURCE_KEY, SERVICE, ServiceRates
from .session import SessionRecorder
from .store import SessionStore
from .uploader import SessionUploader


class HubFollower:
    def __init__(
        self,
        hub_client: HubClient,
        hub_uploader: SessionUploader | None,
        *,
        store: SessionStore,
        recorder: SessionRecorder,
        cost_model: CostModel,
        collector: UsageCollector,
        interval_seconds: float,
        log: logging.Logger,
        service_rates: ServiceRates | None = None,
    ) -> None:
        self.hub_client = hub_client
        self.hub_uploader = hub_uploader
        self.store = store
        self.recorder = recorder
        self.cost_model = cost_model
        self.collector = collector
        self.interval_seconds = interval_seconds
        self.log = log
        self.service_rates = service_rates
        self._info: HubInfo | None = None

    async def run(self) -> None:
        """Learn the hub's view of this server, then keep the history service fed."""
        info: HubInfo = await asyncio.to_thread(self.hub_client.user_model)
        await asyncio.to_thread(self.apply, info)
        while True:
            if self.service_rates is not None and self.service_rates.due() and self._info:
                await asyncio.to_thread(self.price, self._info)
            if self.hub_uploader is not None:
                record = await asyncio.to_thread(self.store.get, self.recorder.id)
                try:
                    await asyncio.to_thread(self.hub_uploader.deliver_pending, record)
                except Exception:
                    self.log.debug("jupyter_usage: delivery to the hub failed", exc_info=True)
            await asyncio.sleep(self.interval_seconds)

    def apply(self, info: HubInfo) -> None:
        """The hub's start time, groups and profile shape this session and its rates."""
        if not info.available:
            return
        self._info = info
        self.collector.set_groups(info.groups)
        self.price(info)
        self.recorder.update_meta(groups=list(info.groups), profile=info.profile)
        self.recorder.set_started(info.started or self.recorder.started, rewrite=True)

    def price(self, info: HubInfo) -> None:
        """The service's rates when it has told them (they are the hub's price list), else
        this server's CostModel for the user's groups and profile."""
        rates = self.cost_model.effective_rates(info.groups, info.profile)
        source = LOCAL
        if self.service_rates is not None:
            from_service = self.service_rates.fetch(rates)
            if from_service is not None:
                rates, source = from_service, SERVICE
        self.recorder.set_rates(rates)
        self.recorder.update_meta(**{RATES_SOURCE_KEY: source})


async def deliver_last(hub_uploader: SessionUploader | None, log: logging.Logger) -> None:
    """One short try to hand the ended session to the hub; it stays stored if not."""
    if hub_uploader is None:
        return
    try:
        await asyncio.wait_for(
            asyncio.to_thread(
                hub_uploader.deliver_pending, ignore_backoff=True, timeout_seconds=0.5
            ),
            timeout=0.6,
        )
    except Exception:
        log.info("jupyter_usage: the hub history service will get this session later")
