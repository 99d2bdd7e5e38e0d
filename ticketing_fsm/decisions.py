"""Ticketing's decisions, pure (no I/O): which transition a row takes, whether a checkout is
valid and what it costs, why a hold was refused, what a payment's outcome and a refund's
facts call for. The use cases read the facts from the store and escrow, ask here, then write.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

from ticketing_fsm.errors import (
    InvalidRequest,
    InvalidTransition,
    NotOnSale,
    SoldOut,
    TicketingError,
    TicketNotFound,
    TicketTypeNotFound,
)
from ticketing_fsm.models import Order, Ticket

# PaymentIntent metadata: escrow finds its escrow by the first three, ticketing its order.
META_ORG = "liventix_org_id"
META_EVENT = "liventix_event_id"
META_EVENT_ENDS = "liventix_event_ends_at"
META_ORDER = "liventix_order_id"

_ORDER_IDS = uuid.UUID("6f1c3e52-4a7d-4f1e-9a59-2b7c0c6a2e11")
_ORDER_IDS_BYTES = _ORDER_IDS.bytes


def _uuid_text(value: object) -> str:
    """`str(value)`, kept for a UUID (`_kept_text`): the ids a checkout names again and again
    (its organization, event and ticket type; `UUID.__str__` is Python, ~5K instructions a
    call, and a checkout wrote the same few ids ~15 times)."""
    return _kept_text(value) if type(value) is uuid.UUID else str(value)


@functools.lru_cache(maxsize=4096)
def _kept_text(value: uuid.UUID) -> str:
    return str(value)


VALID = ("issued", "checked_in")  # a ticket that still admits its holder

# What PostgreSQL's text cannot hold: NUL (libpq's escaping of a literal also stops at it, so
# a statement with its values as literals would store the text cut there), and unpaired
# surrogates (not UTF-8). The API refuses them at its edge (422); the checkout's decisions
# refuse them too, so a library caller gets the same typed refusal, and no path truncates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> bool:
    """Whether PostgreSQL's text can hold `text` as it is (no NUL, no unpaired surrogate)."""
    return _UNSTORABLE.search(text) is None


# -- the machines ---------------------------------------------------------------------------


class _Row:
    """The machines' view of a row: its status and the facts the guards read."""

    nothing_refunded = False
    something_refunded = False

    def __init__(self, status: str, **facts: Any) -> None:
        self.status = status
        self.__dict__.update(facts)


@functools.lru_cache(maxsize=512)
def decide(
    machine: type[StateMachine], state: str, event: str, facts: tuple[tuple[str, Any], ...] = ()
) -> str | None:
    """Where `event` takes a row in `state`, by the machine (None: not allowed). The machines
    are pure, their guards read only the facts given: the answer is the same every time,
    so it is asked once per (state, event, facts) and remembered."""
    model = _Row(state, **dict(facts))
    try:
        machine(model=model, state_field="status").send(event)
    except TransitionNotAllowed:
        return None
    return str(model.status)


def target(
    subject: str,
    row: Ticket | Order,
    machine: type[StateMachine],
    event: str,
    facts: Mapping[str, Any] | None = None,
) -> str:
    """The state `event` takes the row to, or InvalidTransition."""
    to = decide(machine, row.status, event, tuple(sorted((facts or {}).items())))
    if to is None:
        raise InvalidTransition(
            subject=subject, subject_id=str(row.id), state=row.status, event=event
        )
    return to


# -- the checkout ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutItem:
    """So many tickets of one type."""

    ticket_type_id: uuid.UUID
    quantity: int


# json.dumps(body, sort_keys=True) builds an encoder per call; one kept with the same options
# gives the same text (the fingerprints stored under keys must not change) for less CPU.
_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True)
# How that encoder writes a string (ensure_ascii: its C escaping, as `json.dumps` uses it).
_json_string = json.encoder.encode_basestring_ascii


@dataclass(frozen=True)
class CheckoutRequest:
    """A buyer's checkout: the tickets wanted, under the caller's idempotency key."""

    idempotency_key: str
    org_id: uuid.UUID
    event_id: uuid.UUID
    buyer_email: str
    items: Sequence[CheckoutItem]

    def fingerprint(self) -> str:
        """SHA-256 of the request without its key."""
        items = sorted((_uuid_text(i.ticket_type_id), i.quantity) for i in self.items)
        if type(self.buyer_email) is str and all(type(q) is int for _t, q in items):
            # `_FINGERPRINT_JSON`'s text written directly (its keys sorted, its separators,
            # its escaping of a string): byte for byte the same (test_checkout_fingerprint),
            # for a third of the CPU. Anything else (a caller's bool quantity, say) is encoded.
            text = (
                '{"buyer": '
                + _json_string(self.buyer_email)
                + ', "event": '
                + _json_string(_uuid_text(self.event_id))
                + ', "items": ['
                + ", ".join(f"[{_json_string(t)}, {q}]" for t, q in items)
                + '], "org": '
                + _json_string(_uuid_text(self.org_id))
                + "}"
            )
        else:
            body = {
                "org": str(self.org_id),
                "event": str(self.event_id),
                "buyer": self.buyer_email,
                "items": items,
            }
            text = _FINGERPRINT_JSON.encode(body)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class IntentRequest:
    """The PaymentIntent an order asks Stripe for: the same order always asks the very same
    request under the same key, so Stripe answers every retry with one PaymentIntent."""

    amount: int
    currency: str
    metadata: dict[str, str]
    idempotency_key: str


def validate_checkout(request: CheckoutRequest) -> None:
    """InvalidRequest unless the checkout asks for a positive number of each type, once,
    under a key and for a buyer e-mail of one line that PostgreSQL's text can hold (`storable`)."""
    if not request.items or any(
        type(i.quantity) is not int or i.quantity <= 0 for i in request.items
    ):
        raise InvalidRequest(reason="a checkout asks for one or more tickets of each type")
    if len({i.ticket_type_id for i in request.items}) != len(request.items):
        raise InvalidRequest(reason="a checkout names each ticket type once")
    if not request.idempotency_key or "@" not in request.buyer_email:
        raise InvalidRequest(reason="a checkout needs an idempotency key and a buyer e-mail")
    validate_key(request.idempotency_key)
    if not storable(request.buyer_email):
        raise InvalidRequest(reason="a buyer e-mail may not hold NUL or unpaired surrogates")
    if "\r" in request.buyer_email or "\n" in request.buyer_email:
        # outbox.Email's rule: else the paid order's e-mails could not be written, and its
        # payment would fail on every attempt, the buyer charged.
        raise InvalidRequest(reason="a buyer e-mail is one line")


def validate_key(idempotency_key: str) -> None:
    """InvalidRequest unless PostgreSQL's text can hold the checkout's key (`storable`)."""
    if not storable(idempotency_key):
        raise InvalidRequest(reason="an idempotency key may not hold NUL or unpaired surrogates")


def priced(
    items: Sequence[CheckoutItem], prices: Mapping[uuid.UUID, int], *, cancelled: bool
) -> int:
    """The checkout's amount; TicketTypeNotFound for a type not of the event, NotOnSale for
    any type of a cancelled event."""
    for item in items:
        if item.ticket_type_id not in prices:
            raise TicketTypeNotFound(ticket_type_id=str(item.ticket_type_id))
        if cancelled:
            raise NotOnSale(ticket_type_id=str(item.ticket_type_id))
    return sum(prices[i.ticket_type_id] * i.quantity for i in items)


def refusal(item: CheckoutItem, left: int | None, on_sale: bool) -> TicketingError:
    """Why a hold was refused, from the ticket type as it is now (`left` None: not there)."""
    if left is None:
        return TicketTypeNotFound(ticket_type_id=str(item.ticket_type_id))
    if not on_sale:
        return NotOnSale(ticket_type_id=str(item.ticket_type_id))
    if left >= item.quantity:
        # Enough seats, but the price changed between the read and the hold.
        return InvalidRequest(reason=f"the price of {item.ticket_type_id} changed; retry")
    return SoldOut(ticket_type_id=str(item.ticket_type_id), requested=item.quantity, available=left)


def order_id_for(org_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    """The order's id, derived from its checkout key."""
    # uuid.uuid5(_ORDER_IDS, name) as the standard library makes it (SHA-1 of the namespace's
    # bytes and the name's UTF-8, the version's and variant's bits set by UUID()), with the
    # namespace's bytes made once and the organization's text kept (`_uuid_text`).
    name = f"{_uuid_text(org_id)}:{idempotency_key}".encode()
    digest = hashlib.sha1(_ORDER_IDS_BYTES + name).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def intent_request(
    *,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    event_ends_at: datetime,
    order_id: uuid.UUID,
    idempotency_key: str,
    amount: int,
    currency: str,
) -> IntentRequest:
    """The PaymentIntent request of an order (pure: the order's facts decide it)."""
    org = _uuid_text(org_id)
    return IntentRequest(
        amount=amount,
        currency=currency,
        metadata={
            META_ORG: org,
            META_EVENT: _uuid_text(event_id),
            META_EVENT_ENDS: _isoformat(event_ends_at),
            META_ORDER: str(order_id),
        },
        idempotency_key=f"checkout:{org}:{idempotency_key}",
    )


def _isoformat(moment: datetime) -> str:
    """`moment.isoformat()`, kept (`_kept_isoformat`): every checkout of an event writes its
    end. Kept by the moment and its UTC offset: two equal moments (equal and hashed alike
    across time zones) are written alike only at the same offset; a subclass is asked."""
    if type(moment) is not datetime:
        return moment.isoformat()
    return _kept_isoformat(moment, moment.utcoffset())


@functools.lru_cache(maxsize=1024)
def _kept_isoformat(moment: datetime, _offset: timedelta | None) -> str:
    return moment.isoformat()


def claimed_order(metadata: Mapping[str, object]) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The (order, organization) a PaymentIntent's metadata names; None if not ours."""
    try:
        return uuid.UUID(str(metadata.get(META_ORDER))), uuid.UUID(str(metadata.get(META_ORG)))
    except ValueError:
        return None  # not an order of ours: metadata is not trusted further


# -- the payment's outcome ------------------------------------------------------------------


def late_payment(*, expired: bool, cancelled: bool) -> str | None:
    """Why an order awaiting payment cannot be paid now (None: it can)."""
    if cancelled:
        return "event cancelled"
    if expired:
        return "hold expired before the payment"
    return None


def seats_by_type(tickets: Iterable[Ticket]) -> list[tuple[uuid.UUID, int]]:
    """How many of the tickets each ticket type counts, in type id order (rows are locked
    in that order everywhere, so two transactions never deadlock)."""
    counts: dict[uuid.UUID, int] = {}
    for t in tickets:
        counts[t.ticket_type_id] = counts.get(t.ticket_type_id, 0) + 1
    return sorted(counts.items())


# -- refunds and disputes -------------------------------------------------------------------


def refund_hash(order_id: uuid.UUID, ticket_ids: Sequence[uuid.UUID] | None, reason: str) -> str:
    """The refund request's fingerprint (its idempotency key aside)."""
    body = [str(order_id), None if ticket_ids is None else sorted(map(str, ticket_ids)), reason]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


def refund_choice(
    order: Order, tickets: Sequence[Ticket], ticket_ids: Sequence[uuid.UUID] | None
) -> tuple[list[Ticket], str]:
    """The valid tickets a refund takes (None: all) and the order's event for it
    (`refund_all` when none stays valid). TicketNotFound names the tickets asked for that
    are not valid tickets of the order; InvalidTransition if nothing is left to refund."""
    valid = [t for t in tickets if t.status in VALID]
    chosen = valid
    if ticket_ids is not None:
        wanted = set(ticket_ids)
        chosen = [t for t in valid if t.id in wanted]
        if len(chosen) != len(wanted):
            raise TicketNotFound(
                ticket=",".join(sorted(str(i) for i in wanted - {t.id for t in chosen}))
            )
    if not chosen:
        raise InvalidTransition(
            subject="order", subject_id=str(order.id), state=order.status, event="refund"
        )
    return chosen, "refund_all" if len(valid) == len(chosen) else "refund_part"


def disputes(outcome: str | None, status: str) -> bool:
    """Whether an open or lost dispute moves a paid order to `disputed` now."""
    return outcome in ("open", "lost") and status in ("paid", "partially_refunded")


def dispute_won_facts(order: Order, tickets: Iterable[Ticket]) -> dict[str, bool]:
    """The guards' facts for a dispute over: was anything refunded already?"""
    something = order.refunded > 0 or any(t.status == "refunded" for t in tickets)
    return {"nothing_refunded": not something, "something_refunded": something}


@dataclass(frozen=True)
class ElsewhereRefund:
    """What a refund made outside the platform does to its order."""

    event: str | None  # the order's transition (None: it stays as it is)
    full: bool  # everything went back: the valid tickets are refunded too


def refunded_elsewhere(order: Order, asked: int) -> ElsewhereRefund | None:
    """The money refunded beyond what the platform asked for (`asked`: its own refunds,
    which moved the order when asked); None if there is none."""
    if order.refunded <= asked or order.paid <= 0:
        return None
    full = order.refunded >= order.paid
    # A partial refund of an order already partially refunded moves no state (its amounts
    # come from the ledger), but the organizer is still told of it.
    moves = full or order.status == "paid"
    event = ("refund_all" if full else "refund_part") if moves else None
    return ElsewhereRefund(event=event, full=full)


def elsewhere_notice(order: Order, full: bool) -> str:
    """The organizer's e-mail about a refund made outside the platform."""
    return (
        f"Order {order.id} was refunded {order.refunded} of {order.paid} "
        f"(minor units of {order.currency}) outside the platform; "
        + ("its tickets are void." if full else "its tickets stay valid.")
    )
