"""scripts/reliability_report.py adds up what the tests logged, test by test."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support.reliability_log import ENV, record

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def reliability_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "reliability_report", ROOT / "scripts" / "reliability_report.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


SAMPLE_TESTS = """
import pytest
from support.reliability_log import record

def test_a_fault():
    record("faults_injected", detail="disk full")
    record("requests", 600)

@pytest.mark.parametrize("name", ["UsageApp.sample_interval", "CostModel.basis"])
def test_config(name):
    record("configs_rejected", detail=name)

class TestGroup:
    def test_lost(self):
        record("sessions_lost", detail="session 1")
        record("requests", 500)
        assert False, "a session was lost"

@pytest.mark.skip(reason="needs root")
def test_skipped():
    pass
"""


def test_figures_are_added_up_per_test_and_failures_fail_the_run(
    reliability_report: ModuleType, tmp_path: Path
) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_sample.py").write_text(SAMPLE_TESTS)
    log, junit = tmp_path / "figures.jsonl", tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT / "tests"), ENV: str(log), "PATH": "/usr/bin:/bin"},
        check=False,
        capture_output=True,
    )
    results = reliability_report.read_junit(junit)
    totals = reliability_report.attach(results, reliability_report.read_log(log))
    by_name = {result.name: result for result in results}

    assert set(by_name) == {
        "test_a_fault",
        "test_config[UsageApp.sample_interval]",
        "test_config[CostModel.basis]",
        "TestGroup::test_lost",
        "test_skipped",
    }
    assert {result.file for result in results} == {"tests/test_sample.py"}
    assert by_name["test_a_fault"].figures == {"faults_injected": 1, "requests": 600}
    assert by_name["test_a_fault"].details == ["disk full"]
    assert by_name["test_config[CostModel.basis]"].figures == {"configs_rejected": 1}
    lost = by_name["TestGroup::test_lost"]
    assert (lost.outcome, lost.details) == ("failed", ["session 1"])
    assert "a session was lost" in lost.message
    assert by_name["test_skipped"].outcome == "skipped"
    assert totals == {
        "faults_injected": 1,
        "requests": 1100,
        "configs_rejected": 2,
        "sessions_lost": 1,
    }

    run = reliability_report.Run(results, totals, 1.0, ["tests/test_sample.py"])
    assert reliability_report.failed(run)
    text = reliability_report.report(run, argparse.Namespace(integration=True))
    assert "**FAIL** 5 tests: 3 passed, 1 failed, 1 skipped." in text
    assert "**FAIL** recorded sessions lost: 1." in text
    assert "**PASS** at least 1,000 generated requests: 1,100." in text
    assert "| `test_a_fault` | passed | disk full |" in text

    # Without the failing test, only too few requests fail the run.
    kept = [r for r in results if r.name != "TestGroup::test_lost"]
    totals = reliability_report.attach(
        kept, [line for line in reliability_report.read_log(log) if "test_lost" not in line["test"]]
    )
    assert reliability_report.failed(reliability_report.Run(kept, totals, 1.0, []))  # 600 < 1000
    totals["requests"] += 400
    assert not reliability_report.failed(reliability_report.Run(kept, totals, 1.0, []))


def test_record_refuses_an_unknown_figure_and_is_silent_without_the_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="unknown reliability figure"):
        record("requests_sent")
    monkeypatch.delenv(ENV, raising=False)
    record("requests")  # nothing to write to, nothing written
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(ENV, str(log))
    record("requests", 3, detail="three")
    line = json.loads(log.read_text())
    assert (line["figure"], line["count"], line["detail"]) == ("requests", 3, "three")
    assert line["test"].endswith(
        "test_record_refuses_an_unknown_figure_and_is_silent_without_the_log"
    )
