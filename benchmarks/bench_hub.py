"""`make bench-hub`: the hub service's KPIs, CSV and report over 10k to 1M stored sessions.

Synthetic sessions (a year, up to 10,000 users in 20 groups; a month of the same; a month in
which 1,000 and 10,000 users come nearly every day) are written as JSON lines and
loaded with `python -m jupyter_usage.hub import`, into SQLite and into a throwaway Debian
PostgreSQL. A real JupyterHub then runs one service per database, and each query is asked
`--repeat` times in a row with an admin token: latency p50/p99, the service's CPU seconds
and its peak RSS (sampled every 20 ms). Writes its own section of docs/performance.md.
Not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]

from figures import MIB, quantile  # noqa: E402
from load_hub import ADMIN, cpu_seconds, issue_tokens, running_hub  # noqa: E402
from support.hub_process import call  # noqa: E402
from support.postgres_server import Unavailable, running_postgres  # noqa: E402

DAY = 86400.0
END = 1_793_577_600.0  # 2026-11-02, midnight UTC: the data ends there, the windows too
GROUPS = 20
PROFILES = (("small", 2 * 2**30), ("medium", 8 * 2**30), ("large", 32 * 2**30))
TIMEOUT = 600.0
"""Seconds a query may take before it counts as failed; a loaded machine is slow."""


def queries(until: float) -> dict[str, str]:
    month, year = until - 30 * DAY, until - 365 * DAY
    return {
        "kpis, 30 days": f"api/v1/kpis?since={month:.0f}&until={until:.0f}",
        "kpis, 365 days": f"api/v1/kpis?since={year:.0f}&until={until:.0f}",
        "kpis, 30 days, one group": f"api/v1/kpis?since={month:.0f}&until={until:.0f}&group=g07",
        "kpis.csv (users), 30 days": f"api/v1/kpis.csv?table=users&since={month:.0f}"
        f"&until={until:.0f}",
        "report page, 365 days": f"?since={year:.0f}&until={until:.0f}",
    }


def write_sessions(path: Path, count: int, seed: int = 13, days: int = 365) -> None:
    """`count` sessions over the `days` before END, of min(10,000, count/10) users."""
    rng = random.Random(seed)
    users = max(1, min(10_000, count // 10))
    with path.open("w") as out:
        for number in range(count):
            user = rng.randrange(users)
            started = END - days * DAY + rng.random() * days * DAY
            hours = rng.expovariate(1 / 2.5)
            ended = min(started + hours * 3600, END)
            running = ended >= END
            profile, limit = rng.choice(PROFILES)
            record: dict[str, Any] = {
                "id": f"b{number}",
                "user": f"u{user:05d}",
                "started": round(started, 3),
                "ended": None if running else round(ended, 3),
                "last_checkpoint": round(ended, 3),
                "duration_seconds": round(ended - started, 3),
                "totals": {
                    "cpu_core_seconds": round((ended - started) * rng.random(), 1),
                    "memory_byte_seconds": (ended - started) * 2e9,
                    "gpu_seconds": 0,
                    # Sizing's figures, as a server in a cgroup reports them.
                    "peak_memory_bytes": round(rng.uniform(0.1, 1.0) * limit),
                    "cpu_throttled_seconds": round((ended - started) * rng.random() * 0.1, 1),
                    "memory_near_limit_seconds": 60.0 if rng.random() < 0.05 else 0.0,
                    "oom_kills": 1 if rng.random() < 0.01 else 0,
                },
                "cost": {"currency": "EUR", "total": round((ended - started) / 3600 * 0.05, 4)},
                "meta": {
                    "groups": [f"g{user % GROUPS:02d}"],
                    "profile": profile,
                    "limits": {"memory_limit_bytes": limit},
                },
            }
            out.write(json.dumps(record, separators=(",", ":")) + "\n")


def write_daily_sessions(path: Path, users: int, days: int = 30, seed: int = 17) -> int:
    """A hub whose `users` come nearly every day (a class, a MOOC, a research group): on
    each of the `days` before END, each user has one session with a probability of 0.97,
    started in the working day; returns the number of sessions."""
    rng = random.Random(seed)
    count = 0
    with path.open("w") as out:
        for user in range(users):
            for day in range(days):
                if rng.random() >= 0.97:
                    continue
                started = END - (days - day) * DAY + rng.uniform(7, 20) * 3600
                ended = min(started + min(rng.expovariate(1 / 2.5), 10) * 3600, END)
                record = {
                    "id": f"d{count}",
                    "user": f"u{user:05d}",
                    "started": round(started, 3),
                    "ended": round(ended, 3),
                    "duration_seconds": round(ended - started, 3),
                    "totals": {
                        "cpu_core_seconds": round((ended - started) * rng.random(), 1),
                        "memory_byte_seconds": (ended - started) * 2e9,
                        "gpu_seconds": 0,
                    },
                    "cost": {"currency": "EUR", "total": round((ended - started) / 3600 * 0.05, 4)},
                    "meta": {"groups": [f"g{user % GROUPS:02d}"], "profile": "small"},
                }
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
                count += 1
    return count


def daily_label(users: int) -> str:
    return f"{users:,} users every day of 30"


def load(path: Path, db_url: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_usage.hub", "import", "--db-url", db_url, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, done.stderr.strip().splitlines()[-1]


class PeakRss:
    def __init__(self, process: psutil.Process) -> None:
        self.process, self.peak, self._stop = process, 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def service_process(hub: Any, name: str) -> psutil.Process:
    for child in psutil.Process(hub.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any("db_url" in part for part in child.cmdline()) and any(
                name in part for part in child.cmdline()
            ):
                return child
    raise RuntimeError(f"no process for the service {name}")


def measure(hub: Any, service: str, repeat: int, month_only: bool = False) -> list[list[str]]:
    base, db_url = hub.services[service]
    process = service_process(hub, db_url)
    token = hub.tokens[ADMIN]
    rows = []
    for name, path in queries(END).items():
        if month_only and "30 days" not in name:
            continue
        call("GET", base + path, token, timeout=TIMEOUT)  # warm: connections, caches
        latencies, statuses = [], set()
        cpu = cpu_seconds(process)
        with PeakRss(process) as rss:
            for _ in range(repeat):
                started = time.perf_counter()
                answer = call("GET", base + path, token, timeout=TIMEOUT)
                latencies.append(time.perf_counter() - started)
                statuses.add(answer.status)
        cpu = (cpu_seconds(process) - cpu) / repeat
        rows.append(
            [
                name,
                f"{quantile(latencies, 0.5) * 1000:.0f}",
                f"{quantile(latencies, 0.99) * 1000:.0f}",
                f"{cpu * 1000:.0f}",
                f"{rss.peak / MIB:.0f}",
                ",".join(str(status) for status in sorted(statuses)),
            ]
        )
    return rows


@contextlib.contextmanager
def databases(root: Path, size: int, postgres: Any) -> Iterator[dict[str, str]]:
    urls = {f"sqlite{size}": f"sqlite:///{root / f'usage-{size}.sqlite'}"}
    with contextlib.ExitStack() as stack:
        if postgres is not None:
            urls[f"pg{size}"] = stack.enter_context(postgres.database())
        yield urls


def run(args: argparse.Namespace) -> list[str]:
    lines = [
        "<!-- begin bench-hub -->",
        "## The hub service at scale (`make bench-hub`)",
        "",
        f"Sessions over a year before {time.strftime('%Y-%m-%d', time.gmtime(END))}, "
        "of min(10,000, sessions/10) users in 20 groups (*N in 30 days*: the same over the "
        "30 days before it; *N users every day of 30*: each of N users, in 20 groups, has "
        "a session on 97 % of the 30 days, so the daily active users are nearly N), loaded with "
        "`python -m jupyter_usage.hub import`; then a real JupyterHub runs one service per "
        f"database and each query is asked {args.repeat} times in a row with an admin token. "
        "CPU: the service's seconds per request (PostgreSQL's own not included). "
        "RSS: the service's peak while the query ran.",
        "",
    ]
    load_rows: list[list[str]] = []
    query_rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        postgres = None
        try:
            postgres = stack.enter_context(running_postgres())
        except Unavailable as why:
            print(f"PostgreSQL skipped: {why}", file=sys.stderr)
        # (sessions or users, days, every day): the year, the month, the daily users.
        datasets = [(size, 365, False) for size in args.sizes]
        if args.dense_month:
            datasets.append((args.dense_month, 30, False))
        datasets += [(users, 30, True) for users in args.daily_users]
        for size, days, daily in datasets:
            label = f"{size:,}" if days == 365 else f"{size:,} in 30 days"
            data = root / f"sessions-{size}-{days}-{daily}.jsonl"
            count = size
            if daily:
                label = daily_label(size)
                count = write_daily_sessions(data, size, days=days)
            else:
                write_sessions(data, size, days=days)
            with databases(root, size * 1000 + days + daily, postgres) as urls:
                for service, url in urls.items():
                    seconds, summary = load(data, url)
                    engine = "SQLite" if service.startswith("sqlite") else "PostgreSQL"
                    load_rows.append(
                        [engine, label, f"{seconds:.1f}", f"{count / seconds:,.0f}", f"{count:,}"]
                    )
                    print(
                        f"{engine} {label}: loaded in {seconds:.1f} s ({summary})",
                        file=sys.stderr,
                    )
                with running_hub([ADMIN], urls) as hub:
                    issue_tokens(hub, [ADMIN])
                    for service in urls:
                        engine = "SQLite" if service.startswith("sqlite") else "PostgreSQL"
                        for row in measure(hub, service, args.repeat, month_only=days == 30):
                            query_rows.append([engine, label, *row])
                            print(" | ".join(query_rows[-1]), file=sys.stderr)
    lines += [
        "| database | data | import s | sessions/s | sessions |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {' | '.join(row)} |" for row in load_rows),
        "",
        "| database | data | query | p50 ms | p99 ms | service CPU ms | peak RSS MiB | status |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(f"| {' | '.join(row)} |" for row in query_rows),
        "",
        *targets(load_rows, query_rows, args),
        "",
        args.note,
        "<!-- end bench-hub -->",
    ]
    return lines


def targets(
    load_rows: list[list[str]], query_rows: list[list[str]], args: argparse.Namespace
) -> list[str]:
    """The issue's targets against this run's figures (wall-clock p50s)."""
    number = lambda text: float(text.replace(",", ""))  # noqa: E731
    p50 = {(row[0], row[1], row[2]): number(row[3]) for row in query_rows}
    largest = f"{max(args.sizes):,}" if args.sizes else ""
    smallest = f"{min(args.sizes):,}" if args.sizes else ""
    out = ["Against the targets (wall-clock p50 of this run):", ""]
    out += ["| target | measured | result |", "| --- | --- | --- |"]

    def row(target: str, measured: list[float], limit: float, unit: str, text: str) -> None:
        if not measured:
            out.append(f"| {target} | not run | — |")
            return
        worst = max(measured)
        verdict = "met" if worst <= limit else f"**missed** ({worst / limit:.2f}x the target)"
        out.append(f"| {target} | {text.format(worst=worst, unit=unit)} | {verdict} |")

    imports = [number(r[3]) for r in load_rows if r[0] == "SQLite" and r[1] == largest]
    if imports:
        rate = min(imports)
        verdict = "met" if rate >= 5000 else f"**missed** ({5000 / rate:.1f}x too slow)"
        out.append(
            f"| import ≥ 5,000 sessions/s into SQLite | {rate:,.0f}/s at {largest} | {verdict} |"
        )
    dense = f"{args.dense_month:,} in 30 days"
    if args.dense_month:
        row(
            f"30-day KPIs ≤ 1 s p50 with {dense} (both databases)",
            [v for (e, s, q), v in p50.items() if s == dense and q == "kpis, 30 days"],
            1000,
            "ms",
            "{worst:.0f} {unit} (slower database)",
        )
    if args.daily_users:
        most, fewest = daily_label(max(args.daily_users)), daily_label(min(args.daily_users))
        row(
            f"30-day KPIs ≤ 1 s p50 with {most} (both databases)",
            [v for (e, s, q), v in p50.items() if s == most and q == "kpis, 30 days"],
            1000,
            "ms",
            "{worst:.0f} {unit} (slower database)",
        )
        ratio = max(args.daily_users) / min(args.daily_users)
        if ratio > 1:
            row(
                f"30-day queries from {fewest} to {most} grow ≤ {ratio:.0f}x (linear in users)",
                [
                    v / p50[(e, fewest, q)]
                    for (e, s, q), v in p50.items()
                    if s == most and p50.get((e, fewest, q))
                ],
                ratio,
                "x",
                "{worst:.1f}{unit} (worst query)",
            )
    for query in ("kpis, 365 days", "report page, 365 days"):
        row(
            f"{query} ≤ 3 s over {largest} sessions (both databases)",
            [v for (e, s, q), v in p50.items() if s == largest and q == query],
            3000,
            "ms",
            "{worst:.0f} {unit} (slower database)",
        )
    growth = [
        v / p50[(e, smallest, q)]
        for (e, s, q), v in p50.items()
        if s == largest and (e, smallest, q) in p50 and p50[(e, smallest, q)] > 0
    ]
    if smallest == largest:
        growth = []
    row(
        f"time from {smallest} to {largest} sessions grows ≤ 3x",
        growth,
        3,
        "x",
        "{worst:.1f}{unit} (worst query)",
    )
    row(
        "service RSS ≤ 250 MiB during the queries",
        [number(r[6]) for r in query_rows],
        250,
        "MiB",
        "{worst:.0f} {unit} at most",
    )
    return out


def write_section(path: Path, lines: list[str]) -> None:
    text = path.read_text()
    section = "\n".join(lines) + "\n"
    pattern = re.compile(r"<!-- begin bench-hub -->.*?<!-- end bench-hub -->\n", re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text + "\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument(
        "--dense-month",
        type=int,
        default=300_000,
        help="sessions of a data set over 30 days only, for the 30-day target (0: none)",
    )
    parser.add_argument(
        "--daily-users",
        type=int,
        nargs="*",
        default=[1_000, 10_000],
        help="users of data sets of 30 days in which each comes nearly every day (none: skip)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--note", default="", help="a paragraph to add under the tables")
    args = parser.parse_args()
    write_section(args.output, run(args))


if __name__ == "__main__":
    main()
