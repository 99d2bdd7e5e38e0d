"""Handlers for Stripe's events, registered in the outbox's inbox (source `stripe`).

Each handler reads the event's JSON (as Stripe sends it; this module never imports the
stripe library), and calls an escrow use case keyed on Stripe's ids, in the transaction that
marks the event handled. Duplicates are no-ops; an event that depends on one not yet handled
(a refund before its payment) raises NotYetApplicable, so the inbox retries it later: any
arrival order ends in the same ledger.

A handler that must ask Stripe what the event does not carry (a payment's fee, a charge's
refunds) is two steps (`outbox.InboxTwoStepHandler`): its `prepare` asks the `StripeReader`
with no transaction open, its `handle` books what it was told. No lock is held while Stripe
answers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

import outbox
from escrow import disputes, models, payments, refunds, store, transfers
from escrow.errors import NotYetApplicable
from escrow.ports import ChargeFacts, RefundFacts, StripeReader

SOURCE = "stripe"

# The prefix of every metadata key Liventix puts on a Stripe object.
META_PREFIX = "liventix_"

# Metadata the checkout puts on every PaymentIntent, so a payment finds its escrow.
META_ORG = "liventix_org_id"
META_EVENT = "liventix_event_id"
META_EVENT_ENDS = "liventix_event_ends_at"
META_ESCROW = "liventix_escrow_id"
# Metadata escrow puts on each transfer reversal it asks for: the request it answers.
META_REVERSAL_REQUEST = "liventix_reversal_request"
# The hint (`outbox.InboxEvent.hints`) a look puts on a `payment_intent.succeeded` whose
# metadata carries no Liventix key when its intent is nonetheless ours (ticketing's look,
# ticketing_fsm/stripe_events.py: it is recorded on one of ticketing's orders). On escrow's
# public face, with META_PREFIX: ticketing writes what escrow reads, one definition.
HINT_PAYMENT_IS_OURS = "payment_is_ours"
# Metadata naming the transfer request a transfer answers (its task's message id, also the
# idempotency key Stripe got, which Stripe's event carries as `request.idempotency_key`).
META_TRANSFER_REQUEST = "liventix_transfer_request"


def _obj(event: outbox.InboxEvent) -> dict[str, Any]:
    data: dict[str, Any] = event.payload["data"]["object"]
    return data


def _id(value: Any) -> str | None:
    """An id from a field that may hold the id or the expanded object."""
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def _payment_of(conn: Connection, obj: dict[str, Any]) -> str:
    payment = _id(obj.get("payment_intent"))
    if payment:
        return payment
    charge = _id(obj.get("charge"))
    if charge:
        found = store.payment_id_for_charge(conn, charge)
        if found:
            return found
    raise NotYetApplicable(reason=f"no captured payment for {obj.get('id')}")


def _is_ticket_payment(pi: dict[str, Any]) -> bool:
    meta = pi.get("metadata") or {}
    return META_ORG in meta and META_EVENT in meta


def _fee_to_ask(event: outbox.InboxEvent) -> bool:
    """Whether a `payment_intent.succeeded`'s prepare asks Stripe for the charge and its fee:
    its metadata carries any Liventix key (the checkout puts four on every PaymentIntent;
    one edited away at Stripe must not leave the payment unbooked: its order may still be
    ours, found by the intent), a look found it ours (`HINT_PAYMENT_IS_OURS`: every key
    edited away, its intent on one of ticketing's orders), or the event is being retried
    (its handler found the intent recorded on an order of ours after the look, and failed
    for want of the fee). A payment of someone else's, first attempt: nothing asked."""
    meta = _obj(event).get("metadata")
    named = isinstance(meta, dict) and any(str(k).startswith(META_PREFIX) for k in meta)
    return named or bool(event.hints.get(HINT_PAYMENT_IS_OURS)) or event.attempts > 1


def captured_payment(
    event: outbox.InboxEvent, facts: ChargeFacts | None
) -> models.CapturedPayment | None:
    """The captured payment a `payment_intent.succeeded` event books as its metadata reads,
    with what its prepare asked Stripe (`facts`); None: not a ticket payment (its metadata
    does not name both the organization and the event) or Stripe not asked, nothing to book.
    Raises ValueError for an organization uuid.UUID() does not read."""
    pi = _obj(event)
    if facts is None or not _is_ticket_payment(pi):
        return None
    meta = pi["metadata"]
    ends = meta.get(META_EVENT_ENDS)
    return captured_payment_of(
        event,
        facts,
        org_id=uuid.UUID(meta[META_ORG]),
        event_id=meta[META_EVENT],
        event_ends_at=datetime.fromisoformat(ends) if ends else datetime.now(UTC),
    )


def captured_payment_of(
    event: outbox.InboxEvent,
    facts: ChargeFacts,
    *,
    org_id: uuid.UUID,
    event_id: str,
    event_ends_at: datetime,
) -> models.CapturedPayment:
    """The captured payment a `payment_intent.succeeded` event books into the escrow of
    `event_id` of `org_id` (named by the caller: ticketing names its order's), with what its
    prepare asked Stripe (`facts`)."""
    pi = _obj(event)
    return models.CapturedPayment(
        payment_id=pi["id"],
        org_id=org_id,
        event_id=event_id,
        currency=str(pi["currency"]).upper(),
        gross=int(pi.get("amount_received") or pi["amount"]),
        stripe_fee=facts.stripe_fee,
        event_ends_at=event_ends_at,
        charge_id=facts.charge_id,
        balance_transaction_id=facts.balance_transaction_id,
    )


def payment_intent_succeeded(
    reader: StripeReader,
) -> outbox.InboxTwoStepHandler[ChargeFacts | None]:
    """`payment_intent.succeeded`: ask Stripe for the charge and its fee (no transaction
    open; see `_fee_to_ask`), then book the payment into its event's escrow as its metadata
    reads (ticketing's handler books an order's payment with the order's organization and
    event instead: `ticketing_fsm.stripe_events`)."""

    def prepare(event: outbox.InboxEvent) -> ChargeFacts | None:
        return reader.charge_facts(_obj(event)["id"]) if _fee_to_ask(event) else None

    def handle(conn: Connection, event: outbox.InboxEvent, facts: ChargeFacts | None) -> None:
        payment = captured_payment(event, facts)
        if payment is None:
            return  # not a ticket payment of ours: prepare asked nothing
        payments.capture_payment(conn, payment, cause=event.event_id)

    return outbox.InboxTwoStepHandler(prepare=prepare, handle=handle)


def charge_refunded(
    reader: StripeReader,
) -> outbox.InboxTwoStepHandler[list[RefundFacts] | None]:
    """`charge.refunded`: book each of the charge's refunds (asking Stripe for them, with no
    transaction open, when the event does not list them)."""

    def prepare(event: outbox.InboxEvent) -> list[RefundFacts] | None:
        charge = _obj(event)
        if (charge.get("refunds") or {}).get("data") is not None:
            return None  # listed in the event: nothing to ask
        return reader.refunds_of_charge(charge["id"])

    def handle(
        conn: Connection, event: outbox.InboxEvent, fetched: list[RefundFacts] | None
    ) -> None:
        charge = _obj(event)
        if fetched is not None:
            items = [(r.refund_id, r.payment_intent_id, r.amount, r.status) for r in fetched]
        else:
            payment = _payment_of(conn, charge)
            listed = (charge.get("refunds") or {}).get("data") or []
            items = [(r["id"], payment, int(r["amount"]), r["status"]) for r in listed]
        for refund_id, payment_id, amount, status in items:
            if status in ("succeeded", "failed", "canceled"):
                refunds.refund_payment(
                    conn,
                    refund_id,
                    payment_id,
                    amount,
                    failed=status != "succeeded",
                    cause=event.event_id,
                )

    return outbox.InboxTwoStepHandler(prepare=prepare, handle=handle)


def refund_changed(conn: Connection, event: outbox.InboxEvent) -> None:
    """`refund.created` / `refund.updated` / `refund.failed`: book a succeeded refund, or a
    failed one's reversal (a refund made anywhere: the platform, Stripe's Dashboard, another
    integration)."""
    refund = _obj(event)
    status = "failed" if event.type == "refund.failed" else refund.get("status")
    if status not in ("succeeded", "failed", "canceled"):
        return  # pending: nothing has moved yet
    refunds.refund_payment(
        conn,
        refund["id"],
        _payment_of(conn, refund),
        int(refund["amount"]),
        failed=status != "succeeded",
        cause=event.event_id,
    )


def _dispute_fees(dispute: dict[str, Any]) -> tuple[int, int]:
    """(fee withdrawn, fee returned) from the dispute's balance transactions."""
    withdrawn = returned = 0
    for txn in dispute.get("balance_transactions") or []:
        if not isinstance(txn, dict):
            continue
        fee = int(txn.get("fee") or 0)
        if int(txn.get("amount") or 0) < 0:
            withdrawn += max(fee, 0)
        else:
            returned += max(-fee, 0)
    return withdrawn, returned


def dispute_created(conn: Connection, event: outbox.InboxEvent) -> None:
    """`charge.dispute.created`: freeze the escrow while the dispute is open."""
    dispute = _obj(event)
    disputes.open_dispute(
        conn,
        dispute["id"],
        _payment_of(conn, dispute),
        int(dispute["amount"]),
        cause=event.event_id,
    )


def dispute_funds_withdrawn(conn: Connection, event: outbox.InboxEvent) -> None:
    """`charge.dispute.funds_withdrawn`: the amount and the dispute fee left the balance."""
    dispute = _obj(event)
    fee, _ = _dispute_fees(dispute)
    disputes.dispute_funds_withdrawn(
        conn,
        dispute["id"],
        _payment_of(conn, dispute),
        int(dispute["amount"]),
        fee,
        cause=event.event_id,
    )


def dispute_funds_reinstated(conn: Connection, event: outbox.InboxEvent) -> None:
    """`charge.dispute.funds_reinstated`: the funds came back."""
    dispute = _obj(event)
    _, returned = _dispute_fees(dispute)
    disputes.dispute_funds_reinstated(
        conn,
        dispute["id"],
        _payment_of(conn, dispute),
        int(dispute["amount"]),
        returned,
        cause=event.event_id,
    )


def dispute_closed(conn: Connection, event: outbox.InboxEvent) -> None:
    """`charge.dispute.closed`: won (or closed with a warning) or lost."""
    dispute = _obj(event)
    disputes.close_dispute(
        conn,
        dispute["id"],
        _payment_of(conn, dispute),
        int(dispute["amount"]),
        won=dispute.get("status") != "lost",
        cause=event.event_id,
    )


def _as_uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _transfer_request(event: outbox.InboxEvent, metadata: dict[str, Any]) -> uuid.UUID | None:
    """The transfer request a `transfer.created` names: in the transfer's metadata, else the
    idempotency key of the API request that made it (our task's message id)."""
    named = _as_uuid(metadata.get(META_TRANSFER_REQUEST))
    if named is not None:
        return named
    request = event.payload.get("request")
    return _as_uuid(request.get("idempotency_key")) if isinstance(request, dict) else None


def transfer_created(conn: Connection, event: outbox.InboxEvent) -> None:
    """`transfer.created`: the organizer's transfer was made; the escrow is released. What it
    pays is told by the request it names or the charge that funds it (`source_transaction`),
    never by its amount."""
    transfer = _obj(event)
    metadata = transfer.get("metadata") or {}
    escrow_id = metadata.get(META_ESCROW)
    if not escrow_id:
        return
    transfers.transfer_created(
        conn,
        transfer["id"],
        uuid.UUID(escrow_id),
        int(transfer["amount"]),
        cause=event.event_id,
        request_id=_transfer_request(event, metadata),
        source_transaction=_id(transfer.get("source_transaction")),
    )


def transfer_reversed(conn: Connection, event: outbox.InboxEvent) -> None:
    """`transfer.reversed`: each reversal settles what the organizer owes (one escrow asked
    for is marked done; one made in Stripe's Dashboard is booked all the same)."""
    transfer = _obj(event)
    if not (transfer.get("metadata") or {}).get(META_ESCROW):
        return
    for reversal in (transfer.get("reversals") or {}).get("data") or []:
        request_id = (reversal.get("metadata") or {}).get(META_REVERSAL_REQUEST)
        transfers.transfer_reversed(
            conn,
            reversal["id"],
            transfer["id"],
            int(reversal["amount"]),
            cause=event.event_id,
            request_id=request_id if isinstance(request_id, str) else None,
        )


def payout_paid(conn: Connection, event: outbox.InboxEvent) -> None:
    """`payout.paid`: the platform's money reached its bank."""
    p = _obj(event)
    transfers.payout(
        conn, p["id"], str(p["currency"]).upper(), int(p["amount"]), paid=True, cause=event.event_id
    )


def payout_failed(conn: Connection, event: outbox.InboxEvent) -> None:
    """`payout.failed`: a paid payout came back (a failure before payment moves nothing)."""
    p = _obj(event)
    transfers.payout(
        conn,
        p["id"],
        str(p["currency"]).upper(),
        int(p["amount"]),
        paid=False,
        cause=event.event_id,
    )


def handlers(reader: StripeReader) -> dict[str, outbox.AnyInboxHandler]:
    """Every Stripe event type escrow handles, with its handler (one step, or two when it
    asks Stripe first)."""
    return {
        "payment_intent.succeeded": payment_intent_succeeded(reader),
        "charge.refunded": charge_refunded(reader),
        "refund.created": refund_changed,
        "refund.updated": refund_changed,
        "refund.failed": refund_changed,
        "charge.dispute.created": dispute_created,
        "charge.dispute.funds_withdrawn": dispute_funds_withdrawn,
        "charge.dispute.funds_reinstated": dispute_funds_reinstated,
        "charge.dispute.closed": dispute_closed,
        "transfer.created": transfer_created,
        "transfer.reversed": transfer_reversed,
        "payout.paid": payout_paid,
        "payout.failed": payout_failed,
    }


def register(reader: StripeReader) -> None:
    """Register every handler in the inbox."""
    for event_type, handler in handlers(reader).items():
        outbox.register_handler(SOURCE, event_type, handler)
