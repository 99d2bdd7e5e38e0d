"""Tickets and orders: the checkout flow as explicit state machines (schema `ticketing`),
from seat hold to check-in, without overselling. Money moves only through escrow.

This is the package's public face. Use cases take the caller's SQLAlchemy `Connection` and
never commit: a transition, its escrow postings and its outbox messages commit together.
"""

from __future__ import annotations

from ticketing_fsm import messages as _messages  # registers ticketing's outbox message types
from ticketing_fsm.errors import (
    AlreadyCheckedIn,
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
from ticketing_fsm.machines import (
    ORDER_FINAL,
    ORDER_STATES,
    TICKET_FINAL,
    TICKET_STATES,
    OrderMachine,
    TicketMachine,
    diagrams,
)
from ticketing_fsm.messages import OrderEvent, RefundRequested, TicketEvent
from ticketing_fsm.ports import CreatedIntent, PaymentGateway
from ticketing_fsm.service import (
    DEFAULT_HOLD,
    Checkout,
    CheckoutItem,
    CheckoutRequest,
    Order,
    Ticket,
    add_ticket_type,
    cancel_event,
    cancel_order,
    check_in,
    create_event,
    dispute_closed,
    dispute_opened,
    expire_holds,
    get_order,
    order_for_payment,
    payment_failed,
    payment_succeeded,
    refund_tickets,
    start_checkout,
    tickets_of,
    transfer_ticket,
)
from ticketing_fsm.stripe_events import handlers as stripe_handlers
from ticketing_fsm.stripe_events import register as register_stripe_handlers

__all__ = [
    "DEFAULT_HOLD",
    "ORDER_FINAL",
    "ORDER_STATES",
    "TICKET_FINAL",
    "TICKET_STATES",
    "AlreadyCheckedIn",
    "Checkout",
    "CheckoutItem",
    "CheckoutRequest",
    "CreatedIntent",
    "EventNotFound",
    "IdempotencyConflict",
    "InvalidRequest",
    "InvalidTransition",
    "NotOnSale",
    "Order",
    "OrderEvent",
    "OrderMachine",
    "OrderNotFound",
    "PaymentGateway",
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
    "cancel_event",
    "cancel_order",
    "check_in",
    "create_event",
    "diagrams",
    "dispute_closed",
    "dispute_opened",
    "expire_holds",
    "get_order",
    "order_for_payment",
    "payment_failed",
    "payment_succeeded",
    "refund_tickets",
    "register_stripe_handlers",
    "start_checkout",
    "stripe_handlers",
    "tickets_of",
    "transfer_ticket",
]
