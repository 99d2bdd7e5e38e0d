"""What ticketing's tests share: the application's Stripe gateway on the Stripe stand-in
(`liventix.testing.stripe`, served on 127.0.0.1: PaymentIntents, refunds, the charge facts
escrow reads), Stripe-shaped events for the inbox, the organizer's event
and ticket types, a two-seat checkout and a gateway crashing once after Stripe's answer,
paying an order as the payment handler does, and the checks every test
makes of the `ticketing` schema against the ledger.

Importable from spawned worker processes: nothing here depends on pytest's fixtures.
"""

from __future__ import annotations

import contextlib
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

import escrow
import ledger
import outbox
import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import API_VERSION, Intent, StripeObject, StripeRefusal, StripeStandIn
from liventix.testing.stripe import Refund as StripeRefund

# What the tests import from here, the stand-in's own (explicit re-exports).
from liventix.testing.stripe import charge_of as charge_of  # noqa: PLC0414
from liventix.testing.stripe import new_id as new_id  # noqa: PLC0414
from liventix.testing.stripe import stripe_fee as stripe_fee  # noqa: PLC0414

PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")

FAST_RETRIES = outbox.RetryPolicy(schedule=(0,) * 10, jitter=0)
"""Inbox retries at once: an event that waits for another is tried again after it."""

# -- Stripe: the one stand-in, served on 127.0.0.1 --------------------------------------------


class Gateway:
    """The application's own gateway (`StripeGateway`: the stripe library over HTTP) on a
    Stripe stand-in of its own (`liventix.testing.stripe.StripeStandIn`, served on 127.0.0.1
    until the gateway is garbage-collected), so each test sees only its own intents and
    refunds.

    Idempotent like Stripe: a key seen before with the same parameters returns the first
    object; with other parameters Stripe answers 400 `idempotency_error`. `delay` seconds
    pass before every answer, to widen race windows. What these tests book as paid (with
    `pay`, straight into escrow) is paid at the stand-in once Stripe is first asked about it
    (its charge, or a refund of it): the buyer paid before Stripe sent the event.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.account = StripeStandIn(latency_ms=delay * 1000).start()
        weakref.finalize(self, self.account.close)
        self.stripe = StripeGateway(
            StripeSettings(api_base=self.account.url, max_network_retries=0)
        )

    @property
    def intents(self) -> dict[str, Intent]:
        """The stand-in's PaymentIntents by id."""
        return self.account.intents

    @property
    def refunds(self) -> dict[str, StripeRefund]:
        """The stand-in's refunds by id."""
        return self.account.refunds

    def paid(self, payment_intent_id: str) -> None:
        """The buyer has paid the intent at Stripe (a no-op once paid)."""
        if payment_intent_id in self.intents and payment_intent_id not in self.account.succeeded:
            with contextlib.suppress(StripeRefusal):  # paid by another thread meanwhile
                self.account.succeed(payment_intent_id)

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        """Create (or, for a key seen before, return) a PaymentIntent."""
        return self.stripe.create_payment_intent(amount, currency, metadata, idempotency_key)

    def cancel_payment_intent(self, payment_intent_id: str, idempotency_key: str) -> str:
        """Cancel an unpaid PaymentIntent; the status it ends in."""
        return self.stripe.cancel_payment_intent(payment_intent_id, idempotency_key)

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refund part of a payment; returns the refund's id."""
        self.paid(payment_intent_id)
        return self.stripe.create_refund(payment_intent_id, amount, metadata, idempotency_key)

    def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
        """The charge of a PaymentIntent and Stripe's fee on it."""
        self.paid(payment_intent_id)
        return self.stripe.charge_facts(payment_intent_id)

    def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
        """Every refund of the charge."""
        return self.stripe.refunds_of_charge(charge_id)


@dataclass
class Refund:
    """A refund as a test tells Stripe's story of it (the stand-in's own are `StripeRefund`)."""

    id: str
    payment_intent_id: str
    amount: int
    metadata: dict[str, str]


# -- Stripe's events ------------------------------------------------------------------------


def stripe_event(type: str, obj: StripeObject, *, id: str | None = None) -> StripeObject:
    """An Event envelope as Stripe sends it to a webhook endpoint."""
    return {
        "id": id or new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": new_id("req"), "idempotency_key": None},
        "type": type,
    }


def payment_intent(intent: Intent, status: str) -> StripeObject:
    """A PaymentIntent object: `succeeded`, `requires_payment_method` (failed), `canceled`."""
    succeeded = status == "succeeded"
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": 0,
        "amount_received": intent.amount if succeeded else 0,
        "automatic_payment_methods": {"enabled": True},
        "canceled_at": int(time.time()) if status == "canceled" else None,
        "cancellation_reason": "abandoned" if status == "canceled" else None,
        "capture_method": "automatic",
        "client_secret": intent.client_secret,
        "confirmation_method": "automatic",
        "created": int(time.time()),
        "currency": intent.currency,
        "customer": None,
        "description": None,
        "last_payment_error": (
            {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline"}
            if status == "requires_payment_method"
            else None
        ),
        "latest_charge": charge_of(intent.id) if succeeded else None,
        "livemode": False,
        "metadata": dict(intent.metadata),
        "payment_method": f"pm_{intent.id[3:]}",
        "payment_method_types": ["card"],
        "status": status,
    }


def refund_object(
    refund: Refund | StripeRefund, currency: str, status: str = "succeeded"
) -> StripeObject:
    """A Refund object of a PaymentIntent's charge."""
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "balance_transaction": f"txn_{refund.id[3:]}",
        "charge": charge_of(refund.payment_intent_id),
        "created": int(time.time()),
        "currency": currency,
        "metadata": dict(refund.metadata),
        "payment_intent": refund.payment_intent_id,
        "reason": "requested_by_customer",
        "status": status,
    }


def dispute_object(
    dispute_id: str,
    *,
    payment_intent_id: str | None,
    charge_id: str,
    amount: int,
    currency: str,
    status: str,
) -> StripeObject:
    """A Dispute object: `needs_response` while open, `won` or `lost` once closed."""
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_id,
        "created": int(time.time()),
        "currency": currency,
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent_id,
        "reason": "fraudulent",
        "status": status,
    }


def store(engine: sa.Engine, event: StripeObject) -> bool:
    """Store a Stripe event in the inbox in its own transaction; False for a duplicate."""
    with engine.begin() as conn:
        return outbox.store_event(conn, "stripe", event["id"], event["type"], event)


def drain(engine: sa.Engine, handlers: outbox.InboxHandlers) -> list[str]:
    """Handle due inbox events, each in its own transaction, until none is left."""
    statuses: list[str] = []
    for _ in range(1_000):
        with engine.begin() as conn:
            status = outbox.handle_next(conn, FAST_RETRIES, handlers)
        if status is None:
            return statuses
        statuses.append(status)
    raise AssertionError("the inbox did not drain")


def inbox_problems(conn: sa.Connection) -> list[tuple[str, str, str | None]]:
    """Inbox events that are not handled: (type, status, last error)."""
    rows = conn.execute(
        sa.text("SELECT type, status, last_error FROM messaging.inbox WHERE status <> 'handled'")
    ).all()
    return [(r.type, r.status, r.last_error) for r in rows]


def ticketing_handlers(gateway: Gateway) -> outbox.InboxHandlers:
    """A fresh inbox registry with escrow's and ticketing's Stripe handlers."""
    registry = outbox.InboxHandlers()
    tk.register_stripe_handlers(gateway, into=registry)
    return registry


# -- the organizer's event ------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """An organizer with one event and its ticket types."""

    org: uuid.UUID
    event: uuid.UUID
    types: tuple[uuid.UUID, ...]
    prices: tuple[int, ...]
    currency: str
    ends_at: datetime

    @property
    def ga(self) -> uuid.UUID:
        """The first ticket type."""
        return self.types[0]


def ensure_platform(conn: sa.Connection) -> None:
    """Register the platform organization once per database."""
    if conn.execute(sa.text("SELECT 1 FROM payments.organizations WHERE is_platform")).first():
        return
    ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)


def open_world(
    conn: sa.Connection,
    *,
    capacities: Sequence[int] = (10,),
    prices: Sequence[int] = (2_500,),
    currency: str = "EUR",
    sales_start: datetime | None = None,
    sales_end: datetime | None = None,
    policy: escrow.Policy | None = None,
) -> World:
    """A fresh organizer (and the platform) with an event on sale now, one ticket type per
    capacity."""
    ensure_platform(conn)
    org = uuid.uuid4()
    ledger.open_organization(conn, org, f"Organizer {org.hex[:6]}")
    escrow.set_policy(conn, org, policy or escrow.Policy())
    now = datetime.now(UTC)
    ends = now + timedelta(days=7, hours=3)
    event = tk.create_event(
        conn, org, name="Hamlet", currency=currency, starts_at=now + timedelta(days=7), ends_at=ends
    )
    types = tuple(
        tk.add_ticket_type(
            conn,
            org,
            event,
            name=f"Type {i}",
            price=price,
            capacity=capacity,
            sales_start=sales_start or now - timedelta(hours=1),
            sales_end=sales_end or now + timedelta(days=7),
        )
        for i, (capacity, price) in enumerate(zip(capacities, prices, strict=True))
    )
    return World(org, event, types, tuple(prices), currency, ends)


def request(
    world: World,
    key: str,
    quantities: Sequence[int] = (1,),
    *,
    buyer: str = "ann@example.com",
) -> tk.CheckoutRequest:
    """A checkout of `quantities[i]` tickets of the world's type i (zeros left out)."""
    items = [tk.CheckoutItem(t, n) for t, n in zip(world.types, quantities, strict=False) if n]
    return tk.CheckoutRequest(key, world.org, world.event, buyer, items)


def checkout_two(engine: sa.Engine, gateway: Gateway, world: World, key: str) -> tk.Checkout:
    """A checkout of two seats of the world's first type under `key`."""
    return tk.start_checkout(engine, gateway, request(world, key, (2,)))


class CrashAfterStripe(Gateway):
    """Stripe makes the intent; the checkout crashes before recording it (once)."""

    crashed = False

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        made = super().create_payment_intent(amount, currency, metadata, idempotency_key)
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("crash between Stripe's answer and the record")
        return made


def captured(world: World, checkout: tk.Checkout) -> escrow.CapturedPayment:
    """The checkout's payment as escrow books it (what the succeeded event says)."""
    return escrow.CapturedPayment(
        payment_id=checkout.payment_intent_id,
        org_id=world.org,
        event_id=str(world.event),
        currency=checkout.currency,
        gross=checkout.amount,
        stripe_fee=stripe_fee(checkout.amount),
        event_ends_at=world.ends_at,
        charge_id=charge_of(checkout.payment_intent_id),
        balance_transaction_id=f"txn_{checkout.payment_intent_id[3:]}",
    )


def pay(conn: sa.Connection, world: World, checkout: tk.Checkout, *, cause: str = "evt") -> str:
    """Book the checkout's payment into escrow and tell ticketing, as the handler does."""
    escrow.capture_payment(conn, captured(world, checkout), cause=cause)
    return tk.payment_succeeded(conn, checkout.order_id, cause=cause)


# -- reading back ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Counters:
    """A ticket type's counters beside its tickets by state."""

    capacity: int
    held: int
    sold: int
    tickets: dict[str, int] = field(default_factory=dict)

    @property
    def held_tickets(self) -> int:
        """Tickets still held for a checkout."""
        return self.tickets.get("held", 0)

    @property
    def valid_tickets(self) -> int:
        """Tickets issued or checked in."""
        return self.tickets.get("issued", 0) + self.tickets.get("checked_in", 0)


def counters(conn: sa.Connection, type_id: uuid.UUID) -> Counters:
    """The ticket type's counters and its tickets by state."""
    row = conn.execute(
        sa.text("SELECT capacity, held, sold FROM ticketing.ticket_types WHERE id = :id"),
        {"id": type_id},
    ).one()
    by_state = conn.execute(
        sa.text("""SELECT status, count(*) FROM ticketing.tickets WHERE ticket_type_id = :id
                    GROUP BY status"""),
        {"id": type_id},
    ).all()
    return Counters(row.capacity, row.held, row.sold, {s: int(n) for s, n in by_state})


def refund_requests(
    conn: sa.Connection, order_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, tk.RefundRequested]]:
    """The `stripe.refund.requested` task deliveries (message id, payload), oldest first."""
    rows = conn.execute(
        sa.text("""SELECT m.id, m.payload FROM messaging.messages m
                     JOIN messaging.deliveries d ON d.message_id = m.id AND d.channel = 'task'
                    WHERE m.type = 'stripe.refund.requested'
                      AND (CAST(:order AS text) IS NULL OR m.aggregate_id = :order)
                    ORDER BY m.created_at, d.id"""),
        {"order": None if order_id is None else str(order_id)},
    ).all()
    return [(r.id, tk.RefundRequested.model_validate(r.payload)) for r in rows]


def messages(conn: sa.Connection, type: str, aggregate_id: str | None = None) -> list[Any]:
    """Outbox messages of a type (optionally of one aggregate): (id, payload) rows."""
    return list(
        conn.execute(
            sa.text("""SELECT id, payload FROM messaging.messages WHERE type = :type
                         AND (CAST(:agg AS text) IS NULL OR aggregate_id = :agg)
                       ORDER BY created_at"""),
            {"type": type, "agg": aggregate_id},
        ).all()
    )


def emails_to(conn: sa.Connection, recipient: str) -> list[Any]:
    """E-mail deliveries to a recipient: (subject, body) rows."""
    return list(
        conn.execute(
            sa.text("""SELECT subject, body FROM messaging.deliveries
                        WHERE channel = 'email' AND recipient = :to ORDER BY id"""),
            {"to": recipient},
        ).all()
    )


def audit(conn: sa.Connection, subject_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """A subject's transitions as (from, to, event), oldest first."""
    rows = conn.execute(
        sa.text("""SELECT from_state, to_state, event FROM ticketing.transitions
                    WHERE subject_id = :id ORDER BY id"""),
        {"id": subject_id},
    ).all()
    return [(r.from_state, r.to_state, r.event) for r in rows]


def statuses(conn: sa.Connection, order_id: uuid.UUID) -> list[str]:
    """The order's ticket states, sorted."""
    return sorted(t.status for t in tk.tickets_of(conn, order_id))


# -- checks ---------------------------------------------------------------------------------


def ask_stripe_for_refunds(conn: sa.Connection, gateway: Gateway) -> list[StripeRefund]:
    """Run every `stripe.refund.requested` task as the application's task does (the message
    id is the idempotency key, so running it again asks for nothing new); Stripe's refunds."""
    refunds = []
    for message_id, task in refund_requests(conn):
        refund_id = gateway.create_refund(
            task.payment_intent_id,
            task.amount,
            {"liventix_order_id": task.order_id, "liventix_refund_id": task.refund_id},
            idempotency_key=str(message_id),
        )
        refunds.append(gateway.refunds[refund_id])
    return refunds


def book_refund(conn: sa.Connection, refund: Refund | StripeRefund) -> bool:
    """Escrow books Stripe's succeeded refund (what `refund.updated` does)."""
    return escrow.refund_payment(
        conn, refund.id, refund.payment_intent_id, refund.amount, failed=False, cause="test"
    )


def check_capacity(conn: sa.Connection) -> None:
    """Per ticket type: held + sold within capacity; held equals the held tickets and sold
    the issued and checked-in ones."""
    rows = conn.execute(
        sa.text("""SELECT t.id, t.capacity, t.held, t.sold,
                          count(k.id) FILTER (WHERE k.status = 'held') AS held_tickets,
                          count(k.id) FILTER (WHERE k.status IN ('issued', 'checked_in'))
                              AS valid_tickets
                     FROM ticketing.ticket_types t
                     LEFT JOIN ticketing.tickets k
                            ON k.ticket_type_id = t.id AND k.org_id = t.org_id
                    GROUP BY t.id, t.org_id""")
    ).all()
    for r in rows:
        assert r.held + r.sold <= r.capacity, f"type {r.id} oversold: {r}"
        assert (r.held, r.sold) == (r.held_tickets, r.valid_tickets), (
            f"type {r.id}: counters (held, sold) = {(r.held, r.sold)}, tickets "
            f"{(r.held_tickets, r.valid_tickets)}"
        )


def check_audit_trail(conn: sa.Connection) -> None:
    """Every order and ticket's transitions chain from its initial state to its current one;
    none leaves a final state."""
    final = {"order": tk.ORDER_FINAL, "ticket": tk.TICKET_FINAL}
    initial = {"order": "awaiting_payment", "ticket": "held"}
    trail: dict[uuid.UUID, list[Any]] = {}
    for r in conn.execute(
        sa.text("""SELECT subject, subject_id, from_state, to_state, event
                     FROM ticketing.transitions ORDER BY id""")
    ).all():
        assert r.from_state not in final[r.subject], f"transition out of a final state: {r}"
        trail.setdefault(r.subject_id, []).append(r)
    current = conn.execute(
        sa.text("""SELECT 'order' AS subject, id, status FROM ticketing.orders
                   UNION ALL SELECT 'ticket', id, status FROM ticketing.tickets""")
    ).all()
    for subject, subject_id, status in current:
        state = initial[subject]
        for r in trail.get(subject_id, []):
            assert r.subject == subject and r.from_state == state, (subject_id, r, state)
            state = r.to_state
        assert state == status, f"{subject} {subject_id} is {status}, its trail ends at {state}"


def check_paid_in_ledger(conn: sa.Connection) -> None:
    """Every issued or checked-in ticket's order is paid: its card payment booked, for the
    order's amount, with its ledger entry."""
    rows = conn.execute(
        sa.text("""SELECT DISTINCT o.id, o.status, o.amount, p.gross, e.id AS entry
                     FROM ticketing.tickets k
                     JOIN ticketing.orders o ON o.id = k.order_id
                     LEFT JOIN payments.card_payments p ON p.id = o.payment_intent_id
                     LEFT JOIN payments.entries e ON e.id = p.entry_id
                    WHERE k.status IN ('issued', 'checked_in')""")
    ).all()
    for r in rows:
        assert r.status in ("paid", "partially_refunded", "disputed"), r
        assert r.gross == r.amount and r.entry is not None, f"order {r.id} not paid: {r}"


def check_balanced(conn: sa.Connection) -> None:
    """The ledger's trial balance balances."""
    tb = ledger.trial_balance(conn)
    assert tb.balanced, tb.totals
