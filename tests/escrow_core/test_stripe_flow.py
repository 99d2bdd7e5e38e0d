"""Stripe's events end to end: signed with the stripe library's helper, received through
`liventix.stripe_events.receive_stripe_webhook` into the inbox, handled by an `outbox.Worker`
with the handlers and the transfer task `liventix.wiring.wire` registered (once per session),
against the Stripe-compatible server the gateway calls with the real stripe library.

Every booking is checked line by line (account code, side, amount); duplicates and
out-of-order arrivals end in the same ledger.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa
import stripe

import escrow
import ledger
import outbox
from escrow.stripe_events import META_ESCROW, META_EVENT, META_EVENT_ENDS, META_ORG
from liventix.stripe_events import receive_stripe_webhook
from liventix.testing.stripe import Payment, deliver, signature_header
from liventix.testing.stripe import shapes as so
from liventix.wiring import periodic_step
from tests.escrow_core.conftest import Wired
from tests.escrow_core.support import (
    PLATFORM,
    Line,
    entries_count,
    entry_lines,
    future,
    lines_by_ref,
    net_by_code,
    new_organizer,
    past,
)

STRIPE_BALANCE = "stripe_balance:usd"
PLATFORM_FEES = "platform_fees:usd"
STRIPE_FEES = "stripe_fees:usd"
DISPUTE_FEES = "dispute_fees:usd"
DISPUTED = "disputed_funds:usd"
PAYABLE = "payable:usd"
RECEIVABLE = "receivable:usd"
BANK = "bank:usd"

# Retries fast enough for a test, slow enough that an event is not retried to death before
# the event it waits for arrives (about 7 s in all).
RETRY = outbox.RetryPolicy(schedule=(0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0), jitter=0.0)


def lines(*items: Line) -> list[Line]:
    """Expected lines, in the order `entry_lines` gives them."""
    return sorted(items)


@dataclass
class Flow:
    """One organizer's event on the wired application, and the worker that handles it."""

    wired: Wired
    org: uuid.UUID
    event_id: str
    worker: outbox.Worker
    sent: list[str] = field(default_factory=list)

    @property
    def engine(self) -> sa.Engine:
        """The session's engine (the one the transfer task books with)."""
        return self.wired.engine

    def metadata(self, ends_in_past: bool = False) -> dict[str, str]:
        """What the checkout puts on the PaymentIntent."""
        ends = past() if ends_in_past else future()
        return {
            META_ORG: str(self.org),
            META_EVENT: self.event_id,
            META_EVENT_ENDS: ends.isoformat(),
        }

    def pay(self, amount: int, fee: int, *, ended: bool = False) -> Payment:
        """Stripe charges a buyer; its `payment_intent.succeeded` is delivered."""
        payment = self.wired.stripe.add_payment(
            amount=amount, fee=fee, metadata=self.metadata(ended)
        )
        self.send(so.event("payment_intent.succeeded", payment.intent))
        return payment

    def send(self, *events: so.StripeObject) -> None:
        """Deliver signed events, each in its own transaction."""
        for d in deliver(self.engine, *events, secret=self.wired.secret):
            assert d.new
            self.sent.append(d.event_id)

    def inbox(self, event_id: str) -> Any:
        """The inbox row of one event."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("""SELECT status, attempts, last_error FROM messaging.inbox
                            WHERE source = 'stripe' AND event_id = :id"""),
                {"id": event_id},
            ).one()

    def drain(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Run the worker until `condition` holds (bounded; not a timing assertion)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}: {self.problems()}")
            if not self.worker.run_once():
                time.sleep(0.02)

    def problems(self) -> list[Any]:
        """Inbox events and deliveries that did not succeed, for failure messages."""
        with self.engine.connect() as conn:
            inbox = conn.execute(
                sa.text("""SELECT event_id, type, status, attempts, last_error
                             FROM messaging.inbox WHERE event_id = ANY(:ids)
                              AND status <> 'handled'"""),
                {"ids": self.sent},
            ).all()
            deliveries = conn.execute(
                sa.text("""SELECT d.channel, d.status, d.attempts, d.last_error
                             FROM messaging.deliveries d
                            WHERE d.org_id = :org AND d.status <> 'succeeded'"""),
                {"org": self.org},
            ).all()
        return [*inbox, *deliveries]

    def settle(self) -> None:
        """Run the worker until every event this test sent is handled."""

        def handled() -> bool:
            with self.engine.connect() as conn:
                statuses = conn.execute(
                    sa.text("""SELECT status FROM messaging.inbox
                                WHERE source = 'stripe' AND event_id = ANY(:ids)"""),
                    {"ids": self.sent},
                ).scalars()
                found = list(statuses)
            assert "dead" not in found, self.problems()
            return len(found) == len(self.sent) and set(found) <= {"handled"}

        self.drain(handled, "the events to be handled")

    def escrow(self) -> escrow.Escrow:
        """The event's escrow."""
        with self.engine.connect() as conn:
            escrow_id = conn.execute(
                sa.text("""SELECT id FROM payments.escrows
                            WHERE org_id = :org AND event_id = :event"""),
                {"org": self.org, "event": self.event_id},
            ).scalar_one()
            return escrow.get_escrow(conn, escrow_id)

    def lines(self, external_ref: str, org: uuid.UUID | None = None) -> list[Line]:
        """The lines of the entry booked under an external reference."""
        with self.engine.connect() as conn:
            return lines_by_ref(conn, org or self.org, external_ref)

    def net(self) -> dict[str, int]:
        """Debits minus credits per account code over this organizer's entries."""
        with self.engine.connect() as conn:
            return net_by_code(conn, self.org)

    def check_books(self) -> None:
        """The escrow's `held` is its account's balance; the books balance."""
        e = self.escrow()
        with self.engine.connect() as conn:
            assert escrow.ledger_escrow_balance(conn, e) == e.held
            assert ledger.trial_balance(conn, self.org).balanced
            assert ledger.trial_balance(conn).balanced


@pytest.fixture
def flow(wired: Wired) -> Iterator[Flow]:
    """A fresh organizer (hold period 0, a connected account, a payout e-mail) and a worker."""
    with wired.engine.begin() as conn:
        org = new_organizer(
            conn,
            escrow.Policy(
                hold_period=timedelta(0),
                connected_account=f"acct_{uuid.uuid4().hex[:16]}",
                payout_email="payouts@jazz.example",
            ),
        )
    settings = outbox.WorkerSettings(
        poll_interval=0.05,
        retry=RETRY,
        request_timeout=5.0,
        prune_every=3600.0,
        smtp=outbox.SmtpSettings(port=wired.smtp.port),
        webhook_allow=outbox.parse_allow("127.0.0.1/32"),  # the stand-in's hooks
    )
    worker = outbox.Worker(
        wired.engine, settings, name=f"flow-{org.hex[:6]}", handlers=wired.handlers
    )
    flow = Flow(wired, org, f"ev_{uuid.uuid4().hex[:8]}", worker)
    try:
        yield flow
    finally:
        worker.close()
        # The session's inbox is shared: an event a failed test left waiting for a retry
        # must not be picked up by the next test's worker.
        with wired.engine.begin() as conn:
            conn.execute(
                sa.text("""UPDATE messaging.inbox SET status = 'dead',
                                  last_error = coalesce(last_error, '') || ' (left by a test)'
                            WHERE event_id = ANY(:ids) AND status = 'pending'"""),
                {"ids": flow.sent},
            )


# -- the fake Stripe, through the real stripe library ---------------------------------------


def test_the_fake_stripe_speaks_stripe_to_the_stripe_library(wired: Wired) -> None:
    stripe_server, client = wired.stripe, wired.gateway.client
    payment = stripe_server.add_payment(amount=2_500, fee=103, metadata={"k": "v"})
    charge = client.v1.charges.retrieve(payment.charge_id)
    assert (charge.id, charge.amount, charge.payment_intent) == (
        payment.charge_id,
        2_500,
        payment.id,
    )
    assert isinstance(charge.balance_transaction, str)
    txn = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert (txn.amount, txn.fee, txn.net) == (2_500, 103, 2_397)
    expanded = client.v1.charges.retrieve(
        payment.charge_id, params={"expand": ["balance_transaction"]}
    )
    assert expanded.balance_transaction.fee == 103  # type: ignore[union-attr]
    assert wired.gateway.charge_facts(payment.id) == escrow.ChargeFacts(
        payment.charge_id,
        str(payment.balance_transaction["id"]),
        103,
        datetime.fromtimestamp(charge.created, UTC),  # when the buyer paid, as Stripe says
    )
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_missing")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"

    # Transfers honour the idempotency key as Stripe does.
    request = escrow.TransferRequested(
        escrow_id=str(uuid.uuid4()),
        org_id=str(uuid.uuid4()),
        event_id="ev",
        amount=1_234,
        currency="USD",
        destination="acct_fake",
    )
    key = str(uuid.uuid4())
    first = wired.gateway.create_transfer(request, idempotency_key=key)
    assert wired.gateway.create_transfer(request, idempotency_key=key) == first
    assert wired.gateway.create_transfer(request, idempotency_key=str(uuid.uuid4())) != first
    with pytest.raises(stripe.IdempotencyError):
        wired.gateway.create_transfer(
            request.model_copy(update={"amount": 999}), idempotency_key=key
        )
    with_key = [
        r
        for r in stripe_server.requests("POST", "/v1/transfers")
        if r.header("Idempotency-Key") == key
    ]
    assert len(with_key) == 3
    assert len([t for t in stripe_server.objects("transfer") if t["id"] == first[0]]) == 1


# -- payments and refunds ------------------------------------------------------------------


def test_payment_succeeded_is_booked_from_its_balance_transaction(flow: Flow) -> None:
    payment = flow.pay(10_000, 320)
    flow.settle()
    e = flow.escrow()
    assert (e.state, e.captured, e.held) == ("collecting", 10_000, 9_500)
    assert flow.lines(str(payment.balance_transaction["id"])) == lines(
        (STRIPE_BALANCE, "debit", 9_680),
        (STRIPE_FEES, "debit", 320),
        (f"escrow:{flow.event_id}:usd", "credit", 9_500),
        (PLATFORM_FEES, "credit", 500),
    )
    # The gateway asked the fake Stripe for the fee, with the charge and its balance
    # transaction expanded in one call.
    (asked,) = flow.wired.stripe.requests("GET", f"/v1/payment_intents/{payment.id}")
    assert asked.query == {"expand[0]": "latest_charge.balance_transaction"}
    assert (asked.header("authorization") or "").startswith("Bearer sk_test_")
    # The same event again is acknowledged and ignored; another event about the same
    # payment is handled and books nothing.
    with flow.engine.begin() as conn:
        body = so.event("payment_intent.succeeded", payment.intent)
        first = receive_stripe_webhook(
            conn, _body(body), signature_header(_body(body), flow.wired.secret), flow.wired.secret
        )
        again = receive_stripe_webhook(
            conn, _body(body), signature_header(_body(body), flow.wired.secret), flow.wired.secret
        )
    assert (first[1], again[1]) == (True, False)
    flow.sent.append(first[0])
    flow.settle()
    with flow.engine.connect() as conn:
        assert entries_count(conn, flow.org) == 1
    assert flow.escrow().captured == 10_000
    flow.check_books()


def _body(event: so.StripeObject) -> bytes:
    return json.dumps(event).encode()


def test_a_forged_event_is_refused_and_stores_nothing(flow: Flow) -> None:
    payment = flow.wired.stripe.add_payment(amount=5_000, fee=175, metadata=flow.metadata())
    event = so.event("payment_intent.succeeded", payment.intent)
    header = signature_header(_body(event), "whsec_not_the_secret")
    with pytest.raises(outbox.InvalidSignature), flow.engine.begin() as conn:
        receive_stripe_webhook(conn, _body(event), header, flow.wired.secret)
    with flow.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT count(*) FROM messaging.inbox WHERE event_id = :id"),
            {"id": event["id"]},
        ).scalar_one()
    assert stored == 0


def test_refunds_through_every_refund_event(flow: Flow) -> None:
    stripe = flow.wired.stripe
    payment = flow.pay(10_000, 320)
    escrow_code = f"escrow:{flow.event_id}:usd"

    # charge.refunded, with the charge's refunds listed.
    r1 = stripe.add_refund(payment.charge_id, 2_000)
    flow.send(so.event("charge.refunded", stripe.get(payment.charge_id)))
    flow.settle()
    assert flow.lines(r1["id"]) == lines(
        (escrow_code, "debit", 1_900),
        (PLATFORM_FEES, "debit", 100),
        (STRIPE_BALANCE, "credit", 2_000),
    )

    # refund.updated: pending moves nothing; succeeded books it.
    r2 = stripe.add_refund(payment.charge_id, 1_000, status="pending")
    flow.send(so.event("refund.updated", r2))
    flow.settle()
    with flow.engine.connect() as conn:
        assert entries_count(conn, flow.org) == 2
    flow.send(so.event("refund.updated", stripe.set_refund_status(r2["id"], "succeeded")))
    flow.settle()
    assert flow.lines(r2["id"]) == lines(
        (escrow_code, "debit", 950), (PLATFORM_FEES, "debit", 50), (STRIPE_BALANCE, "credit", 1_000)
    )
    assert (flow.escrow().refunded, flow.escrow().held) == (3_000, 6_650)

    # refund.failed: the refund's entry is reversed, the escrow holds the money again.
    flow.send(so.event("refund.failed", stripe.set_refund_status(r2["id"], "failed")))
    flow.settle()
    with flow.engine.connect() as conn:
        refund_entry = conn.execute(
            sa.text("SELECT entry_id FROM payments.card_refunds WHERE id = :id"), {"id": r2["id"]}
        ).scalar_one()
        reversal = conn.execute(
            sa.text("SELECT id FROM payments.entries WHERE reverses_entry_id = :e"),
            {"e": refund_entry},
        ).scalar_one()
        assert entry_lines(conn, reversal) == lines(
            (escrow_code, "credit", 950),
            (PLATFORM_FEES, "credit", 50),
            (STRIPE_BALANCE, "debit", 1_000),
        )
    assert (flow.escrow().refunded, flow.escrow().held) == (2_000, 7_600)

    # charge.refunded without the refunds list (API versions since 2022-11-15): the handler
    # lists the charge's refunds from Stripe; the ones already booked are left alone.
    r3 = stripe.add_refund(payment.charge_id, 500)
    flow.send(so.event("charge.refunded", stripe.charge_without_refunds(payment.charge_id)))
    flow.settle()
    listed = stripe.requests("GET", "/v1/refunds")
    assert any(r.query.get("charge") == payment.charge_id for r in listed)
    assert flow.lines(r3["id"]) == lines(
        (escrow_code, "debit", 475), (PLATFORM_FEES, "debit", 25), (STRIPE_BALANCE, "credit", 500)
    )
    e = flow.escrow()
    assert (e.refunded, e.held) == (2_500, 7_125)
    with flow.engine.connect() as conn:
        assert entries_count(conn, flow.org) == 5  # capture, r1, r2, r2's reversal, r3
    flow.check_books()


def test_a_refund_before_its_payment_is_retried_then_booked(flow: Flow) -> None:
    stripe = flow.wired.stripe
    payment = stripe.add_payment(amount=8_000, fee=262, metadata=flow.metadata())
    refund = stripe.add_refund(payment.charge_id, 3_000)
    refunded = so.event("charge.refunded", stripe.get(payment.charge_id))
    flow.send(refunded)
    # One attempt: the payment is not booked yet, so the event waits for a retry.
    with flow.engine.begin() as conn:
        assert outbox.handle_next(conn, RETRY, flow.wired.handlers) == "retrying"
    first = flow.inbox(refunded["id"])
    assert (first.status, first.attempts) == ("pending", 1)
    assert "NotYetApplicable" in first.last_error
    flow.send(so.event("payment_intent.succeeded", payment.intent))
    flow.settle()
    assert flow.inbox(refunded["id"]).attempts >= 2
    # 8,000 at 5 %: a 400 fee; 3,000 refunded returns 150 of it.
    assert flow.lines(refund["id"]) == lines(
        (f"escrow:{flow.event_id}:usd", "debit", 2_850),
        (PLATFORM_FEES, "debit", 150),
        (STRIPE_BALANCE, "credit", 3_000),
    )
    e = flow.escrow()
    assert (e.captured, e.refunded, e.held) == (8_000, 3_000, 7_600 - 2_850)
    flow.check_books()


def test_a_payment_arriving_after_release_is_still_booked(flow: Flow) -> None:
    """Stripe promises no order and retries webhooks for days: a sale's
    `payment_intent.succeeded` may arrive after its escrow was released. The money is at
    Stripe either way, so the event must be booked, not retried until it dies."""
    flow.pay(10_000, 320, ended=True)
    flow.settle()
    escrow_id = flow.escrow().id
    with flow.engine.begin() as conn:
        escrow.release_due(conn)
    flow.drain(lambda: flow.escrow().state == "released", "the transfer to be booked")
    late = flow.wired.stripe.add_payment(amount=5_000, fee=175, metadata=flow.metadata(True))
    event = so.event("payment_intent.succeeded", late.intent)
    flow.send(event)
    with flow.engine.begin() as conn:
        status = outbox.handle_next(conn, RETRY, flow.wired.handlers)
    assert status == "handled", flow.inbox(event["id"]).last_error
    with flow.engine.connect() as conn:
        booked = conn.execute(
            sa.text("SELECT gross, escrow_id FROM payments.card_payments WHERE id = :id"),
            {"id": late.id},
        ).one()
    assert (booked.gross, booked.escrow_id) == (5_000, escrow_id)
    net = flow.net()
    # The organizer's share of the late sale (4,750) is owed to it, not lost.
    assert -net.get(PAYABLE, 0) - net.get(RECEIVABLE, 0) == 4_750
    assert net[STRIPE_BALANCE] == 9_680 - 9_500 + 4_825
    flow.check_books()


# -- disputes ------------------------------------------------------------------------------


def test_disputes_won_in_order_and_lost_out_of_order(flow: Flow) -> None:
    stripe = flow.wired.stripe
    payment = flow.pay(10_000, 320)
    flow.settle()

    # Won, its events in order.
    won = stripe.add_dispute(payment.charge_id, 4_000)
    flow.send(so.event("charge.dispute.created", won))
    flow.settle()
    assert (flow.escrow().state, flow.escrow().open_disputes) == ("frozen", 1)
    flow.send(
        so.event("charge.dispute.funds_withdrawn", stripe.withdraw_dispute_funds(won["id"], 1_500))
    )
    flow.settle()
    assert flow.lines(f"{won['id']}:withdrawn") == lines(
        (DISPUTED, "debit", 4_000),
        (DISPUTE_FEES, "debit", 1_500),
        (STRIPE_BALANCE, "credit", 5_500),
    )
    flow.send(
        so.event(
            "charge.dispute.funds_reinstated", stripe.reinstate_dispute_funds(won["id"], 1_500)
        )
    )
    flow.send(so.event("charge.dispute.closed", stripe.close_dispute(won["id"], "won")))
    flow.settle()
    assert flow.lines(f"{won['id']}:reinstated") == lines(
        (STRIPE_BALANCE, "debit", 5_500),
        (DISPUTED, "credit", 4_000),
        (DISPUTE_FEES, "credit", 1_500),
    )
    e = flow.escrow()
    assert (e.state, e.open_disputes, e.held, e.charged_back) == ("collecting", 0, 9_500, 0)

    # Lost, its events arriving newest first: closed, funds withdrawn, created.
    lost = stripe.add_dispute(payment.charge_id, 2_000)
    created = so.event("charge.dispute.created", lost)
    withdrawn = so.event(
        "charge.dispute.funds_withdrawn", stripe.withdraw_dispute_funds(lost["id"], 1_500)
    )
    closed = so.event("charge.dispute.closed", stripe.close_dispute(lost["id"], "lost"))
    flow.send(closed, withdrawn, created)
    flow.settle()
    escrow_code = f"escrow:{flow.event_id}:usd"
    assert flow.lines(f"{lost['id']}:lost") == lines(
        (escrow_code, "debit", 2_000), (DISPUTED, "credit", 2_000)
    )
    assert flow.lines(f"{lost['id']}:withdrawn") == lines(
        (DISPUTED, "debit", 2_000),
        (DISPUTE_FEES, "debit", 1_500),
        (STRIPE_BALANCE, "credit", 3_500),
    )
    e = flow.escrow()
    assert (e.state, e.open_disputes, e.held, e.charged_back) == ("collecting", 0, 7_500, 2_000)
    net = flow.net()
    assert DISPUTED not in net
    assert net[DISPUTE_FEES] == 1_500
    flow.check_books()


# -- release, transfer, reversal, payouts ----------------------------------------------------


def test_release_transfers_through_stripe_with_the_message_id_as_idempotency_key(
    flow: Flow,
) -> None:
    stripe = flow.wired.stripe
    hook = stripe.hook_url(f"org-{flow.org}")
    with flow.engine.begin() as conn:
        outbox.register_endpoint(
            conn, flow.org, hook, ["escrow.released"], allow=outbox.parse_allow("127.0.0.1/32")
        )
    payment = flow.pay(10_000, 320, ended=True)
    flow.settle()
    escrow_id = flow.escrow().id

    # The worker's periodic step releases what is due; Stripe's answer to the first transfer
    # request is lost on the way back, so the outbox runs the task again.
    stripe.lose_next_response("/v1/transfers")
    _, _, released = cast(
        tuple[object, object, list[tuple[uuid.UUID, str]]], periodic_step(flow.engine)()
    )
    assert (escrow_id, "release_requested") in released
    flow.drain(lambda: flow.escrow().state == "released", "the transfer to be booked")

    with flow.engine.connect() as conn:
        task = conn.execute(
            sa.text("""SELECT m.id, d.status, d.attempts FROM messaging.messages m
                         JOIN messaging.deliveries d ON d.message_id = m.id
                        WHERE m.type = 'stripe.transfer.requested' AND m.aggregate_id = :id"""),
            {"id": str(escrow_id)},
        ).one()
    assert (task.status, task.attempts) == ("succeeded", 2)
    posts = [
        r
        for r in stripe.requests("POST", "/v1/transfers")
        if r.form.get(f"metadata[{META_ESCROW}]") == str(escrow_id)
    ]
    assert [r.header("Idempotency-Key") for r in posts] == [str(task.id), str(task.id)]
    assert posts[0].form["amount"] == "9500"
    assert posts[0].form["currency"] == "usd"
    (transfer,) = [
        t for t in stripe.objects("transfer") if t["metadata"].get(META_ESCROW) == str(escrow_id)
    ]
    with flow.engine.connect() as conn:
        policy = escrow.get_policy(conn, flow.org)
    assert (transfer["amount"], transfer["destination"]) == (9_500, policy.connected_account)
    assert flow.lines(transfer["id"]) == lines(
        (PAYABLE, "debit", 9_500), (STRIPE_BALANCE, "credit", 9_500)
    )
    e = flow.escrow()
    assert (e.state, e.held, e.released) == ("released", 0, 9_500)
    with flow.engine.connect() as conn:
        last = escrow.transitions(conn, escrow_id)[-1]
    assert (last["from_state"], last["to_state"], last["cause"]) == (
        "release_requested",
        "released",
        f"task {task.id}",
    )

    # The organizer's `escrow.released` webhook and payout e-mail are deliveries of the
    # release; the worker sends them.
    def sent() -> bool:
        with flow.engine.connect() as conn:
            rows = conn.execute(
                sa.text("""SELECT d.channel, d.status FROM messaging.deliveries d
                             JOIN messaging.messages m ON m.id = d.message_id
                            WHERE m.type = 'escrow.released' AND m.aggregate_id = :id"""),
                {"id": str(escrow_id)},
            ).all()
        return sorted(map(tuple, rows)) == [("email", "succeeded"), ("webhook", "succeeded")]

    flow.drain(sent, "the escrow.released webhook and e-mail")
    (received,) = stripe.requests("POST", f"/_hooks/org-{flow.org}")
    assert received.header("webhook-id")
    assert b'"escrow.released"' in received.body
    assert b'"amount":9500' in received.body.replace(b" ", b"")
    mails = [m for to, m in flow.wired.smtp.mailbox.messages if flow.event_id in m["Subject"]]
    assert [m["To"] for m in mails] == ["payouts@jazz.example"]

    # Stripe's own `transfer.created` finds the transfer booked.
    before = flow.net()
    flow.send(so.event("transfer.created", transfer))
    flow.settle()
    assert flow.net() == before

    # A refund after release is owed by the organizer; the transfer's reversal settles it.
    refund = stripe.add_refund(payment.charge_id, 2_000)
    flow.send(so.event("charge.refunded", stripe.get(payment.charge_id)))
    flow.settle()
    assert flow.lines(refund["id"]) == lines(
        (RECEIVABLE, "debit", 1_900),
        (PLATFORM_FEES, "debit", 100),
        (STRIPE_BALANCE, "credit", 2_000),
    )
    # Escrow's own task asks Stripe for the reversal (the refund's recovery), and Stripe's
    # `transfer.reversed` finds it booked.
    flow.drain(lambda: bool(stripe.get(transfer["id"])["reversals"]["data"]), "the reversal task")
    reversed_ = stripe.get(transfer["id"])
    (reversal,) = reversed_["reversals"]["data"]
    flow.send(so.event("transfer.reversed", reversed_))
    flow.settle()
    assert flow.lines(reversal["id"]) == lines(
        (STRIPE_BALANCE, "debit", 1_900), (RECEIVABLE, "credit", 1_900)
    )
    assert RECEIVABLE not in flow.net()
    e = flow.escrow()
    assert (e.state, e.held, e.released, e.refunded) == ("released", 0, 9_500, 0)
    flow.check_books()


def test_the_platforms_payouts_paid_then_failed(flow: Flow) -> None:
    stripe = flow.wired.stripe
    paid = stripe.add_payout(250_000, status="paid")
    flow.send(so.event("payout.paid", paid))
    flow.settle()
    assert flow.lines(f"{paid['id']}:paid", PLATFORM) == lines(
        (BANK, "debit", 250_000), (STRIPE_BALANCE, "credit", 250_000)
    )
    flow.send(so.event("payout.failed", stripe.set_payout_status(paid["id"], "failed")))
    flow.settle()
    assert flow.lines(f"{paid['id']}:failed", PLATFORM) == lines(
        (STRIPE_BALANCE, "debit", 250_000), (BANK, "credit", 250_000)
    )
    with flow.engine.connect() as conn:
        assert ledger.trial_balance(conn, PLATFORM).balanced
