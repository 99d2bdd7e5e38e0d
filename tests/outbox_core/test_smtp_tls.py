"""E-mail through a real provider's kind of server: aiosmtpd on 127.0.0.1 with TLS (a
self-signed certificate made here with `cryptography`) and AUTH. STARTTLS (port 587's way)
and implicit TLS (465's) both deliver, logged in, from the configured sender; the worker
sends through them; a wrong password, an untrusted certificate or a server that does not
offer STARTTLS fail the attempt and send nothing (the login never goes out in the clear)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import smtplib
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import outbox
from outbox.smtp_send import MailClient, SmtpServer
from tests.outbox_core.support import MakeWorker, free_port, publish_step, rows

# The implicit-TLS server requires AUTH with aiosmtpd's STARTTLS check off (its connection is
# TLS throughout), which aiosmtpd warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USER = "mailer@liventix.example"
PASSWORD = "s3cret-app-password"
SENDER = "Liventix Box Office <tickets@liventix.example>"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
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


def _encrypted(server: SMTP) -> bool:
    """Whether the session's connection is TLS (after STARTTLS, or from the first byte)."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class Provider:
    """An aiosmtpd handler and authenticator: keeps each accepted message with whether its
    session was encrypted and who logged in, and every login attempted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []
        self.logins: list[tuple[str, bool]] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """The authenticator: one user, one password."""
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        with self._lock:
            self.logins.append((user, _encrypted(server)))
        if (user, password) != (USER, PASSWORD):
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Accept the message, noting its session's encryption and login."""
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        with self._lock:
            self.accepted.append(
                {
                    "encrypted": _encrypted(server),
                    "user": session.auth_data if session.authenticated else None,
                    "mail_from": envelope.mail_from,
                    "raw": raw,
                }
            )
        return "250 accepted"


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def starttls_provider(certificate: tuple[Path, Path]) -> Iterator[tuple[Provider, int]]:
    """A server on which STARTTLS and AUTH are required (port 587's way)."""
    provider = Provider()
    controller = Controller(
        provider,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=_server_context(certificate),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=provider,
    )
    controller.start()
    try:
        yield provider, controller.port
    finally:
        controller.stop()


class _ImplicitTls(Controller):
    """aiosmtpd's controller with TLS from the first byte; its own start-up probe connects
    over TLS without checking the (self-signed) certificate."""

    def _trigger_server(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP_SSL(self.hostname, self.port, context=context, timeout=10) as probe:
            probe.noop()


@pytest.fixture
def implicit_tls_provider(certificate: tuple[Path, Path]) -> Iterator[tuple[Provider, int]]:
    """A server speaking TLS from the first byte, AUTH required (port 465's way)."""
    provider = Provider()
    controller = _ImplicitTls(
        provider,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=_server_context(certificate),
        auth_required=True,
        # aiosmtpd's check looks for STARTTLS only: here the whole connection is TLS.
        auth_require_tls=False,
        authenticator=provider,
    )
    controller.start()
    try:
        yield provider, controller.port
    finally:
        controller.stop()


@pytest.fixture
def plain_provider() -> Iterator[tuple[Provider, int]]:
    """A server that offers neither STARTTLS nor AUTH."""
    provider = Provider()
    controller = Controller(provider, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield provider, controller.port
    finally:
        controller.stop()


def _message(subject: str = "Your ticket") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "buyer@example.com"
    message["Subject"] = subject
    message.set_content("Seat 12A.")
    return message


def _server(port: int, certificate: tuple[Path, Path], **overrides: Any) -> SmtpServer:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "starttls",
        "username": USER,
        "password": PASSWORD,
        "ca_file": str(certificate[0]),
        **overrides,
    }
    return SmtpServer(**settings)


@pytest.mark.parametrize(
    ("security", "fixture"), [("starttls", "starttls_provider"), ("tls", "implicit_tls_provider")]
)
def test_a_session_is_encrypted_logged_in_and_reused(
    security: str, fixture: str, request: pytest.FixtureRequest, certificate: tuple[Path, Path]
) -> None:
    provider, port = request.getfixturevalue(fixture)
    client = MailClient(_server(port, certificate, security=security))
    try:
        client.send(_message("first"))
        client.send(_message("second"))
    finally:
        client.close()
    assert [(m["encrypted"], m["user"]) for m in provider.accepted] == [(True, USER)] * 2
    assert provider.logins == [(USER, True)]  # one session, logged in once, over TLS


def test_the_worker_sends_through_the_provider_from_the_configured_sender(
    engine: sa.Engine,
    make_worker: MakeWorker,
    starttls_provider: tuple[Provider, int],
    certificate: tuple[Path, Path],
) -> None:
    provider, port = starttls_provider
    smtp = outbox.SmtpSettings(
        port=port,
        sender=SENDER,
        security="starttls",
        username=USER,
        password=PASSWORD,
        ca_file=str(certificate[0]),
    )
    email = outbox.Email(to="buyer@example.com", subject="Your ticket", body="Seat 12A.")
    with engine.begin() as conn:
        publish_step(conn, "order-tls", 1, emails=[email])
    worker = make_worker(smtp=smtp)
    assert worker.deliver_once() == 1
    [accepted] = provider.accepted
    assert (accepted["encrypted"], accepted["user"]) == (True, USER)
    assert accepted["mail_from"] == "tickets@liventix.example"
    assert f"From: {SENDER}".encode() in accepted["raw"]
    [delivery] = rows(engine, "SELECT status FROM messaging.deliveries WHERE channel = 'email'")
    assert delivery.status == "succeeded"
    assert PASSWORD not in repr(smtp) and PASSWORD not in repr(smtp.server())


def test_a_wrong_password_fails_the_attempt_and_sends_nothing(
    engine: sa.Engine,
    make_worker: MakeWorker,
    starttls_provider: tuple[Provider, int],
    certificate: tuple[Path, Path],
) -> None:
    provider, port = starttls_provider
    smtp = outbox.SmtpSettings(
        port=port,
        security="starttls",
        username=USER,
        password="wrong",
        ca_file=str(certificate[0]),
    )
    email = outbox.Email(to="buyer@example.com", subject="Your ticket", body="Seat 12A.")
    with engine.begin() as conn:
        publish_step(conn, "order-bad-login", 1, emails=[email])
    worker = make_worker(smtp=smtp)
    worker.deliver_once()
    assert provider.accepted == []
    [attempt] = rows(engine, "SELECT succeeded, error FROM messaging.attempts")
    assert attempt.succeeded is False
    assert attempt.error.startswith("SMTPAuthenticationError")
    [delivery] = rows(engine, "SELECT status FROM messaging.deliveries")
    assert delivery.status == "pending"  # retried later


def test_an_untrusted_certificate_is_refused_before_the_login(
    starttls_provider: tuple[Provider, int],
    implicit_tls_provider: tuple[Provider, int],
    certificate: tuple[Path, Path],
) -> None:
    for security, (provider, port) in (
        ("starttls", starttls_provider),
        ("tls", implicit_tls_provider),
    ):
        client = MailClient(_server(port, certificate, security=security, ca_file=None))
        with pytest.raises(ssl.SSLCertVerificationError):
            client.send(_message())
        client.close()
        assert (provider.logins, provider.accepted) == ([], [])


def test_starttls_asked_of_a_server_without_it_sends_no_login_in_the_clear(
    plain_provider: tuple[Provider, int], certificate: tuple[Path, Path]
) -> None:
    provider, port = plain_provider
    client = MailClient(_server(port, certificate))
    with pytest.raises(smtplib.SMTPNotSupportedError):
        client.send(_message())
    client.close()
    assert (provider.logins, provider.accepted) == ([], [])


def test_an_unknown_security_is_refused() -> None:
    with pytest.raises(ValueError, match="SMTP security is one of none, starttls, tls"):
        MailClient(SmtpServer(security="ssl")).send(_message())  # type: ignore[arg-type]
