"""The outside world's other two parties, on 127.0.0.1 on a free port: a webhook receiver (an
organizer's endpoint: it records what is POSTed to it and answers 204) and an SMTP sink (the
buyers' mail server: it keeps every message). aiosmtpd serves the SMTP when installed, else a
minimal server of our own that speaks enough SMTP for smtplib."""

from __future__ import annotations

import email
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Hook:
    """One webhook as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver(ThreadingHTTPServer):
    """Records the webhooks POSTed to it and answers 204 (serve it with `serve_forever` in a
    thread, or use `receiver()`)."""

    daemon_threads = True
    request_queue_size = 256  # the workers connect many at once (the default backlog is 5)

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        self.hooks: list[Hook] = []
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def received(self) -> list[Hook]:
        """Every webhook so far, in arrival order."""
        with self.lock:
            return list(self.hooks)


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"  # keep-alive: the workers reuse their connections
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        hook = Hook(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.server.lock:
            self.server.count += 1
            self.server.hooks.append(hook)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A webhook receiver serving in a thread until the block ends."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class Mailbox:
    """The e-mails an SMTP sink accepted: how many, and (with `keep`) each with its
    recipients. Counting only is the default: a benchmark's sink parses nothing."""

    def __init__(self, *, keep: bool = False) -> None:
        self.keep = keep
        self.count = 0
        self.lock = threading.Lock()
        self._messages: list[tuple[list[str], Message]] = []

    def add(self, recipients: list[str] | None = None, raw: bytes | None = None) -> None:
        """Count a message (and keep it, when its bytes are given)."""
        with self.lock:
            self.count += 1
            if self.keep and raw is not None:
                self._messages.append((list(recipients or []), email.message_from_bytes(raw)))

    def messages(self) -> list[tuple[list[str], Message]]:
        """(recipients, message) of every message kept, in arrival order."""
        with self.lock:
            return list(self._messages)


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
            elif verb == "EHLO":
                self._say("250 localhost")
            else:
                if verb == "RCPT":
                    recipients.append(line.partition(":")[2].strip().strip("<>"))
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

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        super().__init__(("127.0.0.1", 0), _SmtpHandler)


@contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[tuple[int, str]]:
    """An SMTP sink on 127.0.0.1 filling `mailbox`: aiosmtpd's if installed, else a minimal
    one; yields (port, which)."""
    try:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 (optional)
    except ImportError:
        server = _SmtpServer(mailbox)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1], "minimal SMTP (aiosmtpd not installed)"
        finally:
            server.shutdown()
            server.server_close()
        return

    class Handler:
        async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
            self, server: Any, session: Any, envelope: Any
        ) -> str:
            content = envelope.content
            raw = content if isinstance(content, bytes) else str(content).encode()
            mailbox.add(list(envelope.rcpt_tos), raw)
            return "250 Message accepted for delivery"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, "aiosmtpd"
    finally:
        controller.stop()
