"""A small SMTP client for notification e-mails: one open session per thread, reused for the
next message, as `http_post` keeps HTTP connections.

Opening a session (TCP connect, greeting, EHLO) cost more than sending the message itself:
a worker sending thousands of e-mails spent most of its e-mail time there (py-spy on the
demo). A message on a reused session that the server had closed (an idle timeout) is sent
again once on a fresh session; an e-mail may then arrive twice, which at-least-once delivery
(the same Message-ID) already allows.
"""

from __future__ import annotations

import contextlib
import smtplib
import threading
from email.message import EmailMessage

_STALE = (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)


class MailClient:
    """Sends messages over per-thread SMTP sessions to one server."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._local = threading.local()
        self._open: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    def _session(self) -> tuple[smtplib.SMTP, bool]:
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        if smtp is not None:
            return smtp, True
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
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
        """Send one message; raises OSError or smtplib.SMTPException on failure."""
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
