"""The whole checkout flow through the inbox, with nothing stubbed inside the process:

- the real stripe library (`liventix.stripe_gateway.StripeGateway`) against the Stripe-compatible
  server on 127.0.0.1 (`liventix.testing.StripeStandIn`): the PaymentIntent is created
  there (idempotently), the refund is asked there (the outbox message id as Idempotency-Key);
- Stripe's events signed with the stripe library's helper and received through
  `liventix.stripe_events.receive_stripe_webhook` into the inbox (a duplicate, and refund
  events out of order among them);
- an `outbox.Worker` wired by `liventix.wiring.wire` with an inbox registry of the test's own;
- the organizer's webhooks to a real HTTP receiver, verified with `standardwebhooks`; the
  buyer's ticket e-mails to a real SMTP server (aiosmtpd).

Money is checked in the ledger line by line (account code, side, amount).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

import escrow
import ledger
import outbox
import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.servers import Mailbox, Receiver, smtp_server
from liventix.testing.stripe import StripeStandIn, deliver_event
from liventix.testing.stripe import shapes as so
from liventix.wiring import wire
from outbox.message_types import task_for
from tests.escrow_core.support import Line, entries_count, lines_by_ref
from tests.ticketing_core.support import ensure_platform
from ticketing_fsm.checkout import META_ORDER, META_ORG

STRIPE_SECRET = "whsec_ticketing_e2e_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
BUYER = "ann@example.com"
PRICE = 2_500
FEE = 175  # Stripe's 2.9 % + 30 on 5,000
HOOK_TYPES = ("order.paid", "ticket.issued", "order.refunded", "ticket.refunded")
TASKS = ("stripe.transfer.requested", "stripe.refund.requested")
RETRY = outbox.RetryPolicy(schedule=(0.05, 0.05, 0.1, 0.2, 0.5, 1.0), jitter=0.0)


@dataclass
class App:
    """The wired application and the outside world it talks to."""

    engine: sa.Engine
    stripe: StripeStandIn
    gateway: StripeGateway
    receiver: Receiver
    mailbox: Mailbox
    worker: outbox.Worker
    org: uuid.UUID
    hook_secret: str

    def deliver(self, event: so.StripeObject) -> bool:
        """Sign and receive one Stripe event in its own transaction; True if new."""
        with self.engine.begin() as conn:
            return deliver_event(conn, event, STRIPE_SECRET).new

    def problems(self) -> list[Any]:
        """Inbox events and deliveries that did not (yet) succeed."""
        with self.engine.connect() as conn:
            return [
                *conn.execute(
                    sa.text("""SELECT type, status, attempts, last_error FROM messaging.inbox
                                WHERE status NOT IN ('handled', 'ignored')""")
                ).all(),
                *conn.execute(
                    sa.text("""SELECT channel, status, attempts, last_error
                                 FROM messaging.deliveries WHERE status <> 'succeeded'""")
                ).all(),
            ]

    def settle(self, timeout: float = 10.0) -> None:
        """Run the worker until every inbox event is handled and every delivery succeeded."""
        deadline = time.monotonic() + timeout
        while True:
            busy = self.worker.run_once()
            left = self.problems()
            assert not any(p.status == "dead" for p in left), left
            if not left and not busy:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not quiescent after {timeout} s: {left}")
            time.sleep(0.02)

    def hooks(self, type: str) -> list[dict[str, Any]]:
        """The webhooks of a type the receiver got, each verified with the endpoint's secret
        by `standardwebhooks` (the envelope's `data`)."""
        verifier = Webhook(self.hook_secret)
        found = []
        for r in self.receiver.requests:
            envelope: dict[str, Any] = verifier.verify(r.body, r.headers)
            if envelope["type"] == type:
                found.append(envelope["data"])
        return found


@pytest.fixture
def app(engine: sa.Engine) -> Iterator[App]:
    """The Stripe stand-in, the webhook receiver and the SMTP sink on 127.0.0.1; the
    application wired on the test's database; an organizer with its webhook endpoint."""
    stripe_server = StripeStandIn().start()
    receiver = Receiver()
    receiver.start()
    mailbox = Mailbox()
    smtp = ExitStack()
    smtp_port, _ = smtp.enter_context(smtp_server(mailbox))
    # The outbox's tasks are process-wide: put back whatever the session had wired before.
    before = {name: task_for(name) for name in TASKS}
    gateway = StripeGateway(StripeSettings(api_base=stripe_server.url, max_network_retries=0))
    handlers = outbox.InboxHandlers()
    wire(engine, gateway, handlers)
    settings = outbox.WorkerSettings(
        poll_interval=0.05,
        retry=RETRY,
        request_timeout=5.0,
        prune_every=3600.0,
        smtp=outbox.SmtpSettings(port=smtp_port),
        webhook_allow=outbox.parse_allow("127.0.0.1/32"),  # the receiver
    )
    worker = outbox.Worker(engine, settings, name="e2e", handlers=handlers)
    org = uuid.uuid4()
    with engine.begin() as conn:
        ensure_platform(conn)
        ledger.open_organization(conn, org, "Globe Theatre")
        escrow.set_policy(conn, org, escrow.Policy())
        _, hook_secret = outbox.register_endpoint(
            conn, org, receiver.url_for(), HOOK_TYPES, allow=outbox.parse_allow("127.0.0.1/32")
        )
    try:
        yield App(engine, stripe_server, gateway, receiver, mailbox, worker, org, hook_secret)
    finally:
        worker.close()
        smtp.close()
        receiver.close()
        stripe_server.close()
        for name, task in before.items():
            if task is not None:
                outbox.register_task(name, task, replace=True)


def lines(*items: Line) -> list[Line]:
    """Expected entry lines, sorted as `lines_by_ref` gives them."""
    return sorted(items)


def test_checkout_pay_issue_refund_through_the_inbox(app: App) -> None:
    started = time.monotonic()
    now = datetime.now(UTC)
    with app.engine.begin() as conn:
        event_id = tk.create_event(
            conn,
            app.org,
            name="Hamlet",
            currency="USD",
            starts_at=now + timedelta(days=7),
            ends_at=now + timedelta(days=7, hours=3),
        )
        ga = tk.add_ticket_type(
            conn,
            app.org,
            event_id,
            name="General admission",
            price=PRICE,
            capacity=10,
            sales_start=now - timedelta(hours=1),
            sales_end=now + timedelta(days=7),
        )
    request = tk.CheckoutRequest("cart-1", app.org, event_id, BUYER, [tk.CheckoutItem(ga, 2)])

    # -- checkout: the PaymentIntent is created at Stripe, idempotently -----------------------
    # A first attempt that dies after Stripe answered, before the PaymentIntent is recorded:
    # its hold is committed, and the retry under the same key finds the pending order and
    # asks Stripe the very same request, getting the same PaymentIntent back.
    with app.engine.begin() as conn:
        reserved = tk.reserve_checkout(conn, request)
    assert isinstance(reserved, tk.PendingCheckout)
    lost = tk.ask_for_intent(app.gateway, reserved)
    checkout = tk.start_checkout(app.engine, app.gateway, request)
    replay = tk.start_checkout(app.engine, app.gateway, request)
    assert (checkout.amount, checkout.currency, checkout.replayed) == (5_000, "USD", False)
    assert replay.replayed and replay.order_id == checkout.order_id
    assert lost.payment_intent_id == checkout.payment_intent_id == replay.payment_intent_id
    assert lost.client_secret == checkout.client_secret
    posts = app.stripe.requests("POST", "/v1/payment_intents")
    assert len(posts) == 2  # the lost attempt and its retry; the replay never left the database
    assert {p.header("Idempotency-Key") for p in posts} == {f"checkout:{app.org}:cart-1"}
    intents = app.stripe.objects("payment_intent")
    assert [i["id"] for i in intents] == [checkout.payment_intent_id]
    intent = intents[0]
    assert (intent["amount"], intent["currency"], intent["status"]) == (
        5_000,
        "usd",
        "requires_payment_method",
    )
    assert intent["metadata"][META_ORDER] == str(checkout.order_id)
    assert intent["metadata"][META_ORG] == str(app.org)
    with app.engine.connect() as conn:
        assert [t.status for t in tk.tickets_of(conn, checkout.order_id)] == ["held", "held"]
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"

    # -- the buyer pays: Stripe's payment_intent.succeeded, and a duplicate ------------------
    payment = app.stripe.confirm_payment(checkout.payment_intent_id, fee=FEE)
    succeeded = so.event("payment_intent.succeeded", payment.intent)
    assert app.deliver(succeeded) is True
    assert app.deliver(succeeded) is False
    app.settle()

    with app.engine.connect() as conn:
        tickets = tk.tickets_of(conn, checkout.order_id)
        order = tk.get_order(conn, checkout.order_id)
        assert [t.status for t in tickets] == ["issued", "issued"]
        assert (order.status, order.paid, order.refunded) == ("paid", 5_000, 0)
        escrow_code = f"escrow:{event_id}:usd"
        assert lines_by_ref(conn, app.org, str(payment.balance_transaction["id"])) == lines(
            ("stripe_balance:usd", "debit", 4_825),
            ("stripe_fees:usd", "debit", FEE),
            (escrow_code, "credit", 4_750),
            ("platform_fees:usd", "credit", 250),
        )
        assert entries_count(conn, app.org) == 1
        stored = conn.execute(
            sa.text("SELECT count(*), max(status) FROM messaging.inbox WHERE event_id = :id"),
            {"id": succeeded["id"]},
        ).one()
        assert tuple(stored) == (1, "handled")
    codes = {t.code for t in tickets}
    assert len(codes) == 2

    # The organizer's webhooks, verified with the endpoint's secret.
    (paid,) = app.hooks("order.paid")
    assert paid == {
        "order_id": str(checkout.order_id),
        "event_id": str(event_id),
        "status": "paid",
        "amount": 5_000,
        "refunded": 0,
        "currency": "USD",
    }
    issued = app.hooks("ticket.issued")
    assert {h["ticket_id"] for h in issued} == {str(t.id) for t in tickets}
    assert {h["code"] for h in issued} == codes
    assert {(h["status"], h["holder_email"]) for h in issued} == {("issued", BUYER)}
    # The buyer's e-mails, one per ticket, each with its code.
    mails = app.mailbox.messages
    assert [to for to, _ in mails] == [[BUYER], [BUYER]]
    bodies = [str(m.get_payload()) for _, m in mails]
    assert all(m["Subject"] == "Your ticket" for _, m in mails)
    assert {c for c in codes for b in bodies if c in b} == codes

    # -- refund one ticket ------------------------------------------------------------------
    refunded_ticket = tickets[0]
    with app.engine.begin() as conn:
        refund_id = tk.refund_tickets(
            conn, app.org, checkout.order_id, [refunded_ticket.id], idempotency_key="refund-1"
        )
        message_id = conn.execute(
            sa.text("""SELECT id FROM messaging.messages
                        WHERE type = 'stripe.refund.requested' AND aggregate_id = :order"""),
            {"order": str(checkout.order_id)},
        ).scalar_one()
    # Stripe makes the refund but the answer is lost on the way back: the outbox retries the
    # task under the same key, and Stripe replays the refund it made.
    app.stripe.lose_next_response("/v1/refunds")
    app.settle()
    asked = app.stripe.requests("POST", "/v1/refunds")
    assert len(asked) == 2
    assert {r.header("Idempotency-Key") for r in asked} == {str(message_id)}
    assert asked[0].form == {
        "payment_intent": checkout.payment_intent_id,
        "amount": str(PRICE),
        "metadata[liventix_order_id]": str(checkout.order_id),
        "metadata[liventix_refund_id]": str(refund_id),
    }
    (stripe_refund,) = app.stripe.objects("refund")
    assert (stripe_refund["amount"], stripe_refund["status"]) == (PRICE, "succeeded")
    with app.engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        # The tickets moved at once; the money moves when Stripe says the refund succeeded.
        assert (order.status, order.paid, order.refunded) == ("partially_refunded", 5_000, 0)
        assert sorted(t.status for t in tk.tickets_of(conn, checkout.order_id)) == [
            "issued",
            "refunded",
        ]
        assert entries_count(conn, app.org) == 1

    # Stripe's refund events, out of order: the refund's `refund.updated` (succeeded) first,
    # then the charge's `charge.refunded`, then a stale pending snapshot of the refund and a
    # duplicate. One refund entry is booked, whatever the order.
    pending = {**stripe_refund, "status": "pending"}
    refund_updated = so.event("refund.updated", stripe_refund)
    assert app.deliver(refund_updated)
    assert app.deliver(so.event("charge.refunded", app.stripe.get(payment.charge_id)))
    assert app.deliver(so.event("refund.updated", pending))
    assert not app.deliver(refund_updated)
    app.settle()

    with app.engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.paid, order.refunded) == ("partially_refunded", 5_000, PRICE)
        assert lines_by_ref(conn, app.org, str(stripe_refund["id"])) == lines(
            (escrow_code, "debit", 2_375),
            ("platform_fees:usd", "debit", 125),
            ("stripe_balance:usd", "credit", PRICE),
        )
        assert entries_count(conn, app.org) == 2
        assert ledger.trial_balance(conn).balanced
        e = escrow.get_escrow(
            conn,
            conn.execute(
                sa.text("SELECT escrow_id FROM payments.card_payments WHERE id = :id"),
                {"id": checkout.payment_intent_id},
            ).scalar_one(),
        )
        assert (e.captured, e.refunded, e.held) == (5_000, PRICE, 4_750 - 2_375)
    (order_refunded,) = app.hooks("order.refunded")
    assert (order_refunded["order_id"], order_refunded["status"]) == (
        str(checkout.order_id),
        "partially_refunded",
    )
    (ticket_refunded,) = app.hooks("ticket.refunded")
    assert (ticket_refunded["ticket_id"], ticket_refunded["status"]) == (
        str(refunded_ticket.id),
        "refunded",
    )
    # Every webhook the receiver got verifies, and none of the tasks went to it.
    assert len(app.receiver.requests) == 5
    assert len(app.mailbox.messages) == 2
    assert time.monotonic() - started < 30
