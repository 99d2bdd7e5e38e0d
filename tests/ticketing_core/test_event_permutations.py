"""Any order of Stripe's events ends in the same order and ticket states (issue 12, promise 9).

Hypothesis draws a payment's history as Stripe would report it: the payment, refunds that
succeed, fail or stay pending (made by anyone: none of them asked by the platform), and a
dispute that is won, lost, closed as an inquiry (`warning_closed`) or still open. Its events
in Stripe's own order are handled for one order; a random permutation of the same events,
with duplicates (the same event again, and the same object re-sent under a new event id), is
handled for a second order of the same shape. Both must end alike: the order's status, what
it paid and got back, its tickets' states and the ticket type's counters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import outbox
import ticketing_fsm as tk
from liventix.database import create_database, database_url, drop_database, make_engine
from tests.ticketing_core.support import (
    FAST_RETRIES,
    Gateway,
    Refund,
    World,
    charge_of,
    counters,
    dispute_object,
    open_world,
    payment_intent,
    refund_object,
    request,
    stripe_event,
    ticketing_handlers,
)

pytestmark = pytest.mark.slow

PRICE = 2_500
QUANTITY = 2
AMOUNT = PRICE * QUANTITY

Event = dict[str, Any]


@dataclass(frozen=True)
class RefundStory:
    """A refund made outside the platform and how it ends."""

    amount: int
    final: str  # succeeded | failed | pending


@dataclass(frozen=True)
class History:
    """A payment's history at Stripe."""

    refunds: tuple[RefundStory, ...]
    dispute: str | None  # won | lost | warning_closed | open | None


@st.composite
def histories(draw: st.DrawFn) -> History:
    """Refunds whose succeeded part never exceeds the payment, and perhaps a dispute of
    what is left."""
    refunds: list[RefundStory] = []
    left = AMOUNT
    for _ in range(draw(st.integers(0, 2))):
        final = draw(st.sampled_from(["succeeded", "failed", "pending"]))
        if left <= 0:
            break
        amount = draw(
            st.sampled_from(sorted({left, max(left // 2, 1), 1_000 if left > 1_000 else left}))
        )
        refunds.append(RefundStory(amount, final))
        if final != "failed":
            left -= amount
    dispute = draw(st.sampled_from([None, "won", "lost", "warning_closed", "open"]))
    if left <= 0:
        dispute = None
    return History(tuple(refunds), dispute)


def _events(
    gateway: Gateway, checkout: tk.Checkout, history: History, currency: str
) -> list[Event]:
    """The history's events in Stripe's own order."""
    intent = gateway.intents[checkout.payment_intent_id]
    events = [stripe_event("payment_intent.succeeded", payment_intent(intent, "succeeded"))]
    settled: list[Event] = []
    for n, story in enumerate(history.refunds):
        refund = Refund(f"re_{uuid.uuid4().hex[:14]}", intent.id, story.amount, {})
        first = "pending" if story.final != "succeeded" or n % 2 else "succeeded"
        events.append(stripe_event("refund.created", refund_object(refund, currency, first)))
        if story.final == "failed":
            failed = refund_object(refund, currency, "failed")
            events.append(stripe_event("refund.updated", failed))
            events.append(stripe_event("refund.failed", failed))
        elif story.final == "succeeded":
            done = refund_object(refund, currency, "succeeded")
            events.append(stripe_event("refund.updated", done))
            settled.append(done)
            charge = {
                "id": charge_of(intent.id),
                "object": "charge",
                "amount": AMOUNT,
                "amount_refunded": sum(r["amount"] for r in settled),
                "currency": currency,
                "payment_intent": intent.id,
                "refunded": sum(r["amount"] for r in settled) >= AMOUNT,
                "refunds": {"object": "list", "data": list(settled)},
            }
            events.append(stripe_event("charge.refunded", charge))
    if history.dispute is not None:
        disputed = AMOUNT - sum(r["amount"] for r in settled)
        dispute_id = f"dp_{uuid.uuid4().hex[:14]}"
        inquiry = history.dispute == "warning_closed"

        def dispute(status: str) -> Event:
            return dispute_object(
                dispute_id,
                payment_intent_id=intent.id,
                charge_id=charge_of(intent.id),
                amount=disputed,
                currency=currency,
                status=status,
            )

        opened = "warning_needs_response" if inquiry else "needs_response"
        events.append(stripe_event("charge.dispute.created", dispute(opened)))
        if not inquiry:
            events.append(stripe_event("charge.dispute.funds_withdrawn", dispute(opened)))
        if history.dispute != "open":
            events.append(stripe_event("charge.dispute.closed", dispute(history.dispute)))
        if history.dispute == "won":
            events.append(stripe_event("charge.dispute.funds_reinstated", dispute("won")))
    return events


def _deliver(engine: sa.Engine, handlers: outbox.InboxHandlers, events: list[Event]) -> None:
    for event in events:
        with engine.begin() as conn:
            outbox.store_event(conn, "stripe", event["id"], event["type"], event)
    for _ in range(10 * len(events) + 10):
        with engine.begin() as conn:
            status = outbox.handle_next(conn, FAST_RETRIES, handlers)
        if status is None:
            break
    with engine.connect() as conn:
        stuck = conn.execute(
            sa.text("""SELECT type, status, last_error FROM messaging.inbox
                        WHERE status NOT IN ('handled', 'ignored')
                          AND event_id = ANY(:ids)"""),
            {"ids": [e["id"] for e in events]},
        ).all()
    assert not stuck, stuck


def _state(engine: sa.Engine, world: World, order_id: uuid.UUID) -> tuple[object, ...]:
    with engine.connect() as conn:
        order = tk.get_order(conn, order_id)
        tickets = sorted(t.status for t in tk.tickets_of(conn, order_id))
        c = counters(conn, world.ga)
    return (order.status, order.paid, order.refunded, tuple(tickets), c.held, c.sold)


@pytest.fixture(scope="module")
def shared(pg_server_url: str, template_db: str) -> Iterator[sa.Engine]:
    """One database for every example (each example opens organizers of its own)."""
    name = f"perm_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    engine = make_engine(database_url(pg_server_url, name))
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(pg_server_url, name)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories(), data=st.data())
def test_any_order_of_a_payments_events_ends_in_the_same_state(
    shared: sa.Engine, history: History, data: st.DataObject
) -> None:
    gateway = Gateway()
    handlers = ticketing_handlers(gateway)
    outcomes = []
    for shuffle in (False, True):
        with shared.begin() as conn:
            world = open_world(conn, capacities=(5,), prices=(PRICE,))
        checkout = tk.start_checkout(shared, gateway, request(world, "k", (QUANTITY,)))
        events = _events(gateway, checkout, history, world.currency.lower())
        if shuffle:
            again = data.draw(st.lists(st.sampled_from(events), max_size=3), label="again")
            echoes = [
                {**e, "id": f"evt_{uuid.uuid4().hex[:14]}"}
                for e in data.draw(st.lists(st.sampled_from(events), max_size=2), label="echo")
            ]
            events = data.draw(st.permutations(events + again + echoes), label="arrival")
        _deliver(shared, handlers, events)
        outcomes.append(_state(shared, world, checkout.order_id))
    in_order, shuffled = outcomes
    assert shuffled == in_order
