"""Delivery of sessions to the hub history service: ended sessions as soon as they end,
the running one's latest checkpoint every `current_every_seconds`, each marked delivered
only once the service accepted it. Moved out of `hubclient.py` as it was."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

from .hubclient import HubClient, HubResponse, access_scope
from .records import SessionRecord

# -- delivery of sessions to the hub history service -----------------------------------


class PendingStore(Protocol):
    """What the uploader needs from `store.SessionStore`."""

    def undelivered(self, limit: int = 100) -> list[SessionRecord]: ...

    def mark_delivered(self, ids: Iterable[str]) -> None: ...


class SessionUploader:
    """Posts ended sessions (and the running one's latest checkpoint) to the history service.

    A session is marked delivered only when the service answered 2xx for it; anything
    else leaves it in the store for the next call, which waits out a backoff.
    """

    def __init__(
        self,
        client: HubClient,
        store: PendingStore,
        service_name: str = "usage",
        *,
        batch_limit: int = 100,
        current_every_seconds: float = 300.0,
    ) -> None:
        self.client = client
        self.store = store
        self.service_name = service_name
        self.batch_limit = batch_limit
        # A thousand servers checkpointing every 10 s must not post 100 times a second.
        self.current_every_seconds = current_every_seconds
        self._current_posted_at = float("-inf")
        # The running session as the service accepted it lately, with the wall time:
        # budgets add what came after (the service's figures trail by one report).
        self._current_reports: deque[tuple[float, SessionRecord]] = deque(maxlen=4)
        self.backoff = client.backoff()
        self.delivered_total = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._rejected: set[str] = set()

    def status(self) -> dict[str, Any]:
        """For the extension's /hub endpoint: where sessions go and how that goes."""
        return {
            "service": self.service_name,
            "delivered": self.delivered_total,
            "last_error": self.last_error,
            "retry_in_seconds": round(self.backoff.seconds_left(), 1),
        }

    def current_reported_by(self, wall_time: float) -> SessionRecord | None:
        """The running session as the service had accepted it at `wall_time` (None when
        it had none of it, as far as this server knows)."""
        before = [record for at, record in self._current_reports if at <= wall_time]
        return before[-1] if before else None

    def deliver_pending(
        self,
        current: SessionRecord | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_seconds: float | None = None,
    ) -> int:
        """Post what the service has not got yet; returns how many it accepted.

        `current`: the running session's latest checkpoint record, posted too but never
        marked (its final version comes from the store once it ends), and at most every
        `current_every_seconds`. `ignore_backoff` for the last attempt at shutdown, with
        a short `timeout_seconds`.
        """
        if not self._lock.acquire(blocking=False):
            return 0  # another thread is delivering
        try:
            if not ignore_backoff and not self.backoff.ready():
                return 0
            return self._deliver(current, timeout_seconds)
        except Exception as error:  # never take the server down over an upload
            self._failed(f"unexpected error: {error!r}")
            self.client.log.debug("jupyter_usage: delivery failed", exc_info=True)
            return 0
        finally:
            self._lock.release()

    def _deliver(self, current: SessionRecord | None, timeout_seconds: float | None) -> int:
        records = [
            r for r in self.store.undelivered(self.batch_limit) if r.get("id") not in self._rejected
        ]
        now = self.client.clock()
        if (
            current is not None
            and now - self._current_posted_at >= self.current_every_seconds
            and current.get("id") not in {r.get("id") for r in records}
        ):
            records.append(current)
        if not records:
            return 0
        base = self.client.service_url(self.service_name)
        if base is None:
            self._failed(f"the address of the hub service {self.service_name!r} is unknown")
            return 0
        url = base + "api/v1/sessions"
        accepted = 0
        for record in records:
            answer = self.client.request("POST", url, record, timeout_seconds=timeout_seconds)
            is_current = record is current
            if _accepted(answer, record):
                if is_current:
                    self._current_posted_at = now
                    self._current_reports.append((time.time(), record))
                else:
                    self.store.mark_delivered([record["id"]])
                accepted += 1
                self.delivered_total += 1
                continue
            if answer.status in (400, 409, 413, 422):
                # This record will never be accepted (409: the service holds higher figures
                # of the session, which only grow): skip it, keep delivering the rest. A
                # running session's next report, grown since, may be.
                if not is_current:
                    self._rejected.add(str(record.get("id")))
                self.client.log_once(
                    f"rejected:{record.get('id')}",
                    logging.WARNING,
                    "jupyter_usage: the hub history service rejected session %s (%s); it "
                    "stays in the local store only",
                    record.get("id"),
                    answer.message(),
                )
                continue
            self._refused(answer, url)
            return accepted
        self.backoff.succeeded()
        if self.last_error is not None and self.client.forget_logged("delivery"):
            self.client.log.info("jupyter_usage: sessions reach the hub history service again")
        self.last_error = None
        return accepted

    def _refused(self, answer: HubResponse, url: str) -> None:
        if answer.status in (401, 403):
            scope = access_scope(self.service_name)
            self._failed(f"scope not granted: {answer.message()}")
            self.client.log_once(
                "delivery",
                logging.WARNING,
                "jupyter_usage: scope not granted: the hub history service refused this "
                "server's token (%s). Add %r to c.Spawner.server_token_scopes and grant it "
                "to users (c.JupyterHub.extra_user_scopes). Sessions stay in the local store.",
                answer.message(),
                scope,
            )
            return
        if answer.status is not None and answer.status < 500:
            # 404, a redirect, a 2xx that is not the service's answer: a wrong address.
            self.client.forget_service_url(self.service_name)
        self._failed(f"{url}: {answer.message()}")
        self.client.log_once(
            "delivery",
            logging.WARNING,
            "jupyter_usage: cannot deliver sessions to the hub history service (%s); they "
            "stay in the local store and will be sent later",
            self.last_error,
        )

    def _failed(self, message: str) -> None:
        self.last_error = self.client.scrub(message)
        self.backoff.failed()


def _accepted(answer: HubResponse, record: SessionRecord) -> bool:
    """A 2xx that is the service's own answer about this session (not some other page)."""
    return answer.ok and isinstance(answer.body, dict) and answer.body.get("id") == record.get("id")
