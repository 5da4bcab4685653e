"""Every configuration block of the admin's docs is run by a test, or says it is not.

tests/integration/test_doc_configs.py runs the blocks marked `<!-- tested: NAME -->`;
this checks, without a hub, that no block an admin would copy is left unmarked, and that
each name the docs give is one that test runs (and the other way round).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from support.doc_blocks import ROOT, all_blocks, blocks

RUNNER = ROOT / "tests" / "integration" / "test_doc_configs.py"


def test_every_configuration_block_is_tested_or_an_illustration() -> None:
    configs = [block for block in all_blocks() if block.is_config]
    assert len(configs) >= 10
    unmarked = [block.where for block in configs if block.marker is None]
    assert unmarked == [], "mark each as <!-- tested: NAME --> or <!-- illustration: WHY -->"
    for block in configs:
        assert block.name, f"{block.where}: a marker needs a name or a reason"


def test_the_tested_names_are_the_ones_the_integration_test_runs() -> None:
    names = [block.name for block in all_blocks() if block.marker == "tested"]
    assert [name for name, count in Counter(names).items() if count > 1] == []
    runner = RUNNER.read_text()
    # Each name is in the runner (a doc_block call, or a parameter of one) …
    assert [name for name in names if f'"{name}"' not in runner] == []
    # … and each block the runner asks for by a literal name is in the docs.
    asked = set(re.findall(r'doc_block\(\s*"([\w-]+)"', runner))
    assert asked - set(names) == set()


def test_blocks_are_read_with_their_marker_indent_and_language(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text\n\n<!-- tested: one -->\n```python\nc.A.b = 1\n```\n\n"
        "- item\n\n  <!-- illustration: why not -->\n  ```yaml\n  hub:\n    x: 1\n  ```\n"
        "```sh\nc.A.b = 2\n```\n"
    )
    first, second, third = blocks(str(page))
    assert (first.marker, first.name, first.text, first.line) == (
        "tested",
        "one",
        "c.A.b = 1\n",
        4,
    )
    assert first.is_config
    assert (second.marker, second.name, second.text) == (
        "illustration",
        "why not",
        "hub:\n  x: 1\n",
    )
    assert second.is_config
    assert third.marker is None
    assert not third.is_config  # a shell block is not configuration
