"""A payment whose PaymentIntent's metadata lost every `liventix_` key (edited at Stripe) but
is recorded on one of our orders is booked, and its tickets issued, at its first attempt
(review L4 of session 30, "M2"): the handler's look (a short read on the claim's
transaction, by the intent) notes it is ours, and its prepare, with no transaction open,
asks Stripe for the fee escrow's prepare did not ask for. Before: the first attempt failed
(`PaymentNotBooked`) and only the retry asked Stripe (a failed attempt, then the retry
schedule's first wait, 5 s by default).

Both ways the inbox runs a two-step handler: the worker's (claim, prepare with no
transaction open, finish) and `handle_next`'s (tools and tests).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

import escrow
import outbox
import ticketing_fsm as tk
from tests.ticketing_core.support import (
    FAST_RETRIES,
    Gateway,
    World,
    check_balanced,
    check_paid_in_ledger,
    drain,
    open_world,
    payment_intent,
    request,
    statuses,
    store,
    stripe_event,
    ticketing_handlers,
)


@pytest.fixture
def world(engine: sa.Engine) -> World:
    with engine.begin() as conn:
        return open_world(conn, capacities=(5,))


def _by_the_worker(engine: sa.Engine, handlers: outbox.InboxHandlers) -> list[str]:
    settings = outbox.WorkerSettings(retry=FAST_RETRIES, prune_every=3600.0)
    worker = outbox.Worker(engine, settings, handlers=handlers)
    try:
        assert worker.handle_inbox_once(limit=1) == 1
    finally:
        worker.close()
    return []


def _by_handle_next(engine: sa.Engine, handlers: outbox.InboxHandlers) -> list[str]:
    return drain(engine, handlers)


@pytest.mark.parametrize("run", [_by_the_worker, _by_handle_next], ids=["worker", "handle_next"])
def test_a_payment_whose_metadata_lost_every_key_is_booked_at_its_first_attempt(
    engine: sa.Engine,
    world: World,
    run: Callable[[sa.Engine, outbox.InboxHandlers], list[str]],
) -> None:
    gateway = Gateway()
    checkout = tk.start_checkout(engine, gateway, request(world, "k-1", (2,)))
    obj = payment_intent(gateway.intents[checkout.payment_intent_id], "succeeded")
    obj["metadata"] = {"note": "edited at Stripe"}
    event = stripe_event("payment_intent.succeeded", obj)
    assert store(engine, event)
    run(engine, ticketing_handlers(gateway))
    with engine.connect() as conn:
        status, attempts, error = conn.execute(
            sa.text("SELECT status, attempts, last_error FROM messaging.inbox WHERE event_id = :e"),
            {"e": event["id"]},
        ).one()
        assert (status, attempts, error) == ("handled", 1, None)
        assert escrow.payment_org(conn, checkout.payment_intent_id) == world.org
        assert statuses(conn, checkout.order_id) == ["issued", "issued"]
        check_paid_in_ledger(conn)
        check_balanced(conn)


def test_a_payment_of_someone_else_with_no_key_asks_stripe_nothing(engine: sa.Engine) -> None:
    """A PaymentIntent with no Liventix key on no order of ours: the look finds no order and
    nothing is asked of Stripe (the prepare's reader would fail the event if asked)."""

    class Refusing:
        def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
            raise AssertionError("Stripe asked about someone else's payment")

        def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
            raise AssertionError("not asked here")

    handlers = outbox.InboxHandlers()
    tk.register_stripe_handlers(Refusing(), into=handlers)
    gateway = Gateway()
    created = gateway.create_payment_intent(1_000, "eur", {"shop": "other"}, "someone-else")
    obj = payment_intent(gateway.intents[created.payment_intent_id], "succeeded")
    assert store(engine, stripe_event("payment_intent.succeeded", obj))
    assert drain(engine, handlers) == ["handled"]
    with engine.connect() as conn:
        assert escrow.payment_org(conn, created.payment_intent_id) is None
