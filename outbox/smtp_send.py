"""A small SMTP client for notification e-mails: one open session per thread, reused for the
next message, as `http_post` keeps HTTP connections.

Opening a session (TCP connect, greeting, EHLO, and with a real provider TLS and AUTH) costs
more than sending the message itself: a worker sending thousands of e-mails spent most of
its e-mail time there (py-spy on the demo). A message on a reused session that the server had
closed (an idle timeout) is sent again once on a fresh session; an e-mail may then arrive
twice, which at-least-once delivery (the same Message-ID) already allows.

Security, as providers offer it: `none` (a local relay), `starttls` (port 587: plain
connect, then STARTTLS, refused if the server does not offer it) or `tls` (port 465:
implicit TLS from the first byte). The server's certificate is verified against the system's
CAs, or against `ca_file` (a provider's own CA, a test's self-signed certificate), and its
host name checked. With a user name the session logs in (AUTH, after TLS when TLS is on).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal

_STALE = (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)

Security = Literal["none", "starttls", "tls"]
SECURITY: tuple[Security, ...] = ("none", "starttls", "tls")


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to open a session: the server, its security, the login."""

    host: str = "127.0.0.1"
    port: int = 25
    timeout: float = 10.0
    security: Security = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    """A CA bundle (PEM) to verify the server's certificate with instead of the system's."""

    def tls_context(self) -> ssl.SSLContext:
        """The context TLS sessions verify the server with (host name checked)."""
        return ssl.create_default_context(cafile=self.ca_file)


def open_session(server: SmtpServer) -> smtplib.SMTP:
    """A new session: connected, secured as configured, logged in if a user is given."""
    if server.security not in SECURITY:
        raise ValueError(f"SMTP security is one of {', '.join(SECURITY)}, not {server.security}")
    smtp: smtplib.SMTP
    if server.security == "tls":
        smtp = smtplib.SMTP_SSL(
            server.host, server.port, timeout=server.timeout, context=server.tls_context()
        )
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    try:
        if server.security == "starttls":
            smtp.ehlo()
            # smtplib raises SMTPNotSupportedError when the server does not offer STARTTLS:
            # never fall back to sending the login in the clear.
            smtp.starttls(context=server.tls_context())
            smtp.ehlo()
        if server.username:
            smtp.login(server.username, server.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


class MailClient:
    """Sends messages over per-thread SMTP sessions to one server."""

    def __init__(
        self,
        host: str | SmtpServer,
        port: int = 25,
        timeout: float = 10.0,
    ) -> None:
        self.server = (
            host if isinstance(host, SmtpServer) else SmtpServer(host, port, timeout=timeout)
        )
        self.host = self.server.host
        self.port = self.server.port
        self.timeout = self.server.timeout
        self._local = threading.local()
        self._open: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    def _session(self) -> tuple[smtplib.SMTP, bool]:
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        if smtp is not None:
            return smtp, True
        smtp = open_session(self.server)
        self._local.smtp = smtp
        with self._lock:
            self._open.append(smtp)
        return smtp, False

    def _drop(self, smtp: smtplib.SMTP) -> None:
        self._local.smtp = None
        with self._lock:
            if smtp in self._open:
                self._open.remove(smtp)
        with contextlib.suppress(OSError):
            smtp.close()

    def send(self, message: EmailMessage) -> None:
        """Send one message; raises OSError or smtplib.SMTPException on failure (an
        ssl.SSLError, a refused login: smtplib.SMTPAuthenticationError, included)."""
        for attempt in (1, 2):
            smtp, reused = self._session()
            try:
                smtp.send_message(message)
            except _STALE:
                self._drop(smtp)
                if reused and attempt == 1:
                    continue
                raise
            except smtplib.SMTPException:
                # A refusal (a sender, recipients or data refused) leaves the session good:
                # smtplib has reset it for the next message.
                raise
            except OSError:
                # A socket error (a timeout) leaves nothing worth keeping.
                self._drop(smtp)
                raise
            return

    def close(self) -> None:
        """Say QUIT on every open session (any thread's)."""
        with self._lock:
            sessions, self._open = self._open, []
        for smtp in sessions:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
