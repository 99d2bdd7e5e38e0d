"""Ticketing's errors: one base, leaves that carry the ids involved."""

from __future__ import annotations

from typing import Any


class TicketingError(Exception):
    """The ticketing refused the request."""

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.details = details
        for name, value in details.items():
            setattr(self, name, value)
        text = message or (type(self).__doc__ or type(self).__name__).strip()
        if details:
            text += " (" + ", ".join(f"{k}={v!r}" for k, v in details.items()) + ")"
        super().__init__(text)


class InvalidRequest(TicketingError):
    """The request is malformed."""

    reason: str


class EventNotFound(TicketingError):
    """No such event is visible to this organization."""

    event_id: str


class TicketTypeNotFound(TicketingError):
    """No such ticket type for this event."""

    ticket_type_id: str


class NotOnSale(TicketingError):
    """The ticket type is outside its sales window, or the event is cancelled."""

    ticket_type_id: str


class SoldOut(TicketingError):
    """Not enough tickets left: capacity counts held and sold tickets."""

    ticket_type_id: str
    requested: int
    available: int


class CheckoutExpired(TicketingError):
    """The checkout's hold expired (or its order was cancelled) before its payment was set
    up: start a new checkout under a new key."""

    order_id: str
    status: str


class CheckoutInterrupted(TicketingError):
    """The checkout's hold was lost before its PaymentIntent was recorded (the database
    crashed or failed over after the hold, whose commit does not wait for the WAL flush):
    retry with the same key, which holds the seats again and records the same PaymentIntent."""

    order_id: str


class OrderNotFound(TicketingError):
    """No such order is visible to this organization."""

    order_id: str


class TicketNotFound(TicketingError):
    """No such ticket is visible to this organization."""

    ticket: str


class InvalidTransition(TicketingError):
    """The ticket's or order's state does not allow this event."""

    subject: str
    subject_id: str
    state: str
    event: str


class AlreadyCheckedIn(TicketingError):
    """The ticket was already checked in."""

    ticket_id: str
    checked_in_at: str
    checked_in_by: str


class IdempotencyConflict(TicketingError):
    """The idempotency key was already used for a different request."""

    idempotency_key: str
