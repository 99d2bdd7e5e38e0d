"""The worker's SMTP sessions (`outbox.smtp_send.MailClient`), against a real SMTP server
(`liventix.testing.smtp_server` on 127.0.0.1): many e-mails share one session per thread, a
session the server dropped is reopened and the message sent, a refused recipient fails that
message alone, and a worker's batch of e-mails opens few sessions."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

import outbox
from liventix.testing.servers import Mailbox, smtp_server
from outbox.smtp_send import MailClient
from tests.outbox_core.support import MakeWorker, publish_step, rows
from tests.support import free_port

REFUSED = "nobody@example.com"


@pytest.fixture
def server() -> Iterator[tuple[Mailbox, int]]:
    """The SMTP sink (counting sessions, refusing REFUSED): its mailbox and port."""
    box = Mailbox(refuse={REFUSED})
    with smtp_server(box) as (port, _):
        yield box, port


def _mail(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "no-reply@liventix.example"
    message["To"] = to
    message["Subject"] = "hello"
    message.set_content("body")
    return message


def test_one_session_carries_many_emails(server: tuple[Mailbox, int]) -> None:
    handler, port = server
    client = MailClient("127.0.0.1", port, timeout=5)
    try:
        for n in range(5):
            client.send(_mail(f"buyer{n}@example.com"))
    finally:
        client.close()
    assert handler.recipients == [f"buyer{n}@example.com" for n in range(5)]
    assert handler.sessions == 1


def test_a_dropped_session_is_reopened_and_the_message_sent() -> None:
    handler, port = Mailbox(), free_port()
    client = MailClient("127.0.0.1", port, timeout=5)
    try:
        with smtp_server(handler, port):
            client.send(_mail("first@example.com"))
        # The server went away and another comes up on its port: the session is dead.
        with smtp_server(handler, port):
            client.send(_mail("second@example.com"))
    finally:
        client.close()
    assert handler.recipients == ["first@example.com", "second@example.com"]
    assert handler.sessions == 2


def test_a_refused_recipient_fails_alone_and_the_session_goes_on(
    server: tuple[Mailbox, int],
) -> None:
    handler, port = server
    client = MailClient("127.0.0.1", port, timeout=5)
    try:
        client.send(_mail("before@example.com"))
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.send(_mail(REFUSED))
        client.send(_mail("after@example.com"))
    finally:
        client.close()
    assert handler.recipients == ["before@example.com", "after@example.com"]
    assert handler.sessions == 1


def test_a_workers_batch_of_emails_opens_at_most_one_session_per_sending_thread(
    engine: sa.Engine, server: tuple[Mailbox, int], make_worker: MakeWorker
) -> None:
    handler, port = server
    emails = [outbox.Email(to=f"b{n}@example.com", subject="s", body="b") for n in range(40)]
    with engine.begin() as conn:
        publish_step(conn, "order-s", 1, emails=emails)
    worker = make_worker(smtp=outbox.SmtpSettings(port=port))
    concurrency = worker.settings.concurrency
    try:
        assert worker.deliver_once() == 40
        assert worker.deliver_once() == 0
    finally:
        worker.close()
    assert sorted(handler.recipients) == sorted(e.to for e in emails)
    assert concurrency < 40
    assert 1 <= handler.sessions <= concurrency
    statuses = {r.status for r in rows(engine, "SELECT status FROM messaging.deliveries")}
    assert statuses == {"succeeded"}
