"""Bytes received and sent in this process's network namespace, from /proc/self/net/dev."""

from __future__ import annotations

import time
from collections.abc import Callable

from .sample import NetworkUsage

_IGNORED_INTERFACES = frozenset({"lo"})


class NetworkReader:
    """Sums every interface but loopback. Not thread-safe: call from one thread."""

    def __init__(
        self,
        proc_net_dev: str = "/proc/self/net/dev",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = proc_net_dev
        self._clock = clock
        self._previous: dict[str, tuple[int, int]] | None = None
        self._previous_time = 0.0

    def read(self) -> NetworkUsage | None:
        """Totals and rates since the previous read; None when the file cannot be read."""
        now = self._clock()
        counters = _parse(self._path)
        if counters is None:
            self._previous = None
            return None
        previous, elapsed = self._previous, now - self._previous_time
        self._previous, self._previous_time = counters, now

        rx_rate = tx_rate = None
        if previous is not None and elapsed > 0:
            # Per interface, so that one appearing or vanishing (a veth, a VPN) does not
            # look like traffic; a counter going back (a reset) leaves this tick unknown.
            common = counters.keys() & previous.keys()
            rx_delta = [counters[name][0] - previous[name][0] for name in common]
            tx_delta = [counters[name][1] - previous[name][1] for name in common]
            if min(rx_delta, default=0) >= 0:
                rx_rate = sum(rx_delta) / elapsed
            if min(tx_delta, default=0) >= 0:
                tx_rate = sum(tx_delta) / elapsed
        return NetworkUsage(
            rx_bytes=sum(rx for rx, _ in counters.values()),
            tx_bytes=sum(tx for _, tx in counters.values()),
            rx_bytes_per_second=rx_rate,
            tx_bytes_per_second=tx_rate,
        )


def _parse(path: str) -> dict[str, tuple[int, int]] | None:
    """Interface name → (rx bytes, tx bytes), loopback left out."""
    try:
        with open(path, encoding="ascii") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    counters: dict[str, tuple[int, int]] = {}
    for line in lines[2:]:  # two header lines
        # Old kernels print "eth0:123" with no space once the counter is wide.
        name, separator, rest = line.partition(":")
        fields = rest.split()
        name = name.strip()
        if not separator or len(fields) < 16 or name in _IGNORED_INTERFACES:
            continue
        try:
            counters[name] = (int(fields[0]), int(fields[8]))
        except ValueError:
            continue
    return counters if counters or len(lines) >= 2 else None
