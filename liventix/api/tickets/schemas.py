"""Events, checkout, orders and tickets: request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    Field,
    StrictInt,
    model_validator,
)

from liventix.api.schemas import (
    Amount,
    Currency,
    Email,
    Money,
    Name,
    RequestModel,
    Timestamp,
)


class CreateEventRequest(RequestModel):
    """Create an event."""

    name: Name
    currency: Currency
    starts_at: Timestamp
    ends_at: Timestamp

    @model_validator(mode="after")
    def _ends_after_start(self) -> CreateEventRequest:
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at")
        return self


class TicketTypeRequest(RequestModel):
    """Add a ticket type to an event (its price in the event's currency)."""

    name: Name
    price: Money
    capacity: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    sales_start: Timestamp
    sales_end: Timestamp

    @model_validator(mode="after")
    def _window(self) -> TicketTypeRequest:
        if self.sales_end <= self.sales_start:
            raise ValueError("sales_end is not after sales_start")
        return self


class TicketTypeResponse(BaseModel):
    """A ticket type and its counters."""

    id: uuid.UUID
    event_id: uuid.UUID
    name: str
    price: Amount
    capacity: int
    held: int
    sold: int
    available: int
    sales_start: datetime
    sales_end: datetime


class EventResponse(BaseModel):
    """An event and its ticket types."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    currency: str
    starts_at: datetime
    ends_at: datetime
    cancelled_at: datetime | None
    ticket_types: list[TicketTypeResponse]


class CheckoutItemRequest(RequestModel):
    """So many tickets of one type."""

    ticket_type_id: uuid.UUID
    quantity: Annotated[StrictInt, Field(ge=1, le=100)]


class CheckoutRequest(RequestModel):
    """Start a checkout: hold the tickets and create the PaymentIntent."""

    event_id: uuid.UUID
    buyer_email: Email
    items: Annotated[list[CheckoutItemRequest], Field(min_length=1, max_length=50)]


class CheckoutResponse(BaseModel):
    """What the front end needs to take the payment."""

    order_id: uuid.UUID
    total: Amount
    payment_intent_id: str
    client_secret: str
    hold_expires_at: datetime


class TicketResponse(BaseModel):
    """A ticket."""

    id: uuid.UUID
    order_id: uuid.UUID
    org_id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID
    status: str
    code: str
    holder_email: str
    price: Amount
    replaces: uuid.UUID | None
    checked_in_at: datetime | None
    checked_in_by: str | None


class OrderResponse(BaseModel):
    """An order, what was paid and refunded for it (as the ledger booked it), its tickets."""

    id: uuid.UUID
    org_id: uuid.UUID
    event_id: uuid.UUID
    buyer_email: str
    status: str
    amount: Amount
    paid: Amount
    refunded: Amount
    payment_intent_id: str | None
    hold_expires_at: datetime
    cancel_reason: str | None
    tickets: list[TicketResponse]


class TransferTicketRequest(RequestModel):
    """Give a ticket to a new holder."""

    new_holder_email: Email


class CheckInRequest(RequestModel):
    """Scan a ticket's code at the door."""

    code: Annotated[str, Field(min_length=1, max_length=100)]
    scanner: Annotated[str, Field(min_length=1, max_length=200)]


class RefundRequest(RequestModel):
    """Refund some of an order's tickets (all still valid ones when `ticket_ids` is null)."""

    ticket_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=500)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)] = "requested by the buyer"


class RefundResponse(BaseModel):
    """The refund asked of Stripe, and the order after it."""

    refund_id: uuid.UUID
    order: OrderResponse


class CancelEventResponse(BaseModel):
    """The cancelled event and how many paid orders are being refunded."""

    event: EventResponse
    refunded_orders: int
