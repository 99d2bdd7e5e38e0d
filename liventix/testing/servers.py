"""The outside world's other two parties, on 127.0.0.1 on a free port: a webhook receiver (an
organizer's endpoint: it records what is POSTed to it and answers 204) and an SMTP sink (the
buyers' mail server: it keeps every message; `liventix.testing.smtp`, re-exported here)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from liventix.testing.smtp import Mail, Mailbox, self_signed_certificate, smtp_server

__all__ = [
    "Hook",
    "Mail",
    "Mailbox",
    "Policy",
    "Receiver",
    "Reply",
    "always",
    "receiver",
    "self_signed_certificate",
    "smtp_server",
]


@dataclass(frozen=True)
class Hook:
    """One webhook as the receiver got it. `seq` is its arrival tick on the receiver's clock
    (arrivals and completions share one counter); `try_no` counts the webhooks with the same
    path and `webhook-id`, this one included; `status` is what the receiver answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    seq: int = 0
    status: int = 204
    try_no: int = 1

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header."""
        return self.headers["webhook-id"]

    def envelope(self) -> dict[str, Any]:
        """The JSON body."""
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one webhook."""

    status: int = 204
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


Policy = Callable[[str, str, int], Reply]
"""Chooses the reply from (path, webhook-id, try number). It runs under the receiver's lock:
it must not call the receiver."""


def always(status: int = 204, **kwargs: Any) -> Policy:
    """A policy answering every webhook the same way."""
    reply = Reply(status=status, **kwargs)
    return lambda path, webhook_id, try_no: reply


class Receiver(ThreadingHTTPServer):
    """Records the webhooks POSTed to it and answers as its `policy` says (204 by default);
    notes any moment when two webhooks with the same path and `webhook-id` were in flight at
    once (`overlaps`). Serve it with `start()` (or `serve_forever` in a thread of your own, or
    use `receiver()`)."""

    daemon_threads = True
    request_queue_size = 256  # the workers connect many at once (the default backlog is 5)

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        self.hooks: list[Hook] = []
        self.policy: Policy = always()
        self.overlaps: list[tuple[str, str]] = []
        self._tick = 0
        self._tries: Counter[tuple[str, str]] = Counter()
        self._in_flight: Counter[tuple[str, str]] = Counter()
        self._finished: dict[int, int] = {}
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        return self.url_for("/hooks")

    def url_for(self, path: str = "/hook") -> str:
        """An endpoint URL on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        """Serve in a background thread (until `close`)."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.shutdown()
        self.server_close()

    def reset(self) -> None:
        """Forget every webhook so far, their try numbers and overlaps (the policy stays)."""
        with self.lock:
            self.count = 0
            self.hooks.clear()
            self.overlaps.clear()
            self._tries.clear()
            self._finished.clear()

    def received(self) -> list[Hook]:
        """Every webhook so far, in arrival order."""
        with self.lock:
            return list(self.hooks)

    @property
    def requests(self) -> list[Hook]:
        """Every webhook so far, in arrival order (as `received()`)."""
        return self.received()

    def finished_at(self, hook: Hook) -> int | None:
        """The tick just before the reply to `hook` was written, if it was."""
        with self.lock:
            return self._finished.get(hook.seq)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a killed worker leaves half-finished connections behind."""

    def _arrive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Hook, Reply]:
        key = (path, headers.get("webhook-id", ""))
        with self.lock:
            self._tick += 1
            self._tries[key] += 1
            reply = self.policy(path, key[1], self._tries[key])
            hook = Hook(path, headers, body, self._tick, reply.status, self._tries[key])
            self.hooks.append(hook)
            self.count += 1
            self._in_flight[key] += 1
            if self._in_flight[key] > 1:
                self.overlaps.append(key)
        return hook, reply

    def _replying(self, hook: Hook) -> None:
        with self.lock:
            self._tick += 1
            self._finished[hook.seq] = self._tick

    def _leave(self, hook: Hook) -> None:
        with self.lock:
            self._in_flight[(hook.path, hook.headers.get("webhook-id", ""))] -= 1


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"  # keep-alive: the workers reuse their connections
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:
            # The sender went away mid-request (a killed worker): nothing was received.
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        hook, reply = self.server._arrive(self.path, headers, body)
        try:
            if reply.delay:
                time.sleep(reply.delay)
            # Noted before the reply is written, so strictly before the sender can read it.
            self.server._replying(hook)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        finally:
            self.server._leave(hook)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A webhook receiver serving in a thread until the block ends."""
    server = Receiver().start()
    try:
        yield server
    finally:
        server.close()
