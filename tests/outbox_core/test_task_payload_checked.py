"""The refund and PaymentIntent-cancel tasks ask Stripe only for what ticketing recorded: an
organization that inserts such a task row itself (the application role may, since the API
publishes these types) cannot name another organization's payment, change the amount, or
name nothing recorded. Each forged payload raises TaskPayloadMismatch and asks nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

import outbox
import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.wiring import TaskPayloadMismatch, cancel_intent_task, refund_task
from tests.ticketing_core.support import (
    Gateway,
    messages,
    open_world,
    pay,
    refund_requests,
    request,
)


class Recording(StripeGateway):
    """The gateway with its network calls replaced by a record of what was asked."""

    def __init__(self) -> None:
        super().__init__(StripeSettings(api_base="http://127.0.0.1:9"))
        self.asked: list[tuple[Any, ...]] = []

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        self.asked.append(("refund", payment_intent_id, amount))
        return "re_recorded"

    def cancel_payment_intent(self, payment_intent_id: str, idempotency_key: str) -> str:
        self.asked.append(("cancel", payment_intent_id))
        return "canceled"

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        self.asked.append(("create", idempotency_key))
        raise RuntimeError("recorded; no network in this test")


@dataclass(frozen=True)
class Seller:
    """An organization's paid and refunded order, and another order it cancelled unpaid."""

    org: uuid.UUID
    paid: tk.Checkout
    refund: tuple[uuid.UUID, tk.RefundRequested]
    cancelled: tk.Checkout
    cancel: tuple[uuid.UUID, tk.IntentCancelRequested]


def _seller(engine: sa.Engine, stripe: Gateway) -> Seller:
    with engine.begin() as conn:
        world = open_world(conn)
    paid = tk.start_checkout(engine, stripe, request(world, "paid"))
    cancelled = tk.start_checkout(engine, stripe, request(world, "unpaid"))
    with engine.begin() as conn:
        assert pay(conn, world, paid) == "issued"
        tk.refund_tickets(conn, world.org, paid.order_id, None, idempotency_key="refund")
        tk.cancel_order(conn, world.org, cancelled.order_id, cause="buyer")
        [refund] = refund_requests(conn, paid.order_id)
        [note] = messages(conn, "stripe.payment_intent.cancel.requested", str(cancelled.order_id))
    cancel = (note.id, tk.IntentCancelRequested.model_validate(note.payload))
    return Seller(world.org, paid, refund, cancelled, cancel)


@pytest.fixture
def sellers(engine: sa.Engine) -> tuple[Seller, Seller]:
    """Two organizations, A and B, each with a recorded refund and a recorded cancel."""
    stripe = Gateway()
    return _seller(engine, stripe), _seller(engine, stripe)


def test_a_recorded_refund_is_asked_as_recorded(
    engine: sa.Engine, sellers: tuple[Seller, Seller]
) -> None:
    a, _ = sellers
    message_id, payload = a.refund
    gateway = Recording()
    refund_task(engine, gateway)(str(message_id), payload.model_dump())
    assert gateway.asked == [("refund", a.paid.payment_intent_id, a.paid.amount)]


def test_a_recorded_cancel_is_asked_as_recorded(
    engine: sa.Engine, sellers: tuple[Seller, Seller]
) -> None:
    a, _ = sellers
    message_id, payload = a.cancel
    gateway = Recording()
    cancel_intent_task(engine, gateway)(str(message_id), payload.model_dump())
    assert gateway.asked == [("cancel", a.cancelled.payment_intent_id)]


def _forged_by(
    engine: sa.Engine, org: uuid.UUID, payload: tk.RefundRequested | tk.IntentCancelRequested
) -> str:
    """A message of the forger's own (row-level security lets it write only its own
    organization's), holding the forged payload; its id, as the worker passes it."""
    kind = (
        "stripe.refund.requested"
        if isinstance(payload, tk.RefundRequested)
        else "stripe.payment_intent.cancel.requested"
    )
    with engine.begin() as conn:
        message_id = outbox.publish(
            conn, type=kind, payload=payload, aggregate_type="order", aggregate_id="x", org_id=org
        )
    return str(message_id)


@pytest.mark.parametrize("task", ["refund", "cancel"])
def test_another_organizations_record_copied_into_a_message_of_ones_own_asks_nothing(
    engine: sa.Engine, sellers: tuple[Seller, Seller], task: str
) -> None:
    """B's recorded refund (or cancellation), copied word for word into a message A
    publishes: every payload check agrees, the message is A's: nothing is asked."""
    a, b = sellers
    gateway = Recording()
    copied: tk.RefundRequested | tk.IntentCancelRequested
    if task == "refund":
        copied = b.refund[1]
        run = refund_task(engine, gateway)
    else:
        copied = b.cancel[1]
        run = cancel_intent_task(engine, gateway)
    with pytest.raises(TaskPayloadMismatch) as refused:
        run(_forged_by(engine, a.org, copied), copied.model_dump())
    assert gateway.asked == []
    # No retry can mend it: the worker ends the delivery dead at once.
    assert outbox.permanent(refused.value)


def _forged_refunds(a: Seller, b: Seller) -> list[tk.RefundRequested]:
    mine = a.refund[1]
    theirs = b.refund[1]
    return [
        mine.model_copy(update={"payment_intent_id": b.paid.payment_intent_id}),
        mine.model_copy(update={"amount": mine.amount + 1}),
        mine.model_copy(update={"order_id": str(b.paid.order_id)}),
        mine.model_copy(update={"refund_id": str(uuid.uuid4())}),
        mine.model_copy(update={"refund_id": "not-a-uuid"}),
        theirs.model_copy(update={"amount": theirs.amount * 10}),
        theirs.model_copy(update={"refund_id": str(uuid.uuid4())}),
    ]


@pytest.mark.parametrize("which", range(7))
def test_a_refund_payload_that_disagrees_asks_nothing(
    engine: sa.Engine, sellers: tuple[Seller, Seller], which: int
) -> None:
    a, b = sellers
    forged = _forged_refunds(a, b)[which]
    gateway = Recording()
    with pytest.raises(TaskPayloadMismatch):
        refund_task(engine, gateway)(_forged_by(engine, a.org, forged), forged.model_dump())
    assert gateway.asked == []


def _forged_cancels(a: Seller, b: Seller) -> list[tk.IntentCancelRequested]:
    mine = a.cancel[1]
    return [
        # another organization's intent (recorded on its order), named on my cancelled order
        mine.model_copy(update={"payment_intent_id": b.cancelled.payment_intent_id}),
        # another organization's paid intent, named on my cancelled order
        mine.model_copy(update={"payment_intent_id": b.paid.payment_intent_id}),
        # my paid order's own intent: the order is paid, not released
        mine.model_copy(
            update={"order_id": str(a.paid.order_id), "payment_intent_id": a.paid.payment_intent_id}
        ),
        # an order nobody recorded
        mine.model_copy(update={"order_id": str(uuid.uuid4())}),
        # the creation request changed: another amount, another key
        mine.model_copy(update={"payment_intent_id": None, "intent_amount": 1}),
        mine.model_copy(
            update={"payment_intent_id": None, "intent_idempotency_key": f"checkout:{b.org}:x"}
        ),
    ]


@pytest.mark.parametrize("which", range(6))
def test_a_cancel_payload_that_disagrees_asks_nothing(
    engine: sa.Engine, sellers: tuple[Seller, Seller], which: int
) -> None:
    a, b = sellers
    forged = _forged_cancels(a, b)[which]
    gateway = Recording()
    with pytest.raises(TaskPayloadMismatch):
        cancel_intent_task(engine, gateway)(_forged_by(engine, a.org, forged), forged.model_dump())
    assert gateway.asked == []
