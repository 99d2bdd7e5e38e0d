"""A card payment captured: booked into its event's escrow (the payment's hot path, three
statements in the usual case), or the long way for an event's first payment and for a
payment after release or cancellation. Takes the caller's connection and never commits."""

from __future__ import annotations

from sqlalchemy import Connection

import ledger
from escrow import recipes, store
from escrow.accounts import lines
from escrow.decisions import capture_booking, capture_kind, capture_target
from escrow.errors import ConcurrentTransition
from escrow.lifecycle import adjust, open_escrow, post, transition
from escrow.models import CapturedPayment, Policy
from escrow.settlement import request_transfer


def capture_payment(conn: Connection, payment: CapturedPayment, *, cause: str) -> bool:
    """Book a captured payment into its event's escrow; False if it was booked before.

    The usual case (the escrow exists and collects, holds or is frozen or releasable, the
    chart's accounts are open) is three statements: the facts with the escrow locked, the
    ledger entry, the transition with its audit row and the payment's record. Any other
    case (the event's first payment, a payment after release or cancellation) is decided
    the long way."""
    specs = recipes.capture_accounts(payment.event_id, payment.currency)
    facts = store.capture_facts(conn, payment, specs)
    if facts is None:
        return _capture(conn, payment, cause=cause)
    escrow = facts.escrow
    if facts.booked:
        return False
    to_state = capture_target(escrow)
    if to_state != escrow.state:  # past release, cancelled: not the machine's capture
        return _capture(conn, payment, cause=cause)
    booking = capture_booking(payment, facts.policy)
    ids = facts.accounts
    if all((leg.owner, leg.code) in ids for leg in booking.legs):
        entry_lines = [
            ledger.Line(ids[(leg.owner, leg.code)], leg.side, leg.amount, payment.currency)
            for leg in booking.legs
        ]
    else:
        entry_lines = lines(conn, payment.org_id, payment.currency, booking.legs)
    entry = ledger.post_entry(
        conn,
        payment.org_id,
        ledger.PostEntry(
            idempotency_key=f"stripe:capture:{payment.payment_id}",
            lines=entry_lines,
            description=f"Payment {payment.payment_id} captured",
            external_ref=payment.balance_transaction_id or payment.payment_id,
        ),
    )
    if entry.replayed:
        # Booked by a transaction that committed while this one waited for the escrow's lock
        # (its record was not yet visible to the facts' snapshot): nothing is new.
        return False
    moved = store.record_capture(
        conn,
        {
            "escrow": escrow.id,
            "from": escrow.state,
            "to": to_state,
            "version": escrow.version,
            "gross": payment.gross,
            "share": booking.share,
            "cause": cause,
            "entry": entry.id,
            **_payment_values(payment, booking.fee, facts.policy),
        },
    )
    if not moved:  # the escrow is locked: it cannot have moved (kept as a guard)
        raise ConcurrentTransition(escrow_id=str(escrow.id), expected_state=escrow.state)
    return True


def _payment_values(payment: CapturedPayment, fee: int, policy: Policy) -> dict[str, object]:
    """The payment's record's values (named as `store.record_payment` and the capture's
    statement take them)."""
    return {
        "payment": payment.payment_id,
        "charge": payment.charge_id,
        "txn": payment.balance_transaction_id,
        "currency": payment.currency,
        "fee": fee,
        "stripe_fee": payment.stripe_fee,
        "bears": policy.bears_stripe_fees,
        "refund_fee": policy.refund_platform_fee,
    }


def _capture(conn: Connection, payment: CapturedPayment, *, cause: str) -> bool:
    """The capture the long way: the escrow opened if needed, then the machine's capture,
    or a capture after release (to the payable, with a transfer of its own) or after
    cancellation (counted, no machine event)."""
    escrow_id = open_escrow(
        conn, payment.org_id, payment.event_id, payment.currency, payment.event_ends_at
    )
    escrow = store.lock_escrow(conn, escrow_id)
    if store.payment_exists(conn, payment.payment_id):
        return False
    policy = store.get_policy(conn, payment.org_id)
    kind = capture_kind(escrow.state)
    booking = capture_booking(
        payment, policy, to="payable" if kind == "after_release" else "escrow"
    )
    entry = post(
        conn,
        payment.org_id,
        payment.currency,
        booking.legs,
        key=f"stripe:capture:{payment.payment_id}",
        description=f"Payment {payment.payment_id} captured",
        external_ref=payment.balance_transaction_id or payment.payment_id,
    )
    share = booking.share
    if kind == "after_release":
        # Past release the machine is done: the share joins what was released, and another
        # transfer is asked for it.
        adjust(conn, escrow, "capture_after_release", cause, captured=payment.gross, released=share)
        if share > 0:
            # One charge funds this transfer: naming it lets Stripe make the transfer once
            # that charge's funds are available, instead of refusing it meanwhile.
            request_transfer(
                conn,
                escrow,
                policy,
                share,
                key=payment.payment_id,
                source_transaction=payment.charge_id,
            )
    elif kind == "after_cancel":
        adjust(conn, escrow, "capture_after_cancel", cause, captured=payment.gross, held=share)
    else:
        transition(
            conn,
            escrow,
            "capture",
            cause=cause,
            entry_id=entry.id,
            changes={"captured": escrow.captured + payment.gross, "held": escrow.held + share},
        )
    store.record_payment(
        conn,
        {
            "org": payment.org_id,
            "escrow": escrow.id,
            "gross": payment.gross,
            "entry": entry.id,
            **_payment_values(payment, booking.fee, policy),
        },
    )
    return True
