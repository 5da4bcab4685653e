"""A hub API and the usage history service on loopback, with faults the test switches on.

A real HTTP server (the standard library's, in its own thread, so a hanging answer never
blocks the Jupyter server under test): `GET /hub/api/user`, `GET /hub/api/services/usage`
and `GET|POST /services/usage/api/v1/sessions`, each answering by its `mode`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["ok", "500", "403", "hang"]

USER = "/hub/api/user"
SERVICE = "/hub/api/services/usage"
SESSIONS = "/services/usage/api/v1/sessions"


@dataclass
class Seen:
    method: str
    path: str
    status: int | None
    """What the fake answered; None when the client hung up first (a hang)."""
    session_id: str | None = None


class FakeHub:
    """Answers by route mode: "ok", "500", "403" (token refused) or "hang" (no answer
    until `hang_seconds` pass or the hub is closed)."""

    def __init__(self, token: str, *, user: str = "alice", hang_seconds: float = 30.0) -> None:
        self.token = token
        self.user = user
        self.hang_seconds = hang_seconds
        # The hub started the server just now (an older start would re-date the session).
        self.started = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        self.modes: dict[str, Mode] = {USER: "ok", SERVICE: "ok", SESSIONS: "ok"}
        self.seen: list[Seen] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.hanging = 0
        """Requests being held unanswered right now."""
        self._closing = threading.Event()
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                hub._answer(self)

            def do_POST(self) -> None:
                hub._answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """The variables JupyterHub gives a single-user server."""
        return {
            "JUPYTERHUB_API_URL": f"{self.url}/hub/api",
            "JUPYTERHUB_API_TOKEN": self.token,
            "JUPYTERHUB_USER": self.user,
            "JUPYTERHUB_SERVER_NAME": "",
            "JUPYTERHUB_BASE_URL": "/",
        }

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- what the test reads ----------------------------------------------------------

    def requests_to(self, path: str, method: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path and method in (None, s.method)]

    def accepted_posts(self) -> Counter[str]:
        """How many times each session id was accepted by the history service."""
        return Counter(
            s.session_id
            for s in self.requests_to(SESSIONS, "POST")
            if s.status is not None and 200 <= s.status < 300 and s.session_id
        )

    def refused_posts(self) -> int:
        return sum(1 for s in self.requests_to(SESSIONS, "POST") if s.status != 201)

    # -- answering --------------------------------------------------------------------

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?")[0]
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        session_id = body.get("id") if isinstance(body, dict) else None
        mode = self.modes.get(path, "ok")
        if request.headers.get("Authorization") != f"token {self.token}":
            mode = "403"
        if mode == "hang":
            with self._lock:
                self.hanging += 1
            self._closing.wait(self.hang_seconds)
            with self._lock:
                self.hanging -= 1
            self._note(request.command, path, None, session_id)
            self._send(request, 504, {"message": "the fake hub hung"})
            return
        if mode == "500":
            status, reply = 500, {"message": "Internal Server Error"}
        elif mode == "403":
            status, reply = 403, {"message": "token refused"}
        elif path == USER:
            status, reply = 200, self._user_model()
        elif path == SERVICE:
            status, reply = 200, {"name": "usage", "url": self.url, "prefix": "/services/usage/"}
        elif path == SESSIONS and request.command == "POST" and isinstance(body, dict):
            with self._lock:
                self.stored[str(session_id)] = body
            status, reply = 201, {"id": session_id, "status": "created"}
        elif path == SESSIONS:
            with self._lock:
                sessions = list(self.stored.values())
            status, reply = 200, {"sessions": sessions}
        else:
            status, reply = 404, {"message": "not found"}
        self._note(request.command, path, status, session_id)
        self._send(request, status, reply)

    def _note(self, method: str, path: str, status: int | None, session_id: Any) -> None:
        with self._lock:
            self.seen.append(Seen(method, path, status, session_id))

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, reply: Any) -> None:
        payload = json.dumps(reply).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a hang)

    def _user_model(self) -> dict[str, Any]:
        return {
            "kind": "user",
            "name": self.user,
            "admin": False,
            "groups": ["physics"],
            "last_activity": self.started,
            "servers": {
                "": {"name": "", "started": self.started, "ready": True, "user_options": {}},
            },
        }
