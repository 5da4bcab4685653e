"""Fuzzing the hub history service's session reports in a real JupyterHub (issue 7).

Hypothesis draws POST bodies that break the session schema of
`jupyter_usage.hub.intake.validation` (one wrong field in an otherwise valid report, values
of the wrong type, out of range, too long, with control characters or lone surrogates,
JSON that is no object), bytes that are no JSON or no UTF-8, and bodies over the size
limit. Each must get a 4xx with a JSON message from the service, sent with a real user's
token through the hub's auth, and leave the stored sessions exactly as they were.

``JUPYTER_USAGE_FUZZ_EXAMPLES`` raises the number of bodies drawn above the default.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.hub_process import SERVICE_PREFIX, Hub, shared_hub
from support.reliability_log import record

from jupyter_usage.hub.db.schema import MAX_ID_LENGTH, MAX_NAME_LENGTH
from jupyter_usage.hub.intake.validation import MAX_BODY_BYTES

DEFAULT_EXAMPLES = 250
EXAMPLES = max(DEFAULT_EXAMPLES, int(os.environ.get("JUPYTER_USAGE_FUZZ_EXAMPLES") or 0))
# What the tornado server itself refuses, before the service reads the body.
SERVER_LIMIT = 2 * MAX_BODY_BYTES
USER = "eve"  # no test reads eve's sessions; none of these may land anyway
T0 = 1_000_000.0  # January 1970: out of every report window


@pytest.fixture(scope="module")
def hub(request: pytest.FixtureRequest) -> Hub:
    return shared_hub(request)


def valid_report() -> dict[str, Any]:
    """A report the service stores, to be broken one field at a time."""
    return {
        "id": f"fuzz-{uuid.uuid4().hex}",
        "started": T0,
        "ended": T0 + 60,
        "last_checkpoint": T0 + 30,
        "ended_by": "stop",
        "server_name": "",
        "totals": {"cpu_core_seconds": 1.5, "duration_seconds": 60},
        "cost": {"currency": "USD", "total": 0.01},
        "summary": {"advice": []},
        "meta": {"groups": ["physics"], "profile": "small"},
    }


# -- what breaks the schema --------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
# None means "not given": fine for every field but the required ones.
NOT_A_NUMBER = JSON_VALUES.filter(
    lambda v: v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)))
)
NOT_A_STRING = JSON_VALUES.filter(lambda v: v is not None and not isinstance(v, str))
NOT_AN_OBJECT = JSON_VALUES.filter(lambda v: v is not None and not isinstance(v, dict))
NEGATIVE = st.one_of(
    st.floats(max_value=-1e-9, allow_infinity=False),
    st.integers(max_value=-1),
)
HUGE_INTEGER = st.integers(min_value=10**309, max_value=10**400)  # over a float's range
CONTROL = st.characters(max_codepoint=31)
LONE_SURROGATE = st.characters(categories=["Cs"])


def text_with(chars: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Text holding at least one of `chars`."""
    return st.tuples(st.text(max_size=5), chars, st.text(max_size=5)).map("".join)


def too_long(limit: int) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(1, 50), st.characters(min_codepoint=32)).map(
        lambda t: t[1] * (limit + t[0])
    )


BAD_NUMBER = st.one_of(NOT_A_NUMBER, NEGATIVE, HUGE_INTEGER)
DELETE = object()
"""Marks a required field to leave out."""

# field -> what it must not be (in a report that is otherwise valid)
BREAKING: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(
        st.just(DELETE),
        st.just(None),
        st.just(""),
        NOT_A_STRING,
        too_long(MAX_ID_LENGTH),
        text_with(CONTROL),
        text_with(LONE_SURROGATE),
    ),
    "started": st.one_of(st.just(DELETE), st.just(None), BAD_NUMBER),
    "ended": st.one_of(BAD_NUMBER, st.floats(0, T0 - 1e-3)),  # or before `started`
    "last_checkpoint": BAD_NUMBER,
    "server_name": st.one_of(
        NOT_A_STRING, too_long(MAX_NAME_LENGTH), text_with(CONTROL), text_with(LONE_SURROGATE)
    ),
    "ended_by": st.one_of(NOT_A_STRING, too_long(64), text_with(CONTROL)),
    "totals": NOT_AN_OBJECT,
    "cost": st.one_of(
        NOT_AN_OBJECT,
        BAD_NUMBER.map(lambda v: {"currency": "USD", "total": v}),
        st.one_of(NOT_A_STRING, too_long(16), text_with(CONTROL)).map(
            lambda v: {"currency": v, "total": 1.0}
        ),
    ),
    "summary": st.one_of(NOT_AN_OBJECT, text_with(LONE_SURROGATE).map(lambda v: {"advice": [v]})),
    "meta": st.one_of(
        NOT_AN_OBJECT,
        text_with(LONE_SURROGATE).map(lambda v: {"profile": v}),
        text_with(LONE_SURROGATE).map(lambda v: {v: 1}),
    ),
}


def encode(report: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as the "\\udxxx" escapes JSON allows.
    return json.dumps(report).encode()


@st.composite
def broken_reports(draw: st.DrawFn) -> bytes:
    """A valid report with one to three fields broken."""
    report = valid_report()
    fields = draw(st.lists(st.sampled_from(sorted(BREAKING)), min_size=1, max_size=3, unique=True))
    for name in fields:
        value = draw(BREAKING[name])
        if value is DELETE:
            report.pop(name, None)
        else:
            report[name] = value
    return encode(report)


RAW = st.sampled_from(
    [
        b"",
        b"null",
        b"[]",
        b'"a session"',
        b"{",
        b'{"id": "a", "started": NaN}',
        b'{"id": "a", "started": Infinity}',
        b'{"id": "a", "started": -Infinity}',
        b'{"id": "a", "started": 1e400}',
        b'{"id": "a", "started": 1' + b"0" * 400 + b"}",
        b'{"id": "\\ud800", "started": 1}',
        b'{"id": "a", "started": 1, "meta": {"\\udfff": 1}}',
        b'{"id": "\xff", "started": 1}',
        b'\xef\xbb\xbf{"id": "a", "started": 1, "ended": 0}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
    ]
)


def not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return True
    return False


def oversized(extra: int) -> bytes:
    """A valid report, but over the service's limit (read, then refused by the service)."""
    size = MAX_BODY_BYTES + extra
    report = valid_report()
    report["summary"] = {"pad": ""}
    pad = size - len(encode(report))
    report["summary"]["pad"] = "x" * pad
    raw = encode(report)
    assert len(raw) == size
    return raw


class Body(bytes):
    """Bytes with a short repr: hypothesis prints every example it reports."""

    def __repr__(self) -> str:
        return f"Body({bytes(self[:300])!r}, {len(self)} bytes)"


BODIES = st.one_of(
    broken_reports(),
    broken_reports(),
    broken_reports(),
    NOT_AN_OBJECT.map(encode),
    st.binary(max_size=300).filter(not_json),
    RAW,
    st.integers(1, SERVER_LIMIT - MAX_BODY_BYTES).map(oversized),
).map(Body)


class Declared(int):
    """A body over the HTTP server's limit: it answers on the Content-Length, before the
    body, and resets the connection if the body comes anyway, so only the headers go."""

    def __repr__(self) -> str:
        return f"Declared({int(self)} bytes)"


DECLARED = st.integers(SERVER_LIMIT + 1, 1 << 34).map(Declared)


# -- the test ------------------------------------------------------------------------


def post(hub: Hub, raw: bytes | Declared) -> tuple[int, bytes]:
    if isinstance(raw, Declared):
        status, body = _declare(hub, raw)
    else:
        answer = hub.api(
            "POST", "sessions", USER, raw=raw, headers={"Content-Type": "application/json"}
        )
        status, body = answer.status, answer.body
    record("requests")
    if status >= 500:
        record("responses_5xx", detail=f"{status} for {raw!r}"[:300])
    return status, body


def _declare(hub: Hub, size: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", hub.service_port, timeout=30)
    try:
        connection.putrequest("POST", f"{SERVICE_PREFIX}api/v1/sessions")
        connection.putheader("Authorization", f"token {hub.tokens[USER]}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_malformed_and_oversized_reports_are_refused_and_change_nothing(hub: Hub) -> None:
    before = hub.stored_rows()
    seen: dict[str, int] = {"bodies": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(raw=st.one_of(BODIES, DECLARED))
    def refused(raw: Body | Declared) -> None:
        status, body = post(hub, raw)
        seen["bodies"] += 1
        assert status < 500, (status, raw, body[:300])
        assert status == 400, (status, raw, body[:300])
        record("bodies_rejected")
        if isinstance(raw, Body):  # (the HTTP server's own 400 has no body)
            message = json.loads(body)["message"]
            assert isinstance(message, str), body
            assert message, body
        assert hub.stored_rows() == before, f"stored after {status}: {raw!r}"

    refused()
    assert seen["bodies"] >= DEFAULT_EXAMPLES * 0.8, seen

    # The comparison sees a write: the valid report the broken ones came from is stored.
    report = valid_report()
    status, body = post(hub, encode(report))
    assert status == 201, body
    after = hub.stored_rows()
    assert len(after) == len(before) + 1
    assert report["id"] in {value for row in after for value in row}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # Found by fuzzing: each was a 500 before the service checked for it.
        (b'{"id": "a", "started": 1' + b"0" * 400 + b"}", "finite, non-negative"),
        (b'{"id": "a", "started": 1, "cost": {"total": 1' + b"0" * 400 + b"}}", "finite"),
        (b'{"id": "a\\ud800", "started": 1}', "lone surrogate"),
        (b'{"id": "a", "started": 1, "meta": {"profile": "\\udc00"}}', "lone surrogate"),
        (b'{"id": "a", "started": 1, "summary": {"\\udfff": 1}}', "lone surrogate"),
    ],
)
def test_regressions_found_by_fuzzing(hub: Hub, raw: bytes, message: str) -> None:
    before = hub.stored_rows()
    status, body = post(hub, raw)
    assert status == 400, body
    assert message in json.loads(body)["message"]
    record("bodies_rejected")
    assert hub.stored_rows() == before


# -- budget queries ------------------------------------------------------------------------

BUDGET_USERS = st.one_of(
    st.text(max_size=40),
    text_with(CONTROL),
    too_long(MAX_NAME_LENGTH),
    st.sampled_from(["", "alice", "bob", "nobody-at-all", "%00", "a/b", "ada?x=1"]),
)


def test_budget_queries_answer_json_and_never_fail(hub: Hub) -> None:
    """`GET api/v1/budget?user=…` with any name: 200 for readers of all (400 for a name no
    user can have), 403 for another user's name, never a 5xx; the answer is JSON."""
    seen = {"queries": 0}

    @settings(
        max_examples=max(100, EXAMPLES // 2),
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(name=BUDGET_USERS, reader=st.sampled_from(["ada", "dana", USER]))
    def answered(name: str, reader: str) -> None:
        query = urllib.parse.urlencode({"user": name}, errors="surrogatepass")
        answer = hub.api("GET", f"budget?{query}", reader)
        seen["queries"] += 1
        record("requests")
        if answer.status >= 500:
            record("responses_5xx", detail=f"{answer.status} for budget user {name!r}"[:300])
        assert answer.status in (200, 400, 403), (answer.status, name, answer.body[:300])
        body = json.loads(answer.body)
        if answer.status == 200:
            assert body["user"] == name
            assert isinstance(body["budgets"], list)
            assert reader != USER or name == USER
        else:
            assert isinstance(body["message"], str)
            assert body["message"]

    answered()
    assert seen["queries"] >= 80
