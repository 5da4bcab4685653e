"""Marked sections of a generated Markdown report, so that several benchmarks share one file.

A section is the text between `<!-- begin KEY -->` and `<!-- end KEY -->`; each benchmark
rewrites its own and leaves the rest of the file alone.
"""

from __future__ import annotations

from pathlib import Path


def markers(key: str) -> tuple[str, str]:
    if not key or "-->" in key or key != key.strip():
        raise ValueError(f"not a usable section key: {key!r}")
    return f"<!-- begin {key} -->", f"<!-- end {key} -->"


def replace_section(text: str, key: str, markdown: str) -> str:
    """`text` with section `key` holding `markdown`; appended when the markers are absent."""
    begin, end = markers(key)
    block = f"{begin}\n{markdown.strip()}\n{end}"
    start = text.find(begin)
    if start < 0:
        if end in text:
            raise ValueError(f"{end!r} without {begin!r}")
        head = text.rstrip("\n")
        return f"{head}\n\n{block}\n" if head else f"{block}\n"
    stop = text.find(end, start)
    if stop < 0:
        raise ValueError(f"{begin!r} without {end!r} after it")
    if text.find(begin, start + len(begin)) >= 0:
        raise ValueError(f"{begin!r} appears twice")
    return text[:start] + block + text[stop + len(end) :]


def write_section(path: Path, key: str, markdown: str) -> None:
    """Replace the text between `<!-- begin KEY -->` and `<!-- end KEY -->` in `path` (a
    missing file counts as empty), or append the marked block."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(replace_section(text, key, markdown), encoding="utf-8")
