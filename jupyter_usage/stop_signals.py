"""Make every stop signal close the session, not only SIGTERM.

jupyter_server handles SIGTERM with a clean stop, which runs the extensions'
`stop_extension`. SIGINT it handles only when stdin is a terminal (to ask "Shutdown this
Jupyter server?"); without one, Python's default handler raises KeyboardInterrupt out of
the event loop and the server exits without stopping its extensions. That is how
JupyterHub's LocalProcessSpawner stops every server (SIGINT first, then SIGTERM after
`interrupt_timeout`), so without this the session of every hub-stopped server stays open.
SIGHUP (a closed terminal or ssh session) kills the process outright by default.

Only signals still at their default disposition are taken over: a terminal's confirmation
prompt, or a handler someone else installed, is left alone.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

_DEFAULTS: dict[str, tuple[Handler, ...]] = {
    "SIGINT": (signal.default_int_handler, signal.SIG_DFL),
    "SIGHUP": (signal.SIG_DFL,),
}


class StopSignals:
    """Routes SIGINT and SIGHUP to the server's own clean stop while installed."""

    def __init__(self, stop: Callable[[int, FrameType | None], Any]) -> None:
        self._stop = stop
        self._previous: dict[int, Handler] = {}
        self.received: str | None = None
        """The name of the stop signal that arrived, for the session's record."""

    def install(self) -> list[str]:
        """Take over the signals left at their defaults; returns their names."""
        if threading.current_thread() is not threading.main_thread():
            return []  # signal.signal works only there (an embedded or test server)
        taken: list[str] = []
        for name, defaults in _DEFAULTS.items():
            number = getattr(signal, name, None)
            if number is None:
                continue  # not on this platform
            current = signal.getsignal(number)
            if current not in defaults:
                continue
            self._previous[number] = current
            signal.signal(number, self._handle)
            taken.append(name)
        if taken:
            log.debug("jupyter_usage: %s stop the server cleanly", ", ".join(taken))
        return taken

    def uninstall(self) -> None:
        """Put back what was there, for a process that goes on after the server."""
        if threading.current_thread() is not threading.main_thread():
            return
        for number, previous in self._previous.items():
            if signal.getsignal(number) == self._handle:
                signal.signal(number, previous)
        self._previous.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.received is not None:
            # Stopping already; the spawner escalates to SIGTERM and SIGKILL on its own
            # schedule, and running the stop twice would clean up twice.
            return
        self.received = signal.Signals(number).name
        self._stop(number, frame)
