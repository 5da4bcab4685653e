"""The release files of `make dist`: checked as PyPI renders them, and a plain
(non-editable) install of the wheel in a fresh venv enables both halves of the extension
and runs the hub service."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, output
    return output


def test_wheel_install_enables_server_and_lab_extensions(tmp_path: Path) -> None:
    assert (ROOT / "jupyter_usage" / "labextension" / "package.json").exists(), (
        "build the labextension first (make install)"
    )
    assert (ROOT / ".venv" / "bin" / "python").exists(), "make dist runs in .venv (make install)"
    dist = tmp_path / "dist"
    built = run("make", "--no-print-directory", "-C", ROOT, "dist", f"DIST={dist}")
    # twine check --strict, of the wheel and the sdist (its lines wrap at the terminal's width)
    assert built.count("PASSED") == 2, built
    assert len(list(dist.glob("jupyter_usage-*.tar.gz"))) == 1
    wheels = list(dist.glob("jupyter_usage-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
    for shipped in (
        "grafana/jupyter-usage.json",
        "prometheus/rules.yml",
        # The hub's report page: its templates, scripts and uPlot with its licence.
        "hub/report/templates/report.html",
        "hub/report/templates/sections/cards.html",
        "hub/report/static/report.js",
        "hub/report/static/report.css",
        "hub/report/static/uplot/uPlot.iife.min.js",
        "hub/report/static/uplot/LICENSE",
    ):
        assert f"jupyter_usage/{shipped}" in names, shipped

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    # As docs/hub.md installs it in the hub's environment, the service included.
    run(python, "-m", "pip", "install", "-q", f"{wheels[0]}[hub]")

    # Outside the checkout, with config read only from the new environment.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTER_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    server = run(venv / "bin" / "jupyter", "server", "extension", "list", cwd=tmp_path, env=env)
    assert re.search(r"jupyter_usage\s+enabled", server), server
    assert re.search(r"jupyter_usage \S+ OK", server), server
    lab = run(venv / "bin" / "jupyter", "labextension", "list", cwd=tmp_path, env=env)
    assert re.search(r"jupyter-usage v\S+ enabled\s+OK \(python, jupyter_usage\)", lab), lab
    service = run(
        venv / "bin" / "python", "-m", "jupyter_usage.hub", "--help", cwd=tmp_path, env=env
    )
    assert "Keeps the session history of every user of a JupyterHub" in service
