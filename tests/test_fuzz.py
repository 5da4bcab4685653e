"""Schema-driven fuzzing of the REST API against a real `jupyter server` (issue 7).

Every path and operation of `jupyter_usage/openapi.yaml` gets requests drawn by hypothesis:
valid ones (parameter values and bodies from the document's schemas) and invalid ones
(arbitrary and malformed text, huge, non-finite and negative numbers, empty, unicode and
non-UTF-8 values, repeated and unknown parameters, garbage and oversized bodies). Every
answer must keep the contract: never a 5xx, only documented statuses, a JSON `message` with
every 4xx, and a 200 body that validates against the operation's response schema. Requests
that break a parameter's schema must get a 400.

``JUPYTER_USAGE_FUZZ_EXAMPLES`` raises the examples drawn per operation and kind (valid,
invalid) above the default.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import signal
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from support.api_contract import document
from support.reliability_log import record
from support.server_process import ServerProcess

from jupyter_usage.handlers import API_PREFIX

DEFAULT_EXAMPLES = 50
EXAMPLES = max(DEFAULT_EXAMPLES, int(os.environ.get("JUPYTER_USAGE_FUZZ_EXAMPLES") or 0))
"""Examples drawn per operation and kind; the environment may raise it, never lower it."""
MIN_REQUESTS = 1000

_URI = "urn:jupyter-usage:openapi-fuzz"
# What tornado does to a query argument before the handler sees it.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f]")


# -- the contract --------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    path: str  # as in the document: "/history"
    method: str  # "get", "post"
    parameters: dict[str, dict[str, Any]]  # query parameter name -> schema
    body_schema: dict[str, Any] | None
    statuses: frozenset[int]  # documented

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def response_schema(self, status: int) -> tuple[str, str] | None:
        """(content type, JSON pointer to the schema) of a documented response; None when
        the response has no body."""
        pointer = "/" + "/".join(
            _escape(part) for part in ("paths", self.path, self.method, "responses", str(status))
        )
        response = resolve(pointer)
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = resolve(pointer)
        content = response.get("content")
        if not content:
            return None
        ((content_type, _),) = content.items()
        return content_type, f"{pointer}/content/{_escape(content_type)}/schema"


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def resolve(pointer: str) -> Any:
    node: Any = document()
    for part in pointer.removeprefix("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations() -> list[Operation]:
    found = []
    for path, item in document()["paths"].items():
        for method, spec in item.items():
            parameters = {}
            for parameter in spec.get("parameters", []):
                assert parameter["in"] == "query", parameter
                parameters[parameter["name"]] = parameter["schema"]
            body = spec.get("requestBody", {}).get("content", {}).get("application/json")
            found.append(
                Operation(
                    path=path,
                    method=method,
                    parameters=parameters,
                    body_schema=body["schema"] if body else None,
                    statuses=frozenset(int(status) for status in spec["responses"]),
                )
            )
    return found


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(document(), DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return registry


def check_against_schema(body: Any, pointer: str) -> None:
    schema = {"$ref": f"{_URI}#{pointer}"}
    jsonschema.Draft202012Validator(schema, registry=_registry()).validate(body)


# -- requests ------------------------------------------------------------------------

Pair = tuple[bytes, bytes]


@dataclass(frozen=True)
class Call:
    """One generated request: query pairs (raw bytes, percent-encoded as they are) and body."""

    operation: Operation
    query: tuple[Pair, ...] = ()
    body: bytes | None = None

    def target(self) -> str:
        query = "&".join(
            urllib.parse.quote_from_bytes(name, safe="")
            + "="
            + urllib.parse.quote_from_bytes(value, safe="")
            for name, value in self.query
        )
        return f"{API_PREFIX}{self.operation.path}" + (f"?{query}" if query else "")

    def __repr__(self) -> str:
        body = None if self.body is None else self.body[:300]
        size = "" if self.body is None else f" ({len(self.body)} bytes)"
        return f"Call({self.operation.name} {self.target()[:500]!r} body={body!r}{size})"


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes


@dataclass
class Client:
    """A keep-alive HTTP client of the server, counting what it sends."""

    server: ServerProcess
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    _connection: http.client.HTTPConnection | None = None

    def send(self, call: Call, kind: str) -> Answer:
        headers = {"Authorization": f"token {self.server.token}"}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection("127.0.0.1", self.server.port, 30)
            try:
                self._connection.request(
                    call.operation.method.upper(), call.target(), call.body, headers
                )
                response = self._connection.getresponse()
                answer = Answer(response.status, response.headers, response.read())
            except (http.client.HTTPException, ConnectionError):
                # The server closed a kept-alive connection; once more on a new one.
                self.close()
                if attempt:
                    raise
                continue
            if response.will_close:
                self.close()
            break
        record("requests")
        self.sent[call.operation.name] += 1
        self.statuses[(call.operation.name, kind, answer.status)] += 1
        return answer

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# -- what the server must answer -------------------------------------------------------


def _cleaned(raw: bytes) -> str | None:
    """The value a handler sees for `raw` (None: tornado refuses it as bad UTF-8)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return _CONTROL_CHARS.sub(" ", text).strip()


def _breaks(schema: dict[str, Any], value: str) -> str | None:
    """Why `value` (as the handler sees it) breaks a parameter's schema, if it surely does."""
    if "enum" in schema:
        return None if value in schema["enum"] else f"not one of {schema['enum']}"
    kind = schema.get("type")
    if kind not in ("number", "integer") or value == "":  # empty: the default
        return None
    number: float
    try:
        number = int(value) if kind == "integer" else float(value)
    except ValueError:
        return f"not a {kind}"
    if isinstance(number, float) and not math.isfinite(number):
        return "not finite"
    if "minimum" in schema and number < schema["minimum"]:
        return "below the minimum"
    if "exclusiveMinimum" in schema and number <= schema["exclusiveMinimum"]:
        return "not above the exclusive minimum"
    if "maximum" in schema and number > schema["maximum"]:
        return "above the maximum"
    return None


def must_refuse(call: Call) -> str | None:
    """Why the call must get a 400 (None: the schema alone does not decide)."""
    known = call.operation.parameters
    if call.operation.method != "get":
        return None
    for raw_name, raw_value in call.query:
        name = raw_name.decode("latin-1")  # how tornado names query arguments
        if name not in known and not (name.isdigit() and raw_value == b""):
            return f"unknown parameter {name!r}"
    for name, schema in known.items():
        values = [value for n, value in call.query if n == name.encode()]
        cleaned = [_cleaned(value) for value in values]
        if None in cleaned:
            return f"{name} is not UTF-8"
        if cleaned:
            last = cleaned[-1]  # tornado's get_query_argument takes the last one
            assert last is not None
            reason = _breaks(schema, last)
            if reason:
                return f"{name}={last[:40]!r}: {reason}"
    return None


def body_must_succeed(call: Call) -> bool:
    """A body that follows the request schema: UTF-8 JSON, an object with a session id."""
    assert call.body is not None
    try:
        value = json.loads(call.body.decode("utf-8"))
        session = value["session"]
        session.encode("utf-8")  # no lone surrogates
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return False
    return isinstance(session, str) and session != ""


def check_answer(call: Call, answer: Answer) -> None:
    """The contract every answer keeps, and a 400 for what breaks the schema."""
    operation = call.operation
    if answer.status >= 500:
        record("responses_5xx", detail=f"{answer.status} {call!r}"[:500])
    assert answer.status < 500, f"{answer.status} for {call!r}: {answer.body[:500]!r}"
    # We always send the token: a 403 would be a bug too.
    allowed = operation.statuses - {403}
    assert answer.status in allowed, f"undocumented {answer.status} for {call!r}: {answer.body!r}"
    content_type = (answer.headers.get("Content-Type") or "").split(";")[0].strip()
    documented = operation.response_schema(answer.status)
    if documented is None:
        assert answer.body == b"", f"{answer.status} with a body for {call!r}"
    else:
        expected_type, pointer = documented
        assert content_type == expected_type, (content_type, call)
        if expected_type == "application/json":
            body = json.loads(answer.body)
            check_against_schema(body, pointer)
            if 400 <= answer.status < 500:
                assert isinstance(body.get("message"), str), body
                assert body["message"].strip(), body
        else:
            answer.body.decode("utf-8")  # text/plain and text/csv are text
    reason = must_refuse(call)
    if reason is not None:
        assert answer.status == 400, f"{answer.status}, not 400, for {call!r} ({reason})"
    if call.body is not None:
        expected = 204 if body_must_succeed(call) else 400
        assert answer.status == expected, f"{answer.status} for {call!r}: {answer.body[:300]!r}"


# -- strategies ----------------------------------------------------------------------

NOW = time.time()

# Values a server meets in practice, besides the whole of what the schema allows.
REALISTIC: dict[str, st.SearchStrategy[Any]] = {
    "since": st.floats(NOW - 3 * 86400, NOW + 60),
    "until": st.floats(NOW - 3 * 86400, NOW + 3600),
    "before": st.floats(NOW - 86400, NOW + 86400),
    "step": st.floats(0.001, 86400),
    "limit": st.integers(1, 20),
}

NASTY_TEXT = [
    "",
    " ",
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "-Infinity",
    "1e309",
    "-1e309",
    "1e308",
    "1e-400",
    "-1",
    "-0",
    "-0.0",
    "0",
    "-1e-9",
    "9" * 5000,
    "1" + "0" * 400,
    "0x10",
    "1_000",
    "1,5",
    "1.5",
    "1.",
    ".",
    "e5",
    "١٢٣",  # Arabic-Indic digits
    "\uff11\uff12",  # full-width digits
    "²",
    "true",
    "false",
    "null",
    "[]",
    "{}",
    "\x00",
    "\x00\x00",
    "'",
    '"',
    "\\",
    "<script>alert(1)</script>",
    "../../../etc/passwd",
    "%00",
    "%ff",
    "\u202e",
    "\ufeff1",
    "😀",
    "a" * 10_000,
]

ANY_CHARACTER = st.characters(codec="utf-8")  # every code point UTF-8 can carry


def to_text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def nasty_values() -> st.SearchStrategy[bytes]:
    text = st.one_of(
        st.sampled_from(NASTY_TEXT),
        st.text(ANY_CHARACTER, max_size=40),
        st.integers().map(str),
        st.integers(min_value=-(10**400), max_value=10**400).map(str),
        st.floats().map(repr),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.6g}"),
        st.decimals(allow_nan=True).map(str),
    )
    return st.one_of(text.map(lambda s: s.encode()), st.binary(max_size=12))


def valid_value(name: str, schema: dict[str, Any], known_ids: list[str]) -> st.SearchStrategy[str]:
    options: list[st.SearchStrategy[Any]] = [from_schema(schema)]
    if name in REALISTIC:
        options.append(REALISTIC[name])
    if name == "session" and known_ids:
        options.append(st.sampled_from(known_ids))
    return st.one_of(*options).map(to_text)


def object_from_schema(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that follow an object schema: its properties from their schemas, and more.

    hypothesis-jsonschema 0.23's own object strategy uses hypothesis internals that recent
    hypothesis releases no longer have; its strategies for the properties work.
    """
    assert schema.get("type") == "object", schema
    properties = {name: from_schema(sub) for name, sub in schema.get("properties", {}).items()}
    required = set(schema.get("required", ()))
    known = st.fixed_dictionaries(
        {name: s for name, s in properties.items() if name in required},
        optional={name: s for name, s in properties.items() if name not in required},
    )
    extra = st.dictionaries(
        st.text(max_size=10).filter(lambda key: key not in properties),
        from_schema({}),
        max_size=3,
    )
    return st.builds(lambda k, e: {**e, **k}, known, extra)


def valid_calls(operation: Operation, known_ids: list[str]) -> st.SearchStrategy[Call]:
    """Requests that follow the document (some may still be refused for other reasons)."""
    parameters = st.fixed_dictionaries(
        {},
        optional={
            name: valid_value(name, schema, known_ids)
            for name, schema in operation.parameters.items()
        },
    )
    # JupyterLab's `?<timestamp>` cache buster is not a parameter.
    cache_buster = st.one_of(st.just(()), st.integers(0, 2**53).map(lambda n: ((str(n), ""),)))

    def build(draw: st.DrawFn) -> Call:
        query = [(n.encode(), v.encode()) for n, v in draw(parameters).items()]
        query += [(n.encode(), v.encode()) for n, v in draw(cache_buster)]
        body = None
        if operation.body_schema is not None:
            schema_body = object_from_schema(operation.body_schema)
            if known_ids:
                schema_body = st.one_of(
                    schema_body, st.sampled_from(known_ids).map(lambda i: {"session": i})
                )
            body = json.dumps(draw(schema_body)).encode()
        return Call(operation, tuple(draw(st.permutations(query))), body)

    return st.composite(build)()


def invalid_calls(operation: Operation) -> st.SearchStrategy[Call]:
    """Requests with broken parameters (GET) or broken bodies (POST and the like)."""
    if operation.body_schema is not None:
        return garbage_bodies().map(lambda body: Call(operation, (), body))
    names = st.one_of(
        st.sampled_from(sorted(operation.parameters) or ["since"]).map(str.encode),
        st.sampled_from(["bogus", "SINCE", "since ", "limit[]", "", "_", "0", "1"]).map(str.encode),
        st.text(ANY_CHARACTER, min_size=1, max_size=12).map(str.encode),
        st.binary(min_size=1, max_size=6),
    )
    pairs = st.lists(st.tuples(names, nasty_values()), min_size=1, max_size=6)
    return pairs.map(lambda query: Call(operation, tuple(query)))


def garbage_bodies() -> st.SearchStrategy[bytes]:
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHARACTER),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=10,
    )
    wrong_sessions = st.one_of(
        json_values.filter(lambda v: not isinstance(v, str)),
        st.just(""),
        st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    )
    return st.one_of(
        st.binary(max_size=200),
        st.sampled_from(
            [
                b"",
                b"   ",
                b"null",
                b"{",
                b'{"session": NaN}',
                b'{"session": "\\ud800"}',
                b'{"session": "abc\\udfff"}',
                b'{"session": "\xff\xfe"}',
                b"\xff\xfe{}",
                b'\xef\xbb\xbf{"session": "a"}',  # a byte-order mark
                b"[" * 100_000 + b"]" * 100_000,
                b'{"session": ' * 5000 + b'"a"' + b"}" * 5000,
            ]
        ),
        json_values.map(lambda v: json.dumps(v).encode()),
        wrong_sessions.map(lambda v: json.dumps({"session": v}).encode()),
        st.dictionaries(st.text(max_size=8).filter(lambda k: k != "session"), json_values).map(
            lambda v: json.dumps(v).encode()
        ),
        # Oversized: well over a megabyte, as JSON or not.
        st.tuples(st.integers(1, 3), st.booleans()).map(
            lambda t: (
                (b'{"session": "' + b"x" * (t[0] << 20) + b'"}')
                if t[1]
                else b"\x00{" * (t[0] << 19)
            )
        ),
    )


# -- the server ----------------------------------------------------------------------


def _server(root: Path) -> ServerProcess:
    return ServerProcess(
        root,
        f"--UsageApp.data_dir={root / 'usage'}",
        "--UsageApp.sample_interval=0.2",
        "--UsageApp.checkpoint_interval=1",
        "--ServerApp.log_level=WARN",
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, list[str]]]:
    """A server whose store holds a past session (with a summary) besides the current one."""
    root = tmp_path_factory.mktemp("fuzz")
    first = _server(root).start()
    assert first.stop(signal.SIGTERM) == 0
    with _server(root) as second:
        known = [s["id"] for s in second.get("api/usage/v1/sessions")["sessions"]]
        assert len(known) == 2, known
        yield second, known


# -- the tests -----------------------------------------------------------------------


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


def test_every_operation_keeps_the_contract(server: tuple[ServerProcess, list[str]]) -> None:
    process, known_ids = server
    client = Client(process)
    covered = operations()
    assert {op.path for op in covered} == set(document()["paths"])
    try:
        for operation in covered:

            @fuzz_settings(EXAMPLES)
            @given(call=valid_calls(operation, known_ids))
            def valid(call: Call) -> None:
                assert must_refuse(call) is None, call  # the generator's own check
                check_answer(call, client.send(call, "valid"))

            @fuzz_settings(EXAMPLES * 2)
            @given(call=invalid_calls(operation))
            def invalid(call: Call) -> None:
                check_answer(call, client.send(call, "invalid"))

            valid()
            invalid()
    finally:
        client.close()
    assert process.process is not None
    assert process.process.poll() is None, f"the server died:\n{process.log()[-3000:]}"

    total = sum(client.sent.values())
    print(f"{total} requests:", dict(client.sent))
    assert total >= MIN_REQUESTS, dict(client.sent)
    for operation in covered:
        name = operation.name
        statuses = {
            (kind, status): n for (op, kind, status), n in client.statuses.items() if op == name
        }
        assert client.sent[name] >= 50, (name, statuses)
        # Valid requests do succeed, and broken ones are refused.
        success = 204 if operation.body_schema is not None else 200
        assert statuses.get(("valid", success), 0) > 0, (name, statuses)
        assert statuses.get(("invalid", 400), 0) > 0, (name, statuses)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        # Found by fuzzing: each was a 500 before the handler checked for it.
        (b"\x80", "JSON object in UTF-8"),
        (b'{"session": "\\ud800"}', "valid Unicode"),
    ],
)
def test_regressions_found_by_fuzzing(
    server: tuple[ServerProcess, list[str]], body: bytes, fragment: str
) -> None:
    (operation,) = (op for op in operations() if op.path == "/summary/seen")
    client = Client(server[0])
    call = Call(operation, (), body)
    try:
        answer = client.send(call, "regression")
    finally:
        client.close()
    check_answer(call, answer)
    assert answer.status == 400
    assert fragment in json.loads(answer.body)["message"]
