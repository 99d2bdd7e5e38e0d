"""Ticketing's flows on the database, one unit of work per transaction: checkout and its
idempotency, sales windows, the payment's outcome (through the use cases and through the
inbox with Stripe-shaped events), the hold sweeper and late payments, transfers and
check-in, refunds, event cancellation, disputes, the audit trail and the diagrams.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

import ticketing_fsm as tk
from liventix.testing.stripe import StripeObject
from tests.ticketing_core.cancels import cancel_tasks, run_cancel_tasks, sweep
from tests.ticketing_core.support import (
    Gateway,
    World,
    ask_stripe_for_refunds,
    audit,
    book_refund,
    charge_of,
    check_audit_trail,
    check_balanced,
    check_capacity,
    check_paid_in_ledger,
    counters,
    dispute_object,
    drain,
    emails_to,
    inbox_problems,
    messages,
    new_id,
    open_world,
    pay,
    payment_intent,
    refund_object,
    refund_requests,
    request,
    statuses,
    store,
    stripe_event,
    ticketing_handlers,
)
from ticketing_fsm.checkout import META_EVENT, META_EVENT_ENDS, META_ORDER, META_ORG, key_taken


@pytest.fixture
def world(engine: sa.Engine) -> World:
    """An organizer's event with two ticket types: 5 seats at 25.00, 3 at 80.00."""
    with engine.begin() as conn:
        return open_world(conn, capacities=(5, 3), prices=(2_500, 8_000))


def _checkout(
    engine: sa.Engine,
    gateway: Gateway,
    world: World,
    key: str,
    quantities: tuple[int, ...] = (1,),
    *,
    buyer: str = "ann@example.com",
    hold: timedelta = tk.DEFAULT_HOLD,
) -> tk.Checkout:
    return tk.start_checkout(
        engine, gateway, request(world, key, quantities, buyer=buyer), hold=hold
    )


def _paid(
    engine: sa.Engine,
    gateway: Gateway,
    world: World,
    key: str,
    quantities: tuple[int, ...] = (1,),
    *,
    buyer: str = "ann@example.com",
) -> tk.Checkout:
    """A checkout whose payment was booked and its tickets issued."""
    checkout = _checkout(engine, gateway, world, key, quantities, buyer=buyer)
    with engine.begin() as conn:
        assert pay(conn, world, checkout, cause=f"evt-{key}") == "issued"
    return checkout


def _event(gateway: Gateway, type: str, checkout: tk.Checkout) -> dict[str, object]:
    """A PaymentIntent event about the checkout's intent, as Stripe sends it."""
    status = {
        "payment_intent.succeeded": "succeeded",
        "payment_intent.payment_failed": "requires_payment_method",
        "payment_intent.canceled": "canceled",
    }[type]
    return stripe_event(type, payment_intent(gateway.intents[checkout.payment_intent_id], status))


def _expire(engine: sa.Engine, order_id: uuid.UUID, ago: timedelta = timedelta(minutes=1)) -> None:
    """End the order's hold `ago` before now."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE ticketing.orders SET hold_expires_at = now() - :ago
                        WHERE id = :id"""),
            {"id": order_id, "ago": ago},
        )


def _check_all(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        check_capacity(conn)
        check_paid_in_ledger(conn)
        check_audit_trail(conn)
        check_balanced(conn)


# -- checkout -------------------------------------------------------------------------------


def test_a_checkout_holds_the_seats_and_creates_the_payment_intent(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = _checkout(engine, gateway, world, "k1", (2, 1))
    assert (checkout.amount, checkout.currency, checkout.replayed) == (13_000, "EUR", False)
    intent = gateway.intents[checkout.payment_intent_id]
    assert (intent.amount, intent.currency) == (13_000, "eur")
    assert checkout.client_secret == intent.client_secret
    assert intent.metadata == {
        META_ORG: str(world.org),
        META_EVENT: str(world.event),
        META_EVENT_ENDS: world.ends_at.isoformat(),
        META_ORDER: str(checkout.order_id),
    }
    with engine.connect() as conn:
        now = conn.execute(sa.text("SELECT now()")).scalar_one()
        order = tk.get_order(conn, checkout.order_id)
        tickets = tk.tickets_of(conn, checkout.order_id)
        ga, vip = counters(conn, world.types[0]), counters(conn, world.types[1])
    assert abs(checkout.hold_expires_at - now - tk.DEFAULT_HOLD) < timedelta(seconds=5)
    assert (order.status, order.amount, order.paid, order.refunded) == (
        "awaiting_payment",
        13_000,
        0,
        0,
    )
    assert order.payment_intent_id == checkout.payment_intent_id
    assert sorted(t.price for t in tickets) == [2_500, 2_500, 8_000]
    assert {t.status for t in tickets} == {"held"}
    assert {t.holder_email for t in tickets} == {"ann@example.com"}
    assert len({t.code for t in tickets}) == 3
    assert (ga.held, ga.sold, vip.held, vip.sold) == (2, 0, 1, 0)
    _check_all(engine)


def test_a_retried_checkout_returns_the_same_order_and_holds_once(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    first = _checkout(engine, gateway, world, "k1", (2,))
    again = _checkout(engine, gateway, world, "k1", (2,))
    assert again.replayed and not first.replayed
    assert (again.order_id, again.payment_intent_id, again.client_secret, again.amount) == (
        first.order_id,
        first.payment_intent_id,
        first.client_secret,
        first.amount,
    )
    assert again.hold_expires_at == first.hold_expires_at
    assert len(gateway.intents) == 1
    with engine.connect() as conn:
        c = counters(conn, world.ga)
        orders = conn.execute(sa.text("SELECT count(*) FROM ticketing.orders")).scalar_one()
    assert (c.held, c.held_tickets, orders) == (2, 2, 1)


def test_the_same_key_for_another_request_is_a_conflict(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    _checkout(engine, gateway, world, "k1", (2,))
    others = [
        request(world, "k1", (1,)),
        request(world, "k1", (2, 1)),
        request(world, "k1", (2,), buyer="bob@example.com"),
    ]
    for other in others:
        with engine.begin() as conn, pytest.raises(tk.IdempotencyConflict) as conflict:
            tk.reserve_checkout(conn, other)
        assert conflict.value.idempotency_key == "k1"
    with engine.connect() as conn:
        assert counters(conn, world.ga).held == 2
        assert counters(conn, world.types[1]).held == 0
    # Keys are the organization's: another organizer may use the same one.
    with engine.begin() as conn:
        other_world = open_world(conn)
    assert not _checkout(engine, gateway, other_world, "k1", (2,)).replayed


def test_a_checkout_retried_after_its_transaction_rolled_back_succeeds(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """The first attempt created the PaymentIntent at Stripe, then its transaction rolled back
    (a lost connection, a failure later in the unit of work). The retry under the same key
    reaches Stripe with the same idempotency key: Stripe answers with the first intent only
    if the parameters are the same, and the buyer's payment must find the order."""
    with engine.begin() as conn:
        pending = tk.reserve_checkout(conn, request(world, "k1", (2,)))
    assert isinstance(pending, tk.PendingCheckout)
    # Stripe created the intent, then the checkout died before recording it.
    lost = tk.ask_for_intent(gateway, pending)
    retry = _checkout(engine, gateway, world, "k1", (2,))
    assert retry.payment_intent_id == lost.payment_intent_id
    intent = gateway.intents[retry.payment_intent_id]
    assert intent.metadata[META_ORDER] == str(retry.order_id)


def test_no_checkout_outside_the_sales_window(engine: sa.Engine, gateway: Gateway) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        early = open_world(conn, sales_start=now + timedelta(hours=1))
        late = open_world(
            conn, sales_start=now - timedelta(days=2), sales_end=now - timedelta(seconds=1)
        )
    for world in (early, late):
        with engine.begin() as conn, pytest.raises(tk.NotOnSale) as refused:
            tk.reserve_checkout(conn, request(world, "k1"))
        assert refused.value.ticket_type_id == str(world.ga)
        with engine.connect() as conn:
            assert counters(conn, world.ga).held == 0
    assert gateway.intents == {}


def test_no_checkout_for_a_cancelled_event(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    with engine.begin() as conn:
        assert tk.cancel_event(conn, world.org, world.event) == 0
    with engine.begin() as conn, pytest.raises(tk.NotOnSale) as refused:
        tk.reserve_checkout(conn, request(world, "k1", (1, 1)))
    assert refused.value.ticket_type_id in {str(t) for t in world.types}
    assert gateway.intents == {}


def test_unknown_ticket_types_and_events(engine: sa.Engine, gateway: Gateway, world: World) -> None:
    with engine.begin() as conn:
        elsewhere = open_world(conn)
    unknown = uuid.uuid4()
    for type_id in (unknown, elsewhere.ga):
        bad = tk.CheckoutRequest(
            "k1", world.org, world.event, "ann@example.com", [tk.CheckoutItem(type_id, 1)]
        )
        with engine.begin() as conn, pytest.raises(tk.TicketTypeNotFound) as missing:
            tk.reserve_checkout(conn, bad)
        assert missing.value.ticket_type_id == str(type_id)
    for org, event in ((world.org, uuid.uuid4()), (world.org, elsewhere.event)):
        bad = tk.CheckoutRequest(
            "k2", org, event, "ann@example.com", [tk.CheckoutItem(world.ga, 1)]
        )
        with engine.begin() as conn, pytest.raises(tk.EventNotFound) as no_event:
            tk.reserve_checkout(conn, bad)
        assert no_event.value.event_id == str(event)
    with engine.begin() as conn, pytest.raises(tk.EventNotFound):
        tk.add_ticket_type(
            conn,
            world.org,
            elsewhere.event,
            name="Stolen",
            price=100,
            capacity=1,
            sales_start=datetime.now(UTC),
            sales_end=datetime.now(UTC) + timedelta(days=1),
        )


@pytest.mark.parametrize(
    ("key", "buyer", "quantities"),
    [("", "ann@example.com", (1,)), ("k1", "nobody", (1,)), ("k1", "ann@example.com", ())],
)
def test_malformed_checkouts_are_invalid_requests(
    engine: sa.Engine, world: World, key: str, buyer: str, quantities: tuple[int, ...]
) -> None:
    with engine.begin() as conn, pytest.raises(tk.InvalidRequest):
        tk.reserve_checkout(conn, request(world, key, quantities, buyer=buyer))
    for quantity in (0, -1):
        bad = tk.CheckoutRequest(
            "k9", world.org, world.event, "ann@example.com", [tk.CheckoutItem(world.ga, quantity)]
        )
        with engine.begin() as conn, pytest.raises(tk.InvalidRequest):
            tk.reserve_checkout(conn, bad)
    with engine.begin() as conn, pytest.raises(tk.InvalidRequest):
        tk.add_ticket_type(
            conn,
            world.org,
            world.event,
            name="Free",
            price=0,
            capacity=1,
            sales_start=datetime.now(UTC),
            sales_end=datetime.now(UTC) + timedelta(days=1),
        )


def test_sold_out_names_what_is_left(engine: sa.Engine, gateway: Gateway, world: World) -> None:
    _checkout(engine, gateway, world, "k1", (4,))
    with engine.begin() as conn, pytest.raises(tk.SoldOut) as sold_out:
        tk.reserve_checkout(conn, request(world, "k2", (2,)))
    assert (sold_out.value.ticket_type_id, sold_out.value.requested) == (str(world.ga), 2)
    assert sold_out.value.available == 1
    assert _checkout(engine, gateway, world, "k3", (1,)).amount == 2_500


def test_a_refused_checkout_leaves_no_hold_behind(engine: sa.Engine, gateway: Gateway) -> None:
    """A caller that handles the refusal and commits its unit of work (as the ledger's tests
    do for its refusals) must not keep a hold that no ticket or order accounts for."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(2, 2), prices=(1_000, 1_000))
    # The checkout takes the types in id order: the first one is held before the second
    # one is found sold out.
    first, second = sorted(world.types)
    quantities = (1, 0) if world.types[0] == second else (0, 1)
    everything = tuple(2 * q for q in quantities)
    _checkout(engine, gateway, world, "k1", everything)
    with engine.connect() as conn:
        assert counters(conn, second).held == 2
    with engine.begin() as conn, pytest.raises(tk.SoldOut) as sold_out:
        tk.reserve_checkout(conn, request(world, "k2", (1, 1)))
    # the caller handled the refusal inside its unit of work, which then committed
    assert sold_out.value.ticket_type_id == str(second)
    with engine.connect() as conn:
        c = counters(conn, first)
        assert (c.held, c.held_tickets) == (0, 0), "a hold with no ticket after SoldOut"
    with engine.begin() as conn:
        tk.cancel_event(conn, world.org, world.event)
    with engine.begin() as conn, pytest.raises(tk.NotOnSale):
        tk.reserve_checkout(conn, request(world, "k3", (1, 1)))
    with engine.connect() as conn:
        held = [(counters(conn, t).held, counters(conn, t).held_tickets) for t in world.types]
        assert held == [(0, 0), (0, 0)], "a hold with no ticket after NotOnSale"
        check_capacity(conn)


# -- the payment's outcome ------------------------------------------------------------------


def test_a_succeeded_event_issues_the_tickets_and_funds_the_escrow(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1", (2,), buyer="ann@example.com")
    event = _event(gateway, "payment_intent.succeeded", checkout)
    assert store(engine, event)
    assert not store(engine, event)  # Stripe's retry of the same event: stored once
    assert drain(engine, handlers) == ["handled"]
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        tickets = tk.tickets_of(conn, checkout.order_id)
        assert (order.status, order.paid, order.refunded) == ("paid", 5_000, 0)
        assert [t.status for t in tickets] == ["issued", "issued"]
        c = counters(conn, world.ga)
        assert (c.held, c.sold) == (0, 2)
        paid = messages(conn, "order.paid", str(checkout.order_id))
        assert [(m.payload["status"], m.payload["amount"]) for m in paid] == [("paid", 5_000)]
        issued = [m.payload for m in messages(conn, "ticket.issued")]
        assert sorted(p["code"] for p in issued) == sorted(t.code for t in tickets)
        assert {p["holder_email"] for p in issued} == {"ann@example.com"}
        mails = emails_to(conn, "ann@example.com")
        assert len(mails) == 2
        assert all(any(t.code in m.body for m in mails) for t in tickets)
        payment = conn.execute(
            sa.text(
                "SELECT gross, stripe_fee, charge_id FROM payments.card_payments WHERE id = :p"
            ),
            {"p": checkout.payment_intent_id},
        ).one()
        assert tuple(payment) == (
            5_000,
            5_000 * 29 // 1000 + 30,
            charge_of(checkout.payment_intent_id),
        )
    # Redelivered under another event id: the payment is booked once, the tickets issued once.
    store(engine, _event(gateway, "payment_intent.succeeded", checkout))
    assert drain(engine, handlers) == ["handled"]
    with engine.connect() as conn:
        assert len(tk.tickets_of(conn, checkout.order_id)) == 2
        assert len(messages(conn, "order.paid")) == 1
        assert inbox_problems(conn) == []
    _check_all(engine)


def test_a_failed_payment_releases_the_hold(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = _checkout(engine, gateway, world, "k1", (2, 1))
    with engine.begin() as conn:
        assert tk.payment_failed(conn, checkout.order_id, cause="evt-1")
    with engine.begin() as conn:
        assert not tk.payment_failed(conn, checkout.order_id, cause="evt-1")
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.cancel_reason) == ("cancelled", "payment failed or cancelled")
        assert statuses(conn, checkout.order_id) == ["released"] * 3
        assert (counters(conn, world.ga).held, counters(conn, world.types[1]).held) == (0, 0)
        assert [m.payload["status"] for m in messages(conn, "order.cancelled")] == ["cancelled"]
    # A paid order's failure (a stray, older attempt's event) changes nothing.
    paid = _paid(engine, gateway, world, "k2")
    with engine.begin() as conn:
        assert not tk.payment_failed(conn, paid.order_id, cause="evt-2")
        assert tk.get_order(conn, paid.order_id).status == "paid"
    _check_all(engine)


def test_a_canceled_event_releases_the_hold(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1", (3,))
    keep = _checkout(engine, gateway, world, "k2", (1,))
    store(engine, _event(gateway, "payment_intent.canceled", checkout))
    assert drain(engine, handlers) == ["handled"]
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "cancelled"
        assert tk.get_order(conn, keep.order_id).status == "awaiting_payment"
        assert statuses(conn, checkout.order_id) == ["released"] * 3
        c = counters(conn, world.ga)
        assert (c.held, c.held_tickets) == (1, 1)
        (row,) = conn.execute(
            sa.text("""SELECT event, cause FROM ticketing.transitions
                        WHERE subject_id = :id"""),
            {"id": checkout.order_id},
        ).all()
        assert row.event == "cancel" and row.cause.startswith("evt_")
    _check_all(engine)


def test_the_sweeper_releases_expired_holds(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    # A checkout is recorded only within its hold: both holds end once recorded.
    instant = _checkout(engine, gateway, world, "k1", (1,))
    backdated = _checkout(engine, gateway, world, "k2", (2,))
    live = _checkout(engine, gateway, world, "k3", (1,))
    _expire(engine, instant.order_id, timedelta(seconds=1))
    _expire(engine, backdated.order_id)
    with engine.begin() as conn:
        assert tk.expire_holds(conn) == 2
    with engine.begin() as conn:
        assert tk.expire_holds(conn) == 0  # asked once
    # Cancel first: the seats stay held until Stripe says the intents are canceled.
    with engine.connect() as conn:
        for gone in (instant, backdated):
            assert tk.get_order(conn, gone.order_id).status == "awaiting_payment"
            assert set(statuses(conn, gone.order_id)) == {"held"}
            assert len(cancel_tasks(conn, [gone.order_id])) == 1
        assert (counters(conn, world.ga).held, counters(conn, world.ga).held_tickets) == (4, 4)
    assert run_cancel_tasks(engine, gateway.stripe) == 2
    assert {gateway.intents[g.payment_intent_id].status for g in (instant, backdated)} == {
        "canceled"
    }
    with engine.connect() as conn:
        for gone in (instant, backdated):
            order = tk.get_order(conn, gone.order_id)
            assert (order.status, order.cancel_reason) == ("cancelled", "hold expired")
            assert set(statuses(conn, gone.order_id)) == {"released"}
        assert tk.get_order(conn, live.order_id).status == "awaiting_payment"
        c = counters(conn, world.ga)
        assert (c.held, c.held_tickets) == (1, 1)
        assert audit(conn, instant.order_id) == [("awaiting_payment", "cancelled", "cancel")]
    # The seats are free again.
    assert _checkout(engine, gateway, world, "k4", (4,)).amount == 10_000
    _check_all(engine)


@pytest.mark.parametrize("swept", [True, False], ids=["swept", "not-yet-swept"])
def test_a_payment_after_expiry_issues_nothing_and_is_refunded_in_full(
    engine: sa.Engine, gateway: Gateway, world: World, swept: bool
) -> None:
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1", (2, 1))
    _expire(engine, checkout.order_id)
    if swept:
        with engine.begin() as conn:
            assert tk.expire_holds(conn) == 1
    store(engine, _event(gateway, "payment_intent.succeeded", checkout))
    store(engine, _event(gateway, "payment_intent.succeeded", checkout))  # another delivery
    assert drain(engine, handlers) == ["handled", "handled"]
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.paid, order.refunded) == ("cancelled", 13_000, 0)
        assert set(statuses(conn, checkout.order_id)) == {"released"}
        assert messages(conn, "ticket.issued") == []
        (task,) = [r for _, r in refund_requests(conn)]
        assert (task.order_id, task.payment_intent_id, task.amount, task.currency) == (
            str(checkout.order_id),
            checkout.payment_intent_id,
            13_000,
            "EUR",
        )
        assert task.reason == "late payment"
        assert (counters(conn, world.ga).held, counters(conn, world.ga).sold) == (0, 0)
    # Stripe confirms the refund: the order's amounts follow the ledger.
    with engine.begin() as conn:
        (refund,) = ask_stripe_for_refunds(conn, gateway)
    currency = gateway.intents[checkout.payment_intent_id].currency
    store(engine, stripe_event("refund.updated", refund_object(refund, currency)))
    assert drain(engine, handlers) == ["handled"]
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.paid, order.refunded) == ("cancelled", 13_000, 13_000)
        assert inbox_problems(conn) == []
    _check_all(engine)


def test_a_declined_card_keeps_the_hold(engine: sa.Engine, gateway: Gateway, world: World) -> None:
    """`payment_intent.payment_failed`: the intent still takes a payment (the buyer may try
    another card until the hold expires), so nothing is released."""
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1", (3,))
    store(engine, _event(gateway, "payment_intent.payment_failed", checkout))
    assert drain(engine, handlers) == ["handled"]
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
        assert statuses(conn, checkout.order_id) == ["held"] * 3
        assert counters(conn, world.ga).held == 3
        assert messages(conn, "order.cancelled") == []
    _check_all(engine)


@pytest.mark.parametrize("declined_first", [True, False], ids=["declined-first", "paid-first"])
def test_a_payment_after_a_declined_card_issues_in_either_order(
    engine: sa.Engine, gateway: Gateway, world: World, declined_first: bool
) -> None:
    """A declined card, then the buyer's next card succeeds: Stripe may deliver the two
    events either way round, and both end paid, nothing refunded (promise 9)."""
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1", (1,))
    declined = _event(gateway, "payment_intent.payment_failed", checkout)
    paid = _event(gateway, "payment_intent.succeeded", checkout)
    for event in (declined, paid) if declined_first else (paid, declined):
        store(engine, event)
    assert drain(engine, handlers) == ["handled", "handled"]
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.paid, order.refunded) == ("paid", 2_500, 0)
        assert refund_requests(conn) == []
    _check_all(engine)


# -- transfer, check-in ---------------------------------------------------------------------


def test_a_transfer_voids_the_old_code_and_issues_a_new_one(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = _paid(engine, gateway, world, "k1", (2,))
    with engine.begin() as conn:
        old, other = tk.tickets_of(conn, checkout.order_id)
        new = tk.transfer_ticket(conn, world.org, old.id, "cat@example.com", cause="gift")
    assert (new.status, new.holder_email, new.replaces, new.price) == (
        "issued",
        "cat@example.com",
        old.id,
        old.price,
    )
    assert new.code != old.code and new.order_id == checkout.order_id
    with engine.begin() as conn, pytest.raises(tk.InvalidTransition) as refused:
        tk.check_in(conn, world.org, old.code, "door-1")
    assert (refused.value.state, refused.value.event, refused.value.subject_id) == (
        "void",
        "check_in",
        str(old.id),
    )
    with engine.begin() as conn:
        scanned = tk.check_in(conn, world.org, new.code, "door-1")
    assert (scanned.status, scanned.checked_in_by) == ("checked_in", "door-1")
    with engine.begin() as conn, pytest.raises(tk.InvalidTransition) as again:
        tk.transfer_ticket(conn, world.org, old.id, "dan@example.com", cause="again")
    assert (again.value.state, again.value.event) == ("void", "transfer_away")
    with engine.begin() as conn, pytest.raises(tk.InvalidTransition) as used:
        tk.transfer_ticket(conn, world.org, new.id, "dan@example.com", cause="after the door")
    assert (used.value.state, used.value.event) == ("checked_in", "transfer_away")
    with engine.begin() as conn, pytest.raises(tk.InvalidRequest):
        tk.transfer_ticket(conn, world.org, other.id, "not an address", cause="typo")
    with engine.begin() as conn, pytest.raises(tk.TicketNotFound):
        tk.transfer_ticket(conn, uuid.uuid4(), other.id, "dan@example.com", cause="other org")
    with engine.connect() as conn:
        assert statuses(conn, checkout.order_id) == ["checked_in", "issued", "void"]
        assert (counters(conn, world.ga).sold, counters(conn, world.ga).valid_tickets) == (2, 2)
        (moved,) = [m.payload for m in messages(conn, "ticket.transferred")]
        assert (moved["ticket_id"], moved["code"]) == (str(new.id), new.code)
        assert [m.subject for m in emails_to(conn, "cat@example.com")] == ["A ticket for you"]
        assert audit(conn, old.id) == [
            ("held", "issued", "issue"),
            ("issued", "void", "transfer_away"),
        ]
        assert audit(conn, new.id) == [
            ("held", "issued", "issue"),
            ("issued", "checked_in", "check_in"),
        ]
    _check_all(engine)


def test_a_ticket_is_checked_in_once(engine: sa.Engine, gateway: Gateway, world: World) -> None:
    checkout = _paid(engine, gateway, world, "k1", (1,))
    unpaid = _checkout(engine, gateway, world, "k2", (1,))
    with engine.connect() as conn:
        (ticket,) = tk.tickets_of(conn, checkout.order_id)
        (held,) = tk.tickets_of(conn, unpaid.order_id)
    with engine.begin() as conn:
        first = tk.check_in(conn, world.org, ticket.code, "door-1")
    assert first.checked_in_at is not None
    with engine.begin() as conn, pytest.raises(tk.AlreadyCheckedIn) as twice:
        tk.check_in(conn, world.org, ticket.code, "door-2")
    assert twice.value.ticket_id == str(ticket.id)
    assert twice.value.checked_in_by == "door-1"
    assert datetime.fromisoformat(twice.value.checked_in_at) == first.checked_in_at
    assert "door-1" in str(twice.value)
    with engine.begin() as conn, pytest.raises(tk.InvalidTransition) as not_paid:
        tk.check_in(conn, world.org, held.code, "door-1")
    assert (not_paid.value.state, not_paid.value.event) == ("held", "check_in")
    for org, code in ((world.org, "no-such-code"), (uuid.uuid4(), ticket.code)):
        with engine.begin() as conn, pytest.raises(tk.TicketNotFound):
            tk.check_in(conn, org, code, "door-1")
    with engine.connect() as conn:
        assert [m.payload["status"] for m in messages(conn, "ticket.checked_in")] == ["checked_in"]
    _check_all(engine)


def test_the_check_in_time_is_the_databases(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """Time comes from the database (GUIDE: every session agrees): the check-in is stamped
    with the scanning transaction's time."""
    checkout = _paid(engine, gateway, world, "k1", (1,))
    with engine.begin() as conn:
        (ticket,) = tk.tickets_of(conn, checkout.order_id)
        scanned = tk.check_in(conn, world.org, ticket.code, "door-1")
        now = conn.execute(sa.text("SELECT now()")).scalar_one()
    assert scanned.checked_in_at == now


# -- refunds --------------------------------------------------------------------------------


def test_refunds_of_single_tickets_then_of_the_whole_order(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = _paid(engine, gateway, world, "k1", (3,))
    with engine.connect() as conn:
        first, second, third = tk.tickets_of(conn, checkout.order_id)
    with engine.begin() as conn:
        r1 = tk.refund_tickets(conn, world.org, checkout.order_id, [first.id], idempotency_key="r1")
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.paid, order.refunded) == ("partially_refunded", 7_500, 0)
        assert (counters(conn, world.ga).sold, counters(conn, world.ga).valid_tickets) == (2, 2)
    with engine.begin() as conn:
        tk.check_in(conn, world.org, second.code, "door-1")
        r2 = tk.refund_tickets(conn, world.org, checkout.order_id, [third.id], idempotency_key="r2")
    with engine.begin() as conn:
        # None: every ticket still valid, the checked-in one included
        r3 = tk.refund_tickets(conn, world.org, checkout.order_id, None, idempotency_key="r3")
    assert len({r1, r2, r3}) == 3
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert order.status == "refunded"
        assert statuses(conn, checkout.order_id) == ["refunded"] * 3
        assert (counters(conn, world.ga).held, counters(conn, world.ga).sold) == (0, 0)
        tasks = refund_requests(conn, checkout.order_id)
        assert [(t.amount, t.refund_id) for _, t in tasks] == [
            (2_500, str(r1)),
            (2_500, str(r2)),
            (2_500, str(r3)),
        ]
        assert {t.payment_intent_id for _, t in tasks} == {checkout.payment_intent_id}
        assert [m.payload["status"] for m in messages(conn, "order.refunded")] == [
            "partially_refunded",
            "partially_refunded",
            "refunded",
        ]
        assert len(messages(conn, "ticket.refunded")) == 3
        assert [e for _, _, e in audit(conn, checkout.order_id)] == [
            "pay",
            "refund_part",
            "refund_part",
            "refund_all",
        ]
    # The seats are free again.
    assert _checkout(engine, gateway, world, "k2", (5,)).amount == 12_500
    # Stripe refunds; as escrow books each refund, the order's refunded amount follows.
    with engine.begin() as conn:
        refunds = ask_stripe_for_refunds(conn, gateway)
    for i, refund in enumerate(refunds, start=1):
        with engine.begin() as conn:
            assert book_refund(conn, refund)
            assert tk.get_order(conn, checkout.order_id).refunded == 2_500 * i
    with engine.begin() as conn:
        assert not book_refund(conn, refunds[0])
        assert tk.get_order(conn, checkout.order_id).refunded == 7_500
    _check_all(engine)


def test_a_refund_retried_with_the_same_key_returns_the_same_refund(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = _paid(engine, gateway, world, "k1", (2,))
    with engine.connect() as conn:
        first, _ = tk.tickets_of(conn, checkout.order_id)
    with engine.begin() as conn:
        refund = tk.refund_tickets(
            conn, world.org, checkout.order_id, [first.id], idempotency_key="r1"
        )
    with engine.begin() as conn:
        again = tk.refund_tickets(
            conn, world.org, checkout.order_id, [first.id], idempotency_key="r1"
        )
    assert again == refund
    with engine.begin() as conn:
        assert ask_stripe_for_refunds(conn, gateway) == ask_stripe_for_refunds(conn, gateway)
    with engine.connect() as conn:
        assert len(refund_requests(conn)) == 1
        assert counters(conn, world.ga).sold == 1
        assert tk.get_order(conn, checkout.order_id).status == "partially_refunded"
    assert len(gateway.refunds) == 1
    _check_all(engine)


def test_a_refund_key_reused_for_another_refund_is_a_conflict(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """A key names one request (GUIDE 8): used again for another order, or other tickets,
    it is refused; silently answering with the first refund would tell the caller that an
    order was refunded when it was not."""
    first = _paid(engine, gateway, world, "k1", (2,))
    second = _paid(engine, gateway, world, "k2", (1,))
    with engine.connect() as conn:
        a, b = tk.tickets_of(conn, first.order_id)
    with engine.begin() as conn:
        tk.refund_tickets(conn, world.org, first.order_id, [a.id], idempotency_key="r1")
    for order_id, tickets in ((first.order_id, [b.id]), (second.order_id, None)):
        with engine.begin() as conn, pytest.raises(tk.IdempotencyConflict) as conflict:
            tk.refund_tickets(conn, world.org, order_id, tickets, idempotency_key="r1")
        assert conflict.value.idempotency_key == "r1"


def test_a_refund_confirmed_by_stripes_events(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1", (1, 1))
    store(engine, _event(gateway, "payment_intent.succeeded", checkout))
    drain(engine, handlers)
    with engine.begin() as conn:
        tk.refund_tickets(conn, world.org, checkout.order_id, None, idempotency_key="r1")
        (refund,) = ask_stripe_for_refunds(conn, gateway)
    assert refund.amount == 10_500
    pending = stripe_event("refund.updated", refund_object(refund, "eur", status="pending"))
    store(engine, pending)
    drain(engine, handlers)
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).refunded == 0
    done = stripe_event("refund.updated", refund_object(refund, "eur"))
    store(engine, done)
    store(engine, stripe_event("refund.updated", refund_object(refund, "eur")))
    assert drain(engine, handlers) == ["handled", "handled"]
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.paid, order.refunded) == ("refunded", 10_500, 10_500)
        booked = conn.execute(
            sa.text("SELECT amount, failed FROM payments.card_refunds WHERE payment_id = :p"),
            {"p": checkout.payment_intent_id},
        ).all()
        assert [tuple(b) for b in booked] == [(10_500, False)]
        assert inbox_problems(conn) == []
    _check_all(engine)


def test_refunds_that_cannot_be(engine: sa.Engine, gateway: Gateway, world: World) -> None:
    unpaid = _checkout(engine, gateway, world, "k1", (1,))
    with engine.begin() as conn, pytest.raises(tk.InvalidTransition) as not_paid:
        tk.refund_tickets(conn, world.org, unpaid.order_id, None, idempotency_key="r1")
    assert (not_paid.value.state, not_paid.value.event) == ("awaiting_payment", "refund")
    paid = _paid(engine, gateway, world, "k2", (1,))
    with engine.begin() as conn, pytest.raises(tk.OrderNotFound):
        tk.refund_tickets(conn, uuid.uuid4(), paid.order_id, None, idempotency_key="r2")
    with engine.begin() as conn, pytest.raises(tk.TicketNotFound):
        tk.refund_tickets(conn, world.org, paid.order_id, [uuid.uuid4()], idempotency_key="r3")
    with engine.begin() as conn:
        tk.refund_tickets(conn, world.org, paid.order_id, None, idempotency_key="r4")
    with engine.begin() as conn, pytest.raises(tk.InvalidTransition) as twice:
        tk.refund_tickets(conn, world.org, paid.order_id, None, idempotency_key="r5")
    assert (twice.value.state, twice.value.event) == ("refunded", "refund")
    with engine.connect() as conn:
        assert len(refund_requests(conn)) == 1
    _check_all(engine)


# -- event cancellation ---------------------------------------------------------------------


def test_cancelling_an_event_cancels_unpaid_orders_and_refunds_every_paid_one(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    unpaid = _checkout(engine, gateway, world, "unpaid", (1,))
    paid = _paid(engine, gateway, world, "paid", (1, 1), buyer="bob@example.com")
    partly = _paid(engine, gateway, world, "partly", (2,), buyer="cat@example.com")
    scanned = _paid(engine, gateway, world, "scanned", (0, 1), buyer="dan@example.com")
    failed = _checkout(engine, gateway, world, "failed", (1,))
    with engine.begin() as conn:
        first, _ = tk.tickets_of(conn, partly.order_id)
        tk.refund_tickets(conn, world.org, partly.order_id, [first.id], idempotency_key="r1")
        (ticket,) = tk.tickets_of(conn, scanned.order_id)
        tk.check_in(conn, world.org, ticket.code, "door-1")
        tk.payment_failed(conn, failed.order_id, cause="evt-failed")
    with engine.begin() as conn:
        assert tk.cancel_event(conn, world.org, world.event) == 3
    with engine.connect() as conn:
        got = {
            name: tk.get_order(conn, c.order_id).status
            for name, c in [
                ("unpaid", unpaid),
                ("paid", paid),
                ("partly", partly),
                ("scanned", scanned),
                ("failed", failed),
            ]
        }
        assert got == {
            "unpaid": "cancelled",
            "paid": "refunded",
            "partly": "refunded",
            "scanned": "refunded",
            "failed": "cancelled",
        }
        assert tk.get_order(conn, unpaid.order_id).cancel_reason == "event cancelled"
        refunds = {
            (r.order_id, r.amount, r.reason)
            for _, r in refund_requests(conn)
            if r.reason != "requested by the buyer"
        }
        assert refunds == {
            (str(paid.order_id), 10_500, "event cancelled"),
            (str(partly.order_id), 2_500, "event cancelled"),
            (str(scanned.order_id), 8_000, "event cancelled"),
        }
        for type_id in world.types:
            c = counters(conn, type_id)
            assert (c.held, c.sold, c.held_tickets, c.valid_tickets) == (0, 0, 0, 0)
    with engine.begin() as conn:
        assert tk.cancel_event(conn, world.org, world.event) == 0
    with engine.begin() as conn, pytest.raises(tk.EventNotFound):
        tk.cancel_event(conn, uuid.uuid4(), world.event)
    with engine.begin() as conn:
        assert len(refund_requests(conn)) == 4
        # The unpaid buyer pays after all: refunded in full, no ticket.
        assert pay(conn, world, unpaid, cause="evt-late") == "refunded"
        assert statuses(conn, unpaid.order_id) == ["released"]
    _check_all(engine)


def test_an_event_cancelled_during_a_dispute_still_refunds_the_order(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """The order is disputed when the event is cancelled; the organizer then wins the
    dispute. The buyer paid for an event that will not happen: the order must end refunded
    (or a refund requested), not paid with valid tickets and the money kept."""
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1", (2,))
    store(engine, _event(gateway, "payment_intent.succeeded", checkout))
    drain(engine, handlers)
    dispute = new_id("dp")
    pi = checkout.payment_intent_id
    store(engine, _dispute_event("created", dispute, pi, 5_000, "needs_response"))
    drain(engine, handlers)
    with engine.begin() as conn:
        tk.cancel_event(conn, world.org, world.event)
    store(engine, _dispute_event("closed", dispute, pi, 5_000, "won"))
    drain(engine, handlers)
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        requested = sum(r.amount for _, r in refund_requests(conn, checkout.order_id))
        assert order.status == "refunded" or requested == checkout.amount, (
            order.status,
            statuses(conn, checkout.order_id),
            requested,
        )
        assert counters(conn, world.ga).valid_tickets == 0


# -- disputes -------------------------------------------------------------------------------


def _dispute_event(
    kind: str, dispute: str, pi: str | None, amount: int, status: str, *, charge: str | None = None
) -> StripeObject:
    """Stripe's charge.dispute.`kind` event of a euro dispute of `pi`'s charge (or of
    `charge`: with `pi` None, the dispute names no payment intent)."""
    if charge is None:
        assert pi is not None
        charge = charge_of(pi)
    return stripe_event(
        f"charge.dispute.{kind}",
        dispute_object(
            dispute,
            payment_intent_id=pi,
            charge_id=charge,
            amount=amount,
            currency="eur",
            status=status,
        ),
    )


def _disputed(
    engine: sa.Engine, gateway: Gateway, world: World, key: str, quantities: tuple[int, ...]
) -> tuple[tk.Checkout, str]:
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, key, quantities)
    store(engine, _event(gateway, "payment_intent.succeeded", checkout))
    drain(engine, handlers)
    dispute = new_id("dp")
    pi = checkout.payment_intent_id
    store(engine, _dispute_event("created", dispute, pi, checkout.amount, "needs_response"))
    assert drain(engine, handlers) == ["handled"]
    return checkout, dispute


def _close(
    engine: sa.Engine, gateway: Gateway, checkout: tk.Checkout, dispute: str, status: str
) -> None:
    pi = checkout.payment_intent_id
    store(engine, _dispute_event("closed", dispute, pi, checkout.amount, status))
    assert drain(engine, ticketing_handlers(gateway)) == ["handled"]


def test_a_dispute_freezes_the_order_and_a_won_one_gives_it_back(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout, dispute = _disputed(engine, gateway, world, "k1", (2,))
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "disputed"
        assert statuses(conn, checkout.order_id) == ["issued", "issued"]
        assert [m.payload["status"] for m in messages(conn, "order.disputed")] == ["disputed"]
    _close(engine, gateway, checkout, dispute, "won")
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "paid"
        assert statuses(conn, checkout.order_id) == ["issued", "issued"]
        assert [e for _, _, e in audit(conn, checkout.order_id)] == [
            "pay",
            "dispute",
            "dispute_won",
        ]
        assert inbox_problems(conn) == []
    _check_all(engine)


def test_a_dispute_won_after_a_partial_refund_is_partially_refunded_again(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = _checkout(engine, gateway, world, "k1", (2,))
    handlers = ticketing_handlers(gateway)
    store(engine, _event(gateway, "payment_intent.succeeded", checkout))
    drain(engine, handlers)
    with engine.begin() as conn:
        first, _ = tk.tickets_of(conn, checkout.order_id)
        tk.refund_tickets(conn, world.org, checkout.order_id, [first.id], idempotency_key="r1")
    dispute = new_id("dp")
    pi = checkout.payment_intent_id
    store(engine, _dispute_event("created", dispute, pi, 2_500, "needs_response"))
    drain(engine, handlers)
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "disputed"
    store(engine, _dispute_event("closed", dispute, pi, 2_500, "won"))
    drain(engine, handlers)
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "partially_refunded"
        assert [e for _, _, e in audit(conn, checkout.order_id)] == [
            "pay",
            "refund_part",
            "dispute",
            "dispute_won",
        ]
    _check_all(engine)


def test_a_lost_dispute_invalidates_the_tickets(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout, dispute = _disputed(engine, gateway, world, "k1", (2, 1))
    with engine.begin() as conn:
        ticket = tk.tickets_of(conn, checkout.order_id)[0]
        tk.check_in(conn, world.org, ticket.code, "door-1")
    _close(engine, gateway, checkout, dispute, "lost")
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "refunded"
        assert statuses(conn, checkout.order_id) == ["invalidated"] * 3
        assert len(messages(conn, "ticket.invalidated")) == 3
        lost = conn.execute(
            sa.text("SELECT status FROM payments.card_disputes WHERE id = :id"), {"id": dispute}
        ).scalar_one()
        assert lost == "lost"
        assert inbox_problems(conn) == []
        check_audit_trail(conn)
        check_balanced(conn)
    with engine.connect() as conn:
        others = tk.tickets_of(conn, checkout.order_id)
    with engine.begin() as conn, pytest.raises(tk.InvalidTransition) as refused:
        tk.check_in(conn, world.org, others[1].code, "door-1")
    assert (refused.value.state, refused.value.event) == ("invalidated", "check_in")
    with engine.begin() as conn, pytest.raises(tk.InvalidTransition):
        tk.refund_tickets(conn, world.org, checkout.order_id, None, idempotency_key="r1")


def test_a_lost_dispute_gives_the_seats_back(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """Invalidated tickets hold no seat, as refunded ones do not: the counters equal the
    tickets still held, issued or checked in."""
    checkout, dispute = _disputed(engine, gateway, world, "k1", (2,))
    _close(engine, gateway, checkout, dispute, "lost")
    with engine.connect() as conn:
        c = counters(conn, world.ga)
        assert (c.sold, c.valid_tickets) == (0, 0), c
        check_capacity(conn)


def test_a_dispute_naming_only_the_charge_reaches_the_order(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """A Dispute carries the charge; its `payment_intent` may be null (Stripe's own example
    has it null). Escrow finds the payment by the charge; the order must follow it, or a
    lost chargeback leaves the tickets valid."""
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1", (1,))
    store(engine, _event(gateway, "payment_intent.succeeded", checkout))
    drain(engine, handlers)
    dispute = new_id("dp")
    charge = charge_of(checkout.payment_intent_id)
    store(engine, _dispute_event("created", dispute, None, 2_500, "needs_response", charge=charge))
    drain(engine, handlers)
    with engine.connect() as conn:
        frozen = conn.execute(
            sa.text("SELECT count(*) FROM payments.card_disputes WHERE id = :id"), {"id": dispute}
        ).scalar_one()
        assert frozen == 1  # escrow has it
        assert tk.get_order(conn, checkout.order_id).status == "disputed"


# -- the machines: audit, typed refusals, diagrams ------------------------------------------


def test_every_transition_leaves_an_audit_row(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = _paid(engine, gateway, world, "k1", (2,))
    expired = _checkout(engine, gateway, world, "k2", (1,))
    _expire(engine, expired.order_id)  # recorded within its hold, which then ended
    sweep(engine, gateway.stripe)
    with engine.begin() as conn:
        a, b = tk.tickets_of(conn, checkout.order_id)
        moved = tk.transfer_ticket(conn, world.org, a.id, "cat@example.com", cause="gift")
        tk.check_in(conn, world.org, moved.code, "door-1")
        tk.refund_tickets(conn, world.org, checkout.order_id, [b.id], idempotency_key="r1")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""SELECT subject, subject_id, from_state, to_state, event, cause, org_id
                         FROM ticketing.transitions ORDER BY id""")
        ).all()
        check_audit_trail(conn)
    assert {r.org_id for r in rows} == {world.org}
    assert all(r.cause for r in rows)
    trail = [(r.subject, r.from_state, r.to_state, r.event) for r in rows]
    assert trail.count(("order", "awaiting_payment", "paid", "pay")) == 1
    assert trail.count(("ticket", "held", "issued", "issue")) == 3  # two paid, one transferred
    assert ("order", "awaiting_payment", "cancelled", "cancel") in trail
    assert ("ticket", "held", "released", "release") in trail
    assert ("ticket", "issued", "void", "transfer_away") in trail
    assert ("ticket", "issued", "checked_in", "check_in") in trail
    assert ("order", "paid", "partially_refunded", "refund_part") in trail
    assert ("ticket", "issued", "refunded", "refund") in trail
    assert len(rows) == 10
    assert {r.subject_id for r in rows if r.subject == "order"} == {
        checkout.order_id,
        expired.order_id,
    }
    with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError):
        conn.execute(sa.text("DELETE FROM ticketing.transitions"))


def test_invalid_transitions_name_the_state_and_the_event(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = _checkout(engine, gateway, world, "k1", (1,))
    with engine.connect() as conn:
        (held,) = tk.tickets_of(conn, checkout.order_id)
    with engine.begin() as conn, pytest.raises(tk.InvalidTransition) as refused:
        tk.transfer_ticket(conn, world.org, held.id, "cat@example.com", cause="too early")
    error = refused.value
    assert (error.subject, error.subject_id, error.state, error.event) == (
        "ticket",
        str(held.id),
        "held",
        "transfer_away",
    )
    assert "held" in str(error) and "transfer_away" in str(error)
    assert isinstance(error, tk.TicketingError)
    with engine.connect() as conn:
        assert audit(conn, held.id) == []
        assert audit(conn, checkout.order_id) == []


class _Row:
    """A stored row as the machines see it: its status and the guards' facts."""

    def __init__(self, status: str, refunded: bool = False) -> None:
        self.status = status
        self.nothing_refunded = not refunded
        self.something_refunded = refunded


@pytest.mark.parametrize(
    ("machine", "state", "event", "target"),
    [
        (tk.OrderMachine, "awaiting_payment", "pay", "paid"),
        (tk.OrderMachine, "disputed", "dispute_won", "paid"),
        (tk.OrderMachine, "disputed", "dispute_lost", "refunded"),
        (tk.OrderMachine, "partially_refunded", "refund_part", "partially_refunded"),
        (tk.OrderMachine, "refunded", "pay", None),
        (tk.OrderMachine, "cancelled", "refund_all", None),
        (tk.OrderMachine, "awaiting_payment", "dispute", None),
        (tk.OrderMachine, "paid", "pay", None),
        (tk.TicketMachine, "held", "issue", "issued"),
        (tk.TicketMachine, "checked_in", "refund", "refunded"),
        (tk.TicketMachine, "checked_in", "check_in", None),
        (tk.TicketMachine, "void", "check_in", None),
        (tk.TicketMachine, "released", "issue", None),
        (tk.TicketMachine, "invalidated", "refund", None),
    ],
)
def test_the_machines_alone(
    machine: type[StateMachine], state: str, event: str, target: str | None
) -> None:
    row = _Row(state)
    if target is None:
        with pytest.raises(TransitionNotAllowed):
            machine(model=row, state_field="status").send(event)
        assert row.status == state
    else:
        machine(model=row, state_field="status").send(event)
        assert row.status == target


def test_a_dispute_won_after_a_refund_goes_back_to_partially_refunded() -> None:
    row = _Row("disputed", refunded=True)
    tk.OrderMachine(model=row, state_field="status").send("dispute_won")
    assert row.status == "partially_refunded"


def test_the_diagrams_come_from_the_machines() -> None:
    diagrams = tk.diagrams()
    assert set(diagrams) == {"ticket", "order"}
    for name, machine in (("ticket", tk.TicketMachine), ("order", tk.OrderMachine)):
        drawn = diagrams[name]
        assert drawn.startswith("stateDiagram-v2")
        assert drawn == format(machine, "mermaid")
        for state in machine.states:
            assert f" as {state.value}" in drawn
        for state in machine.final_states:
            assert f"{state.value} --> [*]" in drawn
    assert set(tk.TICKET_STATES) == {
        "held",
        "issued",
        "checked_in",
        "void",
        "released",
        "cancelled",
        "refunded",
        "invalidated",
    }
    assert {"refunded", "cancelled"} == tk.ORDER_FINAL
    assert {"void", "released", "cancelled", "refunded", "invalidated"} == tk.TICKET_FINAL


def test_the_diagrams_draw_every_transition() -> None:
    """Every transition the machines allow is drawn, the self-transitions included (a
    partially refunded order refunded in part again; a disputed order refunded in part)."""
    missing = []
    for name, machine in (("ticket", tk.TicketMachine), ("order", tk.OrderMachine)):
        drawn = tk.diagrams()[name]
        for state in machine.states:
            for t in state.transitions:
                if f"{t.source.id} --> {t.target.id}" not in drawn:
                    missing.append(f"{name}: {t.source.id} --> {t.target.id} ({t.event})")
    assert missing == []


def test_a_hold_that_commits_itself_as_the_api_runs_it(engine: sa.Engine, world: World) -> None:
    """`reserve_checkout(commit=True)`: one ticket type's hold is committed by its own round
    trip (the hot row is never locked while the client takes the answer); a refused hold
    commits nothing written and says why; the caller's commit then has nothing to do."""
    with engine.connect() as conn:
        pending = tk.reserve_checkout(conn, request(world, "c1", (2,)), commit=True)
        assert isinstance(pending, tk.PendingCheckout)
        with engine.connect() as other:  # committed: seen before the caller commits
            assert counters(other, world.ga).held == 2
            assert (
                other.execute(
                    sa.text("SELECT status FROM ticketing.orders WHERE id = :id"),
                    {"id": pending.order_id},
                ).scalar_one()
                == "awaiting_payment"
            )
        conn.commit()
        with pytest.raises(tk.SoldOut) as refused:  # 5 seats, 2 held
            tk.reserve_checkout(conn, request(world, "c2", (4,)), commit=True)
        assert refused.value.available == 3
        conn.rollback()
        with pytest.raises(tk.TicketTypeNotFound):
            tk.reserve_checkout(
                conn,
                tk.CheckoutRequest(
                    "c3",
                    world.org,
                    world.event,
                    "ann@example.com",
                    [tk.CheckoutItem(uuid.uuid4(), 1)],
                ),
                commit=True,
            )
        conn.rollback()
        # The same key again: the first checkout, holding nothing more.
        again = tk.reserve_checkout(conn, request(world, "c1", (2,)), commit=True)
        assert isinstance(again, tk.PendingCheckout) and again.order_id == pending.order_id
        conn.commit()
    with engine.connect() as conn:
        assert counters(conn, world.ga).held == 2


def test_a_hold_that_failed_is_prepared_again_on_its_connection(
    engine: sa.Engine, world: World
) -> None:
    """The hold's statements are prepared once per session, by its first hold: one that fails
    (the same key's order committed meanwhile by another session) rolls back, but its
    PREPARE stays (PostgreSQL does not undo one), and the next hold on that session runs."""
    fresh = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    first = engine.connect()
    racer = fresh.connect()  # a new session: nothing prepared yet
    try:
        # The first session holds under the key, not yet committed ...
        tk.reserve_checkout(first, request(world, "k1", (1,)))
        pid = racer.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        racer.commit()
        outcome: list[BaseException | object] = []

        def race() -> None:
            try:
                outcome.append(tk.reserve_checkout(racer, request(world, "k1", (1,)), commit=True))
            except BaseException as exc:  # the outcome is checked below
                outcome.append(exc)

        thread = threading.Thread(target=race)
        thread.start()
        # ... the racer's insert waits for the first's commit (a lock wait, seen as such) ...
        with engine.connect() as watch:
            while (
                thread.is_alive()
                and not watch.execute(
                    sa.text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"),
                    {"p": pid},
                ).scalar_one()
            ):
                watch.rollback()
        first.commit()
        thread.join()
        # ... and fails on the key: its transaction rolled back, its statements still prepared.
        assert len(outcome) == 1 and isinstance(outcome[0], sa.exc.IntegrityError)
        assert key_taken(outcome[0])
        racer.rollback()
        again = tk.reserve_checkout(racer, request(world, "k2", (1,)), commit=True)
        assert isinstance(again, tk.PendingCheckout)
        racer.commit()
    finally:
        first.close()
        racer.close()
        fresh.dispose()
    with engine.connect() as conn:
        assert counters(conn, world.ga).held == 2
