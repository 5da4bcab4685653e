"""What jupyter-usage's REST API and sampler cost a real server, next to jupyter-resource-usage.

    python benchmarks/api_cost.py [--quick] [--kernels 0,10,50] [--output docs/performance.md]

Starts one `jupyter server` subprocess with both extensions enabled, then at each kernel
count (idle python3 kernels started with POST /api/kernels) measures:

1. the CPU time of the server's main thread (its event loop) per request, for
   /api/status (the framework's floor), our /snapshot and /history, and
   jupyter-resource-usage's /api/metrics/v1;
2. the latency of /api/status probes at 20 Hz while nothing, our snapshot, or
   /api/metrics/v1 is polled at 1 Hz (how long each poll blocks the loop);
3. the CPU time our sampler thread spends per second, from /api/usage/v1/config.

Prints the tables and writes them as Markdown to --output, between
`<!-- begin api-cost -->` and `<!-- end api-cost -->` (benchmarks/load.py writes its own
section). Needs only the standard library and psutil besides the two extensions
(jupyter-resource-usage is the `bench` extra). Linux only: it reads /proc.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support

from figures import fixed, machine, nearest_rank, quartiles, table, version
from handler_parts import Parts, handler_parts
from harness import Server, grow_kernels, running_server
from report_sections import write_section

SECTION = "api-cost"

ENDPOINTS: dict[str, str] = {
    "status": "/api/status",
    "me": "/api/me",
    "snapshot": "/api/usage/v1/snapshot",
    "history": "/api/usage/v1/history?step=1",
    "history_ui": "/api/usage/v1/history?step=4",
    "history_dashboard": "/api/usage/v1/history?step=3&kernels=1",
    "history_dashboard_since": "/api/usage/v1/history?step=3&kernels=1&since={since}",
    "metrics": "/api/metrics/v1",
}
"""Paths to request; `{since}` is filled in at each request (see `path_of`)."""
LABELS: dict[str, str] = {
    "status": "`GET /api/status` (floor)",
    "me": "`GET /api/me` (reference: does not list kernels)",
    "snapshot": "`GET /api/usage/v1/snapshot`",
    "history": "`GET /api/usage/v1/history?step=1` (10 min)",
    "history_ui": "`GET /api/usage/v1/history?step=4` (10 min, as the panel asks once a minute)",
    "history_dashboard": (
        "`GET /api/usage/v1/history?step=3&kernels=1` (10 min with every kernel's series, "
        "at the dashboard's 15 min step; it asks when it opens and when the range changes)"
    ),
    "history_dashboard_since": (
        "`GET /api/usage/v1/history?step=3&kernels=1&since=…` (what is new since the "
        "dashboard's last bucket, a minute ago, with every kernel's series; it asks once "
        "a minute)"
    ),
    "metrics": "`GET /api/metrics/v1` (jupyter-resource-usage)",
}
OURS = ("snapshot", "history", "history_ui")

PER_REQUEST_TARGET_MS = 0.5
"""Server CPU per snapshot request above /api/status, at every kernel count."""
HISTORY_TARGET_MS = 3.0
"""Server CPU per 10-minute history request above /api/status: the panel asks for it once a
minute (and extends it with each snapshot in between), so it is a load, not a poll."""
PANEL_REFRESH_SECONDS = 2.0
"""The panel's default refresh interval (schema/panel.json `refreshSeconds`)."""
PANEL_HISTORY_SECONDS = 60.0
"""How often the panel reloads its history window (src/model.ts `historyRefreshSeconds`)."""
DASHBOARD_HISTORY_SECONDS = 60.0
"""How often the dashboard asks for what is new in its range (src/dashboard/DashboardModel.ts
`historyRefreshSeconds`); the whole range only when it opens or the range changes."""
DASHBOARD_STEP_SECONDS = 3.0
"""The step of the dashboard's default range, 15 min (src/dashboard/ranges.ts `stepOf`)."""
PANEL_TARGET_MS_PER_SECOND = 1.0
"""Server CPU per second of one open panel: a snapshot every refresh plus the history once a
minute, framework floor included, at the largest kernel count."""
FLAT_TOLERANCE_MS = 0.2
""""Flat from 0 to 50 kernels": the figure above floor grows by at most this much."""
STALL_TARGET_MS = 5.0
"""Added p99 latency of /api/status while our snapshot is polled at 1 Hz."""
SAMPLER_TARGET_MS_PER_SECOND = 10.0
"""1 % of one core, at the largest kernel count."""

PROBE_HZ = 20.0
POLL_HZ = 1.0


def path_of(name: str) -> str:
    """The path of endpoint `name` now: the dashboard's minute refresh asks from the start
    of the bucket it last held, which began a minute ago (on the step's grid, as the
    dashboard takes it from the server's answer)."""
    since = (
        (time.time() - DASHBOARD_HISTORY_SECONDS) // DASHBOARD_STEP_SECONDS
    ) * DASHBOARD_STEP_SECONDS
    return ENDPOINTS[name].format(since=f"{since:.0f}")


# -- the measurements --------------------------------------------------------------------


@dataclass
class RequestCost:
    cpu_ms: float
    """Median over rounds of the main thread's CPU time per request."""
    cpu_iqr_ms: tuple[float, float]
    latency_ms: float
    """Median over rounds of the client's wall time per request."""
    response_bytes: int


@dataclass
class Stall:
    p50_ms: float
    p99_ms: float
    max_ms: float
    probes: int
    probes_during_polls: int
    """Probes that were in flight while a poll was."""
    worst_during_poll_ms: float | None


@dataclass
class SamplerCost:
    cpu_ms_per_second: float
    cpu_ms_per_sample: float | None
    samples_per_second: float
    loop_background_ms_per_second: float
    """Main-thread CPU while nothing polls: timers and kernel bookkeeping of all parts."""


@dataclass
class Level:
    kernels: int
    kernels_in_snapshot: int
    history_points_with_data: int
    history_points: int
    sampler: SamplerCost
    stalls: dict[str, Stall] = field(default_factory=dict)
    requests: dict[str, RequestCost] = field(default_factory=dict)
    parts: dict[str, Parts] = field(default_factory=dict)

    def above_floor_ms(self, name: str) -> float:
        return self.requests[name].cpu_ms - self.requests["status"].cpu_ms


def request_costs(server: Server, requests: int, rounds: int) -> dict[str, RequestCost]:
    """Main-thread CPU per request, `requests` per endpoint in interleaved rounds."""
    client = server.client()
    per_round = max(1, requests // rounds)
    names = list(ENDPOINTS)
    sizes: dict[str, int] = {}
    for name in names:  # warm caches and code paths before measuring
        for _ in range(5):
            status, body = client.request(path_of(name))
            if status != 200:
                raise RuntimeError(f"{path_of(name)} answered {status}: {body[:300]!r}")
            sizes[name] = len(body)
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            path = path_of(name)
            cpu_before = server.main_thread_cpu_seconds()
            wall_before = time.perf_counter()
            for _ in range(per_round):
                status, _body = client.request(path)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
            wall_after = time.perf_counter()
            cpu_after = server.main_thread_cpu_seconds()
            cpu[name].append((cpu_after - cpu_before) * 1000 / per_round)
            wall[name].append((wall_after - wall_before) * 1000 / per_round)
    client.close()
    return {
        name: RequestCost(
            cpu_ms=statistics.median(cpu[name]),
            cpu_iqr_ms=quartiles(cpu[name]),
            latency_ms=statistics.median(wall[name]),
            response_bytes=sizes[name],
        )
        for name in names
    }


def _probe(server: Server, seconds: float, poll: str | None) -> tuple[list[float], list[float]]:
    """/api/status latencies (ms) at PROBE_HZ while `poll` (or nothing) is polled at
    POLL_HZ, and the latencies of the probes that overlapped a poll."""
    stop = threading.Event()
    failures: list[BaseException] = []
    polls: list[tuple[float, float]] = []

    def poller(path: str) -> None:
        client = server.client()
        try:
            due = time.monotonic()
            while not stop.is_set():
                started = time.perf_counter()
                client.request(path)
                polls.append((started, time.perf_counter()))
                due += 1 / POLL_HZ
                stop.wait(max(0.0, due - time.monotonic()))
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            client.close()

    thread = None
    if poll is not None:
        thread = threading.Thread(target=poller, args=(ENDPOINTS[poll],), daemon=True)
        thread.start()
    client = server.client()
    probes: list[tuple[float, float]] = []
    due = time.monotonic() + 0.2
    end = due + seconds
    try:
        while due < end:
            time.sleep(max(0.0, due - time.monotonic()))
            started = time.perf_counter()
            client.request(ENDPOINTS["status"])
            probes.append((started, time.perf_counter()))
            due += 1 / PROBE_HZ
            due = max(due, time.monotonic())  # after a stall, no burst to catch up
    finally:
        stop.set()
        if thread is not None:
            thread.join(60)
        client.close()
    if failures:
        raise RuntimeError(f"the poller of {poll} failed") from failures[0]
    latencies = [(e - s) * 1000 for s, e in probes]
    during = [(e - s) * 1000 for s, e in probes if any(s < pe and e > ps for ps, pe in polls)]
    return latencies, during


def stalls(server: Server, seconds: float, chunk_seconds: float = 5) -> dict[str, Stall]:
    """The three scenarios in interleaved chunks, so that noise from the rest of the
    machine falls on all of them alike."""
    scenarios: list[str | None] = [None, "snapshot", "metrics"]
    chunks = max(1, round(seconds / chunk_seconds))
    latencies: dict[str, list[float]] = {poll or "none": [] for poll in scenarios}
    during: dict[str, list[float]] = {poll or "none": [] for poll in scenarios}
    for chunk in range(chunks):
        shift = chunk % len(scenarios)
        for poll in scenarios[shift:] + scenarios[:shift]:
            chunk_latencies, chunk_during = _probe(server, seconds / chunks, poll)
            latencies[poll or "none"] += chunk_latencies
            during[poll or "none"] += chunk_during
    return {
        key: Stall(
            p50_ms=statistics.median(values),
            p99_ms=nearest_rank(values, 99),
            max_ms=max(values),
            probes=len(values),
            probes_during_polls=len(during[key]),
            worst_during_poll_ms=max(during[key]) if during[key] else None,
        )
        for key, values in latencies.items()
    }


def sampler_cost(server: Server, seconds: float) -> SamplerCost:
    """The sampler's own count of its CPU time, over `seconds` in which nothing polls."""
    client = server.client()
    path = "/api/usage/v1/config"
    first = client.json(path)["sampler"]
    loop_before = server.main_thread_cpu_seconds()
    started = time.monotonic()
    time.sleep(seconds)
    loop_after = server.main_thread_cpu_seconds()
    last = client.json(path)["sampler"]
    elapsed = time.monotonic() - started
    client.close()
    cpu_seconds = last["cpu_seconds_total"] - first["cpu_seconds_total"]
    samples = last["samples_total"] - first["samples_total"]
    return SamplerCost(
        cpu_ms_per_second=cpu_seconds * 1000 / elapsed,
        cpu_ms_per_sample=cpu_seconds * 1000 / samples if samples else None,
        samples_per_second=samples / elapsed,
        loop_background_ms_per_second=(loop_after - loop_before) * 1000 / elapsed,
    )


def measure_level(
    server: Server,
    kernels: int,
    *,
    requests: int,
    rounds: int,
    seconds: float,
    history_full_at: float,
) -> Level:
    client = server.client()
    grow_kernels(server, client, kernels)
    print(f"  {kernels} kernels: sampler and loop background ({seconds:g} s)", flush=True)
    sampler = sampler_cost(server, seconds)
    print(f"  {kernels} kernels: loop stall ({3 * seconds:g} s)", flush=True)
    stall_results = stalls(server, seconds)
    wait = history_full_at - time.monotonic()
    if wait > 0:
        print(f"  waiting {wait:.0f} s until the history holds 10 minutes", flush=True)
        time.sleep(wait)
    snapshot = client.json(ENDPOINTS["snapshot"])
    history = client.json(ENDPOINTS["history"])["columns"]
    client.close()
    print(f"  {kernels} kernels: CPU per request ({requests} per endpoint)", flush=True)
    return Level(
        kernels=kernels,
        kernels_in_snapshot=len(snapshot.get("kernels", [])),
        history_points=len(history["time"]),
        history_points_with_data=sum(v is not None for v in history.get("cpu_cores", [])),
        sampler=sampler,
        stalls=stall_results,
        requests=request_costs(server, requests, rounds),
        parts=handler_parts(snapshot, history),
    )


# -- the report --------------------------------------------------------------------------


@dataclass
class Verdict:
    target: str
    measured: str
    passed: bool


def kernel_growth_ms(first: Level, last: Level, name: str) -> float:
    """How much more `name` costs at the last kernel count than at the first, against
    /api/me (which does no per-kernel work), so a machine that got busier in between
    does not count."""
    return (last.requests[name].cpu_ms - last.requests["me"].cpu_ms) - (
        first.requests[name].cpu_ms - first.requests["me"].cpu_ms
    )


def dashboard_ms_per_second(level: Level) -> float:
    """Server CPU per second of one open dashboard: a snapshot every refresh and, once a
    minute, what is new in its range with every kernel's series. The whole range, asked
    when it opens or the range changes, is a one-off (`history_dashboard`), not a rate."""
    return (
        level.requests["snapshot"].cpu_ms / PANEL_REFRESH_SECONDS
        + level.requests["history_dashboard_since"].cpu_ms / DASHBOARD_HISTORY_SECONDS
    )


def verdicts(levels: Sequence[Level]) -> list[Verdict]:
    first, last = levels[0], levels[-1]
    result = []
    for name in OURS:
        worst = max(level.above_floor_ms(name) for level in levels)
        target = PER_REQUEST_TARGET_MS if name == "snapshot" else HISTORY_TARGET_MS
        result.append(
            Verdict(
                f"`{ENDPOINTS[name]}` ≤ {target:g} ms of server CPU above "
                "`/api/status`, at every kernel count",
                f"worst {worst:+.2f} ms",
                worst <= target,
            )
        )
        growth = kernel_growth_ms(first, last, name)
        result.append(
            Verdict(
                f"`{ENDPOINTS[name]}` flat from {first.kernels} to {last.kernels} kernels "
                f"(grows ≤ {FLAT_TOLERANCE_MS} ms against `/api/me`)",
                f"{growth:+.2f} ms",
                growth <= FLAT_TOLERANCE_MS,
            )
        )
    panel = (
        last.requests["snapshot"].cpu_ms / PANEL_REFRESH_SECONDS
        + last.requests["history_ui"].cpu_ms / PANEL_HISTORY_SECONDS
    )
    result.append(
        Verdict(
            f"one open panel (a snapshot every {PANEL_REFRESH_SECONDS:g} s, the history every "
            f"{PANEL_HISTORY_SECONDS:g} s) ≤ {PANEL_TARGET_MS_PER_SECOND:g} ms of server CPU per "
            f"second with {last.kernels} kernels",
            f"{panel:.2f} ms/s",
            panel <= PANEL_TARGET_MS_PER_SECOND,
        )
    )
    dashboard = dashboard_ms_per_second(last)
    result.append(
        Verdict(
            f"one open dashboard (a snapshot every {PANEL_REFRESH_SECONDS:g} s, what is new in "
            f"its range with every kernel every {DASHBOARD_HISTORY_SECONDS:g} s) ≤ "
            f"{PANEL_TARGET_MS_PER_SECOND:g} ms of server CPU per second with "
            f"{last.kernels} kernels",
            f"{dashboard:.2f} ms/s",
            dashboard <= PANEL_TARGET_MS_PER_SECOND,
        )
    )
    added = max(level.stalls["snapshot"].p99_ms - level.stalls["none"].p99_ms for level in levels)
    result.append(
        Verdict(
            f"p99 loop latency added by polling the snapshot at 1 Hz ≤ {STALL_TARGET_MS:g} ms",
            f"worst {added:+.2f} ms",
            added <= STALL_TARGET_MS,
        )
    )
    sampler = last.sampler.cpu_ms_per_second
    result.append(
        Verdict(
            f"sampler ≤ 1 % of one core at 1 Hz with {last.kernels} kernels",
            f"{sampler / 10:.2f} % ({sampler:.2f} ms/s)",
            sampler <= SAMPLER_TARGET_MS_PER_SECOND,
        )
    )
    return result


def _ratio(numerator: float, denominator: float) -> str:
    if denominator < 0.2:
        return "n/a (ours is at the floor)"
    return f"{numerator / denominator:.1f} x"


def run_parameters(args: argparse.Namespace, clock: str) -> list[list[str]]:
    """What this run chose among what the method (docs/performance.md) leaves open."""
    return [
        ["requests per endpoint and round", str(args.requests)],
        ["interleaved rounds", str(args.rounds)],
        ["seconds of probes per scenario, and of the sampler's window", f"{args.seconds:g}"],
        [
            "main thread's CPU read from",
            "`/proc/PID/task/PID/schedstat` (ns)"
            if clock == "schedstat"
            else "psutil's per-thread times (10 ms ticks)",
        ],
        [
            "server's age at the first request",
            f"{args.history_fill_seconds:g} s"
            + ("" if args.history_fill_seconds >= 600 else " (`--quick`: history mostly empty)"),
        ],
        [
            "jupyter-resource-usage's 1 Hz Prometheus callback",
            "on" if args.jru_prometheus else "off (`--jru-prometheus` turns it on)",
        ],
        ["probes and polls", f"{PROBE_HZ:g} Hz and {POLL_HZ:g} Hz"],
    ]


def report(
    levels: Sequence[Level], info: dict[str, str], args: argparse.Namespace, clock: str
) -> str:
    lines = [
        "Generated by `make bench` (`benchmarks/api_cost.py`) on "
        f"{datetime.date.today().isoformat()}; run it again rather than editing by hand. "
        "The method and how to read the figures are above this section.",
        "",
        "### Machine",
        "",
        *table(["", ""], [[key, value] for key, value in info.items()]),
        "",
        "### This run",
        "",
        *table(["", ""], run_parameters(args, clock)),
        "",
        "### Server CPU per request",
        "",
    ]
    rows = []
    for level in levels:
        for name in ENDPOINTS:
            cost = level.requests[name]
            low, high = cost.cpu_iqr_ms
            rows.append(
                [
                    str(level.kernels),
                    LABELS[name],
                    f"{cost.cpu_ms:.2f}",
                    f"{low:.2f} to {high:.2f}",
                    "—" if name in ("status", "me") else f"{level.above_floor_ms(name):+.2f}",
                    f"{cost.latency_ms:.2f}",
                    f"{cost.response_bytes:,}",
                ]
            )
    lines += table(
        [
            "kernels",
            "endpoint",
            "CPU ms/request",
            "IQR",
            "above floor",
            "latency ms",
            "response bytes",
        ],
        rows,
    )
    lines += [
        "",
        "jupyter-resource-usage ÷ jupyter-usage (`/api/metrics/v1` against our snapshot, both",
        "polled by their panels):",
        "",
    ]
    lines += table(
        ["kernels", "total CPU per request", "CPU above floor"],
        [
            [
                str(level.kernels),
                _ratio(level.requests["metrics"].cpu_ms, level.requests["snapshot"].cpu_ms),
                _ratio(level.above_floor_ms("metrics"), level.above_floor_ms("snapshot")),
            ]
            for level in levels
        ],
    )
    lines += [
        "",
        "Sanity: the kernels our snapshot listed, and how many of the history's 1 s buckets",
        "held data when the rounds began:",
        "",
    ]
    lines += table(
        ["kernels", "kernels in snapshot", "history buckets with data"],
        [
            [
                str(level.kernels),
                str(level.kernels_in_snapshot),
                f"{level.history_points_with_data} of {level.history_points}",
            ]
            for level in levels
        ],
    )
    lines += ["", "#### Where our handlers' time goes", ""]
    lines += table(
        ["kernels", "endpoint", "build ms", "json.dumps ms", "sum", "above floor (server)"],
        [
            [
                str(level.kernels),
                LABELS[name],
                f"{part.build_ms:.2f}",
                f"{part.encode_ms:.2f}",
                f"{part.build_ms + part.encode_ms:.2f}",
                f"{level.above_floor_ms(name):+.2f}",
            ]
            for level in levels
            for name, part in level.parts.items()
        ],
    )
    lines += ["", "### Event-loop stall", ""]
    scenario_labels = {
        "none": "(a) nothing else polled",
        "snapshot": "(b) our snapshot at 1 Hz",
        "metrics": "(c) `/api/metrics/v1` at 1 Hz",
    }
    rows = []
    for level in levels:
        base = level.stalls["none"].p99_ms
        for key, label in scenario_labels.items():
            result = level.stalls[key]
            rows.append(
                [
                    str(level.kernels),
                    label,
                    f"{result.p50_ms:.2f}",
                    f"{result.p99_ms:.2f}",
                    f"{result.max_ms:.2f}",
                    "—" if key == "none" else f"{result.p99_ms - base:+.2f}",
                    str(result.probes),
                    "—"
                    if key == "none"
                    else f"{result.probes_during_polls}, worst "
                    f"{fixed(result.worst_during_poll_ms)} ms",
                ]
            )
    lines += table(
        [
            "kernels",
            "scenario",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p99 added",
            "probes",
            "probes that met a poll",
        ],
        rows,
    )
    lines += ["", "### Sampler", ""]
    lines += table(
        [
            "kernels",
            "sampler CPU ms/s",
            "% of one core",
            "ms per sample",
            "samples/s",
            "loop background ms/s",
        ],
        [
            [
                str(level.kernels),
                f"{level.sampler.cpu_ms_per_second:.2f}",
                f"{level.sampler.cpu_ms_per_second / 10:.2f}",
                fixed(level.sampler.cpu_ms_per_sample),
                f"{level.sampler.samples_per_second:.2f}",
                f"{level.sampler.loop_background_ms_per_second:.2f}",
            ]
            for level in levels
        ],
    )
    lines += ["", "### Targets", ""]
    if levels[-1].kernels < 50:
        lines += [
            f"This run stopped at {levels[-1].kernels} kernels (`--quick`); the targets are",
            "stated for 50.",
            "",
        ]
    lines += table(
        ["target", "measured", "result"],
        [[v.target, v.measured, "PASS" if v.passed else "**FAIL**"] for v in verdicts(levels)],
    )
    lines += ["", *notes(levels), ""]
    return "\n".join(lines)


def notes(levels: Sequence[Level]) -> list[str]:
    """What the figures say, in sentences computed from them."""
    first, last = levels[0], levels[-1]
    floor = statistics.median(level.requests["status"].cpu_ms for level in levels)
    lines = [
        "### Reading the results",
        "",
        f"- The framework's floor, an authenticated `GET /api/status`, cost {floor:.2f} ms of",
        "  main-thread CPU per request (median over kernel counts); no polled handler can",
        "  cost less.",
    ]
    for name in OURS:
        line = (
            f"- `{ENDPOINTS[name]}` cost {first.above_floor_ms(name):+.2f} ms above the floor at "
            f"{first.kernels} kernels and {last.above_floor_ms(name):+.2f} ms at {last.kernels}"
            f" ({kernel_growth_ms(first, last, name):+.2f} ms against `/api/me`)."
        )
        part = last.parts.get(name)
        if part is not None:
            build = "`Sample.to_json()`" if name == "snapshot" else "the series query"
            line += (
                f" At {last.kernels} kernels, {build} took {part.build_ms:.2f} ms and "
                f"`json.dumps` {part.encode_ms:.2f} ms of it "
                f"({last.requests[name].response_bytes:,} bytes)."
            )
        lines.append(line)
    since = last.requests["history_dashboard_since"]
    lines.append(
        f"- `{ENDPOINTS['history_dashboard']}` (the dashboard's range, with every kernel's "
        f"series) cost {first.above_floor_ms('history_dashboard'):+.2f} ms above the floor at "
        f"{first.kernels} kernels and {last.above_floor_ms('history_dashboard'):+.2f} ms at "
        f"{last.kernels} ({last.requests['history_dashboard'].response_bytes:,} bytes). "
        "What is new since its last bucket: "
        f"{since.cpu_ms - last.requests['status'].cpu_ms:+.2f} ms "
        f"above the floor at {last.kernels} kernels ({since.response_bytes:,} bytes), so one "
        f"open dashboard costs {dashboard_ms_per_second(last):.2f} ms of server CPU per "
        "second."
    )
    metrics_first = first.above_floor_ms("metrics")
    metrics_last = last.above_floor_ms("metrics")
    lines.append(
        f"- `/api/metrics/v1` cost {metrics_first:+.2f} ms above the floor at {first.kernels} "
        f"kernels and {metrics_last:+.2f} ms at {last.kernels}."
    )
    added = last.stalls["metrics"].p99_ms - last.stalls["none"].p99_ms
    lines.append(
        f"- Polling `/api/metrics/v1` at 1 Hz added {added:+.2f} ms to the p99 of every other "
        f"request at {last.kernels} kernels."
    )
    per_kernel = (
        (last.sampler.cpu_ms_per_sample or 0) - (first.sampler.cpu_ms_per_sample or 0)
    ) / max(1, last.kernels - first.kernels)
    lines.append(
        f"- Our sampler spent {last.sampler.cpu_ms_per_sample or 0:.2f} ms per sample at "
        f"{last.kernels} kernels (about {per_kernel:.3f} ms more per kernel than at "
        f"{first.kernels}), in its own thread, off the event loop."
    )
    return lines


def print_summary(levels: Sequence[Level]) -> None:
    header = f"{'kernels':>7} {'endpoint':<24} {'CPU ms':>8} {'above':>7} {'lat ms':>7}"
    print(header)
    for level in levels:
        for name in ENDPOINTS:
            cost = level.requests[name]
            above = "" if name in ("status", "me") else f"{level.above_floor_ms(name):+.2f}"
            print(
                f"{level.kernels:>7} {name:<24} {cost.cpu_ms:>8.2f} {above:>7} "
                f"{cost.latency_ms:>7.2f}"
            )
    print(f"\n{'kernels':>7} {'scenario':<10} {'p50':>7} {'p99':>7} {'max':>7}")
    for level in levels:
        for key, result in level.stalls.items():
            print(
                f"{level.kernels:>7} {key:<10} {result.p50_ms:>7.2f} {result.p99_ms:>7.2f} "
                f"{result.max_ms:>7.2f}"
            )
    print(f"\n{'kernels':>7} {'sampler ms/s':>13} {'ms/sample':>10} {'loop ms/s':>10}")
    for level in levels:
        s = level.sampler
        print(
            f"{level.kernels:>7} {s.cpu_ms_per_second:>13.2f} {fixed(s.cpu_ms_per_sample):>10} "
            f"{s.loop_background_ms_per_second:>10.2f}"
        )
    print()
    for verdict in verdicts(levels):
        print(f"{'PASS' if verdict.passed else 'FAIL'}  {verdict.target}: {verdict.measured}")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="write the Markdown report here")
    parser.add_argument("--quick", action="store_true", help="0 and 10 kernels only")
    parser.add_argument(
        "--kernels", default=None, help="comma-separated kernel counts (default 0,10,50)"
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument(
        "--seconds", type=float, default=15, help="length of each stall and sampler window"
    )
    parser.add_argument(
        "--history-fill-seconds",
        type=float,
        default=None,
        help="run the server this long before the first per-request round, so that the "
        "history holds 10 minutes of samples (default 610; 0 with --quick)",
    )
    parser.add_argument(
        "--python-path",
        action="append",
        default=[],
        help="a directory to put first on the server's sys.path (repeatable), e.g. one that "
        "`pip install --target` filled with jupyter-resource-usage, so that it need not be "
        "installed, and enabled, in the environment the tests use",
    )
    parser.add_argument(
        "--jru-prometheus",
        action="store_true",
        help="leave jupyter-resource-usage's 1 Hz Prometheus callback on",
    )
    args = parser.parse_args(argv)
    if args.kernels is None:
        args.kernels = "0,10" if args.quick else "0,10,50"
    if args.history_fill_seconds is None:
        args.history_fill_seconds = 0 if args.quick else 610
    args.kernel_counts = sorted({int(k) for k in args.kernels.split(",")})
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    args.python_path = [str(Path(path).resolve()) for path in args.python_path]
    sys.path[:0] = args.python_path  # so that its version is found below
    if version("jupyter-resource-usage") == "not installed":
        print(
            "jupyter-resource-usage is not installed: `make bench` installs it, or "
            "pip install jupyter-resource-usage",
            file=sys.stderr,
        )
        return 2
    info = machine()
    levels: list[Level] = []
    with running_server(jru_prometheus=args.jru_prometheus, python_path=args.python_path) as server:
        print(f"server pid {server.pid} on port {server.port}", flush=True)
        history_full_at = time.monotonic() + args.history_fill_seconds
        for kernels in args.kernel_counts:
            levels.append(
                measure_level(
                    server,
                    kernels,
                    requests=args.requests,
                    rounds=args.rounds,
                    seconds=args.seconds,
                    history_full_at=history_full_at,
                )
            )
        clock = server.cpu_clock
    print()
    print_summary(levels)
    if args.output is not None:
        write_section(args.output, SECTION, report(levels, info, args, clock))
        print(f"\nwrote the '{SECTION}' section of {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
