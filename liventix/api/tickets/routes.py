"""Events, checkout, orders, tickets, refunds and event cancellation over HTTP.

The checkout creates the order and its PaymentIntent through the app's Stripe gateway; its
Idempotency-Key becomes the order's key (prefixed `api:`), so a retried checkout returns the
same order and PaymentIntent. Refunds are asked of Stripe through the outbox.
"""

from __future__ import annotations

import uuid

import ticketing_fsm as tk
from liventix.api import problems
from liventix.api.keys import FRESH_WRITE
from liventix.api.problems import ApiProblem
from liventix.api.routing import WRITE, authenticated_router
from liventix.api.tickets import read_side, views
from liventix.api.tickets import schemas as m
from liventix.api.unit_of_work import UnitOfWork, Uow

router = authenticated_router(["checkout and tickets"])


def _cause(uow: UnitOfWork) -> str:
    return f"api key {uow.key_id}"


def _order(uow: UnitOfWork, order_id: uuid.UUID) -> m.OrderResponse:
    found = tk.get_order(uow.conn, order_id)
    if not uow.owns(found.org_id):
        raise tk.OrderNotFound(order_id=str(order_id))
    return views.order(found, tk.tickets_of(uow.conn, order_id))


def _order_path(order_id: uuid.UUID) -> str:
    """The `Location` of what a checkout or a refund created: its order."""
    return f"/v1/orders/{order_id}"


# -- events ---------------------------------------------------------------------------------


@router.post("/events", status_code=201, dependencies=WRITE)
def create_event(body: m.CreateEventRequest, uow: Uow) -> m.EventResponse:
    """Create an event of the key's organization."""
    with uow:
        event_id = tk.create_event(
            uow.conn,
            uow.acting_org(),
            name=body.name,
            currency=body.currency,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
        )
        return uow.commit(
            views.event(read_side.get_event(uow.conn, event_id)),
            location=f"/v1/events/{event_id}",
        )


@router.get("/events/{event_id:uuid}")
def get_event(event_id: uuid.UUID, uow: Uow) -> m.EventResponse:
    """An event and its ticket types."""
    with uow:
        return views.event(read_side.get_event(uow.conn, event_id))


@router.post("/events/{event_id:uuid}/ticket-types", status_code=201, dependencies=WRITE)
def add_ticket_type(
    event_id: uuid.UUID, body: m.TicketTypeRequest, uow: Uow
) -> m.TicketTypeResponse:
    """Add a ticket type to an event; its price is in the event's currency."""
    with uow:
        event = read_side.get_event(uow.conn, event_id)
        if body.price.currency != event.currency:
            raise ApiProblem(
                problems.VALIDATION,
                f"body.price.currency: the event sells in {event.currency}",
                field="body.price.currency",
            )
        type_id = tk.add_ticket_type(
            uow.conn,
            uow.acting_org(),
            event_id,
            name=body.name,
            price=body.price.amount,
            capacity=body.capacity,
            sales_start=body.sales_start,
            sales_end=body.sales_end,
        )
        found = read_side.get_event(uow.conn, event_id)
        # A ticket type is read with its event.
        return uow.commit(
            views.ticket_type(next(t for t in found.ticket_types if t.id == type_id)),
            location=f"/v1/events/{event_id}",
        )


@router.post("/events/{event_id:uuid}/cancel", dependencies=WRITE)
def cancel_event(event_id: uuid.UUID, uow: Uow) -> m.CancelEventResponse:
    """Cancel an event: sales stop, unpaid orders are released, paid ones refunded."""
    with uow:
        refunded = tk.cancel_event(uow.conn, uow.acting_org(), event_id)
        return uow.commit(
            m.CancelEventResponse(
                event=views.event(read_side.get_event(uow.conn, event_id)), refunded_orders=refunded
            )
        )


# -- checkout and orders --------------------------------------------------------------------


@router.post("/checkouts", status_code=201, dependencies=WRITE)
def start_checkout(body: m.CheckoutRequest, uow: Uow) -> m.CheckoutResponse:
    """Hold the tickets, create the order and its PaymentIntent (pay with `client_secret`).

    Two transactions, so that nothing is locked while Stripe answers: the hold commits with
    its expiry; Stripe is asked with no transaction open; the PaymentIntent is recorded and
    the answer stored under the key. Each is one round trip to the database with the
    authentication (the long way, two: the first checkout of a key in a process, several
    ticket types, the platform's key, a record that finds something unexpected). Stripe
    failing or timing out answers 503 with `Retry-After`: retry with the same key (the hold
    is found again by it). A hold lost in a crash or failover of the database before its
    record (its commit does not wait for the disk) answers 503 `checkout-interrupted` with
    `Retry-After`: a retry with the same key holds the seats again and records the same
    PaymentIntent."""
    items = [tk.CheckoutItem(i.ticket_type_id, i.quantity) for i in body.items]
    key = uow.domain_key()

    def request(org_id: uuid.UUID) -> tk.CheckoutRequest:
        return tk.CheckoutRequest(
            idempotency_key=key,
            org_id=org_id,
            event_id=body.event_id,
            buyer_email=body.buyer_email,
            items=items,
        )

    reserved: tk.Checkout | tk.PendingCheckout | None = None
    known = uow.known_org()
    planned = None
    if known is not None and uow.runtime.gateway is not None:
        planned = tk.plan_hold(request(known), go=FRESH_WRITE)
    if planned is not None:
        # The opening read and the hold in one statement after the authentication, and the
        # commit: one round trip. It holds nothing for a replay, a read-only key, another
        # organization than planned (answered, or the long way, below).
        uow.send_with_opening(planned.statement, commit=True)
        with uow:
            reserved = tk.planned_hold_result(uow.conn, planned, uow.sent)
            uow.commit()  # committed already, in the round trip
    steps = uow.runtime.metrics.checkout_steps
    if isinstance(reserved, tk.PendingCheckout):
        steps.labels(step="hold", way="short").inc()
    else:
        steps.labels(step="hold", way="long").inc()
        # The long way: the opening read in the authentication's round trip (it reads for
        # the organization the key proved, nothing otherwise), then the hold with the commit.
        uow.send_with_opening(tk.opening_statement(body.event_id, key, items))
        with uow:
            uow.payment_gateway()  # 502 before anything is held, when there is none
            reserved = tk.reserve_checkout(
                uow.conn,
                request(uow.acting_org()),
                commit=True,  # the hold's statement commits: the hot row is locked server-side
                sent=uow.sent,
            )
            if isinstance(reserved, tk.Checkout):  # the key's checkout, its intent recorded
                return uow.commit(views.checkout(reserved), location=_order_path(reserved.order_id))
            uow.commit()  # the hold, with its expiry: nothing is stored under the key yet
    intent = tk.ask_for_intent(uow.payment_gateway(), reserved)  # no transaction open, no lock held
    # Authenticated again (a key revoked meanwhile records nothing): the record, the answer
    # stored under the key and the commit in the authentication's round trip, when the
    # order is as the hold left it.
    checkout, statement = tk.record_awaiting_statement(reserved, intent)
    answer = views.checkout(checkout)
    uow.commit_with_opening(statement, answer, location=_order_path(checkout.order_id))
    with uow:
        if uow.answer is not None:
            steps.labels(step="record", way="short").inc()
            return answer
    steps.labels(step="record", way="long").inc()
    # It recorded nothing: the usual record, which finds why (another intent recorded
    # first, the hold expired or lost).
    with uow:
        recorded = tk.record_payment_intent(uow.conn, reserved, intent)
        return uow.commit(views.checkout(recorded), location=_order_path(recorded.order_id))


@router.get("/orders/{order_id:uuid}")
def get_order(order_id: uuid.UUID, uow: Uow) -> m.OrderResponse:
    """An order, what was paid and refunded, and its tickets."""
    with uow:
        return _order(uow, order_id)


@router.post("/orders/{order_id:uuid}/cancel", dependencies=WRITE)
def cancel_order(order_id: uuid.UUID, uow: Uow) -> m.OrderResponse:
    """Cancel an unpaid order: its seats are released at once; a payment that still arrives
    for it is refunded in full."""
    with uow:
        tk.cancel_order(uow.conn, uow.acting_org(), order_id, cause="cancelled over the API")
        return uow.commit(_order(uow, order_id))


@router.post("/orders/{order_id:uuid}/refunds", status_code=201, dependencies=WRITE)
def refund(order_id: uuid.UUID, body: m.RefundRequest, uow: Uow) -> m.RefundResponse:
    """Refund some tickets of an order (all still valid ones without `ticket_ids`); Stripe is
    asked through the outbox and the ledger books it when Stripe confirms."""
    with uow:
        refund_id = tk.refund_tickets(
            uow.conn,
            uow.acting_org(),
            order_id,
            body.ticket_ids,
            idempotency_key=uow.domain_key(),
            reason=body.reason,
        )
        # A refund is read with its order.
        return uow.commit(
            m.RefundResponse(refund_id=refund_id, order=_order(uow, order_id)),
            location=_order_path(order_id),
        )


# -- tickets --------------------------------------------------------------------------------


def _ticket(uow: UnitOfWork, ticket: tk.Ticket) -> m.TicketResponse:
    return views.ticket(ticket, read_side.ticket_currency(uow.conn, ticket.ticket_type_id))


@router.get("/tickets/{ticket_id:uuid}")
def get_ticket(ticket_id: uuid.UUID, uow: Uow) -> m.TicketResponse:
    """One ticket."""
    with uow:
        return _ticket(uow, read_side.get_ticket(uow.conn, ticket_id))


@router.post("/tickets/{ticket_id:uuid}/transfer", status_code=201, dependencies=WRITE)
def transfer_ticket(
    ticket_id: uuid.UUID, body: m.TransferTicketRequest, uow: Uow
) -> m.TicketResponse:
    """Give an issued ticket to a new holder: its code is void, a new ticket is issued."""
    with uow:
        new = tk.transfer_ticket(
            uow.conn, uow.acting_org(), ticket_id, body.new_holder_email, cause=_cause(uow)
        )
        return uow.commit(_ticket(uow, new), location=f"/v1/tickets/{new.id}")


@router.post("/tickets/check-in", dependencies=WRITE)
def check_in(body: m.CheckInRequest, uow: Uow) -> m.TicketResponse:
    """Check a ticket in at the door by its code, once."""
    with uow:
        return uow.commit(
            _ticket(uow, tk.check_in(uow.conn, uow.acting_org(), body.code, body.scanner))
        )
