"""`python -m jupyter_usage.hub [import|export] …`; without a subcommand, the service."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .db.storage import UsageDB
from .intake.jsonl import export_sessions, import_files

COMMANDS = ("import", "export")


def _db_url(value: str | None) -> str:
    return (
        value or os.environ.get("JUPYTER_USAGE_HUB_DB_URL") or "sqlite:///jupyter_usage_hub.sqlite"
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m jupyter_usage.hub")
    commands = top.add_subparsers(dest="command", required=True)
    imports = commands.add_parser(
        "import", help="add sessions from JSON-lines files (one session per line, plus 'user')"
    )
    exports = commands.add_parser("export", help="write every session as JSON lines to stdout")
    for command in (imports, exports):
        command.add_argument(
            "--db-url",
            help="SQLAlchemy URL of the database (default: $JUPYTER_USAGE_HUB_DB_URL, "
            "else sqlite:///jupyter_usage_hub.sqlite)",
        )
    imports.add_argument("files", nargs="+", type=Path, metavar="FILE.jsonl")
    return top


def main(argv: list[str]) -> int:
    """Run a subcommand; 0 when every line was imported, 1 when some were skipped."""
    args = parser().parse_args(argv)
    db = UsageDB(_db_url(args.db_url))
    try:
        if args.command == "import":
            missing = [str(path) for path in args.files if not path.is_file()]
            if missing:
                print(f"no such file: {', '.join(missing)}", file=sys.stderr)
                return 2
            return 1 if import_files(db, args.files).bad else 0
        db.upgrade()
        count = export_sessions(db, sys.stdout)
        print(f"{count} sessions exported", file=sys.stderr)
        return 0
    finally:
        db.close()
