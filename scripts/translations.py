"""Regenerate (or, with --check, verify) the translation template of the `jupyter_usage`
domain: jupyter_usage/locale/jupyter_usage.pot.

It is made by `jupyterlab-translate extract`, as JupyterLab makes the templates of its
own packages and of the language packs: every `trans.__`, `trans._n` and `trans._p` of
src/ and of the Python package, and the titles and descriptions of schema/ (the
Settings editor's words). Only those sources are handed to the extractor (a copy in a
temporary directory), so the virtual environment and node_modules are not scanned.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "jupyter_usage"
TEMPLATE = ROOT / DOMAIN / "locale" / f"{DOMAIN}.pot"


def _entries(text: str) -> str:
    """The template without its header dates, which change at every run."""
    return re.sub(r'^"POT-Creation-Date: .*\n', "", text, flags=re.MULTILINE)


def extract() -> str:
    with tempfile.TemporaryDirectory(prefix="jupyter-usage-i18n-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__tests__"))
        shutil.copytree(ROOT / "schema", work / "schema")
        shutil.copy(ROOT / "package.json", work / "package.json")
        shutil.copytree(
            ROOT / DOMAIN,
            work / DOMAIN,
            ignore=shutil.ignore_patterns("labextension", "locale", "__pycache__", "*.yaml"),
        )
        subprocess.run(
            [
                str(Path(sys.executable).parent / "jupyterlab-translate"),
                "extract",
                str(work),
                DOMAIN,
            ],
            check=True,
            capture_output=True,
        )
        pot = work / DOMAIN / "locale" / f"{DOMAIN}.pot"
        # Source references name the temporary copy: make them relative to the checkout.
        return pot.read_text(encoding="utf-8").replace(f"{work}/", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the template is stale")
    args = parser.parse_args()
    fresh = extract()
    if args.check:
        current = TEMPLATE.read_text(encoding="utf-8") if TEMPLATE.exists() else ""
        if _entries(current) != _entries(fresh):
            print(f"{TEMPLATE} is out of date: run python scripts/translations.py")
            return 1
        return 0
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
