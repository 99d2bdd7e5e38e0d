"""A checkout's outcome: the payment succeeded (the tickets are issued, or a late payment is
refunded), the PaymentIntent was cancelled (the hold is released; a declined card releases
nothing), the buyer gave up (released at once), or the hold expired unpaid (Stripe is asked to
cancel the intent first; its answer releases the seats). Each takes the caller's connection
and never commits; escrow has booked the money before (the Stripe handlers in
`stripe_events` run both in one transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

import escrow
import outbox
from ticketing_fsm import decisions, store
from ticketing_fsm.errors import InvalidTransition, OrderNotFound
from ticketing_fsm.lifecycle import (
    ask_cancel_again,
    get_order,
    order_note,
    release,
    request_cancel,
    ticket_note,
)
from ticketing_fsm.machines import OrderMachine, TicketMachine
from ticketing_fsm.messages import ticket_mail
from ticketing_fsm.models import ORDER_FIELDS, Order, Ticket
from ticketing_fsm.refunds import request_refund
from ticketing_fsm.store.tickets import ticket

LATE = "late payment"
HOLD_EXPIRED = "hold expired"
"""The cancel reason of an order whose hold expired unpaid (its intent cancelled at our
request, or the grace passed)."""
CANCELLED_AT_STRIPE = "payment failed or cancelled"
"""The cancel reason of an order whose PaymentIntent was cancelled at Stripe unasked (the
Dashboard, another integration)."""
CANCEL_GRACE = timedelta(minutes=30)
"""How long after the sweeper asked Stripe to cancel an expired hold's PaymentIntent the
order keeps its seats with no answer from Stripe (unreachable): then the sweeper releases
anyway and asks again. An order Stripe refused to cancel is never released by the grace: said
`succeeded`, it waits for its payment's event; in another state (`processing`), it is asked
again a grace after each ask."""


def order_for_payment(
    conn: Connection,
    payment_intent_id: str,
    metadata: Mapping[str, object] | None = None,
    amount: int | None = None,
) -> uuid.UUID | None:
    """The order a PaymentIntent pays for, if it is one of ours. An intent the checkout never
    recorded (it crashed, or the hold expired, between Stripe's answer and the record) is
    found by its metadata's order, which must still be waiting for an intent of exactly this
    amount; it is then recorded on the order, so its payment issues or is refunded."""
    found = store.orders.order_for_intent(conn, payment_intent_id)
    if found is not None or not metadata or amount is None:
        return found
    claimed = decisions.claimed_order(metadata)
    if claimed is None:
        return None
    order_id, org_id = claimed
    return store.orders.claim_intent(conn, order_id, org_id, amount, payment_intent_id)


def _moves() -> dict[str, str]:
    """The machines' moves for a payment: the order paid, its held tickets issued."""
    order_to = decisions.decide(OrderMachine, "awaiting_payment", "pay")
    ticket_to = decisions.decide(TicketMachine, "held", "issue")
    assert order_to is not None and ticket_to is not None, "paying issues held tickets"
    return {
        "order_from": "awaiting_payment",
        "order_to": order_to,
        "order_event": "pay",
        "ticket_from": "held",
        "ticket_to": ticket_to,
        "ticket_event": "issue",
    }


def _pay_and_issue(
    conn: Connection,
    order_id: uuid.UUID | None,
    cause: str,
    *,
    intent: tuple[str, uuid.UUID] | None = None,
    paid_at: datetime | None = None,
    charged_at: datetime | None = None,
) -> bool:
    """The usual case in two statements: the order (named by its id, or by the PaymentIntent
    recorded on it and the organization the payment is for) awaiting payment within its
    hold (paid at the earlier of `paid_at` and `charged_at` taken; None: now), its event not
    cancelled, is paid, its tickets
    issued and the messages written. False if there is no such order, or it is in another
    case (nothing written)."""
    rows = store.paying.pay_and_issue(
        conn, order_id, intent, _moves(), cause, paid_at=paid_at, charged_at=charged_at
    )
    if not rows:
        return False
    first = rows[0]._asdict()
    order = Order(
        **{f: first[f"o_{f}"] for f in ORDER_FIELDS},
        paid=int(first["o_paid"]),
        refunded=int(first["o_refunded"]),
    )
    _publish_issued(conn, order, _issued_tickets(conn, order, rows))
    return True


def _issued_tickets(conn: Connection, order: Order, rows: Sequence[Any]) -> list[Ticket]:
    """The tickets an issue statement moved, oldest first. A ticket not held (moved by a
    concurrent change, say) refuses the issue with InvalidTransition naming it, as a lost
    compare-and-set refuses any move: the caller's transaction rolls back, no ticket is issued
    alone."""
    moved = [r for r in rows if r.id is not None]
    if not moved or len(moved) != rows[0].total:
        # The ticket the issue could not move (as it is now): the culprit to name.
        other = store.tickets.unmoved(conn, order.id, [r.id for r in moved])
        raise InvalidTransition(
            subject="ticket" if other else "order",
            subject_id=str(other.id if other else order.id),
            state=other.status if other else order.status,
            event="issue",
        )
    return [ticket(r) for r in moved]


def _all_moved(rows: Sequence[Any]) -> bool:
    """Whether an issue statement moved every ticket of the order (`_issued_tickets` raises
    otherwise)."""
    moved = sum(1 for r in rows if r.id is not None)
    return moved > 0 and moved == rows[0].total


def _publish_issued(conn: Connection, order: Order, tickets: Sequence[Ticket]) -> None:
    """`ticket.issued` for each ticket (with its e-mail), then `order.paid`: one statement."""
    outbox.publish_many(
        conn,
        [
            *(
                ticket_note(
                    t,
                    "ticket.issued",
                    t.status,
                    [ticket_mail(t.holder_email, t.code)],
                )
                for t in tickets
            ),
            order_note(order, "order.paid"),
        ],
    )


def payment_succeeded(
    conn: Connection,
    order_id: uuid.UUID,
    *,
    cause: str,
    paid_at: datetime | None = None,
    charged_at: datetime | None = None,
) -> str:
    """The order's payment succeeded (escrow has booked it): issue the tickets; a payment
    for an order already cancelled or released, or made after its hold, is refunded in full.
    When the buyer paid, as Stripe says: the earlier of `paid_at` (the event's `created`) and
    `charged_at` (the charge's: a bank debit's start) that a payment of the order can have
    (`store.orders.paid_moment_sql`); None for both: now. Returns what happened."""
    if _pay_and_issue(conn, order_id, cause, paid_at=paid_at, charged_at=charged_at):
        return "issued"
    found = store.orders.paying_order(conn, order_id, paid_at, charged_at=charged_at)
    if found is None:
        raise OrderNotFound(order_id=str(order_id))
    order, expired, cancelled = found
    late = decisions.late_payment(expired=expired, cancelled=cancelled)
    if order.status == "awaiting_payment":
        if late is None:
            # The order changed between the two statements (a concurrent change rolled
            # back, say): it is locked now, so paying it again cannot miss.
            if not _pay_and_issue(conn, order_id, cause, paid_at=paid_at, charged_at=charged_at):
                raise InvalidTransition(
                    subject="order", subject_id=str(order.id), state=order.status, event="pay"
                )
            return "issued"
        release(conn, order, late, cause)
        order = get_order(conn, order_id, lock=True)
    if order.status == "cancelled" and not store.orders.refund_asked_for(conn, order.id, LATE):
        request_refund(conn, order, order.amount, LATE, key=f"late:{order.id}")
        return "refunded"
    return "unchanged"


def payment_succeeded_for_intent(
    conn: Connection,
    payment_intent_id: str,
    *,
    cause: str,
    org_id: uuid.UUID | None = None,
    metadata: Mapping[str, object] | None = None,
    amount: int | None = None,
    paid_at: datetime | None = None,
    charged_at: datetime | None = None,
) -> str | None:
    """A PaymentIntent succeeded (escrow has booked it): `payment_succeeded` for the order it
    pays for, found as `order_for_payment` finds it; None if it pays for no order of ours.
    The usual case (the intent recorded on an order of `org_id`, the organization the
    payment is for, awaiting payment within its hold) finds the order in the statement that
    pays it, which reads that organization's rows alone (issue 19 part 4): two statements in
    all. Without `org_id` (or for an order of another organization) the order is found the
    long way, by its intent alone."""
    pinned = (payment_intent_id, org_id) if org_id is not None else None
    if pinned is not None and _pay_and_issue(
        conn, None, cause, intent=pinned, paid_at=paid_at, charged_at=charged_at
    ):
        return "issued"
    order = order_for_payment(conn, payment_intent_id, metadata, amount)
    if order is None:
        return None
    return payment_succeeded(conn, order, cause=cause, paid_at=paid_at, charged_at=charged_at)


def pay_for_intent(
    conn: Connection,
    payment: escrow.CapturedPayment,
    *,
    cause: str,
    metadata: Mapping[str, object] | None = None,
    amount: int | None = None,
    paid_at: datetime | None = None,
    charged_at: datetime | None = None,
) -> str | None:
    """A PaymentIntent succeeded: escrow books it (`escrow.capture_payment`), then
    `payment_succeeded_for_intent`, on the caller's transaction (the `payment_intent.succeeded`
    handler's work). Returns what happened to the order, as `payment_succeeded_for_intent`.
    `paid_at`, `charged_at`: the Stripe event's `created` and its charge's (when the buyer
    confirmed: a card at its success, a bank debit at its start, days before its success),
    the earlier a payment of the order can have taken as when the buyer paid, against which
    the order's hold is judged; None for both (a caller that knows no such time): when it is
    handled.

    The usual case (the escrow's terms and accounts known on this connection from an earlier
    capture, the intent recorded on an order awaiting payment within its hold) is one
    statement: escrow's capture call with the order paid, its tickets issued and their
    messages published (`store.paying.pay_after_capture`). Whatever that statement did not
    do (escrow answered for its long way: nothing written; or it captured and the order is
    in another case) is done the long way after it, in the same transaction."""
    call = escrow.capture_call(conn, payment, cause=cause)
    if call is not None:
        rows = store.paying.pay_after_capture(
            conn,
            call,
            payment.payment_id,
            _moves(),
            cause,
            paid_at=paid_at,
            charged_at=charged_at,
        )
        captured = escrow.capture_answer(conn, call, rows[0].capture_outcome)
        if captured and rows[0].o_id is not None:
            # The usual case (every ticket moved, the messages written) needs no Order nor
            # Ticket built: they are made only to name a ticket not moved, or to publish.
            if rows[0].notes_written == 0 or not _all_moved(rows):
                first = rows[0]._asdict()
                order = Order(
                    **{f: first[f"o_{f}"] for f in ORDER_FIELDS},
                    paid=payment.gross,
                    refunded=0,
                )
                tickets = _issued_tickets(conn, order, rows)  # raises unless all moved
                # A holder's address the statement would not write an e-mail to: Python's
                # publishing decides (`outbox.Email` refuses it, as it always did).
                _publish_issued(conn, order, tickets)
            return "issued"
        if captured is None:
            escrow.capture_payment(conn, payment, cause=cause)
    else:
        escrow.capture_payment(conn, payment, cause=cause)
    return payment_succeeded_for_intent(
        conn,
        payment.payment_id,
        cause=cause,
        org_id=payment.org_id,
        metadata=metadata,
        amount=amount,
        paid_at=paid_at,
        charged_at=charged_at,
    )


def payment_failed(conn: Connection, order_id: uuid.UUID, *, cause: str) -> bool:
    """The order's PaymentIntent was cancelled (it can take no payment any more): release the
    hold. False if nothing was held. Not for a declined card: the intent still takes a
    payment then (`stripe_events`). The reason is the facts': `HOLD_EXPIRED` when the
    sweeper asked for the cancellation (whether Stripe's event or the task's answer comes
    first), else `CANCELLED_AT_STRIPE`."""
    return _release_cancelled(conn, get_order(conn, order_id, lock=True), cause)


def _release_cancelled(conn: Connection, order: Order, cause: str) -> bool:
    """`payment_failed` on the order already read and locked."""
    if order.status != "awaiting_payment":
        return False
    asked = store.orders.cancel_requested_at(conn, order.id) is not None
    release(conn, order, HOLD_EXPIRED if asked else CANCELLED_AT_STRIPE, cause)
    return True


def intent_canceled(
    conn: Connection, order_id: uuid.UUID, payment_intent_id: str | None, *, cause: str
) -> bool:
    """Stripe answered the cancel task that `payment_intent_id` is canceled (None: that the
    order's creation request made no intent of the order's parameters, so none of it can be
    paid): the order's hold is released (`payment_failed`) if the intent is the order's own
    (recorded on it, or none recorded: the task found it by the order's creation request)
    and the order still awaits its payment. False otherwise: a stray second intent
    cancelled, an order paid, cancelled or released already (by `payment_intent.canceled`,
    say)."""
    order = get_order(conn, order_id, lock=True)
    if order.payment_intent_id not in (None, payment_intent_id):
        return False
    return _release_cancelled(conn, order, cause)


def intent_refused(
    conn: Connection, order_id: uuid.UUID, payment_intent_id: str | None, status: str
) -> bool:
    """Stripe refused the cancel task: `payment_intent_id` is `status` (`succeeded`: the buyer
    paid; `processing`: a payment under way). Noted on the order (its seats stay held) if the
    intent is the order's own and the order still awaits its payment, so that the grace does
    not release it: a `succeeded` order waits for its payment's event, any other is asked
    again. False otherwise (a stray second intent, an order paid or released already)."""
    return store.orders.record_refusal(conn, order_id, payment_intent_id, status)


def cancel_order(conn: Connection, org_id: uuid.UUID, order_id: uuid.UUID, *, cause: str) -> Order:
    """The buyer gives up before paying: the hold is released at once. A payment that still
    arrives for the order is refunded in full, like any late payment."""
    order = get_order(conn, order_id, lock=True)
    if order.org_id != org_id:
        raise OrderNotFound(order_id=str(order_id))
    if order.status != "awaiting_payment":
        raise InvalidTransition(
            subject="order", subject_id=str(order.id), state=order.status, event="cancel"
        )
    release(conn, order, "cancelled by the buyer", cause, cancel_intent=True)
    return get_order(conn, order_id)


def expire_holds(conn: Connection, limit: int = 100, *, grace: timedelta = CANCEL_GRACE) -> int:
    """The hold sweeper: cancel first, release on the fact. An order whose hold expired
    unpaid keeps its seats; Stripe is asked, once, to cancel its PaymentIntent (an outbox
    task, `request_cancel`), and the seats are released when Stripe says it is canceled (the
    task's answer, or `payment_intent.canceled`: `payment_failed`). A payment made within the
    hold and handled after the sweep (a backlog, a webhook outage) still finds its seats and
    issues the tickets; one made after it is refunded in full. Stripe's refusal (the task's
    answer, `intent_refused`) keeps the seats: said `succeeded`, the order waits for its
    payment's event (Stripe retries it for days); in another state (`processing`) it is asked
    again (a new task) `grace` after each ask. An order Stripe never answered `grace` after the
    latest ask (unreachable all along) is released anyway, "hold expired", and Stripe asked
    again, so the intent cannot stay payable (a payment that then arrives is refunded).
    Returns how many orders it acted on (asked, asked again, or released)."""
    acted = set()
    for order_id in store.orders.due_cancels(conn, limit):
        if request_cancel(conn, get_order(conn, order_id, lock=True), HOLD_EXPIRED):
            acted.add(order_id)
    for order_id, refused in store.orders.overdue_cancels(conn, grace, limit):
        order = get_order(conn, order_id, lock=True)
        if refused is None:
            release(conn, order, HOLD_EXPIRED, "hold sweeper", cancel_intent=True)
        else:
            ask_cancel_again(conn, order, HOLD_EXPIRED)
        acted.add(order_id)
    return len(acted)
