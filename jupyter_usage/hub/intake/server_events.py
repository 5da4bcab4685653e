"""Sessions inferred from JupyterHub's own `server-action` events.

JupyterHub has emitted an event each time it started or stopped a server for years
(`c.JupyterHub.events_logger` / `EventLogger.handlers`, JSON lines), so a hub that installs
jupyter_usage late still has its history: each start is paired with the next stop of the
same server. What the events cannot say is said as a flag instead of guessed:

- a start followed by another start of the same server (the hub lost the stop: a node
  died, the hub was restarted) is closed at that next start and flagged `no-stop`;
- a stop without a start before it is reported, not turned into a session;
- the last start of a server with no stop after it is a session still running (or lost):
  it is kept open for the hub poller to close.

Plain Python, no I/O beyond reading the files given.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

SCHEMA = "https://schema.jupyter.org/jupyterhub/events/server-action"
Action = Literal["start", "stop"]


@dataclass(frozen=True)
class ServerAction:
    """One event: `action` on `user`'s server `server_name` at `time` (unix seconds)."""

    time: float
    action: Action
    user: str
    server_name: str
    file: str
    line: int


@dataclass(frozen=True)
class LineProblem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class InferredSession:
    """A server session as the hub's events show it: times only, no resource figures."""

    user: str
    server_name: str
    started: float
    ended: float | None
    """None while no stop (nor later start) of the server is known: still running or lost."""
    flags: tuple[str, ...] = ()

    @property
    def session_id(self) -> str:
        """The same id for the same start, so importing a file twice changes nothing."""
        return hub_session_id(self.user, self.server_name, self.started)


def hub_session_id(user: str, server_name: str, started: float) -> str:
    """The id of a session known from the hub only: stable for the same server start."""
    key = f"{user}\0{server_name}\0{started:.3f}".encode()
    return "hub-" + hashlib.sha256(key).hexdigest()[:24]


@dataclass
class EventsRead:
    """What reading event files found, for the importer's report."""

    actions: list[ServerAction] = field(default_factory=list)
    other_schemas: int = 0
    """Lines of other events (the same log often holds several schemas): skipped."""
    problems: list[LineProblem] = field(default_factory=list)
    """Malformed lines, reported with their file and line and skipped."""


@dataclass
class Inferred:
    sessions: list[InferredSession] = field(default_factory=list)
    unmatched_stops: list[ServerAction] = field(default_factory=list)


def read_events(paths: Iterable[str | Path]) -> EventsRead:
    """Every server-action event in the files, in file order; nothing else is fatal."""
    read = EventsRead()
    for path in paths:
        for number, text in _lines(Path(path), read):
            _read_line(str(path), number, text, read)
    return read


def infer_sessions(actions: Iterable[ServerAction]) -> Inferred:
    """Pair each start with the next stop of the same server (ordered by time)."""
    result = Inferred()
    open_starts: dict[tuple[str, str], ServerAction] = {}
    ordered = sorted(actions, key=lambda a: (a.time, a.action != "stop", a.file, a.line))
    for action in ordered:
        key = (action.user, action.server_name)
        start = open_starts.pop(key, None)
        if action.action == "start":
            if start is not None:
                result.sessions.append(_session(start, action.time, ("no-stop",)))
            open_starts[key] = action
        elif start is None:
            result.unmatched_stops.append(action)
        else:
            result.sessions.append(_session(start, action.time, ()))
    for start in open_starts.values():
        result.sessions.append(_session(start, None, ("running",)))
    result.sessions.sort(key=lambda s: (s.started, s.user, s.server_name))
    return result


def _session(start: ServerAction, ended: float | None, flags: tuple[str, ...]) -> InferredSession:
    return InferredSession(start.user, start.server_name, start.time, ended, flags)


def _lines(path: Path, read: EventsRead) -> Iterator[tuple[int, str]]:
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError:
                    read.problems.append(LineProblem(str(path), number, "not UTF-8"))
    except OSError as error:
        read.problems.append(LineProblem(str(path), 0, f"cannot read: {error.strerror}"))


def _read_line(file: str, number: int, text: str, read: EventsRead) -> None:
    if not text.strip():
        return
    try:
        event = json.loads(text)
    except json.JSONDecodeError as error:
        read.problems.append(LineProblem(file, number, f"not JSON ({error.msg})"))
        return
    except (ValueError, RecursionError):
        read.problems.append(LineProblem(file, number, "not JSON"))
        return
    if not isinstance(event, dict):
        read.problems.append(LineProblem(file, number, "not a JSON object"))
        return
    if event.get("__schema__") != SCHEMA:
        read.other_schemas += 1
        return
    problem = _check(event)
    if problem:
        read.problems.append(LineProblem(file, number, problem))
        return
    read.actions.append(
        ServerAction(
            time=_timestamp(event["__timestamp__"]),
            action=event["action"],
            user=event["username"],
            server_name=event["servername"],
            file=file,
            line=number,
        )
    )


def _check(event: dict[str, Any]) -> str | None:
    if event.get("action") not in ("start", "stop"):
        return f"action must be start or stop, not {event.get('action')!r}"
    for name in ("username", "servername"):
        if not isinstance(event.get(name), str):
            return f"{name} must be a string"
    if not event["username"]:
        return "username is empty"
    stamp = event.get("__timestamp__")
    if not isinstance(stamp, str):
        return "__timestamp__ missing"
    try:
        _timestamp(stamp)
    except ValueError:
        return f"__timestamp__ is not an ISO 8601 time: {stamp[:40]!r}"
    return None


def _timestamp(text: str) -> float:
    # jupyter_events writes "2026-05-01T09:30:00.123456+00:00Z" (an offset and a "Z"),
    # older hubs' telemetry "...Z" alone; Python 3.10's fromisoformat takes neither "Z".
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
        if not _has_offset(text):
            text += "+00:00"
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # the hub logs UTC
    stamp = value.timestamp()
    if not math.isfinite(stamp):
        raise ValueError(text)
    return stamp


def _has_offset(text: str) -> bool:
    clock = text.partition("T")[2]
    return "+" in clock or "-" in clock
