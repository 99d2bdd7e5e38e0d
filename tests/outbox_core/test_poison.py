"""One bad delivery must not stop the others: whatever a send raises becomes a failed attempt
with its error, the rest of the batch is recorded, and the worker keeps running. Otherwise the
bad delivery stays leased, its lease lapses, the next worker claims it and fails the same way,
and no worker gets past it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import outbox
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    Mailbox,
    MakeWorker,
    Receiver,
    fast_retry,
    publish_step,
    rows,
    statuses,
    wait_until,
)

# Both pass the table's CHECK (register_endpoint refuses them), and the sender refuses both
# before sending anything: an IDNA label that does not decode, and a control character.
UNUSABLE_URLS = ["http://xn--a.example/hook", "http://a\x7fb.example/hook"]


@pytest.mark.parametrize("url", UNUSABLE_URLS)
def test_an_endpoint_url_the_http_client_refuses_is_a_failed_attempt(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker, url: str
) -> None:
    with engine.begin() as conn:
        bad, _ = outbox.register_endpoint(conn, ORG, receiver.url_for("/bad"), allow=LOOPBACK)
        good, _ = outbox.register_endpoint(conn, ORG, receiver.url_for("/good"), allow=LOOPBACK)
        # However the URL got there (an older row, an operator's fix gone wrong), the worker
        # reads it from the table.
        conn.execute(
            sa.text("UPDATE messaging.endpoints SET url = :url WHERE id = :id"),
            {"url": url, "id": bad},
        )
        publish_step(conn, "a", 1)
    worker = make_worker(retry=fast_retry())
    assert worker.deliver_once() == 2
    by_endpoint = {
        r.endpoint_id: r
        for r in rows(
            engine,
            """SELECT d.endpoint_id, d.status, a.status_code, a.error
                 FROM messaging.deliveries d JOIN messaging.attempts a ON a.delivery_id = d.id""",
        )
    }
    assert by_endpoint[good].status == "succeeded"
    assert by_endpoint[bad].status == "dead"
    assert by_endpoint[bad].status_code is None and by_endpoint[bad].error
    assert [r.path for r in receiver.requests] == ["/good"]


def test_register_endpoint_refuses_what_is_not_an_absolute_http_url(engine: sa.Engine) -> None:
    for url in ["ftp://example.com/hook", "http:///hook", "/hook"]:
        with engine.begin() as conn, pytest.raises(outbox.InvalidEndpoint):
            outbox.register_endpoint(conn, ORG, url)


def test_register_endpoint_refuses_a_url_that_cannot_be_requested(engine: sa.Engine) -> None:
    for url in UNUSABLE_URLS:
        with engine.begin() as conn, pytest.raises(outbox.InvalidEndpoint):
            outbox.register_endpoint(conn, ORG, url)


def test_an_email_whose_headers_cannot_be_built_does_not_stop_the_batch(
    engine: sa.Engine, mailbox: tuple[Mailbox, int], make_worker: MakeWorker
) -> None:
    box, port = mailbox
    # A header with a line break is refused when the e-mail is written...
    with pytest.raises(outbox.InvalidPayload):
        outbox.Email(
            to="buyer@example.com", subject="Your ticket\r\nBcc: everyone@example.com", body="x"
        )
    with engine.begin() as conn:
        publish_step(
            conn,
            "order-1",
            1,
            emails=[outbox.Email(to="buyer@example.com", subject="Your ticket", body="Seat 1.")],
        )
        publish_step(
            conn,
            "order-2",
            1,
            emails=[outbox.Email(to="other@example.com", subject="Your ticket", body="Seat 2.")],
        )
        # ...and one that got in by hand fails alone at sending.
        conn.execute(
            sa.text(
                "UPDATE messaging.deliveries SET subject = :s WHERE recipient = 'buyer@example.com'"
            ),
            {"s": "Your ticket\r\nBcc: everyone@example.com"},
        )
    worker = make_worker(smtp=outbox.SmtpSettings(port=port), retry=fast_retry())
    assert worker.deliver_once() == 2
    wait_until(lambda: len(box.messages) >= 1, 5, "the good e-mail")
    # Nothing is left leased, and the injected header reached no one.
    assert statuses(engine)["delivering"] == 0
    assert statuses(engine)["succeeded"] >= 1
    assert all(
        "everyone@example.com" not in recipients and message["Bcc"] is None
        for recipients, message in box.messages
    )
