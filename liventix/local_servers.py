"""The demo's local stand-ins for the outside world: an HTTP receiver that counts the
organizers' webhooks, and an SMTP server that counts the buyers' e-mails (aiosmtpd's when
installed, else a minimal one). Both listen on 127.0.0.1 on a free port."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver(ThreadingHTTPServer):
    """Counts the webhooks POSTed to it."""

    daemon_threads = True
    request_queue_size = 256  # the workers connect many at once (the default backlog is 5)

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"  # keep-alive: the workers reuse their connections
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.count += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class Mailbox:
    """Counts the e-mails an SMTP server accepted."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def add(self) -> None:
        with self.lock:
            self.count += 1


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib (used only when aiosmtpd is not installed)."""

    server: _SmtpServer

    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self._say("220 localhost liventix demo SMTP")
        while raw := self.rfile.readline():
            verb = raw.decode(errors="replace").strip().split(" ", 1)[0].upper()
            if verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                while self.rfile.readline() not in (b".\r\n", b".\n", b""):
                    pass
                self.server.mailbox.add()
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            elif verb == "EHLO":
                self._say("250 localhost")
            else:
                self._say("250 OK")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        super().__init__(("127.0.0.1", 0), _SmtpHandler)


@contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[tuple[int, str]]:
    """An SMTP server on 127.0.0.1: aiosmtpd's if installed, else a minimal one; yields
    (port, which)."""
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
            mailbox.add()
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, "aiosmtpd"
    finally:
        controller.stop()
