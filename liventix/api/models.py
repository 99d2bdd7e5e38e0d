"""The API's wire format: a pydantic model for every request and response body.

Money is `{"amount": <int of minor units>, "currency": "<ISO 4217>"}`; amounts are JSON
integers, exact at any size (never floats, never strings). Requests refuse unknown fields,
floats where integers are due, and naive timestamps; responses carry ids as UUID strings.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    model_validator,
)

import ledger


def _currency(value: str) -> str:
    if not ledger.is_currency(value):
        raise ValueError(f"{value!r} is not an active ISO 4217 currency code")
    return value


Currency = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}$",
        examples=["USD"],
        description="ISO 4217 code",
        json_schema_extra={"enum": sorted(ledger.CURRENCY_EXPONENTS)},
    ),
    AfterValidator(_currency),
]

_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


MAX_TIMESTAMP_LENGTH = 64


def _iso_8601(value: object) -> object:
    # Pydantic would read a bare number as seconds since the epoch: the API takes only the
    # documented form.
    if isinstance(value, str) and len(value) > MAX_TIMESTAMP_LENGTH:
        raise ValueError(f"a date-time of at most {MAX_TIMESTAMP_LENGTH} characters")
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_8601.match(value)):
        return value
    raise ValueError("an ISO 8601 date-time with its UTC offset, e.g. 2026-01-31T20:00:00+01:00")


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_8601),
    Field(json_schema_extra={"maxLength": MAX_TIMESTAMP_LENGTH}),
]
"""A moment: ISO 8601 with its offset (a naive time is refused)."""
PositiveAmount = Annotated[
    StrictInt,
    Field(ge=1, le=ledger.MAX_AMOUNT, description="Minor units, a positive 64-bit integer"),
]
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
"""Stripe's metadata limits: 50 keys, keys of 40 characters, values of 500."""


def _few_keys(value: object) -> object:
    # Before the keys are validated one by one: 100,000 keys are refused at once.
    if isinstance(value, dict) and len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} keys, not {len(value)}")
    return value


def _short_values(value: dict[str, Any]) -> dict[str, Any]:
    for key, item in value.items():
        text = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
        if len(text) > MAX_METADATA_VALUE_LENGTH:
            raise ValueError(
                f"the value of {key!r} is longer than {MAX_METADATA_VALUE_LENGTH} characters"
                + ("" if isinstance(item, str) else " as JSON")
            )
    return value


MetadataKey = Annotated[str, Field(min_length=1, max_length=MAX_METADATA_KEY_LENGTH)]
Metadata = Annotated[
    dict[MetadataKey, Any],
    BeforeValidator(_few_keys),
    AfterValidator(_short_values),
    Field(
        description="JSON object of strings, integers, booleans, null, objects and arrays: "
        f"at most {MAX_METADATA_KEYS} keys of 1 to {MAX_METADATA_KEY_LENGTH} characters, each "
        f"value at most {MAX_METADATA_VALUE_LENGTH} characters (a string's length, any other "
        "value's compact JSON), as Stripe's metadata",
        json_schema_extra={
            "maxProperties": MAX_METADATA_KEYS,
            "additionalProperties": {"maxLength": MAX_METADATA_VALUE_LENGTH},
        },
    ),
]
Text = Annotated[str, Field(max_length=1000)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Email = Annotated[
    str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", examples=["a@b.co"])
]
Cursor = Annotated[str, Field(max_length=200)]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Money(RequestModel):
    """A positive amount of minor units in a currency."""

    amount: PositiveAmount
    currency: Currency


class Amount(BaseModel):
    """An amount of minor units in a currency (a balance: zero or negative too)."""

    amount: int
    currency: str


def amount(value: int, currency: str) -> Amount:
    """An `Amount`."""
    return Amount(amount=value, currency=currency)


class Page(BaseModel):
    """A page of a list; pass `next_cursor` as `after` for the next one (null at the end)."""

    next_cursor: str | None


# -- ledger ---------------------------------------------------------------------------------


class OpenAccountRequest(RequestModel):
    """Open an account."""

    code: Name
    name: Annotated[str, Field(max_length=255)] = ""
    type: Literal["asset", "liability", "equity", "revenue", "expense"]
    currency: Currency
    debits_must_not_exceed_credits: StrictBool = False
    credits_must_not_exceed_debits: StrictBool = False
    high_volume: StrictBool = False
    metadata: Metadata = Field(default_factory=dict)


class BalanceResponse(BaseModel):
    """An account's balances on its normal side, and the raw totals they come from."""

    account_id: uuid.UUID
    currency: str
    normal_side: Literal["debit", "credit"]
    posted: Amount
    pending: Amount
    available: Amount
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int
    version: int | None
    as_of: datetime | None = None
    by: Literal["recorded", "effective"] | None = None


class AccountResponse(BaseModel):
    """An account and its balance now."""

    id: uuid.UUID
    org_id: uuid.UUID
    code: str
    name: str
    type: str
    currency: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    high_volume: bool
    closed: bool
    metadata: dict[str, Any]
    balance: BalanceResponse


class AccountList(Page):
    """A page of accounts, oldest first."""

    data: list[AccountResponse]


class LineRequest(RequestModel):
    """One leg of an entry."""

    account_id: uuid.UUID
    side: Literal["debit", "credit"]
    amount: Money


class ConditionRequest(RequestModel):
    """A precondition on an account's version or a bound on its balance after the entry."""

    account_id: uuid.UUID
    version: Annotated[StrictInt, Field(ge=0, le=ledger.MAX_AMOUNT)] | None = None
    balance: Literal["posted", "pending", "available"] = "posted"
    gte: Annotated[StrictInt, Field(ge=-ledger.MAX_AMOUNT, le=ledger.MAX_AMOUNT)] | None = None
    lte: Annotated[StrictInt, Field(ge=-ledger.MAX_AMOUNT, le=ledger.MAX_AMOUNT)] | None = None


class PostEntryRequest(RequestModel):
    """Post a balanced entry of two or more lines."""

    lines: Annotated[list[LineRequest], Field(max_length=500)]
    description: Text = ""
    metadata: Metadata = Field(default_factory=dict)
    effective_at: Timestamp | None = None
    external_ref: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    conditions: Annotated[list[ConditionRequest], Field(max_length=500)] = Field(
        default_factory=list
    )


class EntryLineResponse(BaseModel):
    """A posted line."""

    id: int
    account_id: uuid.UUID
    side: Literal["debit", "credit"]
    amount: Amount
    account_version: int | None


class EntryResponse(BaseModel):
    """A posted entry and its lines."""

    id: uuid.UUID
    org_id: uuid.UUID
    kind: Literal["standard", "hold_post", "reversal"]
    description: str
    metadata: dict[str, Any]
    effective_at: datetime
    created_at: datetime
    external_ref: str | None
    reverses_entry_id: uuid.UUID | None
    hold_id: uuid.UUID | None
    lines: list[EntryLineResponse]


class EntryList(Page):
    """A page of entries, oldest first."""

    data: list[EntryResponse]


class ReverseEntryRequest(RequestModel):
    """Reverse an entry (once)."""

    description: Text = ""
    metadata: Metadata = Field(default_factory=dict)
    effective_at: Timestamp | None = None


class CreateHoldRequest(RequestModel):
    """Reserve an amount from one account to another (two-phase)."""

    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: Money
    expires_at: Timestamp | None = None
    description: Text = ""
    metadata: Metadata = Field(default_factory=dict)


class PostHoldRequest(RequestModel):
    """Post a hold in full (no amount) or for less."""

    amount: Money | None = None
    description: Text | None = None
    effective_at: Timestamp | None = None


class HoldResponse(BaseModel):
    """A hold and its resolution."""

    id: uuid.UUID
    org_id: uuid.UUID
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: Amount
    expires_at: datetime | None
    created_at: datetime
    status: Literal["open", "posted", "voided", "expired"]
    posted_amount: Amount
    entry_id: uuid.UUID | None


class StatementLineResponse(BaseModel):
    """A statement line with the posted balance after it."""

    line_id: int
    entry_id: uuid.UUID
    created_at: datetime
    effective_at: datetime
    side: Literal["debit", "credit"]
    amount: Amount
    balance_after: Amount
    description: str


class StatementResponse(BaseModel):
    """A page of an account's statement; `next_cursor` (a line id) continues it."""

    account_id: uuid.UUID
    currency: str
    opening_balance: Amount
    lines: list[StatementLineResponse]
    next_cursor: int | None


class TrialBalanceRowResponse(BaseModel):
    """One account's posted balance in the debit or credit column."""

    org_id: uuid.UUID
    account_id: uuid.UUID
    code: str
    type: str
    currency: str
    debit: int
    credit: int


class TrialBalanceTotal(BaseModel):
    """Debits and credits of one currency."""

    currency: str
    debits: int
    credits: int


class TrialBalanceResponse(BaseModel):
    """Every account's balance per currency; balanced when debits equal credits."""

    rows: list[TrialBalanceRowResponse]
    totals: list[TrialBalanceTotal]
    balanced: bool


# -- events, checkout, orders, tickets ------------------------------------------------------


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


# -- escrow ---------------------------------------------------------------------------------


class EscrowResponse(BaseModel):
    """An escrow: the organizer's revenue of one event held until release."""

    id: uuid.UUID
    org_id: uuid.UUID
    event_id: str
    currency: str
    state: str
    event_ends_at: datetime
    ended_at: datetime | None
    hold_until: datetime | None
    open_disputes: int
    captured: Amount
    refunded: Amount
    charged_back: Amount
    held: Amount
    released: Amount
    version: int


class EscrowList(Page):
    """A page of escrows, oldest first."""

    data: list[EscrowResponse]


class EscrowTransitionResponse(BaseModel):
    """One step of an escrow's audit trail."""

    from_state: str
    to_state: str
    event: str
    cause: str | None
    entry_id: uuid.UUID | None
    created_at: datetime


class EscrowTransitionList(BaseModel):
    """An escrow's audit trail, oldest first."""

    data: list[EscrowTransitionResponse]


class ReleaseStep(BaseModel):
    """An escrow moved one step by the release run."""

    escrow_id: uuid.UUID
    state: str


class ReleaseDueResponse(BaseModel):
    """Every step the release run took."""

    steps: list[ReleaseStep]


# -- webhook endpoints, deliveries ----------------------------------------------------------

EventType = Annotated[str, Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", max_length=100)]


class CreateEndpointRequest(RequestModel):
    """Register a webhook endpoint (every event type when `event_types` is empty)."""

    url: Annotated[str, Field(min_length=1, max_length=2000, examples=["https://example.com/"])]
    event_types: Annotated[list[EventType], Field(max_length=100)] = Field(default_factory=list)
    description: Annotated[str, Field(max_length=500)] = ""


class EndpointResponse(BaseModel):
    """A webhook endpoint (its secrets are shown only when created or rotated)."""

    id: uuid.UUID
    org_id: uuid.UUID
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class EndpointCreatedResponse(EndpointResponse):
    """A new endpoint and its signing secret (shown once)."""

    secret: str


class EndpointList(BaseModel):
    """The organization's endpoints, oldest first."""

    data: list[EndpointResponse]


class RotateSecretRequest(RequestModel):
    """Rotate the signing secret; the old ones keep signing for `grace_seconds`."""

    grace_seconds: Annotated[StrictInt, Field(ge=0, le=7 * 24 * 3600)] = 24 * 3600


class SecretResponse(BaseModel):
    """The endpoint's new signing secret (shown once)."""

    endpoint_id: uuid.UUID
    secret: str


class DisableEndpointRequest(RequestModel):
    """Disable an endpoint: it gets no new deliveries."""

    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class DeliveryResponse(BaseModel):
    """One delivery of a message (to a webhook endpoint, an e-mail address or a task)."""

    id: int
    message_id: uuid.UUID
    type: str
    channel: Literal["webhook", "email", "task"]
    endpoint_id: uuid.UUID | None
    status: Literal["pending", "delivering", "succeeded", "dead", "cancelled"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class DeliveryList(Page):
    """A page of deliveries, newest first."""

    data: list[DeliveryResponse]


class AttemptResponse(BaseModel):
    """One try of a delivery."""

    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None
    error: str | None
    succeeded: bool


class AttemptList(BaseModel):
    """A delivery's attempts, first first."""

    data: list[AttemptResponse]


class RequeueResponse(BaseModel):
    """How many dead deliveries were brought back."""

    requeued: int


# -- reports ----------------------------------------------------------------------------------


class TrialBalanceOrganizationTotal(BaseModel):
    """Debits beside credits of the entries one organization booked, in one currency."""

    org_id: uuid.UUID
    currency: str
    debits: int
    credits: int
    difference: int


class TrialBalanceReportResponse(TrialBalanceResponse):
    """The trial balance as a report: per account, per currency, per booking organization;
    a difference is an (organization, currency) or a currency whose debits differ from its
    credits (as `liventix report trial-balance` counts them)."""

    name: Literal["trial-balance"] = "trial-balance"
    title: str = "Trial balance"
    differences: int
    organizations: list[TrialBalanceOrganizationTotal]


def _stripe_currency(value: str) -> str:
    if not ledger.is_currency(value.upper()):
        raise ValueError(f"{value!r} is not an active ISO 4217 currency code")
    return value


StripeCurrency = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z]{3}$",
        min_length=3,
        max_length=3,
        examples=["usd"],
        description="ISO 4217, any case",
    ),
    AfterValidator(_stripe_currency),
]
SignedAmount = Annotated[
    StrictInt,
    Field(
        ge=-ledger.MAX_AMOUNT,
        le=ledger.MAX_AMOUNT,
        description="Minor units, signed, as Stripe writes them",
    ),
]


class ExpandedSource(BaseModel):
    """An expanded `source`: only its id is used."""

    model_config = ConfigDict(extra="allow")

    id: Annotated[str, Field(min_length=1, max_length=255)]


class BalanceTransactionRequest(BaseModel):
    """A Stripe BalanceTransaction as Stripe's API returns it; the fields below are used,
    any others are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    id: Annotated[str, Field(min_length=1, max_length=255, examples=["txn_1Nq"])]
    currency: StripeCurrency
    amount: SignedAmount
    fee: SignedAmount = 0
    net: SignedAmount
    reporting_category: Annotated[str, Field(max_length=255)] | None = None
    type: Annotated[str, Field(max_length=255)] | None = None
    source: Annotated[str, Field(max_length=255)] | ExpandedSource | None = None
    created: (
        Annotated[StrictInt, Field(ge=0, le=253_402_300_799, description="Unix seconds")] | None
    ) = None


MAX_BALANCE_TRANSACTIONS = 100_000
BalanceTransactions = Annotated[
    list[BalanceTransactionRequest], Field(max_length=MAX_BALANCE_TRANSACTIONS)
]


class BalanceTransactionListRequest(BaseModel):
    """Stripe's list object (`GET /v1/balance_transactions`): its `data` is used."""

    model_config = ConfigDict(extra="allow")

    object: Literal["list"]
    data: BalanceTransactions


def _list_or_object(value: Any) -> str:
    return "list" if isinstance(value, list) else "object"


StripeReconciliationRequest = Annotated[
    Annotated[BalanceTransactions, Tag("list")]
    | Annotated[BalanceTransactionListRequest, Tag("object")],
    Discriminator(_list_or_object),
]
"""A JSON list of balance transactions, or Stripe's list object holding them."""


# -- Stripe, health -------------------------------------------------------------------------


class StripeWebhookResponse(BaseModel):
    """The event was stored (or had been: `duplicate`)."""

    received: bool
    event_id: str
    duplicate: bool


class HealthResponse(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class ReadyResponse(BaseModel):
    """The database answers and its schema is at the newest migration."""

    status: Literal["ready"]
    revision: str


class Problem(BaseModel):
    """RFC 9457 problem details; extension members carry the ids involved."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
