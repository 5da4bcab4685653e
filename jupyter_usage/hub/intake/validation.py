"""Checks of what clients send the hub service: session reports and query parameters."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

from jupyter_usage.hub.db.schema import MAX_ID_LENGTH, MAX_NAME_LENGTH
from jupyter_usage.hub.db.storage import SessionInput
from jupyter_usage.hub.periods import DAY_SECONDS
from jupyter_usage.records import LIMITS_KEY, RATES_KEY, SessionRecord

MAX_BODY_BYTES = 1024 * 1024


class BadRequest(ValueError):
    """What the client sent is wrong; the message says how, and is shown to it."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"numbers must be finite, got {text[:40]}")
    return value


def _no_constant(name: str) -> Any:
    raise BadRequest(f"numbers must be finite, got {name}")


_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json_object(body: bytes, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object with finite numbers only."""
    if len(body) > max_bytes:
        raise BadRequest(f"the body is larger than {max_bytes} bytes")
    try:
        value = json.loads(body, parse_float=_finite_float, parse_constant=_no_constant)
    except BadRequest:
        raise
    except (ValueError, RecursionError) as error:
        raise BadRequest(f"the body is not valid JSON: {str(error)[:200]}") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    if not _MAYBE_SURROGATE.search(body):
        return value  # UTF-8 cannot hold a surrogate; only a \uD800-\uDFFF escape can
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # JSON lets "\ud800" through; no database column, and no UTF-8 answer, holds it.
        raise BadRequest(
            "the body must be valid Unicode: it holds a lone surrogate (\\ud800 to \\udfff)"
        ) from None
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    return value


def _number(body: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"'{name}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"'{name}' must be a number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an integer of hundreds of digits
        value = math.inf
    if not math.isfinite(value) or value < 0:
        raise BadRequest(f"'{name}' must be a finite, non-negative number")
    return value


def _text(body: dict[str, Any], name: str, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise BadRequest(f"'{name}' must be at most {max_length} characters")
    if any(ord(ch) < 32 for ch in value):
        raise BadRequest(f"'{name}' must not contain control characters")
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"'{name}' must be an object, got {type(value).__name__}")
    return value


def session_record(body: dict[str, Any]) -> SessionRecord:
    """A session report checked against the one record shape (`records.SessionRecord`),
    the shape the single-user store keeps and the uploader sends."""
    session_id = _text(body, "id", MAX_ID_LENGTH)
    if not session_id:
        raise BadRequest("'id' is required and must be a non-empty string")
    started = _number(body, "started", required=True)
    ended = _number(body, "ended", required=False)
    if started is not None and ended is not None and ended < started:
        raise BadRequest("'ended' must not be before 'started'")
    cost = _object(body, "cost")
    if cost is not None:
        _number(cost, "total", required=False)
        _text(cost, "currency", 16)
    meta = _object(body, "meta") or {}
    for fact in (RATES_KEY, LIMITS_KEY):
        # The facts a past session is summarised with: objects, or absent.
        _object(meta, fact)
    record = SessionRecord(
        id=session_id,
        server_name=_text(body, "server_name", MAX_NAME_LENGTH),
        started=started,
        ended=ended,
        ended_by=_text(body, "ended_by", 64),
        last_checkpoint=_number(body, "last_checkpoint", required=False),
        totals=_object(body, "totals") or {},
        meta=meta,
        summary=_object(body, "summary"),
    )
    if cost is not None:
        record["cost"] = cost
    return record


def parse_session(body: dict[str, Any]) -> SessionInput:
    """A session report as the single-user store returns it, checked and ready to store."""
    record = session_record(body)
    started = record["started"]
    assert started is not None  # required by session_record
    # Only the service marks a session as known from the hub alone (see hub_sessions).
    meta = {key: value for key, value in record["meta"].items() if key != "source"}
    profile = meta.get("profile")
    return SessionInput(
        session_id=record["id"],
        server_name=record["server_name"] or "",
        started=started,
        ended=record["ended"],
        last_checkpoint=record["last_checkpoint"],
        ended_by=record["ended_by"],
        totals=record["totals"],
        cost=record.get("cost"),
        summary=record["summary"],
        meta=meta,
        profile=profile[:MAX_NAME_LENGTH] if isinstance(profile, str) and profile else None,
    )


def claimed_groups(body: dict[str, Any]) -> list[str]:
    """The groups the server reported in `meta.groups` (used when the hub did not say)."""
    meta = body.get("meta")
    groups = meta.get("groups") if isinstance(meta, dict) else None
    if not isinstance(groups, list):
        return []
    return sorted({g for g in groups if isinstance(g, str) and 0 < len(g) <= MAX_NAME_LENGTH})


def parse_time(name: str, raw: str | None, *, end_of_day: bool = False) -> float | None:
    """A query time: unix seconds, or an ISO 8601 date or date-time (UTC unless it says).

    A date alone means its midnight, or with `end_of_day` the next midnight, so that
    `until=2026-11-30` includes the whole 30th.
    """
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(
                f"'{name}' must be unix seconds or an ISO 8601 date, got {raw[:40]!r}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = moment.timestamp()
        date_only = len(raw) == 10
        return seconds + DAY_SECONDS if date_only and end_of_day else seconds
    if not math.isfinite(value) or value < 0:
        raise BadRequest(f"'{name}' must be a finite, non-negative number of seconds")
    return value
