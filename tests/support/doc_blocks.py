"""The configuration blocks of the docs, as the tests run them.

Every `jupyterhub_config.py`, `jupyter_server_config` and Helm-values block of the docs
that an admin copies is either run by a test as written, or says it is an illustration.
The Markdown says which, on the line before the block's fence (a comment, so readers do
not see it):

    <!-- tested: NAME -->          run by tests/integration/test_doc_configs.py as NAME
    <!-- illustration: WHY -->     shown only (an older JupyterHub, a placeholder hook, …)

A test takes a block by its name and changes only what cannot be the same on the test
machine (ports, paths, secrets), through `substitute`, which fails when what it replaces
is no longer in the block, so the substitution list in the test stays the truth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/hub.md", "docs/admins.md")
"""The pages an admin follows to set up a hub."""

_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(tested|illustration):\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    """The fence's line, 1-based."""
    language: str
    text: str
    marker: str | None
    """"tested" or "illustration"; None when the block is not marked."""
    name: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def is_config(self) -> bool:
        """A block an admin copies into a hub's, a server's or the chart's configuration."""
        if self.language == "python":
            return re.search(r"^c\.\w+", self.text, re.MULTILINE) is not None
        if self.language == "yaml":
            return re.search(r"^(hub|singleuser|proxy):", self.text, re.MULTILINE) is not None
        return False


def blocks(page: str) -> Iterator[Block]:
    """The fenced blocks of `page` (a path from the repository's root, or absolute)."""
    lines = (ROOT / page).read_text().splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None or not fence.group(2):
            index += 1
            continue
        indent, language = fence.group(1), fence.group(2)
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(line[len(indent) :] for line in lines[index + 1 : end]) + "\n"
        marker = _MARKER.match(lines[index - 1]) if index > 0 else None
        yield Block(
            page=page,
            line=index + 1,
            language=language,
            text=body,
            marker=marker.group(1) if marker else None,
            name=marker.group(2) if marker else "",
        )
        index = end + 1


def all_blocks() -> list[Block]:
    return [block for page in DOCS for block in blocks(page)]


def doc_block(name: str) -> Block:
    """The block the docs mark `<!-- tested: name -->`: exactly one."""
    found = [b for b in all_blocks() if b.marker == "tested" and b.name == name]
    assert len(found) == 1, f"{len(found)} blocks of the docs are marked 'tested: {name}'"
    return found[0]


def substitute(block: Block, substitutions: Mapping[str, str]) -> str:
    """The block's text with each key replaced by its value (every occurrence); each key
    must occur, so a doc that changes fails here rather than runs something else."""
    text = block.text
    for old, new in substitutions.items():
        assert old in text, f"{old!r} is no longer in the block at {block.where}"
        text = text.replace(old, new)
    return text
