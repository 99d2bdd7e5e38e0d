"""The buyers' mail server: an SMTP sink on 127.0.0.1 on a free port (`smtp_server`) filling a
`Mailbox`. aiosmtpd serves it when installed, else a minimal server of our own that speaks
enough SMTP for smtplib. With aiosmtpd it can also be a real provider's kind of server: TLS
by STARTTLS (port 587's way) or from the first byte (465's), and AUTH against the mailbox's
`users`; `self_signed_certificate` makes a certificate for 127.0.0.1 to serve."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import re
import smtplib
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, Literal

Security = Literal["none", "starttls", "tls"]


@dataclass(frozen=True)
class Mail:
    """One message as the sink accepted it: its envelope, its bytes, whether its session was
    encrypted (after STARTTLS, or from the first byte) and who had logged in (AUTH)."""

    recipients: list[str]
    raw: bytes
    mail_from: str = ""
    encrypted: bool = False
    user: str | None = None

    @property
    def message(self) -> Message:
        """The message, parsed."""
        return email.message_from_bytes(self.raw)


@dataclass
class _Counts:
    count: int = 0
    sessions: int = 0
    duplicates: int = 0
    seen_ids: set[bytes] = field(default_factory=set)


class Mailbox:
    """What an SMTP sink accepted: how many messages (`count`) and sessions (`sessions`, one
    EHLO each, STARTTLS's second EHLO not counted), and with `keep` (the default) each message
    (`mails`; `messages` gives them parsed with their recipients); with `message_ids`, how
    many Message-IDs came again (`duplicates`). Recipients in `refuse` are refused (550), as a
    mail server refuses an unknown user. With `users` (login -> password), logins are checked
    against them and every one attempted is noted (`logins`: login, whether encrypted).
    `keep=False` only counts: a benchmark's sink. It is also an aiosmtpd handler
    (`Controller(mailbox, ...)`, `authenticator=mailbox.authenticate`), though
    `smtp_server(mailbox)` serves it for you."""

    def __init__(
        self,
        *,
        keep: bool = True,
        message_ids: bool = False,
        refuse: Iterable[str] = (),
        users: Mapping[str, str] | None = None,
    ) -> None:
        self.keep = keep
        self.track_ids = message_ids
        self.refuse = frozenset(refuse)
        self.users = dict(users or {})
        self.lock = threading.Lock()
        self._counts = _Counts()
        self._mails: list[Mail] = []
        self._logins: list[tuple[str, bool]] = []

    @property
    def count(self) -> int:
        """Messages accepted."""
        return self._counts.count

    @property
    def sessions(self) -> int:
        """SMTP sessions opened (an EHLO or HELO each)."""
        return self._counts.sessions

    @property
    def duplicates(self) -> int:
        """Messages whose Message-ID came before (with `message_ids`)."""
        return self._counts.duplicates

    @property
    def unique(self) -> int:
        """Distinct Message-IDs seen (with `message_ids`)."""
        return len(self._counts.seen_ids)

    def add(
        self, recipients: list[str] | None = None, raw: bytes | None = None, **how: Any
    ) -> None:
        """Count a message (and keep it, when its bytes are given; `how` is the rest of its
        `Mail`: mail_from, encrypted, user)."""
        with self.lock:
            self._counts.count += 1
            if self.keep and raw is not None:
                self._mails.append(Mail(list(recipients or []), raw, **how))
            found = _MESSAGE_ID.search(raw) if self.track_ids and raw is not None else None
            if found is not None:
                if found.group(1) in self._counts.seen_ids:
                    self._counts.duplicates += 1
                self._counts.seen_ids.add(found.group(1))

    def session(self) -> None:
        """Count an SMTP session (its EHLO or HELO)."""
        with self.lock:
            self._counts.sessions += 1

    def reset(self) -> None:
        """Forget every message, login and count."""
        with self.lock:
            self._counts = _Counts()
            self._mails.clear()
            self._logins.clear()

    @property
    def mails(self) -> list[Mail]:
        """Every message kept, in arrival order."""
        with self.lock:
            return list(self._mails)

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        """(recipients, message) of every message kept, in arrival order."""
        return [(m.recipients, m.message) for m in self.mails]

    @property
    def recipients(self) -> list[str]:
        """Every recipient of every message kept, in arrival order."""
        return [address for m in self.mails for address in m.recipients]

    @property
    def logins(self) -> list[tuple[str, bool]]:
        """Every login attempted: (login, whether the session was encrypted)."""
        with self.lock:
            return list(self._logins)

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> Any:
        """aiosmtpd's authenticator: a login is good when `users` has its password."""
        from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415 (optional)

        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        with self.lock:
            self._logins.append((login, _encrypted(server)))
        if login not in self.users or self.users[login] != password:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)

    # aiosmtpd looks its hooks up by these exact names.
    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Count the session (not STARTTLS's second EHLO); answer what aiosmtpd would."""
        if getattr(server, "_original_transport", None) is None:
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
        """Accept the message, with its envelope, encryption and login."""
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        user = session.auth_data if session.authenticated else None
        mail_from = envelope.mail_from or ""
        encrypted = _encrypted(server)
        self.add(list(envelope.rcpt_tos), raw, mail_from=mail_from, encrypted=encrypted, user=user)
        return "250 Message accepted for delivery"


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def _encrypted(server: Any) -> bool:
    """Whether an aiosmtpd session's connection is TLS (after STARTTLS, or throughout)."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib (used only when aiosmtpd is not installed)."""

    server: _SmtpServer

    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self._say("220 localhost liventix SMTP sink")
        recipients: list[str] = []
        sender = ""
        while raw := self.rfile.readline():
            line = raw.decode(errors="replace").strip()
            verb = line.split(" ", 1)[0].upper()
            if verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                self.server.mailbox.add(recipients, self._data(), mail_from=sender)
                recipients = []
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            elif verb in ("EHLO", "HELO"):
                self.server.mailbox.session()
                self._say("250 localhost")
            elif verb == "RCPT":
                self._rcpt(_address(line), recipients)
            else:
                sender = _address(line) if verb == "MAIL" else sender
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


def _address(line: str) -> str:
    """The address of a `MAIL FROM:<a>` or `RCPT TO:<a>` line."""
    return line.partition(":")[2].strip().split(" ", 1)[0].strip("<>")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, mailbox: Mailbox, port: int = 0) -> None:
        self.mailbox = mailbox
        super().__init__(("127.0.0.1", port), _SmtpHandler)


@contextmanager
def smtp_server(
    mailbox: Mailbox,
    port: int = 0,
    *,
    security: Security = "none",
    certificate: tuple[Path, Path] | None = None,
) -> Iterator[tuple[int, str]]:
    """An SMTP sink on 127.0.0.1 filling `mailbox` (on `port`, or a free one): aiosmtpd's if
    installed, else a minimal one; yields (port, which). `security` "starttls" requires
    STARTTLS, "tls" speaks TLS from the first byte, both serving `certificate` (cert.pem,
    key.pem); when the mailbox has `users`, AUTH is required (after STARTTLS on "starttls")."""
    try:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 (optional)
    except ImportError:
        if security != "none" or mailbox.users:
            raise
        with _minimal(mailbox, port) as served:
            yield served
        return

    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
    kind = _implicit_tls(Controller) if security == "tls" else Controller
    controller = kind(mailbox, **_options(mailbox, port, security, certificate))
    controller.start()
    try:
        yield port, "aiosmtpd"
    finally:
        controller.stop()


def _options(
    mailbox: Mailbox, port: int, security: Security, certificate: tuple[Path, Path] | None
) -> dict[str, Any]:
    """aiosmtpd's controller options for a sink with `security` and the mailbox's users."""
    options: dict[str, Any] = {"hostname": "127.0.0.1", "port": port}
    if mailbox.users:
        options.update(auth_required=True, authenticator=mailbox.authenticate)
    if security == "starttls":
        options.update(tls_context=_server_context(certificate), require_starttls=True)
    elif security == "tls":
        # aiosmtpd's AUTH-over-TLS check looks for STARTTLS only: here the whole connection
        # is TLS (aiosmtpd warns "Requiring AUTH while not requiring TLS").
        options.update(ssl_context=_server_context(certificate), auth_require_tls=False)
    elif security != "none":
        raise ValueError(f"SMTP security is one of none, starttls, tls: not {security!r}")
    return options


@contextmanager
def _minimal(mailbox: Mailbox, port: int) -> Iterator[tuple[int, str]]:
    server = _SmtpServer(mailbox, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], "minimal SMTP (aiosmtpd not installed)"
    finally:
        server.shutdown()
        server.server_close()


def _server_context(certificate: tuple[Path, Path] | None) -> ssl.SSLContext:
    if certificate is None:
        raise ValueError("an SMTP sink with TLS needs a certificate (cert.pem, key.pem)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _implicit_tls(controller: type[Any]) -> type[Any]:
    """aiosmtpd's controller with TLS from the first byte: its own start-up probe connects
    over TLS without checking the (self-signed) certificate."""

    class ImplicitTls(controller):  # type: ignore[misc]
        def _trigger_server(self) -> None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with smtplib.SMTP_SSL(self.hostname, self.port, context=context, timeout=10) as probe:
                probe.noop()

    return ImplicitTls


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day, written to
    `folder`: (cert.pem, key.pem). Clients trust it by `cafile=cert.pem`."""
    from cryptography import x509  # noqa: PLC0415 (only a sink with TLS needs it)
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    alt_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
