"""What the event loop knows and the sampler thread cannot ask: the kernels (name,
notebook, pid, state), when the server was last used, and when the idle culler stops it.

The kernel and session managers live on the event loop, so the watch reads them there
and hands the sampler a plain snapshot; the sampler never calls into the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .sampling.sampler import KernelInfo, Sampler


class ServerWatch:
    """Keeps the sampler's view of the server's kernels and last activity current."""

    def __init__(
        self,
        serverapp: Any,
        sampler: Sampler,
        *,
        interval_seconds: float,
        idle_culler_timeout_seconds: float,
        log: logging.Logger,
    ) -> None:
        self.serverapp = serverapp
        self.sampler = sampler
        # Listing kernels more than once a second would only cost the event loop.
        self.interval_seconds = max(interval_seconds, 1.0)
        self.idle_culler_timeout_seconds = idle_culler_timeout_seconds
        self.log = log

    async def run(self) -> None:
        """Refresh every interval until cancelled; a failed listing waits for the next."""
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.refresh()
            except Exception:
                self.log.debug("jupyter_usage: could not list kernels", exc_info=True)

    async def refresh(self) -> None:
        """Hand the sampler each kernel's name, notebook path, pid and state."""
        kernel_manager = self.serverapp.kernel_manager
        paths: dict[str, str] = {}
        with contextlib.suppress(Exception):
            for session in await self.serverapp.session_manager.list_sessions():
                kernel = session.get("kernel") or {}
                if kernel.get("id"):
                    paths[kernel["id"]] = session.get("path")
        kernels: dict[str, KernelInfo] = {}
        for kernel_id in list(kernel_manager.list_kernel_ids()):
            try:
                kernel = kernel_manager.get_kernel(kernel_id)
            except KeyError:
                continue
            provisioner = getattr(kernel, "provisioner", None)
            pid = getattr(provisioner, "pid", None)
            kernels[kernel_id] = KernelInfo(
                name=getattr(kernel, "kernel_name", None),
                path=paths.get(kernel_id),
                pid=pid if isinstance(pid, int) else None,
                execution_state=getattr(kernel, "execution_state", None),
            )
        self.sampler.set_kernels(kernels)
        last_activity = self.last_activity()
        if last_activity is not None:  # unknown for now: keep what the sampler had
            self.sampler.set_last_activity(last_activity)

    def culler_timeout_seconds(self) -> float | None:
        """Seconds of inactivity after which the server is stopped, if known: the hub's
        idle culler as configured here, else jupyter_server's own no-activity shutdown."""
        timeout = self.idle_culler_timeout_seconds or float(
            getattr(self.serverapp, "shutdown_no_activity_timeout", 0) or 0
        )
        return timeout or None

    def last_activity(self) -> float | None:
        """When the server was last used (unix seconds), if the web app can say."""
        with contextlib.suppress(Exception):
            return float(self.serverapp.web_app.last_activity().timestamp())
        return None
