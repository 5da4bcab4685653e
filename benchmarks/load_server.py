"""Part 1 of benchmarks/load.py: many browser tabs polling one server with idle kernels.
See load.py for the method and how to run it."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' support package

from figures import MIB, ms, quantile, slope_per_minute, table  # noqa: E402
from harness import Client, Server, grow_kernels  # noqa: E402

SNAPSHOT = "snapshot"
HISTORY = "history"
LABELS = {
    SNAPSHOT: "`GET /api/usage/v1/snapshot`",
    HISTORY: "`GET /api/usage/v1/history?since=now-600&step=4`",
}

P99_TARGET_MS = 100.0
"""Both endpoints, under 100 polling tabs: well inside a 1 s poll."""
RSS_GROWTH_TARGET_MIB = 5.0
"""Last minute against the first. A 50-byte leak per request of 200 req/s is 3 MiB in 5 min."""
RSS_SLOPE_TARGET_MIB_PER_MINUTE = 0.5
"""Over the second half of the run, once caches and allocator arenas have filled."""


# -- 1. many tabs polling one server -----------------------------------------------------


@contextlib.contextmanager
def load_server() -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="jupyter-usage-load-"))
    # The harness's server without jupyter-resource-usage: only this extension under load.
    server = Server(workdir, jru_prometheus=False, resource_usage=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(slots=True)
class Outcome:
    at_seconds: float
    """When the request started, from the start of the run."""
    endpoint: str
    latency_seconds: float
    error: str | None


@dataclass
class Tick:
    at_seconds: float
    server_cpu_percent: float
    server_rss_bytes: int
    server_fds: int
    server_threads: int
    client_cpu_percent: float
    machine_cpu_percent: float


@dataclass
class ServerRun:
    kernels: int
    clients: int
    duration_seconds: float
    outcomes: list[Outcome]
    ticks: list[Tick]
    error_examples: dict[str, int]

    def of(self, endpoint: str, since: float = 0, until: float = float("inf")) -> list[Outcome]:
        return [
            o for o in self.outcomes if o.endpoint == endpoint and since <= o.at_seconds < until
        ]


def history_path() -> str:
    return f"/api/usage/v1/history?since={time.time() - 600:.0f}&step=4"


def poll(
    server: Server, offset_seconds: float, t0: float, stop: threading.Event, out: list[Outcome]
) -> None:
    """One tab: snapshot then history, once a second; a late answer delays, never bunches."""
    client = Client(server.port, server.token, timeout_seconds=30)
    due = t0 + offset_seconds
    try:
        while not stop.wait(max(0.0, due - time.monotonic())):
            for endpoint in (SNAPSHOT, HISTORY):
                path = "/api/usage/v1/snapshot" if endpoint == SNAPSHOT else history_path()
                started = time.perf_counter()
                at = time.monotonic() - t0
                try:
                    status, _body = client.request(path)
                    error = None if status == 200 else f"HTTP {status}"
                except (OSError, http.client.HTTPException) as failure:
                    error = type(failure).__name__
                    client.close()
                    client = Client(server.port, server.token, timeout_seconds=30)
                out.append(Outcome(at, endpoint, time.perf_counter() - started, error))
            due = max(due + 1, time.monotonic())
    finally:
        client.close()


def run_server_load(
    kernels: int, clients: int, duration_seconds: float, tick_seconds: float, warmup_seconds: float
) -> ServerRun:
    with load_server() as server:
        print(f"server pid {server.pid} on port {server.port}; starting {kernels} kernels")
        setup = server.client()
        grow_kernels(server, setup, kernels)
        running = len(setup.json("/api/kernels"))
        setup.close()
        print(f"{running} kernels running; {warmup_seconds:g} s before the clients start")
        time.sleep(warmup_seconds)
        process = psutil.Process(server.pid)
        me = psutil.Process()
        for meter in (process.cpu_percent, me.cpu_percent, psutil.cpu_percent):
            meter(None)
        outcomes: list[Outcome] = []
        stop = threading.Event()
        t0 = time.monotonic()
        threads = [
            threading.Thread(
                target=poll,
                args=(server, random.random(), t0, stop, outcomes),
                name=f"tab-{i}",
                daemon=True,
            )
            for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        ticks: list[Tick] = []
        next_tick = t0
        while True:
            now = time.monotonic() - t0
            memory = process.memory_info()
            ticks.append(
                Tick(
                    at_seconds=now,
                    server_cpu_percent=process.cpu_percent(None),
                    server_rss_bytes=memory.rss,
                    server_fds=process.num_fds(),
                    server_threads=process.num_threads(),
                    client_cpu_percent=me.cpu_percent(None),
                    machine_cpu_percent=psutil.cpu_percent(None) * (os.cpu_count() or 1),
                )
            )
            if now >= duration_seconds:
                break
            done = len(outcomes)
            errors = sum(1 for o in outcomes if o.error)
            print(
                f"{now:6.0f} s  cpu {ticks[-1].server_cpu_percent:5.1f} %  rss "
                f"{memory.rss / MIB:7.1f} MiB  requests {done}  errors {errors}",
                flush=True,
            )
            next_tick += tick_seconds
            time.sleep(max(0.0, min(next_tick, t0 + duration_seconds) - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join(60)
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"the server died during the run:\n{server.log()}")
    kept = [o for o in outcomes if o.at_seconds < duration_seconds]
    examples: dict[str, int] = {}
    for outcome in kept:
        if outcome.error:
            examples[outcome.error] = examples.get(outcome.error, 0) + 1
    return ServerRun(kernels, clients, duration_seconds, kept, ticks, examples)


@dataclass
class Growth:
    window_seconds: float
    rss_first_mib: float
    rss_last_mib: float
    rss_slope_mib_per_minute: float | None
    rss_late_slope_mib_per_minute: float | None
    cpu_first_percent: float
    cpu_last_percent: float
    fds_first: int
    fds_last: int

    @property
    def rss_flat(self) -> bool:
        late = self.rss_late_slope_mib_per_minute
        return self.rss_last_mib - self.rss_first_mib <= RSS_GROWTH_TARGET_MIB and (
            late is None or late <= RSS_SLOPE_TARGET_MIB_PER_MINUTE
        )

    @property
    def cpu_flat(self) -> bool:
        return self.cpu_last_percent <= 1.25 * self.cpu_first_percent + 5


def growth(run: ServerRun) -> Growth:
    """First and last minute (a third of the run, when shorter than 3 minutes) compared."""
    window = min(60.0, run.duration_seconds / 3)
    # The first tick's CPU figure covers no interval: leave it out.
    ticks = [t for t in run.ticks if t.at_seconds > 0.5]
    first = [t for t in ticks if t.at_seconds <= window] or ticks[:1]
    last = [t for t in ticks if t.at_seconds >= run.duration_seconds - window] or ticks[-1:]
    rss = [(t.at_seconds, t.server_rss_bytes / MIB) for t in ticks]
    late = [(t, v) for t, v in rss if t >= run.duration_seconds / 2]
    return Growth(
        window_seconds=window,
        rss_first_mib=statistics.fmean(t.server_rss_bytes / MIB for t in first),
        rss_last_mib=statistics.fmean(t.server_rss_bytes / MIB for t in last),
        rss_slope_mib_per_minute=slope_per_minute(rss),
        rss_late_slope_mib_per_minute=slope_per_minute(late),
        cpu_first_percent=statistics.fmean(t.server_cpu_percent for t in first),
        cpu_last_percent=statistics.fmean(t.server_cpu_percent for t in last),
        fds_first=first[0].server_fds,
        fds_last=last[-1].server_fds,
    )


def server_report(run: ServerRun, args: argparse.Namespace) -> list[str]:
    lines = [
        "### Many tabs polling one server",
        "",
        f"{run.clients} clients against one `jupyter server` with {run.kernels} idle python3 "
        f"kernels, for {run.duration_seconds:g} s. Each client is a thread with its own "
        "keep-alive HTTP/1.1 connection (`http.client`, as a browser tab holds one) that asks "
        "for the snapshot and then the last 10 minutes of history at a 4 s step, once a "
        "second, from a random moment of the first second; a slow answer delays its next "
        "poll instead of bunching them. Threads rather than asyncio: each waits on its "
        "socket with the GIL released, and the client process's own CPU is in the time "
        "course below, so it can be seen not to be the bottleneck.",
        "",
    ]
    rows = []
    for endpoint in (SNAPSHOT, HISTORY):
        outcomes = run.of(endpoint)
        latencies = [o.latency_seconds for o in outcomes]
        errors = sum(1 for o in outcomes if o.error)
        rows.append(
            [
                LABELS[endpoint],
                str(len(outcomes)),
                f"{len(outcomes) / run.duration_seconds:.1f}",
                str(errors),
                ms(quantile(latencies, 0.5)),
                ms(quantile(latencies, 0.99)),
                ms(max(latencies, default=None)),
            ]
        )
    lines += table(["Endpoint", "Requests", "per s", "Errors", "p50 ms", "p99 ms", "max ms"], rows)
    if run.error_examples:
        listed = ", ".join(f"{name}: {count}" for name, count in run.error_examples.items())
        lines += ["", f"Errors by kind: {listed}."]
    lines += [
        "",
        f"Time course (every {args.tick_seconds:g} s; CPU in % of one core over the interval "
        "before; requests and p99 over that interval; machine CPU sums all cores):",
        "",
    ]
    rows = []
    previous = 0.0
    for tick in run.ticks[1:]:
        window = [o for o in run.outcomes if previous <= o.at_seconds < tick.at_seconds]
        latencies = [o.latency_seconds for o in window]
        rows.append(
            [
                f"{tick.at_seconds:.0f}",
                f"{tick.server_cpu_percent:.0f}",
                f"{tick.server_rss_bytes / MIB:.1f}",
                str(tick.server_fds),
                str(tick.server_threads),
                f"{tick.client_cpu_percent:.0f}",
                f"{tick.machine_cpu_percent:.0f}",
                str(len(window)),
                str(sum(1 for o in window if o.error)),
                ms(quantile(latencies, 0.99)),
            ]
        )
        previous = tick.at_seconds
    lines += table(
        [
            "s",
            "server CPU %",
            "server RSS MiB",
            "fds",
            "threads",
            "client CPU %",
            "machine CPU %",
            "requests",
            "errors",
            "p99 ms",
        ],
        rows,
    )
    g = growth(run)
    worst_p99 = max(
        quantile([o.latency_seconds for o in run.of(e)], 0.99) or 0.0 for e in (SNAPSHOT, HISTORY)
    )
    errors = sum(1 for o in run.outcomes if o.error)
    verdicts = [
        (errors == 0, "no errors", f"{errors} of {len(run.outcomes)} requests failed"),
        (
            1000 * worst_p99 <= P99_TARGET_MS,
            f"p99 latency at most {P99_TARGET_MS:g} ms on both endpoints",
            f"worst p99 {1000 * worst_p99:.1f} ms",
        ),
        (
            g.rss_flat,
            f"RSS flat: last {g.window_seconds:.0f} s at most {RSS_GROWTH_TARGET_MIB:g} MiB above "
            f"the first, and a second-half slope of at most {RSS_SLOPE_TARGET_MIB_PER_MINUTE:g} "
            "MiB/min",
            f"{g.rss_first_mib:.1f} → {g.rss_last_mib:.1f} MiB "
            f"({g.rss_last_mib - g.rss_first_mib:+.1f}); slope "
            f"{_per_minute(g.rss_slope_mib_per_minute)} over the run, "
            f"{_per_minute(g.rss_late_slope_mib_per_minute)} over its second half",
        ),
        (
            g.cpu_flat,
            "CPU flat: the last window's at most 1.25 times the first's + 5 points",
            f"{g.cpu_first_percent:.0f} % → {g.cpu_last_percent:.0f} % of one core",
        ),
        (
            g.fds_last <= g.fds_first + 5,
            "open file descriptors flat (no leaked connections)",
            f"{g.fds_first} → {g.fds_last}",
        ),
    ]
    lines += [
        "",
        *(f"- **{'PASS' if ok else 'FAIL'}** {what}: {seen}." for ok, what, seen in verdicts),
    ]
    return lines


def _per_minute(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f} MiB/min"
