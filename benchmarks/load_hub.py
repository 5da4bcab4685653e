"""Part 2 of benchmarks/load.py: the hub history service under many users, on SQLite and
on PostgreSQL, through a real JupyterHub. See load.py for the method and how to run it."""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
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
sys.path.insert(0, str(ROOT / "tests"))  # the tests' support package

from figures import MIB, ms, quantile, table, version  # noqa: E402
from support.hub_process import (  # noqa: E402
    call,
    configurable_http_proxy,
    free_port,
    launch_hub,
    loopback_hub_config,
    stop_process,
    wait_for,
)
from support.postgres_server import Unavailable, running_postgres  # noqa: E402

from jupyter_usage.hubclient import HubClient, HubResponse  # noqa: E402
from jupyter_usage.store import SessionStore  # noqa: E402
from jupyter_usage.uploader import SessionUploader  # noqa: E402

DAY_SECONDS = 86400.0
SESSIONS_PER_USER = 3
GROUPS = 10
ADMIN = "ada"

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
        f"A real JupyterHub ({version('jupyterhub')}: dummy authenticator, "
        "configurable-http-proxy, as `tests/integration/test_hub.py` runs it) with "
        f"{result.users} users in {GROUPS} groups and the history service twice as a "
        "hub-managed service: on SQLite, and on PostgreSQL (the Debian server binaries on a "
        "unix socket, with `fsync=off`, as `tests/support/postgres_server.py` starts them, so disk "
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
                *phase_cells(p, rate_digits=0),
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
                    *phase_cells(q, rate_digits=1),
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


def phase_cells(phase: Phase, rate_digits: int) -> list[str]:
    """Requests, errors, requests per second, p50, p99 and max latency, for a table row."""
    return [
        str(phase.requests),
        str(phase.errors),
        f"{phase.per_second:.{rate_digits}f}",
        ms(quantile(phase.latencies, 0.5)),
        ms(quantile(phase.latencies, 0.99)),
        ms(max(phase.latencies, default=None)),
    ]


def cpu_per_request(phase: Phase, process: str) -> str:
    seconds = phase.cpu_seconds.get(process)
    return "n/a" if seconds is None else f"{1000 * seconds / max(1, phase.requests):.1f}"
