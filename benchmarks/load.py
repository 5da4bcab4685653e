"""Load: 100 browser tabs polling one server with 20 kernels; the hub service under 1,000 users.

    python benchmarks/load.py [--quick] [--duration 300] [--clients 100] [--kernels 20]
                              [--users 1000] [--parts server,hub] [--output docs/performance.md]

1. Server: one `jupyter server` subprocess with idle python3 kernels. Every client is a
   thread with one keep-alive connection, as a browser tab holds one, that asks for
   /api/usage/v1/snapshot and then /api/usage/v1/history (the last 10 minutes at a 4 s
   step, as the panel asks) once a second, starting at a random moment of the first
   second. Per endpoint: requests, errors (non-200 or no answer), p50/p99/max latency;
   every 10 s the server process's CPU and RSS, and whether they grew.
2. Hub service: a real JupyterHub (dummy authenticator, configurable-http-proxy, as in
   tests/integration/test_hub.py) with two managed history services, one on SQLite and
   one on PostgreSQL (the Debian binaries, as tests/postgres_server.py starts them).
   Each of `--users` users delivers three ended sessions with `SessionUploader`, the
   extension's own client, with the user's own hub token; then an admin asks for the KPIs,
   their CSV and the report page. Throughput, latency, errors, and the rows the database
   holds afterwards against what was sent.

Writes its Markdown between `<!-- begin load -->` and `<!-- end load -->` in --output.
Linux only (it reads /proc); the hub part needs node and npm (configurable-http-proxy)
and, for PostgreSQL, the Debian postgresql package and psycopg.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import psutil
import sqlalchemy

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

import pytest  # noqa: E402  (hub_process's npm helper reports a missing npm with pytest.skip)
from api_cost import Client, Server, grow_kernels, machine  # noqa: E402
from hub_process import (  # noqa: E402
    call,
    configurable_http_proxy,
    free_port,
    launch_hub,
    loopback_hub_config,
    stop_process,
    wait_for,
)
from postgres_server import Unavailable, running_postgres  # noqa: E402
from report_sections import write_section  # noqa: E402
from server_process import ServerProcess  # noqa: E402

from jupyter_usage.hub.kpis import percentile  # noqa: E402
from jupyter_usage.hubclient import HubClient, HubResponse, SessionUploader  # noqa: E402
from jupyter_usage.store import SessionStore  # noqa: E402

SECTION = "load"
SNAPSHOT = "snapshot"
HISTORY = "history"
LABELS = {
    SNAPSHOT: "`GET /api/usage/v1/snapshot`",
    HISTORY: "`GET /api/usage/v1/history?since=now-600&step=4`",
}
DAY_SECONDS = 86400.0
SESSIONS_PER_USER = 3
GROUPS = 10
ADMIN = "ada"
MIB = 2**20

P99_TARGET_MS = 100.0
"""Both endpoints, under 100 polling tabs: well inside a 1 s poll."""
RSS_GROWTH_TARGET_MIB = 5.0
"""Last minute against the first. A 50-byte leak per request of 200 req/s is 3 MiB in 5 min."""
RSS_SLOPE_TARGET_MIB_PER_MINUTE = 0.5
"""Over the second half of the run, once caches and allocator arenas have filled."""


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{1000 * seconds:.1f}"


def quantile(values: Sequence[float], fraction: float) -> float | None:
    return percentile(values, fraction)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return None
    times = [t for t, _ in points]
    values = [v for _, v in points]
    if max(times) == min(times):
        return None
    return 60 * statistics.linear_regression(times, values).slope


# -- 1. many tabs polling one server -----------------------------------------------------


class LoadServer(Server):
    """api_cost's server, without jupyter-resource-usage: started as the tests start
    theirs (jupyter_usage enabled by its installed config), in its own Jupyter dirs."""

    def start(self, timeout_seconds: float = 90) -> None:
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "IPYTHONDIR": "ipython",
        }
        for name in dirs.values():
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        launcher = ServerProcess(
            self.workdir, env={key: str(self.workdir / name) for key, name in dirs.items()}
        )
        try:
            launcher.start(timeout_seconds)
        finally:
            self.process = launcher.process
            self.port = launcher.port
            self.token = launcher.token
            self.log_path = launcher.log_path


@contextlib.contextmanager
def load_server() -> Iterator[LoadServer]:
    workdir = Path(tempfile.mkdtemp(prefix="jupyter-usage-load-"))
    server = LoadServer(workdir, jru_prometheus=False)
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


# -- 2. the hub history service under many users ------------------------------------------


@dataclass(slots=True)
class Timing:
    latency_seconds: float
    status: int | None
    error: str | None


class TimedHubClient(HubClient):
    """The extension's hub client, timing each request it makes."""

    def __init__(self, *args: Any, timings: list[Timing], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timings = timings

    def request(
        self, method: str, url: str, body: Any = None, *, timeout_seconds: float | None = None
    ) -> HubResponse:
        started = time.perf_counter()
        answer = super().request(method, url, body, timeout_seconds=timeout_seconds)
        error = None if answer.ok else answer.message()
        self.timings.append(Timing(time.perf_counter() - started, answer.status, error))
        return answer


class Pending:
    """A user's undelivered sessions in memory (what `SessionUploader` needs of a store)."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.records = {str(record["id"]): record for record in records}
        self.delivered: set[str] = set()

    def undelivered(self, limit: int = 100) -> list[dict[str, Any]]:
        left = [r for key, r in self.records.items() if key not in self.delivered]
        return left[:limit]

    def mark_delivered(self, ids: Iterable[str]) -> None:
        self.delivered.update(ids)


def user_names(count: int) -> list[str]:
    return [f"user{i:04d}" for i in range(count)]


def group_of(index: int) -> str:
    return f"group{index % GROUPS}"


def make_sessions(users: Sequence[str], now: float, workdir: Path) -> dict[str, list[Any]]:
    """Three ended sessions per user in the last four weeks, as the extension's own store
    records them; by user."""
    rng = random.Random(1)
    by_user: dict[str, list[Any]] = {user: [] for user in users}
    with SessionStore(workdir / f"sessions-{uuid.uuid4().hex[:8]}.sqlite") as store:
        for user in users:
            for _ in range(SESSIONS_PER_USER):
                session_id = uuid.uuid4().hex
                started = now - rng.uniform(0.5, 28) * DAY_SECONDS
                hours = rng.uniform(0.25, 8)
                store.start_session(
                    session_id,
                    user=user,
                    server_name="",
                    started=started,
                    meta={"groups": [], "profile": None},
                )
                store.end_session(
                    session_id,
                    ended=started + hours * 3600,
                    ended_by="user",
                    totals={
                        "duration_seconds": hours * 3600,
                        "cpu_core_seconds": rng.uniform(0.05, 1.5) * hours * 3600,
                        "memory_byte_seconds": rng.uniform(0.2, 4) * 2**30 * hours * 3600,
                        "gpu_seconds": 0.0,
                    },
                    cost={
                        "currency": "USD",
                        "total": 0.1 * hours,
                        "basis": "allocated",
                        "breakdown": {"server": 0.1 * hours},
                    },
                    summary={"advice": []},
                )
        for record in store.list(limit=10 * len(users) * SESSIONS_PER_USER):
            by_user[record["user"]].append(record)
    return by_user


@dataclass
class Hub:
    root: Path
    api: str
    process: subprocess.Popen[bytes]
    admin_token: str
    services: dict[str, tuple[str, str]]
    """Service name: (its own base URL, as servers reach it; its database URL)."""
    tokens: dict[str, str] = field(default_factory=dict)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        answer = call(method, f"{self.api}/{path}", self.admin_token, body)
        if not 200 <= answer.status < 300:
            raise RuntimeError(f"{method} {path}: {answer.status} {answer.body[:300]!r}")
        return answer.json() if answer.body else None

    def service_process(self, name: str) -> psutil.Process:
        return psutil.Process(int(self.admin("GET", f"services/{name}")["pid"]))


def hub_config(
    root: Path,
    ports: dict[str, int],
    users: Sequence[str],
    services_at: dict[str, tuple[str, str]],
    admin_token: str,
) -> Path:
    services: list[dict[str, Any]] = []
    for name, (url, db_url) in services_at.items():
        services.append(
            {
                "name": name,
                "url": url.removesuffix(f"/services/{name}/"),
                "command": [
                    sys.executable,
                    "-m",
                    "jupyter_usage.hub",
                    f"--UsageService.db_url={db_url}",
                    "--log-level=WARN",
                ],
                "oauth_client_allowed_scopes": ["custom:usage:read-all"],
                "oauth_no_confirm": True,
            }
        )
    services.append({"name": "bench-admin", "api_token": admin_token})
    groups: dict[str, dict[str, list[str]]] = {}
    for index, user in enumerate(users):
        groups.setdefault(group_of(index), {"users": []})["users"].append(user)
    scopes = sorted(
        f"{kind}:services!service={name}" for name in services_at for kind in ("access", "read")
    )
    config = (
        loopback_hub_config(root, ports, configurable_http_proxy())
        + f"""
c.Authenticator.admin_users = {{{ADMIN!r}}}
c.JupyterHub.log_level = "WARN"
c.JupyterHub.custom_scopes = {{
    "custom:usage:read-all": {{"description": "Read everyone's usage history and KPIs"}},
}}
c.JupyterHub.extra_user_scopes = set({scopes!r})
c.JupyterHub.services = {json.dumps(services)}
c.JupyterHub.load_groups = {json.dumps(groups)}
c.JupyterHub.load_roles = [
    {{
        "name": "bench-admin",
        "scopes": ["admin:users", "tokens", "read:services", "list:users", "read:users"],
        "services": ["bench-admin"],
    }},
]
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config.replace(": true", ": True").replace(": false", ": False"))
    return path


@contextlib.contextmanager
def running_hub(users: Sequence[str], db_urls: dict[str, str]) -> Iterator[Hub]:
    root = Path(tempfile.mkdtemp(prefix="jupyter-usage-load-hub-"))
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub")}
    services = {
        name: (f"http://127.0.0.1:{free_port()}/services/{name}/", url)
        for name, url in db_urls.items()
    }
    proxy = f"http://127.0.0.1:{ports['proxy']}"
    process: subprocess.Popen[bytes] | None = None
    admin_token = uuid.uuid4().hex
    try:
        process = launch_hub(root, hub_config(root, ports, users, services, admin_token))
        hub = Hub(root, f"{proxy}/hub/api", process, admin_token, services)

        def hub_answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"the hub exited with {process.returncode}")
            return call("GET", f"{hub.api}/").status == 200

        wait_for("the hub", hub_answers, 120)
        yield hub
    except BaseException:
        print((root / "hub.log").read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        if process is not None:
            stop_process(process)
        shutil.rmtree(root, ignore_errors=True)


def issue_tokens(hub: Hub, users: Sequence[str], workers: int = 4) -> float:
    """A hub API token for every user (and the admin); returns the seconds it took."""
    started = time.perf_counter()

    def issue(user: str) -> tuple[str, str]:
        body = {"note": "load benchmark", "expires_in": 7200}
        return user, str(hub.admin("POST", f"users/{user}/tokens", body)["token"])

    with ThreadPoolExecutor(workers) as pool:
        hub.tokens.update(pool.map(issue, [*users, ADMIN]))
    return time.perf_counter() - started


@dataclass
class Phase:
    name: str
    requests: int
    errors: int
    wall_seconds: float
    latencies: list[float]
    cpu_seconds: dict[str, float]
    """CPU seconds spent during the phase, by process: service, hub, PostgreSQL."""
    error_examples: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_seconds if self.wall_seconds else 0.0


@dataclass
class DbRun:
    label: str
    service: str
    posts: Phase | None = None
    queries: dict[str, Phase] = field(default_factory=dict)
    rows: int = 0
    rows_expected: int = 0
    missing: int = 0
    unexpected: int = 0
    undelivered: int = 0
    kpi_checks: list[str] = field(default_factory=list)
    service_rss_bytes: int = 0
    failure: str | None = None


CpuMeters: TypeAlias = dict[str, Callable[[], float]]


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def postgres_cpu_seconds(data_dir: Path) -> float:
    """The postmaster's CPU time and its children's (the service's pooled connections stay
    open, so their backends live through a phase)."""
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    total = cpu_seconds(postmaster)
    for child in postmaster.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += cpu_seconds(child)
    return total


def cpu_meters(hub: Hub, service: str, postgres_data: Path | None) -> CpuMeters:
    service_process = hub.service_process(service)
    hub_process = psutil.Process(hub.process.pid)
    meters: CpuMeters = {
        "service": lambda: cpu_seconds(service_process),
        "hub": lambda: cpu_seconds(hub_process),
    }
    if postgres_data is not None:
        meters["postgres"] = lambda: postgres_cpu_seconds(postgres_data)
    return meters


def read_meters(meters: CpuMeters) -> dict[str, float]:
    return {name: meter() for name, meter in meters.items()}


def spent(meters: CpuMeters, before: dict[str, float]) -> dict[str, float]:
    return {name: meter() - before[name] for name, meter in meters.items()}


def deliver_all(
    hub: Hub, service: str, sessions: dict[str, list[Any]], concurrency: int, meters: CpuMeters
) -> tuple[Phase, int]:
    """Every user's uploader delivers its sessions, `concurrency` users at a time."""
    base, _ = hub.services[service]
    timings: list[Timing] = []

    def deliver(user: str) -> int:
        client = TimedHubClient(
            hub.api, hub.tokens[user], user=user, service_url_override=base, timings=timings
        )
        pending = Pending(sessions[user])
        SessionUploader(client, pending, service).deliver_pending()
        return len(pending.undelivered())

    cpu_before = read_meters(meters)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        left = sum(pool.map(deliver, list(sessions)))
    wall = time.perf_counter() - started
    errors = [t for t in timings if t.error]
    phase = Phase(
        name="POST sessions",
        requests=len(timings),
        errors=len(errors),
        wall_seconds=wall,
        latencies=[t.latency_seconds for t in timings],
        cpu_seconds=spent(meters, cpu_before),
        error_examples=sorted({str(t.error) for t in errors})[:3],
    )
    return phase, left


KPI_QUERIES = {
    "kpis": "api/v1/kpis",
    "kpis_group": f"api/v1/kpis?group={group_of(3)}",
    "kpis_csv": "api/v1/kpis.csv?table=users",
    "report": "",
}
KPI_LABELS = {
    "kpis": "`GET kpis` (30 days)",
    "kpis_group": "`GET kpis?group=…` (one group)",
    "kpis_csv": "`GET kpis.csv?table=users`",
    "report": "`GET /services/…/` (the report page)",
}


def query_kpis(
    hub: Hub, service: str, count: int, concurrency: int, meters: CpuMeters
) -> dict[str, Phase]:
    base, _ = hub.services[service]
    token = hub.tokens[ADMIN]
    phases = {}
    for name, path in KPI_QUERIES.items():

        def ask(_: int, url: str = base + path) -> tuple[float, int]:
            started = time.perf_counter()
            answer = call("GET", url, token)
            return time.perf_counter() - started, answer.status

        cpu_before = read_meters(meters)
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            answers = list(pool.map(ask, range(count)))
        wall = time.perf_counter() - started
        failed = [status for _, status in answers if status != 200]
        phases[name] = Phase(
            name=name,
            requests=len(answers),
            errors=len(failed),
            wall_seconds=wall,
            latencies=[latency for latency, _ in answers],
            cpu_seconds=spent(meters, cpu_before),
            error_examples=[f"HTTP {status}" for status in sorted(set(failed))],
        )
    return phases


def stored_ids(db_url: str) -> set[tuple[str, str]]:
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text("SELECT user_name, session_id FROM usage_sessions")
            )
            return {(str(user), str(session)) for user, session in rows}
    finally:
        engine.dispose()


def check_kpis(hub: Hub, service: str, users: int) -> list[str]:
    """What the KPIs say against what was sent."""
    base, _ = hub.services[service]
    kpis = call("GET", base + KPI_QUERIES["kpis"], hub.tokens[ADMIN]).json()["kpis"]
    checks = []
    for name, expected in (("active_users", users), ("sessions", users * SESSIONS_PER_USER)):
        got = kpis[name]["value"]
        checks.append(f"{name} {got} ({'as sent' if got == expected else f'sent {expected}'})")
    return checks


def run_db(
    hub: Hub,
    label: str,
    service: str,
    users: Sequence[str],
    args: argparse.Namespace,
    workdir: Path,
    postgres_data: Path | None = None,
) -> DbRun:
    run = DbRun(label, service)
    base, db_url = hub.services[service]
    wait_for(
        f"the {label} service",
        lambda: call("GET", base + "api/v1/sessions?limit=1", hub.tokens[ADMIN]).status == 200,
        60,
    )
    sessions = make_sessions(users, time.time(), workdir)
    print(f"{label}: {len(users)} users deliver {SESSIONS_PER_USER} sessions each", flush=True)
    meters = cpu_meters(hub, service, postgres_data)
    run.posts, run.undelivered = deliver_all(hub, service, sessions, args.hub_concurrency, meters)
    sent = {(user, str(record["id"])) for user, records in sessions.items() for record in records}
    stored = stored_ids(db_url)
    run.rows, run.rows_expected = len(stored), len(sent)
    run.missing, run.unexpected = len(sent - stored), len(stored - sent)
    print(f"{label}: KPI queries, {args.kpi_queries} of each", flush=True)
    run.queries = query_kpis(hub, service, args.kpi_queries, args.kpi_concurrency, meters)
    run.kpi_checks = check_kpis(hub, service, len(users))
    run.service_rss_bytes = int(hub.service_process(service).memory_info().rss)
    return run


@dataclass
class HubRun:
    users: int
    token_seconds: float
    runs: list[DbRun]
    skipped: list[str]


def run_hub_load(args: argparse.Namespace) -> HubRun:
    users = user_names(args.users)
    skipped: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="jupyter-usage-load-sessions-"))
    postgres_data: Path | None = None
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        db_urls = {"usage": f"sqlite:///{workdir / 'usage.sqlite'}"}
        labels = {"usage": "SQLite"}
        try:
            postgres = stack.enter_context(running_postgres())
            db_urls["usage-pg"] = stack.enter_context(postgres.database())
            labels["usage-pg"] = "PostgreSQL"
            postgres_data = postgres.data
        except Unavailable as reason:
            skipped.append(f"PostgreSQL: {reason}")
        print(f"starting a hub with {len(users)} users and services {', '.join(db_urls)}")
        hub = stack.enter_context(running_hub(users, db_urls))
        token_seconds = issue_tokens(hub, users)
        print(f"{len(hub.tokens)} tokens in {token_seconds:.1f} s", flush=True)
        runs = []
        for service, label in labels.items():
            try:
                data = postgres_data if service == "usage-pg" else None
                runs.append(run_db(hub, label, service, users, args, workdir, data))
            except (RuntimeError, TimeoutError, OSError, sqlalchemy.exc.SQLAlchemyError) as error:
                runs.append(DbRun(label, service, failure=f"{type(error).__name__}: {error}"))
        return HubRun(len(users), token_seconds, runs, skipped)


def hub_report(result: HubRun, args: argparse.Namespace) -> list[str]:
    lines = [
        "### The hub history service under many users",
        "",
        f"A real JupyterHub ({_version('jupyterhub')}: dummy authenticator, "
        "configurable-http-proxy, as `tests/integration/test_hub.py` runs it) with "
        f"{result.users} users in {GROUPS} groups and the history service twice as a "
        "hub-managed service: on SQLite, and on PostgreSQL (the Debian server binaries on a "
        "unix socket, with `fsync=off`, as `tests/postgres_server.py` starts them, so disk "
        "flushes are not measured). Each user's sessions are delivered by `SessionUploader`, "
        "the extension's own client (a fresh connection per request, as `urllib` makes "
        "them), with the user's own hub API token, straight to the service's address as "
        f"single-user servers post; {args.hub_concurrency} users deliver at a time, "
        f"{SESSIONS_PER_USER} ended sessions each from the last four weeks. The service asks "
        "the hub who each token belongs to (its cache keeps the answer 60 s), so the first "
        "post of every user includes a hub round trip, as it does for a server that reports "
        "once at its end. Then an admin token asks each KPI endpoint "
        f"{args.kpi_queries} times, {args.kpi_concurrency} at a time. Issuing "
        f"{result.users + 1} tokens took {result.token_seconds:.1f} s (not measured below).",
        "",
    ]
    rows = []
    for run in result.runs:
        if run.failure or run.posts is None:
            rows.append([run.label, "failed", *[""] * 9])
            continue
        p = run.posts
        rows.append(
            [
                run.label,
                str(p.requests),
                str(p.errors),
                f"{p.per_second:.0f}",
                ms(quantile(p.latencies, 0.5)),
                ms(quantile(p.latencies, 0.99)),
                ms(max(p.latencies, default=None)),
                cpu_per_request(p, "service"),
                cpu_per_request(p, "hub"),
                cpu_per_request(p, "postgres"),
                f"{run.rows} of {run.rows_expected}; {run.missing} missing, "
                f"{run.unexpected} extra; {run.undelivered} left undelivered",
            ]
        )
    lines += table(
        [
            "Database",
            "POSTs",
            "Errors",
            "per s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "CPU ms per post: service",
            "hub",
            "PostgreSQL",
            "Rows in the database afterwards",
        ],
        rows,
    )
    lines += ["", "KPI queries (admin token), after the posts:", ""]
    rows = []
    for run in result.runs:
        for name, q in run.queries.items():
            rows.append(
                [
                    run.label,
                    KPI_LABELS[name],
                    str(q.requests),
                    str(q.errors),
                    f"{q.per_second:.1f}",
                    ms(quantile(q.latencies, 0.5)),
                    ms(quantile(q.latencies, 0.99)),
                    ms(max(q.latencies, default=None)),
                    cpu_per_request(q, "service"),
                    cpu_per_request(q, "postgres"),
                ]
            )
    lines += table(
        [
            "Database",
            "Query",
            "Requests",
            "Errors",
            "per s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "CPU ms per query: service",
            "PostgreSQL",
        ],
        rows,
    )
    lines.append("")
    for run in result.runs:
        if run.failure:
            lines.append(f"- **FAIL** {run.label}: {run.failure}")
            continue
        errors = (run.posts.errors if run.posts else 0) + sum(
            q.errors for q in run.queries.values()
        )
        examples = sorted(
            {e for q in [run.posts, *run.queries.values()] if q for e in q.error_examples}
        )
        lost = run.missing or run.unexpected or run.undelivered
        lines.append(
            f"- **{'PASS' if not errors and not lost else 'FAIL'}** {run.label}: {errors} errors"
            + (f" ({'; '.join(examples)})" if examples else "")
            + f", {run.missing} sessions lost, {run.rows} rows; KPIs: "
            + ", ".join(run.kpi_checks)
            + f"; service RSS afterwards {run.service_rss_bytes / MIB:.0f} MiB."
        )
    lines += [f"- Skipped: {reason}." for reason in result.skipped]
    return lines


def cpu_per_request(phase: Phase, process: str) -> str:
    seconds = phase.cpu_seconds.get(process)
    return "n/a" if seconds is None else f"{1000 * seconds / max(1, phase.requests):.1f}"


def _version(distribution: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# -- the report ---------------------------------------------------------------------------


def report(
    info: dict[str, str],
    args: argparse.Namespace,
    server: ServerRun | None,
    hub: HubRun | None,
    wall_seconds: float,
) -> str:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/load.py" + (" --quick" if args.quick else "")
    lines = [
        "## Load",
        "",
        f"Generated by `{command}` (`make bench-load`) on {when}, in {wall_seconds / 60:.1f} "
        "minutes. Not a test: nothing here fails a build.",
        "",
        "**Read these numbers with care.** They come from a shared 2-core machine on which "
        "other work ran at the same time, and the load generator, the server (or the hub, "
        "its proxy, the service and PostgreSQL) all share those two cores: latencies include "
        "waiting for a core, and a busy neighbour shows up as a slow interval in the time "
        "course.",
        "",
    ]
    lines += table(["Machine", ""], [[key, value] for key, value in info.items()])
    if server is not None:
        lines += ["", *server_report(server, args)]
    if hub is not None:
        lines += ["", *hub_report(hub, args)]
    return "\n".join(lines) + "\n"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="update the 'load' section of this file")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 20 s, 10 clients, 4 kernels, 100 users"
    )
    parser.add_argument("--parts", default="server,hub", help="server, hub, or both")
    parser.add_argument("--duration", type=float, help="seconds of polling (default 300)")
    parser.add_argument("--clients", type=int, help="polling clients (default 100)")
    parser.add_argument("--kernels", type=int, help="idle kernels (default 20)")
    parser.add_argument("--tick-seconds", type=float, help="CPU and RSS every … s (default 10)")
    parser.add_argument(
        "--warmup", type=float, help="seconds between kernels settled and clients (default 30)"
    )
    parser.add_argument("--users", type=int, help="hub users (default 1000)")
    parser.add_argument(
        "--hub-concurrency", type=int, default=20, help="users delivering at the same time"
    )
    parser.add_argument("--kpi-queries", type=int, help="requests per KPI endpoint (default 20)")
    parser.add_argument("--kpi-concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    defaults: dict[str, tuple[Any, Any]] = {
        "duration": (300.0, 20.0),
        "clients": (100, 10),
        "kernels": (20, 4),
        "tick_seconds": (10.0, 2.0),
        "warmup": (30.0, 3.0),
        "users": (1000, 100),
        "kpi_queries": (20, 4),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.part_names = {part.strip() for part in args.parts.split(",") if part.strip()}
    unknown = args.part_names - {"server", "hub"}
    if unknown or not args.part_names:
        parser.error(f"--parts takes server and/or hub, not {args.parts!r}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    info = {k: v for k, v in machine().items() if not k.startswith("jupyter-resource-usage")}
    info["jupyterhub"] = _version("jupyterhub")
    info["SQLAlchemy"] = _version("SQLAlchemy")
    info["psycopg"] = _version("psycopg")
    started = time.monotonic()
    server = hub = None
    if "server" in args.part_names:
        server = run_server_load(
            args.kernels, args.clients, args.duration, args.tick_seconds, args.warmup
        )
    if "hub" in args.part_names:
        try:
            hub = run_hub_load(args)
        except pytest.skip.Exception as reason:  # no npm for configurable-http-proxy
            print(f"hub part skipped: {reason}", file=sys.stderr)
    text = report(info, args, server, hub, time.monotonic() - started)
    print()
    print(text)
    if args.output is not None:
        write_section(args.output, SECTION, text)
        print(f"wrote the '{SECTION}' section of {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
