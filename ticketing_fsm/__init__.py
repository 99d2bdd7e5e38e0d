"""Tickets and orders: the checkout flow as explicit state machines (schema `ticketing`),
from seat hold to check-in, without overselling. Money moves only through escrow.

This is the package's public face. Use cases take the caller's SQLAlchemy `Connection` and
never commit: a transition, its escrow postings and its outbox messages commit together.

Inside, by business event over one store and pure decisions:
- `checkout`: the seats held, the PaymentIntent asked for and recorded;
- `outcomes`: the payment succeeded or failed, the buyer gave up, the hold expired (Stripe
  asked to cancel the intent first, the seats released on its answer);
- `refunds`: the platform's refunds, and an order settled from its payment's refunds and
  disputes;
- `tickets`: events and ticket types, transfer, check-in, the event's cancellation;
- `stripe_events`: Stripe's events, escrow's booking followed by ticketing's follow-up;
- `lifecycle`: what they share (reading an order, a machine's move, messages, a hold's
  release); `decisions`: the pure decisions; `store/`: every SQL statement on `ticketing`.
"""

from __future__ import annotations

from ticketing_fsm import messages as _messages  # registers ticketing's outbox message types
from ticketing_fsm.checkout import (
    DEFAULT_HOLD,
    META_EVENT,
    META_ORDER,
    META_ORG,
    Checkout,
    CheckoutItem,
    CheckoutRequest,
    IntentRequest,
    PendingCheckout,
    PlannedHold,
    ask_for_intent,
    opening_statement,
    plan_hold,
    planned_hold_result,
    record_awaiting_statement,
    record_payment_intent,
    record_statement,
    reserve_checkout,
    start_checkout,
)
from ticketing_fsm.errors import (
    AlreadyCheckedIn,
    CheckoutExpired,
    CheckoutInterrupted,
    EventNotFound,
    IdempotencyConflict,
    InvalidRequest,
    InvalidTransition,
    NotOnSale,
    OrderNotFound,
    SoldOut,
    TicketingError,
    TicketNotFound,
    TicketTypeNotFound,
)
from ticketing_fsm.lifecycle import get_order, tickets_of
from ticketing_fsm.machines import (
    ORDER_FINAL,
    ORDER_STATES,
    TICKET_FINAL,
    TICKET_STATES,
    OrderMachine,
    TicketMachine,
    diagrams,
)
from ticketing_fsm.messages import IntentCancelRequested, OrderEvent, RefundRequested, TicketEvent
from ticketing_fsm.models import Order, Ticket
from ticketing_fsm.outcomes import (
    CANCEL_GRACE,
    cancel_order,
    expire_holds,
    intent_canceled,
    intent_refused,
    order_for_payment,
    pay_for_intent,
    payment_failed,
    payment_succeeded,
    payment_succeeded_for_intent,
)
from ticketing_fsm.ports import CreatedIntent, PaymentGateway
from ticketing_fsm.refunds import dispute_closed, dispute_opened, refund_tickets
from ticketing_fsm.store.orders import (
    cancel_refused,
    cancel_requested_at,
    order_for_intent,
    refund_request,
)
from ticketing_fsm.stripe_events import handlers as stripe_handlers
from ticketing_fsm.stripe_events import register as register_stripe_handlers
from ticketing_fsm.tickets import (
    add_ticket_type,
    cancel_event,
    check_in,
    create_event,
    transfer_ticket,
)

__all__ = [
    "CANCEL_GRACE",
    "DEFAULT_HOLD",
    "META_EVENT",
    "META_ORDER",
    "META_ORG",
    "ORDER_FINAL",
    "ORDER_STATES",
    "TICKET_FINAL",
    "TICKET_STATES",
    "AlreadyCheckedIn",
    "Checkout",
    "CheckoutExpired",
    "CheckoutInterrupted",
    "CheckoutItem",
    "CheckoutRequest",
    "CreatedIntent",
    "EventNotFound",
    "IdempotencyConflict",
    "IntentCancelRequested",
    "IntentRequest",
    "InvalidRequest",
    "InvalidTransition",
    "NotOnSale",
    "Order",
    "OrderEvent",
    "OrderMachine",
    "OrderNotFound",
    "PaymentGateway",
    "PendingCheckout",
    "PlannedHold",
    "RefundRequested",
    "SoldOut",
    "Ticket",
    "TicketEvent",
    "TicketMachine",
    "TicketNotFound",
    "TicketTypeNotFound",
    "TicketingError",
    "_messages",
    "add_ticket_type",
    "ask_for_intent",
    "cancel_event",
    "cancel_order",
    "cancel_refused",
    "cancel_requested_at",
    "check_in",
    "create_event",
    "diagrams",
    "dispute_closed",
    "dispute_opened",
    "expire_holds",
    "get_order",
    "intent_canceled",
    "intent_refused",
    "opening_statement",
    "order_for_intent",
    "order_for_payment",
    "pay_for_intent",
    "payment_failed",
    "payment_succeeded",
    "payment_succeeded_for_intent",
    "plan_hold",
    "planned_hold_result",
    "record_awaiting_statement",
    "record_payment_intent",
    "record_statement",
    "refund_request",
    "refund_tickets",
    "register_stripe_handlers",
    "reserve_checkout",
    "start_checkout",
    "stripe_handlers",
    "tickets_of",
    "transfer_ticket",
]
