"""`make lab`: a store of its own that starts empty, and no reinstall when nothing changed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.server_process import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    shutil.which("make") is None or not (ROOT / ".venv" / ".built").exists(),
    reason="needs make and a checkout installed with `make install`",
)
def test_make_install_does_nothing_when_nothing_changed() -> None:
    def plan(*args: str) -> str:
        result = subprocess.run(
            ["make", "-n", "install", *args], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return result.stdout

    # Up to date (the stamps are newer than everything they depend on)...
    current = subprocess.run(
        ["make", "-q", ".venv/.installed", ".venv/.built"], cwd=ROOT, check=False
    )
    if current.returncode != 0:
        pytest.skip("the checkout changed since the last `make install`")
    quiet = plan()
    assert "pip install" not in quiet
    assert "jlpm build" not in quiet
    # ...a changed source file rebuilds the frontend only, a changed pyproject reinstalls.
    frontend = plan("-W", "src/index.ts")
    assert "jlpm build" in frontend
    assert "pip install" not in frontend
    assert "pip install" in plan("-W", "pyproject.toml")


def _get(url: str, token: str) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_the_demo_starts_with_an_empty_store_of_its_own(tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    (data / "usage").mkdir(parents=True)
    (data / "usage" / "sessions.sqlite").write_text("an earlier demo's store")
    port, token = free_port(), "demo-test-token"
    env = {**os.environ, "DEMO_HOME": str(home), "DEMO_DATA": str(data), "DEMO_TOKEN": token}
    process = subprocess.Popen(
        ["bash", str(ROOT / "demo" / "start.sh"), str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/usage/v1"
        deadline = time.monotonic() + 90
        while True:
            try:
                config = _get(f"{url}/config", token)
                break
            except (OSError, urllib.error.URLError):
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the demo did not start"
                time.sleep(0.5)
        assert isinstance(config, dict)
        assert str(data / "usage") in config["store"]["status"]
        sessions = _get(f"{url}/sessions", token)
        assert isinstance(sessions, dict)
        assert all(s["ended"] is None for s in sessions["sessions"])
        assert (home / "usage-demo.ipynb").is_file()
        assert (data / "workspaces").is_dir()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # The hints are about what is there: the panel's icon, the status bar, the history.
    assert "right sidebar" in output
    assert "History: empty" in output
