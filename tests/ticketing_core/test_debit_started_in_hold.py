"""A bank debit started within the hold is paid in time (issue 11, promise 9). A buyer paying by
SEPA or ACH debit confirms on the checkout page; the PaymentIntent is then `processing` for days
(Stripe refuses to cancel it: the sweeper's ask is refused, noted, the seats held), and
`payment_intent.succeeded` arrives when the debit succeeds, its `created` days after the hold.
The payment is judged by when the buyer paid: the earlier of the event's `created` and the
charge's (read from Stripe with the platform's key by the handler's prepare; Stripe makes the
charge when the buyer confirms: a card's at its success, a debit's at its start), each taken only
if a payment of the order can have it. Before, the event's `created` alone judged it: the order
was cancelled and refunded in full after its seats were held for days (Flaky's probe).

Against the Stripe stand-in over HTTP (the application's gateway), with the application's cancel
task; the stand-in makes the debit's charge when it starts (`processing`, at the test's moment).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway, StripeSettings
from tests.ticketing_core.cancels import asked_ago, run_cancel_tasks, sweep_alone
from tests.ticketing_core.support import (
    Gateway,
    World,
    captured,
    checkout_two,
    drain,
    statuses,
    store,
    ticketing_handlers,
)
from tests.ticketing_core.test_cancel_first import (
    PAID_IN_TIME,
    PAID_LATE,
    _check_all,
    _end_state,
    _orders,
)
from tests.ticketing_core.test_paid_within_hold import _hold_ended
from ticketing_fsm import outcomes
from ticketing_fsm import store as tk_store


def _deliver(engine: sa.Engine, gateway: Gateway, event: dict[str, object]) -> None:
    """Stripe's event stored (twice under its id, once more under another) and handled."""
    assert store(engine, event)
    assert not store(engine, event)
    store(engine, {**event, "id": f"{event['id']}-again"})
    assert drain(engine, ticketing_handlers(gateway)) == ["handled", "handled"]


def test_a_debit_started_within_the_hold_and_succeeding_days_after_issues_the_tickets(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """Flaky's probe: the debit starts within the hold; the sweeper asks, Stripe says
    `processing`, noted, the seats held (asked again at the grace, still so); days later
    the debit succeeds and Stripe's event (created then) arrives: tickets issued, escrow
    credited, nothing refunded."""
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    ended = _hold_ended(engine, checkout.order_id, timedelta(days=3))
    gateway.account.processing(pi, at=ended - 30)  # 1) the debit starts within the hold
    assert sweep_alone(engine) == 1  # 2) the sweeper asks ...
    assert run_cancel_tasks(engine, gateway.stripe) == 1
    with engine.connect() as conn:
        assert tk.cancel_refused(conn, checkout.order_id) == "processing"  # ... refused, noted
        assert set(statuses(conn, checkout.order_id)) == {"held"}
    asked_ago(engine, checkout.order_id, timedelta(days=2))
    # the grace: asked again, not released
    assert sweep_alone(engine, grace=timedelta(hours=1)) == 1
    assert run_cancel_tasks(engine, gateway.stripe) == 2  # the first replays its refusal
    with engine.connect() as conn:
        assert set(statuses(conn, checkout.order_id)) == {"held"}
    event = gateway.account.succeed(pi)  # 3) days later the debit succeeds
    assert event["created"] > ended + 86_400
    _deliver(engine, gateway, event)  # 4) its event: paid in time
    assert _end_state(engine, world, checkout) == PAID_IN_TIME
    assert gateway.intents[pi].status == "succeeded"
    assert gateway.refunds == {}
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
    assert (order.paid, order.refunded) == (5_000, 0)  # escrow credited, nothing refunded
    _check_all(engine)


def test_a_debit_started_after_the_hold_and_succeeding_later_is_refunded(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """The debit started 30 s after the hold ended, before the sweeper's ask reached Stripe
    (refused: `processing`); it succeeds a day later: refunded in full, as any payment made
    after the hold."""
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    ended = _hold_ended(engine, checkout.order_id, timedelta(days=1))
    gateway.account.processing(pi, at=ended + 30)
    assert sweep_alone(engine) == 1
    assert run_cancel_tasks(engine, gateway.stripe) == 1
    with engine.connect() as conn:
        assert tk.cancel_refused(conn, checkout.order_id) == "processing"
    _deliver(engine, gateway, gateway.account.succeed(pi))
    assert _end_state(engine, world, checkout) == PAID_LATE
    _check_all(engine)


@pytest.mark.parametrize("declined_first", [False, True], ids=["card", "debit-failed-then-card"])
def test_a_card_paid_after_the_hold_is_refunded_as_before(
    engine: sa.Engine, gateway: Gateway, world: World, declined_first: bool
) -> None:
    """A card paid after the hold (its charge made then): refunded in full, as before. Also
    when a debit started within the hold failed first: that charge failed, and the card's,
    made after the hold, is the payment's."""
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    if declined_first:
        gateway.account.processing(pi, at=ended - 30)
        gateway.account.fail(pi)
    _deliver(engine, gateway, gateway.account.succeed(pi))
    assert _end_state(engine, world, checkout) == PAID_LATE
    _check_all(engine)


@pytest.mark.parametrize("order", [o for o in _orders("STPE") if o.index("P") < o.index("E")])
def test_a_debit_started_in_time_ends_paid_in_any_order(
    engine: sa.Engine, gateway: Gateway, world: World, order: str
) -> None:
    """The debit started within the hold; the sweep (S), the cancel task (T: Stripe refuses,
    `processing` before the debit succeeds, `succeeded` after), the debit's success at Stripe
    (P) and its event handled (E: twice under its id, once under another) in every order."""
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    ended = _hold_ended(engine, checkout.order_id, timedelta(days=2))
    gateway.account.processing(pi, at=ended - 30)
    told: list[dict[str, object]] = []
    steps: dict[str, Callable[[], object]] = {
        "S": lambda: sweep_alone(engine),
        "T": lambda: run_cancel_tasks(engine, gateway.stripe),
        "P": lambda: told.append(gateway.account.succeed(pi)),
        "E": lambda: _deliver(engine, gateway, told[0]),
    }
    for letter in order:
        steps[letter]()
    assert _end_state(engine, world, checkout) == PAID_IN_TIME
    assert gateway.intents[pi].status == "succeeded"
    _check_all(engine)


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_the_long_ways_read_takes_the_earlier_trustworthy_moment(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """`store.orders.paying_order` (the long way's decision): the earlier of the event's and
    the charge's moments, each only if a payment of the order can have it."""
    checkout = checkout_two(engine, gateway, world, "k1")
    ended = _hold_ended(engine, checkout.order_id, timedelta(days=1))
    made = ended - int(tk.DEFAULT_HOLD.total_seconds())
    now = ended + 86_400

    def expired(paid: int | None, charged: int | None) -> bool:
        with engine.begin() as conn:
            found = tk_store.orders.paying_order(
                conn,
                checkout.order_id,
                None if paid is None else _at(paid),
                charged_at=None if charged is None else _at(charged),
            )
        assert found is not None
        return found[1]

    assert expired(now, ended - 30) is False  # a debit started in time, succeeded a day after
    assert expired(ended - 30, now) is False  # the event's the earlier (a card handled late)
    assert expired(now, ended + 30) is True  # started after the hold
    assert expired(None, ended - 30) is False
    assert expired(now, made - 3_600) is True  # a charge before the order: not taken
    assert expired(ended - 30, made - 3_600) is False  # ... the event's still is
    assert expired(None, now + 86_400) is True  # a charge after now: not taken (now)
    assert expired(None, None) is True


@pytest.mark.parametrize("charged", ["in-time", "none", "before-order"])
def test_the_payments_one_statement_takes_the_charges_moment(
    engine: sa.Engine, gateway: Gateway, world: World, charged: str
) -> None:
    """The payment's one statement (`store.paying.pay_after_capture`, escrow's terms known on
    the connection) pays a debit's order by its charge's moment within the hold, though
    Stripe's event came a day after; without it (or with one before the order was made) the
    order is left to the long way (no row: refunded there)."""
    warm = [checkout_two(engine, gateway, world, f"w{n}") for n in range(2)]
    checkout = checkout_two(engine, gateway, world, "k1")
    ended = _hold_ended(engine, checkout.order_id, timedelta(days=1))
    moment = {"in-time": ended - 30, "none": None, "before-order": ended - 86_400}[charged]
    with engine.connect() as conn:
        for w in warm:  # the event's escrow opened, then its terms read: known from now on
            assert tk.pay_for_intent(conn, captured(world, w), cause=f"evt-{w.order_id}") == (
                "issued"
            )
        payment = captured(world, checkout)
        call = escrow.capture_call(conn, payment, cause="evt")
        assert call is not None, "escrow's terms not known on this connection"
        rows = tk_store.paying.pay_after_capture(
            conn,
            call,
            payment.payment_id,
            outcomes._moves(),
            "evt",
            paid_at=_at(ended + 86_400),
            charged_at=None if moment is None else _at(moment),
        )
        assert rows[0].capture_outcome == "captured"
        assert rows[0].o_id == (checkout.order_id if charged == "in-time" else None)
        conn.rollback()


def test_the_stand_in_makes_a_debits_charge_when_it_starts(gateway: Gateway) -> None:
    """As Stripe does: the charge's `created` is the debit's start, not its success; a failed
    debit's charge is not the next payment's."""
    pi = gateway.stripe.create_payment_intent(1_000, "EUR", {}, f"k-{uuid.uuid4()}")
    started = int(datetime.now(UTC).timestamp()) - 86_400
    gateway.account.processing(pi.payment_intent_id, at=started)
    gateway.account.succeed(pi.payment_intent_id)
    facts = gateway.stripe.charge_facts(pi.payment_intent_id)
    assert facts.created == datetime.fromtimestamp(started, UTC)
    library = StripeGateway(StripeSettings(api_base=gateway.account.url, max_network_retries=0))
    library.intents = None  # the stripe library's read (the direct read's fallback)
    assert library.charge_facts(pi.payment_intent_id) == facts
    other = gateway.stripe.create_payment_intent(1_000, "EUR", {}, f"k-{uuid.uuid4()}")
    gateway.account.processing(other.payment_intent_id, at=started)
    gateway.account.fail(other.payment_intent_id)
    gateway.account.succeed(other.payment_intent_id)
    card = gateway.stripe.charge_facts(other.payment_intent_id).created
    assert card is not None and card > datetime.fromtimestamp(started + 3_600, UTC)
