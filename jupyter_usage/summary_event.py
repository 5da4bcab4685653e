"""The `session-summary` event emitted through jupyter_events when a session ends, so
that an admin's event sink (a file, a log pipeline) gets every session without a hub."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .session import SessionRecorder

EVENT_SCHEMA = Path(__file__).parent / "events" / "session-summary.yaml"
EVENT_SCHEMA_ID = "https://jupyter-usage.org/events/session-summary"

_SUMMARY_FIELDS = ("duration_seconds", "idle_seconds", "resource_hours", "peaks", "cost", "advice")


def summary_event(recorder: SessionRecorder, summary: dict[str, Any]) -> dict[str, Any]:
    """The event's data: the summary's figures and who ran the session, when."""
    return {
        **{key: summary.get(key) for key in _SUMMARY_FIELDS},
        "session_id": recorder.id,
        "user": recorder.user,
        "server_name": recorder.server_name,
        "started": recorder.started,
        "ended": summary.get("ended"),
        "ended_by": "stop",
    }


def emit_summary(
    event_logger: Any, recorder: SessionRecorder, summary: dict[str, Any], log: logging.Logger
) -> None:
    """Emit the ended session's summary; a failing sink is logged and stops nothing."""
    try:
        event_logger.emit(schema_id=EVENT_SCHEMA_ID, data=summary_event(recorder, summary))
    except Exception:
        log.exception("jupyter_usage: could not emit the session summary event")
