"""E-mail through a real provider's kind of server: liventix.testing's SMTP sink (aiosmtpd)
on 127.0.0.1 with TLS (a self-signed certificate, `self_signed_certificate`) and AUTH.
STARTTLS (port 587's way) and implicit TLS (465's) both deliver, logged in, from the
configured sender; the worker sends through them; a wrong password, an untrusted certificate
or a server that does not offer STARTTLS fail the attempt and send nothing (the login never
goes out in the clear)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import outbox
from liventix.testing.smtp import Mailbox, Security, self_signed_certificate, smtp_server
from outbox.smtp_send import MailClient, SmtpServer
from tests.outbox_core.support import MakeWorker, publish_step, rows

# The implicit-TLS server requires AUTH with aiosmtpd's STARTTLS check off (its connection is
# TLS throughout), which aiosmtpd warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USER = "mailer@liventix.example"
PASSWORD = "s3cret-app-password"
SENDER = "Liventix Box Office <tickets@liventix.example>"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))


def _provider(
    security: Security, certificate: tuple[Path, Path] | None, users: dict[str, str]
) -> Iterator[tuple[Mailbox, int]]:
    """liventix.testing's SMTP sink as a provider's server: its mailbox keeps each message
    with whether its session was encrypted and who logged in, and every login attempted."""
    box = Mailbox(users=users)
    with smtp_server(box, security=security, certificate=certificate) as (port, _):
        yield box, port


@pytest.fixture
def starttls_provider(certificate: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
    """A server on which STARTTLS and AUTH are required (port 587's way)."""
    yield from _provider("starttls", certificate, {USER: PASSWORD})


@pytest.fixture
def implicit_tls_provider(certificate: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
    """A server speaking TLS from the first byte, AUTH required (port 465's way)."""
    yield from _provider("tls", certificate, {USER: PASSWORD})


@pytest.fixture
def plain_provider() -> Iterator[tuple[Mailbox, int]]:
    """A server that offers neither STARTTLS nor AUTH."""
    yield from _provider("none", None, {})


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
    assert [(m.encrypted, m.user) for m in provider.mails] == [(True, USER)] * 2
    assert provider.logins == [(USER, True)]  # one session, logged in once, over TLS
    assert provider.sessions == 1  # STARTTLS's second EHLO is the same session


def _worker_sends_one(
    engine: sa.Engine, make_worker: MakeWorker, smtp: outbox.SmtpSettings, order: str
) -> int:
    """One e-mail published for `order`, then one round of a worker sending through `smtp`:
    how many deliveries it finished."""
    email = outbox.Email(to="buyer@example.com", subject="Your ticket", body="Seat 12A.")
    with engine.begin() as conn:
        publish_step(conn, order, 1, emails=[email])
    return make_worker(smtp=smtp).deliver_once()


def _settings(port: int, certificate: tuple[Path, Path], **overrides: Any) -> outbox.SmtpSettings:
    settings: dict[str, Any] = {
        "port": port,
        "security": "starttls",
        "username": USER,
        "password": PASSWORD,
        "ca_file": str(certificate[0]),
        **overrides,
    }
    return outbox.SmtpSettings(**settings)


def test_the_worker_sends_through_the_provider_from_the_configured_sender(
    engine: sa.Engine,
    make_worker: MakeWorker,
    starttls_provider: tuple[Mailbox, int],
    certificate: tuple[Path, Path],
) -> None:
    provider, port = starttls_provider
    smtp = _settings(port, certificate, sender=SENDER)
    assert _worker_sends_one(engine, make_worker, smtp, "order-tls") == 1
    [accepted] = provider.mails
    assert (accepted.encrypted, accepted.user) == (True, USER)
    assert accepted.mail_from == "tickets@liventix.example"
    assert f"From: {SENDER}".encode() in accepted.raw
    [delivery] = rows(engine, "SELECT status FROM messaging.deliveries WHERE channel = 'email'")
    assert delivery.status == "succeeded"
    assert PASSWORD not in repr(smtp) and PASSWORD not in repr(smtp.server())


def test_a_wrong_password_fails_the_attempt_and_sends_nothing(
    engine: sa.Engine,
    make_worker: MakeWorker,
    starttls_provider: tuple[Mailbox, int],
    certificate: tuple[Path, Path],
) -> None:
    provider, port = starttls_provider
    _worker_sends_one(
        engine, make_worker, _settings(port, certificate, password="wrong"), "order-bad-login"
    )
    assert provider.mails == []
    # Tried (smtplib tries each mechanism both offer), always over TLS, and refused.
    assert provider.logins and set(provider.logins) == {(USER, True)}
    [attempt] = rows(engine, "SELECT succeeded, error FROM messaging.attempts")
    assert attempt.succeeded is False
    assert attempt.error.startswith("SMTPAuthenticationError")
    [delivery] = rows(engine, "SELECT status FROM messaging.deliveries")
    assert delivery.status == "pending"  # retried later


def test_an_untrusted_certificate_is_refused_before_the_login(
    starttls_provider: tuple[Mailbox, int],
    implicit_tls_provider: tuple[Mailbox, int],
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
        assert (provider.logins, provider.mails) == ([], [])


def test_starttls_asked_of_a_server_without_it_sends_no_login_in_the_clear(
    plain_provider: tuple[Mailbox, int], certificate: tuple[Path, Path]
) -> None:
    provider, port = plain_provider
    client = MailClient(_server(port, certificate))
    with pytest.raises(smtplib.SMTPNotSupportedError):
        client.send(_message())
    client.close()
    assert (provider.logins, provider.mails) == ([], [])


def test_an_unknown_security_is_refused() -> None:
    with pytest.raises(ValueError, match="SMTP security is one of none, starttls, tls"):
        MailClient(SmtpServer(security="ssl")).send(_message())  # type: ignore[arg-type]
