"""The outside world's other two parties, on 127.0.0.1 on a free port: a webhook receiver (an
organizer's endpoint: it records what is POSTed to it and answers 204) and an SMTP sink (the
buyers' mail server: it keeps every message). aiosmtpd serves the SMTP when installed, else a
minimal server of our own that speaks enough SMTP for smtplib."""

from __future__ import annotations

import email
import json
import re
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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


class Mailbox:
    """What an SMTP sink accepted: how many messages (`count`) and sessions (`sessions`, one
    EHLO each), and with `keep` (the default) each message's recipients and bytes, parsed when
    read (`messages`); with `message_ids`, how many Message-IDs came again (`duplicates`).
    Recipients in `refuse` are refused (550), as a mail server refuses an unknown user.
    `keep=False` only counts: a benchmark's sink. It is also an aiosmtpd handler
    (`Controller(mailbox, ...)`), though `smtp_server(mailbox)` serves it for you."""

    def __init__(
        self, *, keep: bool = True, message_ids: bool = False, refuse: Iterable[str] = ()
    ) -> None:
        self.keep = keep
        self.track_ids = message_ids
        self.refuse = frozenset(refuse)
        self.count = 0
        self.sessions = 0
        self.duplicates = 0
        self.seen_ids: set[bytes] = set()
        self.lock = threading.Lock()
        self._raw: list[tuple[list[str], bytes]] = []

    def add(self, recipients: list[str] | None = None, raw: bytes | None = None) -> None:
        """Count a message (and keep it, when its bytes are given)."""
        with self.lock:
            self.count += 1
            if self.keep and raw is not None:
                self._raw.append((list(recipients or []), raw))
            found = _MESSAGE_ID.search(raw) if self.track_ids and raw is not None else None
            if found is not None:
                if found.group(1) in self.seen_ids:
                    self.duplicates += 1
                self.seen_ids.add(found.group(1))

    def session(self) -> None:
        """Count an SMTP session (its EHLO or HELO)."""
        with self.lock:
            self.sessions += 1

    def reset(self) -> None:
        """Forget every message and count."""
        with self.lock:
            self.count = self.sessions = self.duplicates = 0
            self.seen_ids.clear()
            self._raw.clear()

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        """(recipients, message) of every message kept, in arrival order."""
        with self.lock:
            kept = list(self._raw)
        return [(to, email.message_from_bytes(raw)) for to, raw in kept]

    @property
    def recipients(self) -> list[str]:
        """Every recipient of every message kept, in arrival order."""
        with self.lock:
            return [address for to, _ in self._raw for address in to]

    # aiosmtpd looks its hooks up by these exact names.
    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Count the session; answer what aiosmtpd would."""
        self.session()
        session.host_name = hostname
        return responses

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept the recipient unless it is to be refused."""
        if address in self.refuse:
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        """Accept the message."""
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        self.add(list(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib (used only when aiosmtpd is not installed)."""

    server: _SmtpServer

    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self._say("220 localhost liventix SMTP sink")
        recipients: list[str] = []
        while raw := self.rfile.readline():
            line = raw.decode(errors="replace").strip()
            verb = line.split(" ", 1)[0].upper()
            if verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                self.server.mailbox.add(recipients, self._data())
                recipients = []
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            elif verb in ("EHLO", "HELO"):
                self.server.mailbox.session()
                self._say("250 localhost")
            elif verb == "RCPT":
                self._rcpt(line.partition(":")[2].strip().strip("<>"), recipients)
            else:
                self._say("250 OK")

    def _rcpt(self, address: str, recipients: list[str]) -> None:
        if address in self.server.mailbox.refuse:
            self._say("550 no such user")
            return
        recipients.append(address)
        self._say("250 OK")

    def _data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, mailbox: Mailbox, port: int = 0) -> None:
        self.mailbox = mailbox
        super().__init__(("127.0.0.1", port), _SmtpHandler)


@contextmanager
def smtp_server(mailbox: Mailbox, port: int = 0) -> Iterator[tuple[int, str]]:
    """An SMTP sink on 127.0.0.1 filling `mailbox` (on `port`, or a free one): aiosmtpd's if
    installed, else a minimal one; yields (port, which)."""
    try:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 (optional)
    except ImportError:
        server = _SmtpServer(mailbox, port)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1], "minimal SMTP (aiosmtpd not installed)"
        finally:
            server.shutdown()
            server.server_close()
        return

    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, "aiosmtpd"
    finally:
        controller.stop()
