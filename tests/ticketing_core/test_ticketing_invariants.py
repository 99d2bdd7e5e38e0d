"""Ticketing's invariants under random work: a hypothesis state machine on a real database.

Each example runs on a database emptied back to the migrated template (`scratch`), with one
organizer's event of two ticket types. The rules start checkouts (new keys, retried keys, keys
reused for other requests); pay at Stripe (each payment dated by the database's clock, in or
after its hold) and send Stripe's PaymentIntent events to the inbox (succeeded, in any order,
duplicated under the same or another event id; failed; canceled) and handle them at random
moments; pay orders directly (escrow's capture and ticketing's issue in one transaction);
start bank debits at Stripe (the intent `processing`, which Stripe refuses to cancel) and let
them fail or succeed; let holds expire and sweep them (each sweep checked by what it changed:
asked, asked again, released, as the sweeper's rule says); run the cancel tasks against the
Stripe stand-in and let the grace pass; transfer tickets and check them in; refund single
tickets and whole orders (retrying under the same key); run the refund tasks against the
Stripe stand-in and confirm its refunds (escrow.refund_payment, or `refund.updated` events);
and cancel the event. Every rule is one committed unit of work, as the application's edge runs
them; a refused one is checked to have left no trace.

After every step: per ticket type, held + sold never exceeds capacity and equals the tickets
held, issued or checked in; every valid ticket's order is paid in the ledger (its card
payment and entry); every refunded ticket is covered by a refund request of its order, and
a payment kept by a cancelled order is refunded in full; every refund Stripe confirmed is
booked (card_refunds, its entry) and the order's refunded amount follows the ledger; no
transition leaves a final state and every row's audit trail ends at its state; the trial
balance balances; nothing is left in the inbox unhandled; an order whose debit is under way
at Stripe was released by its hold's end only by the grace with Stripe never heard.

`LIVENTIX_HYPOTHESIS_EXAMPLES` and `LIVENTIX_HYPOTHESIS_STEPS` make the run longer.
"""

from __future__ import annotations

import math
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import escrow
import ticketing_fsm as tk
from liventix.testing.scratch import Scratch
from liventix.testing.stripe import CANCELABLE
from tests.ticketing_core.cancels import run_cancel_tasks
from tests.ticketing_core.support import (
    Gateway,
    ask_stripe_for_refunds,
    book_refund,
    captured,
    check_audit_trail,
    check_balanced,
    check_capacity,
    check_paid_in_ledger,
    drain,
    inbox_problems,
    open_world,
    payment_intent,
    refund_object,
    request,
    statuses,
    store,
    stripe_event,
    ticketing_handlers,
)
from ticketing_fsm import store as tk_store

# A failure prints its steps and a `@reproduce_failure` blob (put it on the test's `Machine`
# class to replay it): a CI clone's `.hypothesis` directory goes with the clone.
SETTINGS = settings(
    max_examples=int(os.environ.get("LIVENTIX_HYPOTHESIS_EXAMPLES", "20")),
    stateful_step_count=int(os.environ.get("LIVENTIX_HYPOTHESIS_STEPS", "25")),
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

CAPACITIES = (6, 4)
PRICES = (2_500, 8_000)
VALID = ("issued", "checked_in")
T = TypeVar("T")
E = TypeVar("E", bound=tk.TicketingError)

SEEN: Counter[str] = Counter()
"""What the runs reached (printed at the end: `pytest -s`)."""


def event(note: str) -> None:
    """Count an outcome for the summary (and for hypothesis's statistics)."""
    SEEN[note] += 1
    hypothesis_event(note)


picks = st.integers(min_value=0, max_value=10_000)
quantities = st.tuples(st.integers(0, 2), st.integers(0, 2)).filter(lambda q: sum(q) > 0)


# The orders' cancel-first columns, read before and after the sweeper's run in its own
# transaction (one `now()`): what it changed is what it acted on, whatever its statements.
_SWEEP_VIEW = sa.text("""
    SELECT id, status, cancel_reason, hold_expires_at < now() AS expired, cancel_requested_at,
           cancel_refused, cancel_refused_at, now() AS now
      FROM ticketing.orders""")

_NEW_TASKS = sa.text("""
    SELECT aggregate_id, count(*) FROM messaging.messages
     WHERE type = 'stripe.payment_intent.cancel.requested' AND created_at = now()
     GROUP BY aggregate_id""")

_ASKED = sa.text("""
    SELECT cancel_requested_at, cancel_refused, cancel_refused_at FROM ticketing.orders
     WHERE id = :id""")

_PAYMENT_MOMENT = sa.text("""
    SELECT now() <= hold_expires_at, extract(epoch FROM now()) FROM ticketing.orders
     WHERE id = :id""")

_RELEASED_BY = sa.text("""
    SELECT cause FROM ticketing.transitions
     WHERE subject_id = :id AND subject = 'order' AND event = 'cancel'""")

_HOLD_RUNS = sa.text("SELECT now() <= hold_expires_at FROM ticketing.orders WHERE id = :id")

_AGE_ASKS = sa.text("""
    UPDATE ticketing.orders
       SET cancel_requested_at = cancel_requested_at - CAST(:ago AS interval),
           cancel_refused_at = cancel_refused_at - CAST(:ago AS interval),
           hold_expires_at = hold_expires_at - CAST(:ago AS interval)
     WHERE cancel_requested_at IS NOT NULL
    RETURNING payment_intent_id""")

# Every release by the sweeper's grace (Stripe never answered) was followed by a new ask: a
# cancel task published for the order in that transaction or after it.
_ASKED_SINCE_RELEASE = sa.text("""
    SELECT NOT EXISTS (
        SELECT FROM ticketing.transitions t
         WHERE t.subject_id = CAST(:id AS uuid) AND t.event = 'cancel'
           AND t.cause = 'hold sweeper'
           AND NOT EXISTS (
               SELECT FROM messaging.messages m
                WHERE m.type = 'stripe.payment_intent.cancel.requested'
                  AND m.aggregate_id = CAST(:id AS text)
                  AND m.created_at >= t.created_at))""")


@dataclass
class OrderModel:
    """A checkout the model knows: its request and what the front end was given."""

    key: str
    quantities: tuple[int, int]
    checkout: tk.Checkout
    tickets: list[uuid.UUID] = field(default_factory=list)
    """The order's tickets in a replayable order (type, then creation; transfers last)."""
    refund_keys: dict[str, tuple[uuid.UUID, list[uuid.UUID] | None]] = field(default_factory=dict)
    """Refunds asked for: key -> (refund id, the tickets named, None for all)."""


class TicketingMachine(RuleBasedStateMachine):
    """Random checkouts, payments and their aftermath on an emptied database (`scratch`)."""

    scratch: ClassVar[Scratch]

    def __init__(self) -> None:
        super().__init__()
        self.engine = self.scratch.empty()
        with self.engine.begin() as conn:
            self.world = open_world(conn, capacities=CAPACITIES, prices=PRICES)
        self.gateway = Gateway()
        self.handlers = ticketing_handlers(self.gateway)
        self.orders: list[OrderModel] = []
        self.serial = 0
        self.event_ids: list[str] = []
        self.booked: dict[str, int] = {}
        """Stripe's refunds escrow has booked: refund id -> amount."""
        self.refunds_of: dict[str, int] = defaultdict(int)
        """Booked refunds per PaymentIntent."""
        self.cancelled = False
        self.pending_events = 0
        self.expired = False
        self.paid_at: dict[str, int] = {}
        """When each intent was paid at Stripe (`_pay_at_stripe`): PaymentIntent -> Unix s."""
        self.debits_in_time: set[str] = set()
        """Intents whose bank debit started within the hold and is not known to have failed
        (`debit_started`): their payment, whenever it succeeds, was made in time."""

    # Helpers ---------------------------------------------------------------------------

    def _next(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def _order(self, pick: int) -> OrderModel:
        return self.orders[pick % len(self.orders)]

    def _tickets(self) -> list[tuple[OrderModel, uuid.UUID]]:
        return [(o, t) for o in self.orders for t in o.tickets]

    def _ticket(self, ticket_id: uuid.UUID) -> tk.Ticket:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT order_id FROM ticketing.tickets WHERE id = :id"), {"id": ticket_id}
            ).scalar_one()
            (found,) = [t for t in tk.tickets_of(conn, row) if t.id == ticket_id]
        return found

    def _fingerprint(self) -> tuple[int, ...]:
        """Row counts a refused request must leave as they were, and the counters."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text("""SELECT
                    (SELECT count(*) FROM ticketing.orders),
                    (SELECT count(*) FROM ticketing.tickets),
                    (SELECT count(*) FROM ticketing.transitions),
                    (SELECT count(*) FROM ticketing.refunds),
                    (SELECT count(*) FROM messaging.messages),
                    (SELECT count(*) FROM payments.entries),
                    (SELECT coalesce(sum(held * 1000 + sold), 0) FROM ticketing.ticket_types)
                """)
            ).one()
        return tuple(int(v) for v in row)

    def _refused(self, fn: Callable[[sa.Connection], T], expected: type[E]) -> E:
        """Run a unit of work that must be refused with `expected`; it left no trace."""
        before = self._fingerprint()
        with pytest.raises(expected) as refused, self.engine.begin() as conn:
            fn(conn)
        assert self._fingerprint() == before
        return refused.value

    def _available(self, type_index: int) -> int:
        with self.engine.connect() as conn:
            left: int = conn.execute(
                sa.text("SELECT capacity - held - sold FROM ticketing.ticket_types WHERE id = :id"),
                {"id": self.world.types[type_index]},
            ).scalar_one()
        return left

    def _pay_at_stripe(self, order: OrderModel) -> int:
        """The buyer's payment succeeds at Stripe now, if it has not yet; returns when it did
        (Unix seconds), the `created` of Stripe's event about it however late that is sent.
        The moment is the database's, as the hold is: a payment while the hold runs is dated
        within it (its second rounded down: the hold ends at or after it), one after the hold
        ended after it (rounded up), whatever the sub-second timing of the steps (Python's
        clock against the hold's end made the outcome, issued or refunded, a race)."""
        payment_intent_id = order.checkout.payment_intent_id
        if payment_intent_id not in self.paid_at:
            with self.engine.connect() as conn:
                running, now = conn.execute(_PAYMENT_MOMENT, {"id": order.checkout.order_id}).one()
            self.paid_at[payment_intent_id] = math.floor(now) if running else math.ceil(now)
        self.gateway.paid(payment_intent_id)
        return self.paid_at[payment_intent_id]

    def _remember_tickets(self, order: OrderModel) -> None:
        with self.engine.connect() as conn:
            tickets = tk.tickets_of(conn, order.checkout.order_id)
        # Same-type tickets of one checkout are interchangeable: sorting by type keeps the
        # sequence replayable whatever their random ids.
        rank = {t: i for i, t in enumerate(self.world.types)}
        order.tickets = [t.id for t in sorted(tickets, key=lambda t: rank[t.ticket_type_id])]

    # Checkout ---------------------------------------------------------------------------

    @initialize(wanted=quantities)
    def first_checkout(self, wanted: tuple[int, int]) -> None:
        self.checkout(wanted)

    @rule(wanted=quantities)
    def checkout(self, wanted: tuple[int, int]) -> None:
        key = self._next("checkout")
        fits = all(self._available(i) >= n for i, n in enumerate(wanted))
        if self.cancelled or not fits:
            error = tk.NotOnSale if self.cancelled else tk.SoldOut
            event(f"checkout refused: {error.__name__}")
            self._refused(
                lambda conn: tk.reserve_checkout(conn, request(self.world, key, wanted)),
                error,
            )
            return
        checkout = tk.start_checkout(self.engine, self.gateway, request(self.world, key, wanted))
        assert not checkout.replayed
        assert checkout.amount == sum(p * n for p, n in zip(PRICES, wanted, strict=True))
        order = OrderModel(key, wanted, checkout)
        self._remember_tickets(order)
        assert len(order.tickets) == sum(wanted)
        self.orders.append(order)

    @precondition(lambda self: self.orders)
    @rule(pick=picks, same=st.booleans())
    def retry_checkout(self, pick: int, same: bool) -> None:
        order = self._order(pick)
        if same:
            before = self._fingerprint()
            again = tk.start_checkout(
                self.engine, self.gateway, request(self.world, order.key, order.quantities)
            )
            assert again.replayed and again.order_id == order.checkout.order_id
            assert again.payment_intent_id == order.checkout.payment_intent_id
            assert self._fingerprint() == before
        else:
            other = (order.quantities[0] + 1, order.quantities[1])
            self._refused(
                lambda conn: tk.reserve_checkout(conn, request(self.world, order.key, other)),
                tk.IdempotencyConflict,
            )

    # Stripe's events about the payment ---------------------------------------------------

    def _store(self, event: dict[str, Any], copies: int) -> None:
        self.pending_events += 1
        assert store(self.engine, event)
        for _ in range(copies - 1):
            assert not store(self.engine, event)  # the same event again: stored once

    @precondition(lambda self: self.orders)
    @rule(pick=picks, copies=st.integers(1, 3), another_id=st.booleans())
    def payment_succeeded_event(self, pick: int, copies: int, another_id: bool) -> None:
        order = self._order(pick)
        intent = self.gateway.intents[order.checkout.payment_intent_id]
        if intent.status == "canceled":  # the cancel task cancelled it: nobody can pay it
            event("no payment: its intent was cancelled at Stripe")
            return
        created = self._pay_at_stripe(order)  # Stripe tells once it succeeded (a debit too)
        succeeded = payment_intent(intent, "succeeded")
        self._store(
            {**stripe_event("payment_intent.succeeded", succeeded), "created": created}, copies
        )
        if another_id:  # delivered again under another event id: handled again, no effect
            again = stripe_event("payment_intent.succeeded", succeeded)
            self._store({**again, "created": created}, 1)

    @precondition(lambda self: self.orders)
    @rule(pick=picks, canceled=st.booleans())
    def payment_failed_event(self, pick: int, canceled: bool) -> None:
        order = self._order(pick)
        intent = self.gateway.intents[order.checkout.payment_intent_id]
        if canceled and intent.status == "processing":
            return  # Stripe refuses to cancel a debit under way: no such event
        if canceled and intent.status in CANCELABLE:
            # Stripe sends `canceled` for an intent it cancelled (the Dashboard, another
            # integration): cancelled at the stand-in first, so nobody pays it or starts a
            # debit on it afterwards. Sent for an intent still payable there, a debit started
            # later had its order released by this event while `processing` (found by
            # a_debit_under_way_keeps_its_seats: checkout, this event, debit_started,
            # the_grace_passes unreachable, handle_inbox).
            self.gateway.account.cancel_payment_intent(
                intent.id, reason="requested_by_customer", idempotency_key=self._next("cancel")
            )
        if canceled:
            event = stripe_event("payment_intent.canceled", payment_intent(intent, "canceled"))
        else:
            event = stripe_event(
                "payment_intent.payment_failed", payment_intent(intent, "requires_payment_method")
            )
        self._store(event, 1)

    @precondition(lambda self: self.pending_events)
    @rule()
    def handle_inbox(self) -> None:
        event(f"inbox: {len(drain(self.engine, self.handlers))} events")
        self.pending_events = 0
        with self.engine.connect() as conn:
            assert inbox_problems(conn) == []

    @precondition(lambda self: self.orders)
    @rule(pick=picks)
    def pay_directly(self, pick: int) -> None:
        """The payment handler's work without the inbox: capture and issue, one transaction."""
        order = self._order(pick)
        if self.gateway.intents[order.checkout.payment_intent_id].status == "canceled":
            event("no direct payment: its intent was cancelled at Stripe")
            return
        self._pay_at_stripe(order)  # as Stripe's event says
        # Judged when it runs (no moment of the payment given): a debit started in time is
        # no longer known to be judged by its start.
        self.debits_in_time.discard(order.checkout.payment_intent_id)
        with self.engine.connect() as conn:
            before = tk.get_order(conn, order.checkout.order_id)
            expired = conn.execute(
                sa.text("SELECT now() > :t"), {"t": before.hold_expires_at}
            ).scalar_one()
        with self.engine.begin() as conn:
            escrow.capture_payment(
                conn, captured(self.world, order.checkout), cause=self._next("pay")
            )
            outcome = tk.payment_succeeded(conn, order.checkout.order_id, cause="direct")
        event(f"paid directly: {outcome}")
        if before.status == "awaiting_payment" and not expired:
            assert outcome == "issued"
        elif before.status in ("awaiting_payment", "cancelled") and before.paid == 0:
            assert outcome == "refunded"
        else:
            assert outcome == "unchanged"

    # Holds ------------------------------------------------------------------------------

    @precondition(lambda self: self.orders)
    @rule(pick=picks)
    def let_the_hold_expire(self, pick: int) -> None:
        """The order's hold ends now, if it is still running (a hold that ended stays
        ended where it did: the sweeper's ask comes after it)."""
        order = self._order(pick)
        with self.engine.begin() as conn:
            conn.execute(
                sa.text("""UPDATE ticketing.orders SET hold_expires_at = now()
                            WHERE id = :id AND status = 'awaiting_payment'
                              AND hold_expires_at > now()"""),
                {"id": order.checkout.order_id},
            )
        self.expired = True

    def _sweep(self, conn: sa.Connection) -> int:
        """The hold sweeper's run (`expire_holds`, the worker's default grace) in the
        caller's transaction, checked by what it changed (one `now()`: the orders read before
        and after it) against the rule it keeps, in the model's terms: an order awaiting
        payment whose hold ended and never asked about is asked now (its seats kept); one
        asked more than the grace ago is released ("hold expired") if Stripe never answered,
        left alone if Stripe said `succeeded` (its payment's event decides), asked again if
        Stripe answered that latest ask with another refusal (`processing`: a debit under
        way), left alone while that ask is unanswered (a day at most: not reached here);
        nothing else is touched. Each order acted on gets one new cancel task, and the count
        returned is theirs; the product's own reads of what is due then find nothing."""
        before = {r.id: r for r in conn.execute(_SWEEP_VIEW)}
        acted = tk.expire_holds(conn)
        after = {r.id: r for r in conn.execute(_SWEEP_VIEW)}
        changed = {
            i
            for i, b in before.items()
            if (b.status, b.cancel_requested_at) != (after[i].status, after[i].cancel_requested_at)
        }
        assert acted == len(changed), (acted, changed)
        assert dict(conn.execute(_NEW_TASKS).all()) == {str(i): 1 for i in changed}
        for i, b in before.items():
            a = after[i]
            if b.status != "awaiting_payment" or not b.expired:
                assert i not in changed, (b, a)
            elif b.cancel_requested_at is None:
                assert (a.status, a.cancel_requested_at) == ("awaiting_payment", a.now), (b, a)
            elif b.cancel_requested_at >= b.now - tk.CANCEL_GRACE or b.cancel_refused == (
                "succeeded"
            ):
                assert i not in changed, (b, a)
            elif b.cancel_refused is None:
                assert (a.status, a.cancel_reason) == ("cancelled", "hold expired"), (b, a)
            elif b.cancel_refused_at >= b.cancel_requested_at:
                assert (a.status, a.cancel_requested_at) == ("awaiting_payment", a.now), (b, a)
            else:
                assert b.cancel_requested_at > b.now - tk_store.orders.UNANSWERED_ASK, b
                assert i not in changed, (b, a)
        assert tk_store.orders.due_cancels(conn, 1_000) == []
        assert tk_store.orders.overdue_cancels(conn, tk.CANCEL_GRACE, 1_000) == []
        return acted

    @precondition(lambda self: self.expired)
    @rule()
    def sweep(self) -> None:
        """The sweeper asks Stripe to cancel each expired order's intent, once; the seats
        stay held until Stripe answers (`run_cancel_tasks`); the grace acts on the asks
        older than it (`the_grace_passes` ages them)."""
        self.expired = False
        with self.engine.begin() as conn:
            self._sweep(conn)

    @precondition(lambda self: self.orders)
    @rule(pick=picks)
    def paid_at_stripe_event_late(self, pick: int) -> None:
        """The buyer pays at Stripe; its event is not sent yet (a webhook outage): the
        `payment_succeeded_event` rule may send it later, however late."""
        order = self._order(pick)
        if self.gateway.intents[order.checkout.payment_intent_id].status == "canceled":
            event("no payment: its intent was cancelled at Stripe")
            return
        self._pay_at_stripe(order)

    def _intents_in(self, status: str) -> list[OrderModel]:
        return [
            o
            for o in self.orders
            if self.gateway.intents[o.checkout.payment_intent_id].status == status
        ]

    @precondition(lambda self: self._intents_in("requires_payment_method"))
    @rule(pick=picks, hold_ends=st.booleans())
    def debit_started(self, pick: int, hold_ends: bool) -> None:
        """The buyer pays by bank debit: at Stripe the intent is `processing` (for days)
        until the debit succeeds (`payment_succeeded_event`, then Stripe's event) or fails
        (`debit_failed`); Stripe refuses to cancel it meanwhile (the cancel task hears
        `processing`, noted on the order). Started on an order whose hold runs, as a buyer
        on the checkout page does; `hold_ends`: the hold ends then, the debit still under
        way (as it is for days)."""
        with self.engine.connect() as conn:
            running = [
                o
                for o in self._intents_in("requires_payment_method")
                if conn.execute(_HOLD_RUNS, {"id": o.checkout.order_id}).scalar_one()
            ]
        if not running:
            event("no debit: no hold running with its intent payable")
            return
        order = running[pick % len(running)]
        pi = order.checkout.payment_intent_id
        with self.engine.connect() as conn:
            in_hold, now = conn.execute(_PAYMENT_MOMENT, {"id": order.checkout.order_id}).one()
        # Its charge made now, by the database's clock as the hold (second rounded down):
        # Stripe's moment of the payment, whenever the debit succeeds.
        self.gateway.account.processing(pi, at=math.floor(now))
        if in_hold:
            self.debits_in_time.add(pi)
        event("debit started")
        if hold_ends:
            self.let_the_hold_expire(self.orders.index(order))

    @precondition(lambda self: self._intents_in("processing"))
    @rule(pick=picks)
    def debit_failed(self, pick: int) -> None:
        """A debit under way fails: the intent takes a payment again
        (`requires_payment_method`), and Stripe sends `payment_intent.payment_failed`."""
        processing = self._intents_in("processing")
        intent = self.gateway.intents[processing[pick % len(processing)].checkout.payment_intent_id]
        self.gateway.account.fail(intent.id)
        self.debits_in_time.discard(intent.id)  # that charge failed: not the next payment's
        failed = payment_intent(intent, "requires_payment_method")
        self._store(stripe_event("payment_intent.payment_failed", failed), 1)
        event("debit failed")

    @precondition(lambda self: self.orders)
    @rule(stripe_answers=st.booleans(), pick=picks)
    def the_grace_passes(self, stripe_answers: bool, pick: int) -> None:
        """Time passes: every ask (and its hold) grows older than the grace, then the worker
        sweeps (Stripe answering its tasks, or unreachable). Afterwards no order holds seats
        past its hold with neither a fact saying the buyer paid or is paying (Stripe said
        `succeeded`, or `processing`, and the intent is so) nor a question to Stripe pending
        (its latest ask unanswered). A debit that failed since Stripe said `processing` is
        cancelled by the grace's new ask and its seats released."""
        self.let_the_hold_expire(pick)
        if stripe_answers:
            with self.engine.begin() as conn:
                self._sweep(conn)  # the holds' expiry asked about, answered below
            self.run_the_cancel_tasks()
        with self.engine.begin() as conn:
            aged = conn.execute(_AGE_ASKS, {"ago": tk.CANCEL_GRACE + timedelta(minutes=1)})
            # Their holds moved into the past, not their charges' moments nor the orders'
            # making: whether a debit of theirs started in time is no longer the model's.
            self.debits_in_time.difference_update(aged.scalars())
            due = self._sweep(conn)
        event(f"grace passes ({'answered' if stripe_answers else 'unreachable'}): {min(due, 2)}")
        if stripe_answers:
            self.run_the_cancel_tasks()
        self.expired = False
        with self.engine.connect() as conn:
            for o in self.orders:
                got = tk.get_order(conn, o.checkout.order_id)
                held = set(statuses(conn, got.id)) & {"held"}
                expired = conn.execute(
                    sa.text("SELECT now() > :t"), {"t": got.hold_expires_at}
                ).scalar_one()
                if got.status != "awaiting_payment" or not expired:
                    assert not held or got.status == "awaiting_payment", got
                    continue
                asked, refused, answered_at = conn.execute(_ASKED, {"id": got.id}).one()
                intent = self.gateway.intents[o.checkout.payment_intent_id].status
                if refused == "succeeded":
                    event("grace: held, Stripe said paid")
                    assert intent == "succeeded", (got, intent)
                elif refused == intent == "processing":
                    # A debit under way, as Stripe said: held, asked again each grace.
                    event("grace: held, Stripe said processing")
                else:
                    # Asked, unanswered since: the question is still pending (Stripe
                    # unreachable); the grace releases it once it is a grace old, or asks
                    # again then if Stripe refused an earlier ask (`processing`: a debit
                    # that failed since is cancelled by that ask and released).
                    event("grace: held, question pending")
                    assert not stripe_answers, (got, refused, intent)
                    assert asked is not None, got
                    assert answered_at is None or answered_at < asked, (got, refused)
            # An order the grace released without Stripe's word was asked again after it.
            for o in self.orders:
                got = tk.get_order(conn, o.checkout.order_id)
                assert conn.execute(_ASKED_SINCE_RELEASE, {"id": str(got.id)}).scalar(), got

    @precondition(lambda self: self.orders)
    @rule()
    def run_the_cancel_tasks(self) -> None:
        """The cancel tasks published so far run against the stand-in (again: each is
        idempotent by its message id). What escrow booked, or a stored payment event says,
        was paid at Stripe before the cancel reached it (these tests pay the stand-in
        lazily): Stripe refuses those cancels, and only an intent nobody paid is cancelled,
        its order released."""
        with self.engine.connect() as conn:
            paid = set(
                conn.execute(
                    sa.text("""SELECT payload->'data'->'object'->>'id' FROM messaging.inbox
                                WHERE type = 'payment_intent.succeeded'""")
                ).scalars()
            )
            paid |= {
                o.checkout.payment_intent_id
                for o in self.orders
                if tk.get_order(conn, o.checkout.order_id).paid
            }
        for payment_intent_id in paid:
            self.gateway.paid(payment_intent_id)
        event(f"cancel tasks run: {min(run_cancel_tasks(self.engine, self.gateway.stripe), 3)}")
        with self.engine.connect() as conn:
            for o in self.orders:
                got = tk.get_order(conn, o.checkout.order_id)
                canceled = self.gateway.intents[o.checkout.payment_intent_id].status == "canceled"
                asked = tk.cancel_requested_at(conn, got.id) is not None
                # Stripe said canceled to a cancel the sweeper asked: the seats are released.
                assert not (got.status == "awaiting_payment" and asked and canceled), got

    # Transfers and check-in ----------------------------------------------------------------

    @precondition(lambda self: self.orders)
    @rule(pick=picks)
    def transfer(self, pick: int) -> None:
        tickets = self._tickets()
        order, ticket_id = tickets[pick % len(tickets)]
        ticket = self._ticket(ticket_id)
        holder = f"{self._next('friend')}@example.com"
        if ticket.status != "issued":
            error = self._refused(
                lambda conn: tk.transfer_ticket(
                    conn, self.world.org, ticket_id, holder, cause="gift"
                ),
                tk.InvalidTransition,
            )
            assert (error.state, error.event) == (ticket.status, "transfer_away")
            return
        with self.engine.begin() as conn:
            new = tk.transfer_ticket(conn, self.world.org, ticket_id, holder, cause="gift")
        assert (new.status, new.replaces, new.holder_email) == ("issued", ticket_id, holder)
        order.tickets.append(new.id)
        assert self._ticket(ticket_id).status == "void"

    @precondition(lambda self: self.orders)
    @rule(pick=picks)
    def check_in(self, pick: int) -> None:
        tickets = self._tickets()
        _, ticket_id = tickets[pick % len(tickets)]
        ticket = self._ticket(ticket_id)
        door = self._next("door")
        if ticket.status == "checked_in":
            twice = self._refused(
                lambda conn: tk.check_in(conn, self.world.org, ticket.code, door),
                tk.AlreadyCheckedIn,
            )
            assert twice.checked_in_by == ticket.checked_in_by
        elif ticket.status != "issued":
            error = self._refused(
                lambda conn: tk.check_in(conn, self.world.org, ticket.code, door),
                tk.InvalidTransition,
            )
            assert (error.state, error.event) == (ticket.status, "check_in")
        else:
            with self.engine.begin() as conn:
                scanned = tk.check_in(conn, self.world.org, ticket.code, door)
            assert (scanned.status, scanned.checked_in_by) == ("checked_in", door)

    # Refunds ----------------------------------------------------------------------------

    @precondition(lambda self: self.orders)
    @rule(pick=picks, subset=st.lists(st.integers(0, 10), max_size=3, unique=True) | st.none())
    def refund(self, pick: int, subset: list[int] | None) -> None:
        order = self._order(pick)
        tickets = [self._ticket(t) for t in order.tickets]
        valid = [t for t in tickets if t.status in VALID]
        chosen = None if subset is None else [tickets[i % len(tickets)].id for i in subset]
        if chosen is not None:
            chosen = list(dict.fromkeys(chosen))
        key = self._next("refund")
        org, order_id = self.world.org, order.checkout.order_id
        if chosen is not None and any(t.id in chosen and t.status not in VALID for t in tickets):
            self._refused(
                lambda conn: tk.refund_tickets(conn, org, order_id, chosen, idempotency_key=key),
                tk.TicketNotFound,
            )
            return
        if not valid or chosen == []:
            error = self._refused(
                lambda conn: tk.refund_tickets(conn, org, order_id, chosen, idempotency_key=key),
                tk.InvalidTransition,
            )
            assert error.event == "refund"
            return
        event("refund: " + ("whole order" if chosen is None else "some tickets"))
        with self.engine.begin() as conn:
            refund_id = tk.refund_tickets(conn, org, order_id, chosen, idempotency_key=key)
        order.refund_keys[key] = (refund_id, chosen)
        after = {t.id: self._ticket(t.id).status for t in tickets}
        refunded = chosen if chosen is not None else [t.id for t in valid]
        assert all(after[t] == "refunded" for t in refunded)
        with self.engine.connect() as conn:
            status = tk.get_order(conn, order_id).status
        left = [t for t, s in after.items() if s in VALID]
        assert status == ("partially_refunded" if left else "refunded")

    @precondition(lambda self: any(o.refund_keys for o in self.orders))
    @rule(pick=picks)
    def retry_refund(self, pick: int) -> None:
        refunded = [o for o in self.orders if o.refund_keys]
        order = refunded[pick % len(refunded)]
        key, (refund_id, chosen) = sorted(order.refund_keys.items())[pick % len(order.refund_keys)]
        before = self._fingerprint()
        with self.engine.begin() as conn:
            again = tk.refund_tickets(
                conn, self.world.org, order.checkout.order_id, chosen, idempotency_key=key
            )
        assert again == refund_id
        assert self._fingerprint() == before

    def _refunds_to_confirm(self) -> bool:
        with self.engine.connect() as conn:
            asked: int = conn.execute(
                sa.text("SELECT count(*) FROM ticketing.refunds")
            ).scalar_one()
        return asked > len(self.booked)

    @precondition(lambda self: self._refunds_to_confirm())
    @rule(by_events=st.booleans())
    def stripe_refunds(self, by_events: bool) -> None:
        """Run the refund tasks against Stripe, then book what Stripe refunded."""
        with self.engine.begin() as conn:
            refunds = ask_stripe_for_refunds(conn, self.gateway)
        fresh = [r for r in refunds if r.id not in self.booked]
        for refund in fresh:
            if by_events:
                currency = self.gateway.intents[refund.payment_intent_id].currency
                store(self.engine, stripe_event("refund.updated", refund_object(refund, currency)))
            else:
                with self.engine.begin() as conn:
                    assert book_refund(conn, refund)
            self.booked[refund.id] = refund.amount
            self.refunds_of[refund.payment_intent_id] += refund.amount
        if by_events:
            drain(self.engine, self.handlers)

    # Cancellation -----------------------------------------------------------------------

    @precondition(lambda self: len(self.orders) >= 3 and not self.cancelled)
    @rule()
    def cancel_event(self) -> None:
        with self.engine.connect() as conn:
            refundable = conn.execute(
                sa.text("""SELECT count(*) FROM ticketing.orders
                            WHERE event_id = :e AND status IN ('paid', 'partially_refunded')"""),
                {"e": self.world.event},
            ).scalar_one()
        with self.engine.begin() as conn:
            assert tk.cancel_event(conn, self.world.org, self.world.event) == refundable
        event(f"event cancelled with {refundable} orders to refund")
        self.cancelled = True
        before = self._fingerprint()
        with self.engine.begin() as conn:
            assert tk.cancel_event(conn, self.world.org, self.world.event) == 0
        assert self._fingerprint() == before

    # Invariants -------------------------------------------------------------------------

    @invariant()
    def ticketing_agrees_with_the_ledger(self) -> None:
        with self.engine.connect() as conn:
            for status, n in conn.execute(
                sa.text("SELECT status, count(*) FROM ticketing.tickets GROUP BY status")
            ).all():
                if n:
                    event(f"ticket reached {status}")
            check_capacity(conn)
            check_paid_in_ledger(conn)
            check_audit_trail(conn)
            check_balanced(conn)
            self._check_refunds(conn)
            if self.cancelled:
                self._check_cancelled(conn)

    @invariant()
    def a_debit_under_way_keeps_its_seats(self) -> None:
        """An order whose intent is `processing` at Stripe (a debit under way) was not
        released by its hold's end but by the grace with Stripe never heard (unreachable):
        not on a cancel task's answer (Stripe refuses to cancel a debit under way) nor by the
        grace after Stripe said `processing` (it asks again, keeping the seats held)."""
        with self.engine.connect() as conn:
            for o in self.orders:
                if self.gateway.intents[o.checkout.payment_intent_id].status != "processing":
                    continue
                got = tk.get_order(conn, o.checkout.order_id)
                refused = tk.cancel_refused(conn, got.id)
                if got.status == "awaiting_payment":
                    if refused == "processing":
                        event("debit under way, Stripe said processing: held")
                    assert set(statuses(conn, got.id)) == {"held"}, got
                elif got.cancel_reason == "hold expired":
                    event("debit under way, released by the grace unanswered")
                    cause = conn.execute(_RELEASED_BY, {"id": got.id}).scalar_one()
                    assert (cause, refused) == ("hold sweeper", None), (got, cause, refused)

    @invariant()
    def a_debit_started_in_time_is_never_a_late_payment(self) -> None:
        """A bank debit started within the hold that then succeeds issues the tickets (issue
        11): its order, whenever Stripe's event is handled, is never cancelled as paid after
        its hold (it is judged by the charge's `created`, the debit's start), only released
        for another reason (the grace with Stripe unreachable, the event cancelled)."""
        with self.engine.connect() as conn:
            for o in self.orders:
                if o.checkout.payment_intent_id not in self.debits_in_time:
                    continue
                got = tk.get_order(conn, o.checkout.order_id)
                if got.status == "paid":
                    event("debit started in time, succeeded: tickets issued")
                elif got.status == "awaiting_payment" and got.paid:
                    raise AssertionError(f"paid but not issued: {got}")
                assert got.cancel_reason != "hold expired before the payment", got

    def _check_refunds(self, conn: sa.Connection) -> None:
        for order in self.orders:
            got = tk.get_order(conn, order.checkout.order_id)
            tickets = tk.tickets_of(conn, got.id)
            requests = conn.execute(
                sa.text("SELECT amount, reason FROM ticketing.refunds WHERE order_id = :id"),
                {"id": got.id},
            ).all()
            late = [r.amount for r in requests if r.reason == "late payment"]
            asked = sum(r.amount for r in requests if r.reason != "late payment")
            refunded_tickets = sum(t.price for t in tickets if t.status == "refunded")
            # Every refunded ticket is asked back from Stripe, once, for its price.
            assert asked == refunded_tickets, (got.status, requests, refunded_tickets)
            # A payment the order cannot honour is refunded in full, never kept.
            if got.status == "cancelled" and got.paid:
                assert late == [got.amount], (got, requests)
            else:
                assert late == [], (got, requests)
            assert asked + sum(late) <= got.paid
            # The order's amounts are the ledger's.
            assert got.paid in (0, got.amount)
            assert got.refunded == self.refunds_of[got.payment_intent_id or ""]
        booked: dict[str, int] = dict(
            conn.execute(
                sa.text("""SELECT r.id, r.amount FROM payments.card_refunds r
                             JOIN payments.entries e ON e.id = r.entry_id
                            WHERE NOT r.failed""")
            ).all()
        )
        assert booked == self.booked

    def _check_cancelled(self, conn: sa.Connection) -> None:
        live = conn.execute(
            sa.text("""SELECT
                (SELECT count(*) FROM ticketing.orders
                  WHERE status IN ('awaiting_payment', 'paid', 'partially_refunded')),
                (SELECT count(*) FROM ticketing.tickets
                  WHERE status IN ('held', 'issued', 'checked_in'))""")
        ).one()
        assert tuple(live) == (0, 0)


@pytest.mark.slow
def test_ticketing_invariants_hold_under_random_work(scratch: Scratch) -> None:
    class Machine(TicketingMachine):
        pass

    Machine.scratch = scratch

    SEEN.clear()
    run_state_machine_as_test(Machine, settings=SETTINGS)
    print("\nreached:", ", ".join(f"{k} x{v}" for k, v in sorted(SEEN.items())))
