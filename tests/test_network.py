from __future__ import annotations

import socket
import time
from pathlib import Path

import psutil
import pytest

from jupyter_usage.sampling.network import NetworkReader
from jupyter_usage.sampling.sample import NetworkUsage

HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast"
    "|bytes    packets errs drop fifo colls carrier compressed\n"
)


def line(name: str, rx: int, tx: int) -> str:
    return f"{name:>6}: {rx} 10 0 0 0 0 0 0 {tx} 5 0 0 0 0 0 0\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reader_for(tmp_path: Path, text: str) -> tuple[NetworkReader, Path, FakeClock]:
    path = tmp_path / "dev"
    path.write_text(text)
    clock = FakeClock()
    return NetworkReader(str(path), clock=clock), path, clock


def test_sums_interfaces_but_loopback_and_rates_from_deltas(tmp_path: Path) -> None:
    reader, path, clock = reader_for(
        tmp_path,
        HEADER + line("lo", 999_999, 999_999) + line("eth0", 1000, 200) + line("eth1", 10, 2),
    )
    assert reader.read() == NetworkUsage(1010, 202, None, None)

    path.write_text(
        HEADER + line("lo", 5_000_000, 5_000_000) + line("eth0", 3000, 600) + line("eth1", 1010, 2)
    )
    clock.now += 2.0
    assert reader.read() == NetworkUsage(4010, 602, 1500.0, 200.0)


def test_wide_counters_without_a_space(tmp_path: Path) -> None:
    reader, _, _ = reader_for(
        tmp_path, HEADER + "  eth0:4294967296 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n"
    )
    assert reader.read() == NetworkUsage(4294967296, 7, None, None)


def test_counter_reset_gives_no_rate_for_that_tick(tmp_path: Path) -> None:
    reader, path, clock = reader_for(tmp_path, HEADER + line("eth0", 5000, 500))
    reader.read()
    path.write_text(HEADER + line("eth0", 100, 900))  # rx went back: the interface was reset
    clock.now += 1.0
    reset = reader.read()
    assert reset == NetworkUsage(100, 900, None, 400.0)
    path.write_text(HEADER + line("eth0", 300, 900))
    clock.now += 1.0
    assert reader.read() == NetworkUsage(300, 900, 200.0, 0.0)


def test_interface_appearing_or_vanishing_is_not_traffic(tmp_path: Path) -> None:
    reader, path, clock = reader_for(tmp_path, HEADER + line("eth0", 1000, 100))
    reader.read()
    path.write_text(HEADER + line("eth0", 1100, 150) + line("veth1", 10**9, 10**9))
    clock.now += 1.0
    assert reader.read() == NetworkUsage(1100 + 10**9, 150 + 10**9, 100.0, 50.0)
    path.write_text(HEADER + line("veth1", 10**9 + 5, 10**9 + 5))
    clock.now += 1.0
    assert reader.read() == NetworkUsage(10**9 + 5, 10**9 + 5, 5.0, 5.0)


def test_only_loopback(tmp_path: Path) -> None:
    reader, _, _ = reader_for(tmp_path, HEADER + line("lo", 10, 10))
    assert reader.read() == NetworkUsage(0, 0, None, None)


def test_missing_or_garbage_file(tmp_path: Path) -> None:
    reader = NetworkReader(str(tmp_path / "missing"))
    assert reader.read() is None
    reader, path, clock = reader_for(tmp_path, "garbage")
    assert reader.read() is None
    path.write_text(HEADER + "  eth0: a b c\n" + line("eth1", 10, 20))
    clock.now += 1.0
    assert reader.read() == NetworkUsage(10, 20, None, None)  # first good read: no rate


def test_real_proc_net_dev() -> None:
    reader = NetworkReader()
    first = reader.read()
    assert first is not None
    assert first.rx_bytes_per_second is None
    counters = psutil.net_io_counters(pernic=True)
    expected_rx = sum(c.bytes_recv for name, c in counters.items() if name != "lo")
    assert first.rx_bytes is not None
    assert first.rx_bytes <= expected_rx  # psutil read the same counters a moment later

    sent = send_over_default_route(10, 1000)
    second = reader.read()
    assert second is not None
    assert second.tx_bytes_per_second is not None
    assert second.tx_bytes_per_second >= 0.0
    if not sent:
        return
    # The device counts a datagram when it leaves, a moment after send() returns; a
    # traffic shaper may drop some before they are counted, but not all.
    deadline = time.monotonic() + 3.0
    assert first.tx_bytes is not None
    while (second.tx_bytes or 0) - first.tx_bytes < 1000:
        assert time.monotonic() < deadline, "nothing sent showed in /proc/self/net/dev"
        time.sleep(0.05)
        second = reader.read()
        assert second is not None
    assert second.tx_bytes_per_second is not None
    assert second.tx_bytes_per_second >= 0.0


def send_over_default_route(count: int, size: int) -> bool:
    """UDP datagrams to a documentation address (TEST-NET-2): they leave by the default
    route and go nowhere. False when there is no route off this machine."""
    up = [name for name, stats in psutil.net_if_stats().items() if stats.isup and name != "lo"]
    if not up:
        return False
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.connect(("198.51.100.1", 9))
            for _ in range(count):
                udp.send(b"x" * size)
    except OSError:
        return False
    return True


@pytest.mark.parametrize("elapsed", [0.0, -1.0])
def test_no_rate_without_elapsed_time(tmp_path: Path, elapsed: float) -> None:
    reader, _, clock = reader_for(tmp_path, HEADER + line("eth0", 1, 1))
    reader.read()
    clock.now += elapsed
    usage = reader.read()
    assert usage == NetworkUsage(1, 1, None, None)
