"""The docs that are generated from the code are up to date."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("jupyterlab-translate", path=str(Path(sys.executable).parent)) is None,
    reason="jupyterlab-translate (the lint extra) is not installed",
)
def test_translation_template_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "translations.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_template_has_the_ui_and_the_server_sentences() -> None:
    template = (ROOT / "jupyter_usage" / "locale" / "jupyter_usage.pot").read_text()
    # One msgid for a code, whether the UI or the server says it.
    for msgid in (
        "Your kernel in %1 was stopped: the server ran out of memory at %2.",
        "Open Usage",
        "Not again this session",
    ):
        assert f'msgid "{msgid}"' in template
    assert "jupyter_usage/oom.py" in template
    assert 'msgctxt "settings"' in template  # the Settings editor's words
