"""Run the reliability and security tests and write docs/reliability.md from what they saw.

    python scripts/reliability_report.py [--output docs/reliability.md] [--no-integration]

The tests are the ordinary ones (`make test` runs them too); here they run with
``JUPYTER_USAGE_RELIABILITY_LOG`` set, so each `reliability_log.record` call leaves a line
(requests sent, 5xx seen, faults injected, sessions recovered or lost, configurations and
bodies refused, routes checked, hub-service races and torn rows, 503s during a database
outage, hub starts survived with the database down), and with a JUnit XML file for each
test's outcome. The report adds them up. Exits non-zero when a test failed, a 5xx was
seen, a session was lost or a raced session was torn; the report is written either way.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.reliability_log import ENV, FIGURES  # noqa: E402

SUITES: dict[str, list[str]] = {
    "python": [
        "tests/faults/test_faults_sources.py",
        "tests/faults/test_faults_hub.py",
        "tests/faults/test_faults_store.py",
        "tests/test_access.py",
        "tests/test_fuzz.py",
        "tests/test_config_errors.py",
        "tests/test_api.py",
        "tests/test_session_lifecycle.py",
        "tests/test_hub_validation.py",
        "tests/test_hub_races.py",
    ],
    "integration": [
        "tests/integration/test_access_hub.py",
        "tests/integration/test_fuzz_hub.py",
        "tests/integration/test_hub.py",
        "tests/integration/test_hub_database_outage.py",
    ],
}
"""The test files that make up the report, by suite (the integration suite needs node)."""

MUST_BE_ZERO = ("responses_5xx", "sessions_lost", "torn_rows")


@dataclass
class TestResult:
    file: str
    name: str
    outcome: str
    seconds: float
    message: str = ""
    figures: Counter[str] = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)


@dataclass
class Run:
    results: list[TestResult]
    totals: Counter[str]
    seconds: float
    files: list[str]


def read_junit(path: Path) -> list[TestResult]:
    """One result per test case of a pytest JUnit XML file."""
    results = []
    for case in ET.parse(path).getroot().iter("testcase"):
        # pytest writes the classname as "tests.integration.test_hub", followed by the
        # test class, if any; the node id is "tests/integration/test_hub.py::Class::name".
        parts = case.get("classname", "").split(".")
        module = next((i for i, part in enumerate(parts) if part.startswith("test_")), None)
        if module is None:
            file, classes = "/".join(parts), []
        else:
            file, classes = "/".join(parts[: module + 1]) + ".py", parts[module + 1 :]
        name = "::".join([*classes, case.get("name", "")])
        outcome, message = "passed", ""
        for tag, word in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            element = case.find(tag)
            if element is not None:
                outcome = word
                message = next(iter((element.get("message") or "").strip().splitlines()), "")
                break
        results.append(TestResult(file, name, outcome, float(case.get("time", 0)), message))
    return results


def read_log(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


DETAILED = (
    "faults_injected",
    "sessions_recovered",
    "sessions_lost",
    "responses_5xx",
    "torn_rows",
)
"""Figures whose details the report lists by test."""


def attach(results: Sequence[TestResult], lines: Iterable[dict[str, object]]) -> Counter[str]:
    """Add each logged figure to its test (by pytest node id); return the totals."""
    by_id = {f"{r.file}::{r.name}": r for r in results}
    totals: Counter[str] = Counter()
    for line in lines:
        figure, count = str(line["figure"]), int(str(line["count"]))
        totals[figure] += count
        result = by_id.get(str(line["test"]))
        if result is None:
            continue
        result.figures[figure] += count
        detail = str(line.get("detail") or "")
        if detail and figure in DETAILED:
            result.details.append(detail)
    return totals


def run_tests(files: Sequence[str], workdir: Path) -> Run:
    log = workdir / "figures.jsonl"
    junit = workdir / "junit.xml"
    env = {**os.environ, ENV: str(log)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-W",
        "error",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        *files,
    ]
    print("$", " ".join(command), flush=True)
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=False)
    seconds = time.monotonic() - started
    results = read_junit(junit) if junit.exists() else []
    totals = attach(results, read_log(log))
    return Run(results, totals, seconds, list(files))


def commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (result.stdout.strip() or "unknown") + (" with local changes" if dirty else "")


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def verdicts(run: Run) -> list[str]:
    failed = [r for r in run.results if r.outcome in ("failed", "error")]
    skipped = [r for r in run.results if r.outcome == "skipped"]
    lines = [
        f"- **{'PASS' if not failed else 'FAIL'}** {len(run.results)} tests: "
        f"{len(run.results) - len(failed) - len(skipped)} passed, {len(failed)} failed, "
        f"{len(skipped)} skipped.",
    ]
    for figure in MUST_BE_ZERO:
        count = run.totals[figure]
        lines.append(f"- **{'PASS' if count == 0 else 'FAIL'}** {FIGURES[figure]}: {count}.")
    requests = run.totals["requests"]
    lines.append(
        f"- **{'PASS' if requests >= 1000 else 'FAIL'}** at least 1,000 generated requests: "
        f"{requests:,}."
    )
    return lines


def report(run: Run, args: argparse.Namespace) -> str:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Reliability",
        "",
        f"Generated by `make reliability` (`scripts/reliability_report.py`) on {when}, at "
        f"commit {commit()}, in {run.seconds / 60:.1f} minutes on Python "
        f"{platform.python_version()} ({platform.system()} {platform.release()}). Run it "
        "again rather than editing by hand."
        + (
            ""
            if args.integration
            else " **The integration tests were left out** (`--no-integration`)."
        ),
        "",
        "The tests behind these figures are ordinary tests that `make test` runs as well: "
        "here they run once more with a log of what each of them did. What each part proves "
        "is in [development.md](development.md#reliability-and-security-tests).",
        "",
        "## Verdict",
        "",
        *verdicts(run),
        "",
        "## Figures",
        "",
        *table(
            ["Figure", "Count"],
            [[FIGURES[name], f"{run.totals[name]:,}"] for name in FIGURES],
        ),
        "",
        "## Faults injected",
        "",
    ]
    faults = [r for r in run.results if r.details]
    if faults:
        lines += table(
            ["Test", "Outcome", "What happened"],
            [[f"`{r.name}`", r.outcome, "; ".join(dict.fromkeys(r.details))] for r in faults],
        )
    else:
        lines.append("None recorded.")
    lines += ["", "## Tests", ""]
    by_file: dict[str, list[TestResult]] = defaultdict(list)
    for result in run.results:
        by_file[result.file].append(result)
    for file in run.files:
        results = by_file.get(file, [])
        lines += [f"### `{file}`", ""]
        if not results:
            lines += ["No tests ran from this file.", ""]
            continue
        rows = []
        for r in results:
            figures = ", ".join(f"{name} {count:,}" for name, count in sorted(r.figures.items()))
            outcome = r.outcome + (f": {r.message}" if r.message else "")
            rows.append([f"`{r.name}`", outcome, f"{r.seconds:.1f}", figures])
        lines += table(["Test", "Outcome", "s", "Figures"], rows)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def failed(run: Run) -> bool:
    return (
        not run.results
        or any(r.outcome in ("failed", "error") for r in run.results)
        or any(run.totals[figure] for figure in MUST_BE_ZERO)
        or run.totals["requests"] < 1000
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument(
        "--no-integration",
        dest="integration",
        action="store_false",
        help="leave out the tests that need a real JupyterHub (node, npm)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    files = [f for f in SUITES["python"] if (ROOT / f).exists()]
    if args.integration:
        files += [f for f in SUITES["integration"] if (ROOT / f).exists()]
    with tempfile.TemporaryDirectory(prefix="reliability-") as workdir:
        run = run_tests(files, Path(workdir))
    args.output.write_text(report(run, args), encoding="utf-8")
    print("\n".join(["", *verdicts(run), f"wrote {args.output}"]))
    return 1 if failed(run) else 0


if __name__ == "__main__":
    sys.exit(main())
