"""A first pass through checkout: hold, pay, issue, transfer, check in, refund, sold out."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import escrow
import ledger
import ticketing_fsm as tk

PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
ORG = uuid.UUID("00000000-0000-0000-0000-0000000000c1")


class Gateway:
    """An in-process stand-in for Stripe's PaymentIntent and refund creation."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.intents: dict[str, str] = {}

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        pi = self.intents.setdefault(idempotency_key, f"pi_{next(self.counter)}")
        return tk.CreatedIntent(payment_intent_id=pi, client_secret=f"{pi}_secret")

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        return f"re_{next(self.counter)}"


def test_checkout_to_check_in(engine: sa.Engine) -> None:
    gateway = Gateway()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
        ledger.open_organization(conn, ORG, "Theatre")
        event = tk.create_event(
            conn,
            ORG,
            name="Hamlet",
            currency="EUR",
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=1, hours=3),
        )
        ga = tk.add_ticket_type(
            conn,
            ORG,
            event,
            name="GA",
            price=2_500,
            capacity=3,
            sales_start=now - timedelta(hours=1),
            sales_end=now + timedelta(days=1),
        )
    request = tk.CheckoutRequest("k1", ORG, event, "ann@example.com", [tk.CheckoutItem(ga, 2)])
    checkout = tk.start_checkout(engine, gateway, request)
    assert checkout.amount == 5_000 and not checkout.replayed
    again = tk.start_checkout(engine, gateway, request)
    assert again.replayed and again.order_id == checkout.order_id
    with pytest.raises(tk.SoldOut) as sold_out:
        tk.start_checkout(
            engine,
            gateway,
            tk.CheckoutRequest("k2", ORG, event, "bob@example.com", [tk.CheckoutItem(ga, 2)]),
        )
    assert sold_out.value.available == 1
    with engine.begin() as conn:
        escrow.capture_payment(
            conn,
            escrow.CapturedPayment(
                payment_id=checkout.payment_intent_id,
                org_id=ORG,
                event_id=str(event),
                currency="EUR",
                gross=5_000,
                stripe_fee=100,
                event_ends_at=now + timedelta(days=2),
            ),
            cause="evt_1",
        )
        assert tk.payment_succeeded(conn, checkout.order_id, cause="evt_1") == "issued"
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.paid, order.refunded) == ("paid", 5_000, 0)
        tickets = tk.tickets_of(conn, checkout.order_id)
        assert [t.status for t in tickets] == ["issued", "issued"]
        new = tk.transfer_ticket(conn, ORG, tickets[0].id, "cat@example.com", cause="gift")
        tk.check_in(conn, ORG, new.code, "door-1")
        with pytest.raises(tk.AlreadyCheckedIn) as twice:
            tk.check_in(conn, ORG, new.code, "door-2")
        assert twice.value.checked_in_by == "door-1"
        tk.refund_tickets(conn, ORG, checkout.order_id, [tickets[1].id], idempotency_key="r1")
        assert tk.get_order(conn, checkout.order_id).status == "partially_refunded"
        sold = conn.execute(
            sa.text("SELECT held, sold FROM ticketing.ticket_types WHERE id = :id"), {"id": ga}
        ).one()
        assert tuple(sold) == (0, 1)
        tasks = conn.execute(
            sa.text("SELECT count(*) FROM messaging.deliveries WHERE channel = 'task'")
        ).scalar_one()
        assert tasks == 1
