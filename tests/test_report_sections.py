"""benchmarks/report_sections.py: each benchmark rewrites only its own part of a report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from report_sections import replace_section, write_section


def test_a_missing_section_is_appended_after_the_text(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text("# Performance\n\nbody\n")
    write_section(path, "load", "## Load\n\nfigures\n")
    assert path.read_text() == (
        "# Performance\n\nbody\n\n<!-- begin load -->\n## Load\n\nfigures\n<!-- end load -->\n"
    )


def test_a_missing_file_gets_just_the_block(tmp_path: Path) -> None:
    path = tmp_path / "new.md"
    write_section(path, "load", "x")
    assert path.read_text() == "<!-- begin load -->\nx\n<!-- end load -->\n"


def test_the_section_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text(
        "head\n<!-- begin api -->\nold api\n<!-- end api -->\n"
        "middle\n<!-- begin load -->\nold load\n<!-- end load -->\ntail\n"
    )
    write_section(path, "load", "new load")
    write_section(path, "load", "newer load")  # a second run replaces, never duplicates
    assert path.read_text() == (
        "head\n<!-- begin api -->\nold api\n<!-- end api -->\n"
        "middle\n<!-- begin load -->\nnewer load\n<!-- end load -->\ntail\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        "<!-- begin load -->\nno end\n",
        "<!-- end load -->\nno begin\n",
        "<!-- begin load -->\na\n<!-- end load -->\n<!-- begin load -->\nb\n<!-- end load -->\n",
    ],
)
def test_broken_markers_are_an_error_not_a_second_copy(text: str) -> None:
    with pytest.raises(ValueError, match="load"):
        replace_section(text, "load", "x")


def test_a_key_that_would_break_the_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        replace_section("", "a -->", "x")
