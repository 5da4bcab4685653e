"""Session reports through a real hub's proxy: how many checkpoints a second the history
service stores, and whether any is lost.

    python benchmarks/report_throughput.py [--senders 8] [--seconds 30]
        [--databases sqlite postgresql] [--profile DIR] [--no-breakdown]
        [--output docs/performance.md]

A real JupyterHub (dummy authenticator, configurable-http-proxy) runs the history service
twice as hub-managed services, on SQLite and on PostgreSQL (the Debian binaries, as
tests/support/postgres_server.py starts them), polling the hub every 60 s as by default.
`--senders` users each stand for one single-user server: a thread that posts checkpoints
of its running session through the proxy (`/services/<name>/api/v1/sessions`), with the
user's own API token and a fresh connection per request as the extension's client makes
them, one after the other, for `--seconds` per database. Each checkpoint is later than the
one before and every figure grows, as a server's do.

Measured: reports stored per second, latency, errors, the CPU of the service, the hub
(and its proxy) and PostgreSQL; then the database is read: every session must hold its
sender's last checkpoint (0 lost). Then, in this process and without HTTP, where a
report's time goes: the database work of the same reports committed one by one, as the
service wrote them before batching, and in one batch (`--no-breakdown` skips it). With
`--profile DIR` the services run under cProfile
and DIR gets each one's statistics (the profiled run is slower: for where the time goes,
not for the rate).

Writes its Markdown between `<!-- begin report-throughput -->` and
`<!-- end report-throughput -->` in --output.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import pstats
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' support package

from load_figures import ms, quantile, table, version  # noqa: E402
from report_sections import write_section  # noqa: E402
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

SECTION = "report-throughput"
TARGET_PER_SECOND = 150.0


@dataclass
class Sender:
    user: str
    token: str
    session_id: str
    started: float
    sent: int = 0
    stored: int = 0
    last_checkpoint: float | None = None
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Run:
    database: str
    senders: list[Sender]
    wall_seconds: float
    cpu: dict[str, float]
    lost: list[str]

    @property
    def stored(self) -> int:
        return sum(s.stored for s in self.senders)

    @property
    def errors(self) -> list[str]:
        return [e for s in self.senders for e in s.errors]

    @property
    def per_second(self) -> float:
        return self.stored / self.wall_seconds if self.wall_seconds else 0.0


def checkpoint(sender: Sender, at: float) -> dict[str, Any]:
    seconds = at - sender.started
    return {
        "id": sender.session_id,
        "server_name": "",
        "started": sender.started,
        "ended": None,
        "last_checkpoint": at,
        "totals": {
            "duration_seconds": seconds,
            "cpu_core_seconds": 0.25 * seconds,
            "memory_byte_seconds": 2**30 * seconds,
            "peak_memory_bytes": 2**30,
        },
        "cost": {
            "currency": "EUR",
            "total": seconds / 3600,
            "basis": "used",
            "breakdown": {"server": seconds / 3600},
        },
        "meta": {},
    }


def send(url: str, sender: Sender, until: float) -> None:
    while time.monotonic() < until:
        at = time.time()
        body = checkpoint(sender, at)
        began = time.perf_counter()
        try:
            answer = call("POST", url, sender.token, body, timeout=60)
        except OSError as error:
            sender.errors.append(f"{type(error).__name__}: {error}")
            continue
        sender.latencies.append(time.perf_counter() - began)
        sender.sent += 1
        if answer.status in (200, 201) and answer.json().get("status") in ("created", "updated"):
            sender.stored += 1
            sender.last_checkpoint = at
        else:
            sender.errors.append(f"{answer.status} {answer.body[:200]!r}")


def hub_config(
    root: Path, ports: dict[str, int], services: dict[str, tuple[int, str]], profile: Path | None
) -> Path:
    entries: list[dict[str, Any]] = []
    for name, (port, db_url) in services.items():
        python = [sys.executable]
        if profile is not None:
            python += ["-m", "cProfile", "-o", str(profile / f"{name}.prof")]
        entries.append(
            {
                "name": name,
                "url": f"http://127.0.0.1:{port}",
                "command": [
                    *python,
                    "-m",
                    "jupyter_usage.hub",
                    f"--UsageService.db_url={db_url}",
                    "--log-level=WARN",
                ],
            }
        )
    entries.append({"name": "bench-admin", "api_token": ADMIN_TOKEN})
    scopes = sorted(f"access:services!service={name}" for name in services)
    config = (
        loopback_hub_config(root, ports, configurable_http_proxy())
        + f"""
c.JupyterHub.log_level = "WARN"
c.JupyterHub.extra_user_scopes = set({scopes!r})
c.JupyterHub.services = {entries!r}
c.JupyterHub.load_roles = [
    {{"name": "bench-admin", "scopes": ["admin:users", "tokens"], "services": ["bench-admin"]}},
    {{"name": "usage", "scopes": ["list:users", "read:users:groups", "read:servers"],
      "services": {list(services)!r}}},
]
"""
    )
    path = root / "jupyterhub_config.py"
    path.write_text(config)
    return path


ADMIN_TOKEN = uuid.uuid4().hex


@contextlib.contextmanager
def running_hub(db_urls: dict[str, str], profile: Path | None) -> Iterator[tuple[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="jupyter-usage-report-throughput-"))
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub")}
    services = {f"usage-{name}": (free_port(), url) for name, url in db_urls.items()}
    proxy = f"http://127.0.0.1:{ports['proxy']}"
    process = launch_hub(root, hub_config(root, ports, services, profile))
    try:
        wait_for("the hub", lambda: call("GET", f"{proxy}/hub/api/").status == 200, 120)
        yield proxy, process
    except BaseException:
        print((root / "hub.log").read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        stop_process(process)
        shutil.rmtree(root, ignore_errors=True)


def tokens(proxy: str, users: Sequence[str]) -> dict[str, str]:
    found = {}
    for user in users:
        answer = call("POST", f"{proxy}/hub/api/users", ADMIN_TOKEN, {"usernames": [user]})
        assert answer.status in (201, 409), answer.body
        answer = call(
            "POST", f"{proxy}/hub/api/users/{user}/tokens", ADMIN_TOKEN, {"expires_in": 7200}
        )
        assert answer.status == 201, answer.body
        found[user] = answer.json()["token"]
    return found


def service_process(hub: Any, db_url: str) -> psutil.Process:
    """The service on `db_url` among the hub's children (under cProfile too)."""
    for child in psutil.Process(hub.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            command = child.cmdline()
            if "jupyter_usage.hub" in command and f"--UsageService.db_url={db_url}" in command:
                return child
    raise RuntimeError(f"no service process for {db_url}")


def cpu_of(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def postgres_processes(data_dir: Path | None) -> list[psutil.Process]:
    """The postmaster and its backends (the service's pooled connections stay open)."""
    if data_dir is None:
        return []
    postmaster = psutil.Process(int((data_dir / "postmaster.pid").read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


def measure(
    proxy: str,
    hub: Any,
    name: str,
    db_url: str,
    args: argparse.Namespace,
    postgres_dir: Path | None,
) -> Run:
    service = f"usage-{name}"
    url = f"{proxy}/services/{service}/api/v1/sessions"
    users = [f"{name[:2]}-server-{i}" for i in range(args.senders)]
    user_tokens = tokens(proxy, users)
    wait_for(
        f"the {name} service",
        lambda: call("GET", url, user_tokens[users[0]]).status == 200,
        120,
    )
    now = time.time()
    senders = [
        Sender(user, user_tokens[user], f"{user}-session", started=now - 3600) for user in users
    ]
    # Each user's first request makes the service ask the hub about the token (cached
    # for 60 s after): done before the clock starts, as for a server running for a while.
    for sender in senders:
        send(url, sender, time.monotonic() + 0.001)
        sender.latencies.clear()
        sender.sent = sender.stored = 0
    processes = {
        "service": [service_process(hub, db_url)],
        "hub and proxy": [psutil.Process(hub.pid)]
        + [
            child
            for child in psutil.Process(hub.pid).children()
            if "jupyter_usage.hub" not in " ".join(child.cmdline())
        ],
        "PostgreSQL": postgres_processes(postgres_dir),
        "senders": [psutil.Process()],
    }
    before = {key: cpu_of(value) for key, value in processes.items()}
    began = time.perf_counter()
    until = time.monotonic() + args.seconds
    threads = [threading.Thread(target=send, args=(url, s, until)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    cpu = {key: cpu_of(value) - before[key] for key, value in processes.items()}
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as connection:
            stored = dict(
                connection.execute(
                    sqlalchemy.text(
                        "SELECT session_id, last_checkpoint FROM usage_sessions "
                        "WHERE user_name LIKE :prefix"
                    ),
                    {"prefix": f"{name[:2]}-server-%"},
                ).all()
            )
    finally:
        engine.dispose()
    lost = [
        s.session_id
        for s in senders
        if s.last_checkpoint is not None and stored.get(s.session_id) != s.last_checkpoint
    ]
    return Run(name, senders, wall, cpu, lost)


def run_all(args: argparse.Namespace) -> tuple[list[Run], list[Breakdown]]:
    runs: list[Run] = []
    parts: list[Breakdown] = []
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        db_urls = {}
        postgres_dir = None
        if "sqlite" in args.databases:
            db_urls["sqlite"] = f"sqlite:///{workdir / 'usage.sqlite'}"
        if "postgresql" in args.databases:
            try:
                server = stack.enter_context(running_postgres())
                db_urls["postgresql"] = stack.enter_context(server.database())
                postgres_dir = server.data
            except Unavailable as why:
                print(f"PostgreSQL skipped: {why}", file=sys.stderr)
        profile = Path(args.profile).resolve() if args.profile else None
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
        with running_hub(db_urls, profile) as (proxy, hub):
            for name, url in db_urls.items():
                runs.append(measure(proxy, hub, name, url, args, postgres_dir))
                print(summary_line(runs[-1]), file=sys.stderr)
        if args.breakdown:
            urls = {"sqlite": f"sqlite:///{workdir / 'breakdown.sqlite'}"}
            if "postgresql" in db_urls:
                urls["postgresql"] = stack.enter_context(server.database())
            for name, url in urls.items():
                parts.append(breakdown(name, url, args.senders))
    return runs, parts


@dataclass
class Breakdown:
    database: str
    commit_ms: float
    """One empty transaction's commit: the flush to disk (SQLite) or to the WAL."""
    alone_ms: tuple[float, float]
    """Wall and CPU ms per report, each in transactions of its own, as before batching:
    the report, then its check against the hub, then its rollups."""
    batched_ms: tuple[float, float]
    """The same per report in batches of `senders` (report_intake.write_batch)."""


def breakdown(name: str, db_url: str, senders: int, rounds: int = 40) -> Breakdown:
    """Where a report's time goes, in this process, without HTTP: the database work."""
    from jupyter_usage.hub.db.storage import UsageDB
    from jupyter_usage.hub.intake.hub_check import check_session
    from jupyter_usage.hub.intake.report_intake import Report, write_batch
    from jupyter_usage.hub.intake.validation import parse_session

    db = UsageDB(db_url)
    try:
        db.upgrade()
        gap = 95.0  # the default poll's
        now = time.time()
        alone = [Sender(f"alone-{i}", "", f"alone-{i}", now - 3600) for i in range(senders)]
        batched = [Sender(f"batch-{i}", "", f"batch-{i}", now - 3600) for i in range(senders)]

        def one_by_one(at: float) -> None:
            for sender in alone:
                session = parse_session(checkpoint(sender, at))
                db.upsert_session(sender.user, session, [], time.time(), only_adds=True)
                check_session(db, sender.user, session.session_id, gap, time.time())

        def in_a_batch(at: float) -> None:
            reports = [Report(s.user, parse_session(checkpoint(s, at)), ()) for s in batched]
            write_batch(db, reports, time.time(), gap)

        def per_report(step: Any) -> tuple[float, float]:
            step(now)  # creates the sessions
            wall, cpu = time.perf_counter(), time.process_time()
            for k in range(rounds):
                step(now + 1 + k)
            count = rounds * senders
            return (
                1000 * (time.perf_counter() - wall) / count,
                1000 * (time.process_time() - cpu) / count,
            )

        with db.engine.connect() as connection:
            began = time.perf_counter()
            for _ in range(20):
                with connection.begin():
                    connection.execute(sqlalchemy.text("SELECT 1"))
                    connection.exec_driver_sql("UPDATE usage_schema_version SET version = version")
            commit_ms = 1000 * (time.perf_counter() - began) / 20
        return Breakdown(name, commit_ms, per_report(one_by_one), per_report(in_a_batch))
    finally:
        db.close()


def summary_line(run: Run) -> str:
    return (
        f"{run.database}: {run.stored} reports in {run.wall_seconds:.1f} s = "
        f"{run.per_second:.1f}/s, {len(run.errors)} errors, {len(run.lost)} lost"
    )


def profile_top(path: Path, count: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("cumulative").print_stats(count)
    return out.getvalue()


def report(runs: Sequence[Run], args: argparse.Namespace, parts: Sequence[Breakdown] = ()) -> str:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Session reports through the hub (`make bench-hub`)",
        "",
        f"Generated by `python benchmarks/report_throughput.py --senders {args.senders} "
        f"--seconds {args.seconds:g}` on {when}. JupyterHub {version('jupyterhub')}, "
        "configurable-http-proxy, the history service as a hub-managed service per "
        f"database. {args.senders} users, each standing for one single-user server, post "
        "checkpoints of their running session through the proxy with their own token, one "
        "after the other, a fresh connection each, as the extension's client does; every "
        "checkpoint later and every figure higher than the one before. Each report goes "
        "through the checks a user's report gets (figures that only grow, the session "
        "checked against the hub's record).",
        "",
        "**Read these numbers with care.** A shared 2-core machine on which other work ran "
        "at the same time; the senders, the proxy, the hub, the service and PostgreSQL share "
        "those two cores.",
        "",
    ]
    rows = []
    for run in runs:
        latencies = [v for s in run.senders for v in s.latencies]
        stored = run.stored or 1
        rows.append(
            [
                "SQLite" if run.database == "sqlite" else "PostgreSQL",
                str(run.stored),
                str(len(run.errors)),
                f"{run.per_second:.0f}",
                ms(quantile(latencies, 0.5)),
                ms(quantile(latencies, 0.99)),
                f"{1000 * run.cpu['service'] / stored:.1f}",
                f"{1000 * run.cpu['hub and proxy'] / stored:.1f}",
                f"{1000 * run.cpu['PostgreSQL'] / stored:.1f}" if run.cpu["PostgreSQL"] else "n/a",
                f"{1000 * run.cpu['senders'] / stored:.1f}",
                str(len(run.lost)),
            ]
        )
    lines += table(
        [
            "Database",
            "reports stored",
            "errors",
            "per s",
            "p50 ms",
            "p99 ms",
            "CPU ms per report: service",
            "hub and proxy",
            "PostgreSQL",
            "senders",
            "sessions lost",
        ],
        rows,
    )
    lines.append("")
    if parts:
        lines += [
            f"Where a report's time goes: the database work of {args.senders} reports at a "
            "time in the benchmark's own process (no HTTP), with today's statements: each "
            "report in transactions of its own, committed one by one as the service wrote "
            "them before batching (the report with its rollups, then its check against the "
            "hub), and in one batch as it writes them now; ms per report. A commit is one "
            "empty transaction's.",
            "",
        ]
        lines += table(
            ["Database", "commit ms", "alone: wall", "CPU", "batched: wall", "CPU"],
            [
                [
                    "SQLite" if part.database == "sqlite" else "PostgreSQL",
                    f"{part.commit_ms:.2f}",
                    f"{part.alone_ms[0]:.2f}",
                    f"{part.alone_ms[1]:.2f}",
                    f"{part.batched_ms[0]:.2f}",
                    f"{part.batched_ms[1]:.2f}",
                ]
                for part in parts
            ],
        )
        lines.append("")
    for run in runs:
        verdict = "PASS" if run.per_second >= TARGET_PER_SECOND and not run.lost else "FAIL"
        lines.append(
            f"- **{verdict}** {run.database}: {run.per_second:.0f} reports/s "
            f"(target {TARGET_PER_SECOND:.0f}), {len(run.errors)} errors, "
            f"{len(run.lost)} sessions lost."
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--profile", help="a folder for the services' cProfile statistics")
    parser.add_argument(
        "--no-breakdown",
        dest="breakdown",
        action="store_false",
        help="skip the in-process measurement of where a report's time goes",
    )
    parser.add_argument("--output", help="the Markdown file to write the section into")
    args = parser.parse_args(argv)
    runs, parts = run_all(args)
    text = report(runs, args, parts)
    if args.profile:
        for path in sorted(Path(args.profile).glob("*.prof")):
            print(f"== {path.name}\n{profile_top(path)}", file=sys.stderr)
    if args.output:
        write_section(Path(args.output), SECTION, text)
    print(text)
    print(json.dumps({r.database: round(r.per_second, 1) for r in runs}), file=sys.stderr)
    return 0 if all(not r.lost and not r.errors for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
