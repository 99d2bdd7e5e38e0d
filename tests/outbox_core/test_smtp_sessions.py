"""The worker's SMTP sessions (`outbox.smtp_send.MailClient`), against a real SMTP server
(aiosmtpd on 127.0.0.1): many e-mails share one session per thread, a session the server
dropped is reopened and the message sent, a refused recipient fails that message alone, and
a worker's batch of e-mails opens few sessions."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

import outbox
from outbox.smtp_send import MailClient
from tests.outbox_core.support import MakeWorker, free_port, publish_step, rows

REFUSED = "nobody@example.com"


class _Counting:
    """An aiosmtpd handler that counts sessions (EHLOs) and messages, and refuses REFUSED."""

    def __init__(self) -> None:
        self.sessions = 0
        self.recipients: list[str] = []
        self.lock = threading.Lock()

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == REFUSED:
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        with self.lock:
            self.recipients += list(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
def server() -> Iterator[tuple[_Counting, Controller]]:
    handler = _Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller
    controller.stop()


def _mail(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "no-reply@liventix.example"
    message["To"] = to
    message["Subject"] = "hello"
    message.set_content("body")
    return message


def test_one_session_carries_many_emails(server: tuple[_Counting, Controller]) -> None:
    handler, controller = server
    client = MailClient("127.0.0.1", controller.port, timeout=5)
    try:
        for n in range(5):
            client.send(_mail(f"buyer{n}@example.com"))
    finally:
        client.close()
    assert handler.recipients == [f"buyer{n}@example.com" for n in range(5)]
    assert handler.sessions == 1


def test_a_dropped_session_is_reopened_and_the_message_sent() -> None:
    handler, port = _Counting(), free_port()
    first = Controller(handler, hostname="127.0.0.1", port=port)
    first.start()
    client = MailClient("127.0.0.1", port, timeout=5)
    second = None
    try:
        client.send(_mail("first@example.com"))
        # The server goes away and another comes up on its port: the session is dead.
        first.stop()
        second = Controller(handler, hostname="127.0.0.1", port=port)
        second.start()
        client.send(_mail("second@example.com"))
    finally:
        client.close()
        if second is not None:
            second.stop()
    assert handler.recipients == ["first@example.com", "second@example.com"]
    assert handler.sessions == 2


def test_a_refused_recipient_fails_alone_and_the_session_goes_on(
    server: tuple[_Counting, Controller],
) -> None:
    handler, controller = server
    client = MailClient("127.0.0.1", controller.port, timeout=5)
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
    engine: sa.Engine, server: tuple[_Counting, Controller], make_worker: MakeWorker
) -> None:
    handler, controller = server
    emails = [outbox.Email(to=f"b{n}@example.com", subject="s", body="b") for n in range(40)]
    with engine.begin() as conn:
        publish_step(conn, "order-s", 1, emails=emails)
    worker = make_worker(smtp=outbox.SmtpSettings(port=controller.port))
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
