"""`python -m jupyter_usage.hub import-events --db-url URL FILE …`

Reads JupyterHub's `server-action` event logs (JSON lines, as the hub's `EventLogger`
writes them), infers server sessions from their start/stop pairs and stores those the
database does not know yet, merged with the extension's reports and the hub poll's
sessions. Running it twice changes nothing. Bad lines are reported with their file and
line and skipped; they never stop the import.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from jupyter_usage.hub.db.storage import UsageDB

from .hub_sessions import HubSessions
from .server_events import SCHEMA, infer_sessions, read_events

DEFAULT_DB_URL = "sqlite:///jupyter_usage_hub.sqlite"
MAX_LISTED = 20


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="python -m jupyter_usage.hub import-events",
        description=f"Import server sessions from JupyterHub's {SCHEMA} events.",
    )
    command.add_argument(
        "--db-url",
        default=os.environ.get("JUPYTER_USAGE_HUB_DB_URL", DEFAULT_DB_URL),
        help="the service's database (default: $JUPYTER_USAGE_HUB_DB_URL, else %(default)s)",
    )
    command.add_argument("files", nargs="+", metavar="FILE", help="JSON-lines event logs")
    return command


def main(argv: Sequence[str] | None = None, err: TextIO = sys.stderr) -> int:
    args = parser().parse_args(argv)
    read = read_events(args.files)
    inferred = infer_sessions(read.actions)
    print(
        f"{len(read.actions)} server events read; skipped: {read.other_schemas} lines of "
        f"other events, {len(read.problems)} bad lines",
        file=err,
    )
    for problem in read.problems[:MAX_LISTED]:
        print(f"  skipped {problem}", file=err)
    _more(len(read.problems), err)
    for stop in inferred.unmatched_stops[:MAX_LISTED]:
        print(
            f"  {stop.file}:{stop.line}: a stop of {stop.user}/{stop.server_name} without "
            "a start before it: no session made",
            file=err,
        )
    _more(len(inferred.unmatched_stops), err)

    db = UsageDB(args.db_url)
    try:
        db.upgrade()
        result = HubSessions(db).import_sessions(inferred.sessions)
    finally:
        db.close()
    print(
        f"{len(inferred.sessions)} sessions inferred: {result.created} new, "
        f"{result.updated} updated, {result.unchanged} already there, {result.merged} "
        f"known from the extension or the hub poll",
        file=err,
    )
    flags = [flag for session in inferred.sessions for flag in session.flags]
    if flags:
        print(
            f"flagged: {flags.count('no-stop')} without a stop (closed at the server's next "
            f"start), {flags.count('running')} still running (no stop yet)",
            file=err,
        )
    return 0


def _more(count: int, err: TextIO) -> None:
    if count > MAX_LISTED:
        print(f"  … and {count - MAX_LISTED} more", file=err)
