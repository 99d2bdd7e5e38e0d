"""Notification e-mails are deliveries too: sent over SMTP to a real server (aiosmtpd on
127.0.0.1), retried when the server is unreachable, and sent by a worker process configured
from the environment."""

from __future__ import annotations

import sqlalchemy as sa

import outbox
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    Mailbox,
    MakeWorker,
    all_succeeded,
    drain,
    fast_retry,
    publish_step,
    rows,
    run_cli,
    wait_until,
)
from tests.support import free_port

TICKET = outbox.Email(to="Buyer@Example.com", subject="Your ticket", body="Seat 12A, row 3.")


def test_an_email_arrives_at_the_smtp_server(
    engine: sa.Engine, mailbox: tuple[Mailbox, int], make_worker: MakeWorker
) -> None:
    box, port = mailbox
    with engine.begin() as conn:
        message_id = publish_step(conn, "order-1", 1, emails=[TICKET])
    worker = make_worker(smtp=outbox.SmtpSettings(port=port))
    assert worker.deliver_once() == 1
    wait_until(lambda: len(box.messages) == 1, 5, "the e-mail")
    [(recipients, mail)] = box.messages
    assert recipients == ["Buyer@Example.com"]
    assert mail["To"] == "Buyer@Example.com"
    assert mail["Subject"] == "Your ticket"
    assert mail["X-Liventix-Message-Type"] == "test.step"
    assert str(message_id) in mail["Message-ID"]
    content = mail.get_payload(decode=True)
    assert isinstance(content, bytes)
    assert content.decode().strip() == "Seat 12A, row 3."
    [delivery] = rows(
        engine,
        "SELECT channel, recipient, target, status, endpoint_id FROM messaging.deliveries",
    )
    assert (delivery.channel, delivery.status) == ("email", "succeeded")
    assert delivery.endpoint_id is None and delivery.target == "email:buyer@example.com"
    [attempt] = rows(engine, "SELECT succeeded, status_code, error FROM messaging.attempts")
    assert attempt.succeeded and attempt.status_code is None and attempt.error is None


def test_emails_and_webhooks_of_one_message_go_out_together(
    engine: sa.Engine, mailbox: tuple[Mailbox, int], make_worker: MakeWorker
) -> None:
    box, port = mailbox
    organizer = outbox.Email(to="organizer@example.com", subject="Payout", body="Paid.")
    with engine.begin() as conn:
        outbox.register_endpoint(
            conn, ORG, "http://127.0.0.1:9/unused", ["test.other"], allow=LOOPBACK
        )
        publish_step(conn, "order-2", 1, emails=[TICKET, organizer])
    worker = make_worker(smtp=outbox.SmtpSettings(port=port))
    assert worker.deliver_once() == 2
    wait_until(lambda: len(box.messages) == 2, 5, "both e-mails")
    assert sorted(r[0] for r, _ in box.messages) == ["Buyer@Example.com", "organizer@example.com"]


def test_an_unreachable_smtp_server_is_retried(
    engine: sa.Engine, mailbox: tuple[Mailbox, int], make_worker: MakeWorker
) -> None:
    box, port = mailbox
    with engine.begin() as conn:
        publish_step(conn, "order-3", 1, emails=[TICKET])
    down = make_worker(smtp=outbox.SmtpSettings(port=free_port()), retry=fast_retry(0.05))
    assert down.deliver_once() == 1
    [attempt] = rows(engine, "SELECT succeeded, error FROM messaging.attempts")
    assert not attempt.succeeded and "ConnectionRefused" in attempt.error
    assert box.messages == []
    up = make_worker(smtp=outbox.SmtpSettings(port=port))
    drain(up, all_succeeded(engine, 1), 10, "the retried e-mail")
    wait_until(lambda: len(box.messages) == 1, 5, "the e-mail")


def test_a_worker_process_sends_emails_to_the_configured_smtp_server(
    engine: sa.Engine, mailbox: tuple[Mailbox, int], cli_env: dict[str, str]
) -> None:
    box, port = mailbox
    with engine.begin() as conn:
        publish_step(conn, "order-4", 1, emails=[TICKET])
    env = {**cli_env, "LIVENTIX_SMTP_HOST": "127.0.0.1", "LIVENTIX_SMTP_PORT": str(port)}
    output = run_cli(env, "worker", "--once")
    assert "1 item(s)" in output
    wait_until(lambda: len(box.messages) == 1, 5, "the e-mail")
    assert all_succeeded(engine, 1)()
