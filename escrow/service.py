"""Escrow use cases: each takes the caller's connection and never commits, so a transition,
its ledger entries and its outbox messages commit together or not at all.

An escrow row is locked (`FOR UPDATE`) for the length of a use case and every transition is
persisted as a compare-and-set on (state, version) plus an audit row. Stripe's facts
(payments, refunds, disputes, transfers, payouts) are kept in their own tables keyed by
Stripe's ids, and every ledger entry is keyed on the Stripe object it comes from, so
duplicates and any arrival order give the same ledger.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, text
from statemachine.exceptions import TransitionNotAllowed

import ledger
import outbox
from escrow import recipes
from escrow.accounts import lines, platform_org
from escrow.errors import (
    ConcurrentTransition,
    EscrowNotFound,
    InvalidTransition,
    NotYetApplicable,
    RefundExceedsPayment,
    ReversalExceedsTransfer,
)
from escrow.machine import HOLDING_STATES, EscrowMachine
from escrow.messages import (
    EscrowReleased,
    EscrowStateChanged,
    TransferRequested,
    TransferReversalRequested,
)
from pgdriver import fetch


@dataclass(frozen=True)
class Escrow:
    """An escrow as stored."""

    id: uuid.UUID
    org_id: uuid.UUID
    event_id: str
    currency: str
    state: str
    event_ends_at: datetime
    ended_at: datetime | None
    hold_until: datetime | None
    open_disputes: int
    captured: int
    refunded: int
    charged_back: int
    held: int
    released: int
    version: int


@dataclass(frozen=True)
class Policy:
    """An organizer's terms: the platform's fee, who bears Stripe's fee, refund of the fee,
    the hold period after the event, where transfers and payout notices go."""

    platform_fee_bps: int = 500
    platform_fee_fixed: int = 0
    bears_stripe_fees: bool = False
    refund_platform_fee: bool = True
    hold_period: timedelta = timedelta(days=3)
    connected_account: str | None = None
    payout_email: str | None = None


@dataclass(frozen=True)
class CapturedPayment:
    """A captured card payment as Stripe reports it (PaymentIntent, charge, balance txn)."""

    payment_id: str
    org_id: uuid.UUID
    event_id: str
    currency: str
    gross: int
    stripe_fee: int
    event_ends_at: datetime
    charge_id: str | None = None
    balance_transaction_id: str | None = None


_COLUMNS = ", ".join(f.name for f in fields(Escrow))


class _Model:
    """The machine's view of an escrow: its state field and the guards' facts."""

    def __init__(self, state: str, open_disputes: int, nothing_held: bool, ended: bool) -> None:
        self.state = state
        self.open_disputes = open_disputes
        self.nothing_held = nothing_held
        self.ended = ended

    @property
    def no_open_dispute(self) -> bool:
        return self.open_disputes == 0

    @property
    def other_disputes_open(self) -> bool:
        return self.open_disputes > 0

    @property
    def event_not_ended(self) -> bool:
        return self.open_disputes == 0 and not self.ended

    @property
    def event_has_ended(self) -> bool:
        return self.open_disputes == 0 and self.ended


@functools.lru_cache(maxsize=256)
def _decide(
    state: str, event: str, open_disputes: bool, nothing_held: bool, ended: bool
) -> str | None:
    """Where `event` takes an escrow in `state` with these facts, by the machine (None: not
    allowed). The machine is pure and its guards read only these facts, so each answer is
    asked once and remembered: building a machine costs more than the rest of a capture."""
    model = _Model(state, 1 if open_disputes else 0, nothing_held, ended)
    try:
        EscrowMachine(model=model, state_field="state").send(event)
    except TransitionNotAllowed:
        return None
    return str(model.state)


def _target(escrow: Escrow, event: str, changes: dict[str, Any]) -> str:
    """The state `event` takes the escrow to, with `changes` applied, or InvalidTransition."""
    open_disputes = int(changes.get("open_disputes", escrow.open_disputes))
    held = int(changes.get("held", escrow.held))
    ended = (changes.get("ended_at") or escrow.ended_at) is not None
    target = _decide(escrow.state, event, open_disputes > 0, held <= 0, ended)
    if target is None:
        raise InvalidTransition(escrow_id=str(escrow.id), state=escrow.state, event=event)
    return target


def _escrow(row: Any) -> Escrow:
    return Escrow(**{f.name: getattr(row, f.name) for f in fields(Escrow)})


def lock_escrow(conn: Connection, escrow_id: uuid.UUID) -> Escrow:
    """The escrow, locked for the rest of the caller's transaction."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM payments.escrows WHERE id = :id FOR UPDATE"),
        {"id": escrow_id},
    ).first()
    if row is None:
        raise EscrowNotFound(escrow_id=str(escrow_id))
    return _escrow(row)


def get_escrow(conn: Connection, escrow_id: uuid.UUID) -> Escrow:
    """The escrow as it is now."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM payments.escrows WHERE id = :id"), {"id": escrow_id}
    ).first()
    if row is None:
        raise EscrowNotFound(escrow_id=str(escrow_id))
    return _escrow(row)


def transitions(conn: Connection, escrow_id: uuid.UUID) -> list[dict[str, Any]]:
    """The escrow's audit trail, oldest first."""
    rows = conn.execute(
        text("""SELECT from_state, to_state, event, cause, entry_id, created_at
                  FROM payments.escrow_transitions WHERE escrow_id = :id ORDER BY id"""),
        {"id": escrow_id},
    ).all()
    return [r._asdict() for r in rows]


def open_escrow(
    conn: Connection, org_id: uuid.UUID, event_id: str, currency: str, event_ends_at: datetime
) -> uuid.UUID:
    """The escrow of this organizer, event and currency, created if it does not exist."""
    if not ledger.is_currency(currency):
        raise ledger.UnknownCurrency(currency=currency)
    conn.execute(
        text("""INSERT INTO payments.escrows (org_id, event_id, currency, event_ends_at)
                VALUES (:org, :event, :currency, :ends)
                ON CONFLICT ON CONSTRAINT escrows_one_per_event DO NOTHING"""),
        {"org": org_id, "event": event_id, "currency": currency, "ends": event_ends_at},
    )
    escrow_id: uuid.UUID = conn.execute(
        text("""SELECT id FROM payments.escrows
                 WHERE org_id = :org AND event_id = :event AND currency = :currency"""),
        {"org": org_id, "event": event_id, "currency": currency},
    ).scalar_one()
    return escrow_id


def set_policy(conn: Connection, org_id: uuid.UUID, policy: Policy) -> None:
    """Set (or replace) an organizer's terms."""
    conn.execute(
        text("""INSERT INTO payments.organizer_policies
                    (org_id, platform_fee_bps, platform_fee_fixed, bears_stripe_fees,
                     refund_platform_fee, hold_period, connected_account, payout_email)
                VALUES (:org, :bps, :fixed, :bears, :refund_fee, :hold, :account, :email)
                ON CONFLICT (org_id) DO UPDATE SET
                    platform_fee_bps = EXCLUDED.platform_fee_bps,
                    platform_fee_fixed = EXCLUDED.platform_fee_fixed,
                    bears_stripe_fees = EXCLUDED.bears_stripe_fees,
                    refund_platform_fee = EXCLUDED.refund_platform_fee,
                    hold_period = EXCLUDED.hold_period,
                    connected_account = EXCLUDED.connected_account,
                    payout_email = EXCLUDED.payout_email"""),
        {
            "org": org_id,
            "bps": policy.platform_fee_bps,
            "fixed": policy.platform_fee_fixed,
            "bears": policy.bears_stripe_fees,
            "refund_fee": policy.refund_platform_fee,
            "hold": policy.hold_period,
            "account": policy.connected_account,
            "email": policy.payout_email,
        },
    )


def get_policy(conn: Connection, org_id: uuid.UUID) -> Policy:
    """The organizer's terms (the defaults when none were set)."""
    row = conn.execute(
        text("""SELECT platform_fee_bps, platform_fee_fixed, bears_stripe_fees,
                       refund_platform_fee, hold_period, connected_account, payout_email
                  FROM payments.organizer_policies WHERE org_id = :org"""),
        {"org": org_id},
    ).first()
    return Policy(**row._asdict()) if row is not None else Policy()


def _transition(
    conn: Connection,
    escrow: Escrow,
    event: str,
    *,
    cause: str | None,
    entry_id: uuid.UUID | None = None,
    changes: dict[str, Any] | None = None,
) -> Escrow:
    """Run `event` through the machine and persist it as compare-and-set plus an audit row;
    `changes` are the column values the transition sets with it."""
    changes = dict(changes or {})
    target = _target(escrow, event, changes)
    assignments = ", ".join(f"{name} = :{name}" for name in changes)
    row = conn.execute(
        text(f"""UPDATE payments.escrows
                    SET state = :to, version = version + 1, updated_at = now()
                        {"," if assignments else ""} {assignments}
                  WHERE id = :id AND state = :from AND version = :version
              RETURNING {_COLUMNS}"""),
        {**changes, "to": target, "id": escrow.id, "from": escrow.state, "version": escrow.version},
    ).first()
    if row is None:
        raise ConcurrentTransition(escrow_id=str(escrow.id), expected_state=escrow.state)
    updated = _escrow(row)
    conn.execute(
        text("""INSERT INTO payments.escrow_transitions
                    (escrow_id, org_id, from_state, to_state, event, cause, entry_id)
                VALUES (:id, :org, :from, :to, :event, :cause, :entry)"""),
        {
            "id": escrow.id,
            "org": escrow.org_id,
            "from": escrow.state,
            "to": target,
            "event": event,
            "cause": cause,
            "entry": entry_id,
        },
    )
    if target != escrow.state:
        outbox.publish(
            conn,
            type="escrow.state_changed",
            payload=EscrowStateChanged(
                escrow_id=str(escrow.id),
                event_id=escrow.event_id,
                currency=escrow.currency,
                from_state=escrow.state,
                to_state=target,
                event=event,
                held=updated.held,
            ),
            aggregate_type="escrow",
            aggregate_id=str(escrow.id),
            org_id=escrow.org_id,
        )
    return updated


def _adjust(conn: Connection, escrow: Escrow, event: str, cause: str, **deltas: int) -> None:
    """Change counters of an escrow past release (no machine event; an audit row still)."""
    sets = ", ".join(f"{k} = {k} + :{k}" for k in deltas)
    conn.execute(
        text(f"UPDATE payments.escrows SET {sets}, updated_at = now() WHERE id = :id"),
        {**deltas, "id": escrow.id},
    )
    conn.execute(
        text("""INSERT INTO payments.escrow_transitions
                    (escrow_id, org_id, from_state, to_state, event, cause)
                VALUES (:id, :org, :state, :state, :event, :cause)"""),
        {
            "id": escrow.id,
            "org": escrow.org_id,
            "state": escrow.state,
            "event": event,
            "cause": cause,
        },
    )


def _post(
    conn: Connection,
    org_id: uuid.UUID,
    currency: str,
    legs: Sequence[recipes.Leg],
    *,
    key: str,
    description: str,
    external_ref: str | None = None,
    platform: uuid.UUID | None = None,
) -> ledger.WriteResult:
    return ledger.post_entry(
        conn,
        org_id,
        ledger.PostEntry(
            idempotency_key=key,
            lines=lines(conn, org_id, currency, legs, platform),
            description=description,
            external_ref=external_ref,
        ),
    )


# -- payments ------------------------------------------------------------------------------


# What a capture decides on, in one round trip: the escrow (locked first, as every escrow
# use case locks it before the ledger locks accounts, so none waits for another in a
# cycle), the organizer's policy, whether the payment was booked, and the ids of the chart
# accounts the capture may post to (the platform's or the organizer's; NULL if not open).
_SLOTS = ", ".join(
    f"({n}, %(owner_{n})s, %(code_{n})s)"
    for n in range(len(recipes.capture_accounts("event", "USD")))
)
"""One (order, owner, code) row per chart account a capture may post to: scalar parameters,
cheaper for the driver to send than arrays of text."""
_CAPTURE_FACTS = f"""
    SELECT {", ".join(f"e.{f.name}" for f in fields(Escrow))},
           pol.platform_fee_bps, pol.platform_fee_fixed, pol.bears_stripe_fees,
           pol.refund_platform_fee,
           EXISTS (SELECT 1 FROM payments.card_payments c WHERE c.id = %(payment)s) AS booked,
           ARRAY(SELECT a.id
                   FROM (VALUES {_SLOTS}) AS u(n, owner, code)
                   LEFT JOIN payments.accounts a
                     ON a.code = u.code
                    AND a.org_id = CASE u.owner WHEN 'organizer' THEN e.org_id
                                   ELSE (SELECT o.id FROM payments.organizations o
                                          WHERE o.is_platform) END
                  ORDER BY u.n) AS accounts
      FROM payments.escrows e
      LEFT JOIN payments.organizer_policies pol ON pol.org_id = e.org_id
     WHERE e.org_id = %(org)s AND e.event_id = %(event)s AND e.currency = %(currency)s
       FOR UPDATE OF e"""

# The capture's transition (compare-and-set on state and version, with the counters), its
# audit row and the payment's record, in one statement, once the entry is posted.
_CAPTURED = """
    WITH moved AS (
        UPDATE payments.escrows
           SET captured = captured + %(gross)s, held = held + %(share)s, version = version + 1,
               updated_at = now()
         WHERE id = %(escrow)s AND state = %(from)s AND version = %(version)s
        RETURNING id, org_id
    ), audit AS (
        INSERT INTO payments.escrow_transitions
            (escrow_id, org_id, from_state, to_state, event, cause, entry_id)
        SELECT id, org_id, %(from)s, %(to)s, 'capture', %(cause)s, %(entry)s FROM moved
    ), recorded AS (
        INSERT INTO payments.card_payments
            (id, org_id, escrow_id, charge_id, balance_transaction_id, currency, gross,
             platform_fee, stripe_fee, bears_stripe_fees, refund_platform_fee, entry_id)
        SELECT %(payment)s, org_id, id, %(charge)s, %(txn)s, %(currency)s, %(gross)s,
               %(fee)s, %(stripe_fee)s, %(bears)s, %(refund_fee)s, %(entry)s
          FROM moved
    )
    SELECT count(*) AS moved FROM moved"""


def capture_payment(conn: Connection, payment: CapturedPayment, *, cause: str) -> bool:
    """Book a captured payment into its event's escrow; False if it was booked before.

    The usual case (the escrow exists and collects, holds or is frozen or releasable, the
    chart's accounts are open) is three statements: the facts with the escrow locked, the
    ledger entry, the transition with its audit row and the payment's record. Any other
    case (the event's first payment, a payment after release or cancellation) is decided
    the long way."""
    specs = recipes.capture_accounts(payment.event_id, payment.currency)
    found = fetch(
        conn,
        _CAPTURE_FACTS,
        {
            "org": payment.org_id,
            "event": payment.event_id,
            "currency": payment.currency,
            "payment": payment.payment_id,
            **{f"owner_{n}": spec.owner for n, spec in enumerate(specs)},
            **{f"code_{n}": spec.code for n, spec in enumerate(specs)},
        },
    )
    if not found:
        return _capture(conn, payment, cause=cause)
    row = found[0]
    escrow = _escrow(row)
    if row.booked:
        return False
    target = _decide(
        escrow.state,
        "capture",
        escrow.open_disputes > 0,
        escrow.held <= 0,
        escrow.ended_at is not None,
    )
    if target != escrow.state:  # past release, cancelled: not the machine's capture
        return _capture(conn, payment, cause=cause)
    policy = (
        Policy()
        if row.platform_fee_bps is None
        else Policy(
            platform_fee_bps=row.platform_fee_bps,
            platform_fee_fixed=row.platform_fee_fixed,
            bears_stripe_fees=row.bears_stripe_fees,
            refund_platform_fee=row.refund_platform_fee,
        )
    )
    fee = recipes.platform_fee(payment.gross, policy.platform_fee_bps, policy.platform_fee_fixed)
    legs = recipes.capture(
        payment.event_id,
        payment.currency,
        gross=payment.gross,
        platform=fee,
        stripe=payment.stripe_fee,
        bears_stripe_fees=policy.bears_stripe_fees,
    )
    ids = {(spec.owner, spec.code): found for spec, found in zip(specs, row.accounts, strict=True)}
    if all(ids[(leg.owner, leg.code)] is not None for leg in legs):
        entry_lines = [
            ledger.Line(ids[(leg.owner, leg.code)], leg.side, leg.amount, payment.currency)
            for leg in legs
        ]
    else:
        entry_lines = lines(conn, payment.org_id, payment.currency, legs)
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
    share = recipes.organizer_share(
        payment.gross, fee, payment.stripe_fee, policy.bears_stripe_fees
    )
    (done,) = fetch(
        conn,
        _CAPTURED,
        {
            "escrow": escrow.id,
            "from": escrow.state,
            "to": target,
            "version": escrow.version,
            "gross": payment.gross,
            "share": share,
            "cause": cause,
            "entry": entry.id,
            "payment": payment.payment_id,
            "charge": payment.charge_id,
            "txn": payment.balance_transaction_id,
            "currency": payment.currency,
            "fee": fee,
            "stripe_fee": payment.stripe_fee,
            "bears": policy.bears_stripe_fees,
            "refund_fee": policy.refund_platform_fee,
        },
    )
    if done.moved != 1:  # the escrow is locked: it cannot have moved (kept as a guard)
        raise ConcurrentTransition(escrow_id=str(escrow.id), expected_state=escrow.state)
    return True


def _capture(conn: Connection, payment: CapturedPayment, *, cause: str) -> bool:
    """The capture the long way: the escrow opened if needed, then the machine's capture,
    or a capture after release (to the payable, with a transfer of its own) or after
    cancellation (counted, no machine event)."""
    escrow_id = open_escrow(
        conn, payment.org_id, payment.event_id, payment.currency, payment.event_ends_at
    )
    escrow = lock_escrow(conn, escrow_id)
    exists = conn.execute(
        text("SELECT 1 FROM payments.card_payments WHERE id = :id"), {"id": payment.payment_id}
    ).first()
    if exists:
        return False
    policy = get_policy(conn, payment.org_id)
    fee = recipes.platform_fee(payment.gross, policy.platform_fee_bps, policy.platform_fee_fixed)
    late = escrow.state in ("release_requested", "released")
    legs = recipes.capture(
        payment.event_id,
        payment.currency,
        gross=payment.gross,
        platform=fee,
        stripe=payment.stripe_fee,
        bears_stripe_fees=policy.bears_stripe_fees,
        to="payable" if late else "escrow",
    )
    entry = _post(
        conn,
        payment.org_id,
        payment.currency,
        legs,
        key=f"stripe:capture:{payment.payment_id}",
        description=f"Payment {payment.payment_id} captured",
        external_ref=payment.balance_transaction_id or payment.payment_id,
    )
    share = recipes.organizer_share(
        payment.gross, fee, payment.stripe_fee, policy.bears_stripe_fees
    )
    if late:
        # Past release the machine is done: the share joins what was released, and another
        # transfer is asked for it.
        _adjust(
            conn, escrow, "capture_after_release", cause, captured=payment.gross, released=share
        )
        if share > 0:
            # One charge funds this transfer: naming it lets Stripe make the transfer once
            # that charge's funds are available, instead of refusing it meanwhile.
            _request_transfer(
                conn,
                escrow,
                policy,
                share,
                key=payment.payment_id,
                source_transaction=payment.charge_id,
            )
    elif escrow.state == "cancelled":
        _adjust(conn, escrow, "capture_after_cancel", cause, captured=payment.gross, held=share)
    else:
        _transition(
            conn,
            escrow,
            "capture",
            cause=cause,
            entry_id=entry.id,
            changes={"captured": escrow.captured + payment.gross, "held": escrow.held + share},
        )
    conn.execute(
        text("""INSERT INTO payments.card_payments
                    (id, org_id, escrow_id, charge_id, balance_transaction_id, currency, gross,
                     platform_fee, stripe_fee, bears_stripe_fees, refund_platform_fee, entry_id)
                VALUES (:id, :org, :escrow, :charge, :txn, :currency, :gross, :fee, :stripe_fee,
                        :bears, :refund_fee, :entry)"""),
        {
            "id": payment.payment_id,
            "org": payment.org_id,
            "escrow": escrow.id,
            "charge": payment.charge_id,
            "txn": payment.balance_transaction_id,
            "currency": payment.currency,
            "gross": payment.gross,
            "fee": fee,
            "stripe_fee": payment.stripe_fee,
            "bears": policy.bears_stripe_fees,
            "refund_fee": policy.refund_platform_fee,
            "entry": entry.id,
        },
    )
    return True


def _payment(conn: Connection, payment_id: str) -> Any:
    row = conn.execute(
        text("""SELECT id, org_id, escrow_id, currency, gross, platform_fee, refund_platform_fee,
                       refunded
                  FROM payments.card_payments WHERE id = :id FOR UPDATE"""),
        {"id": payment_id},
    ).first()
    if row is None:
        raise NotYetApplicable(reason=f"payment {payment_id} is not captured yet")
    return row


def payment_id_for_charge(conn: Connection, charge_id: str) -> str | None:
    """The captured payment of a Stripe charge, if known."""
    found: str | None = conn.execute(
        text("SELECT id FROM payments.card_payments WHERE charge_id = :c"), {"c": charge_id}
    ).scalar_one_or_none()
    return found


def dispute_outcome(conn: Connection, payment_id: str) -> str | None:
    """What the payment's disputes come to, from what escrow recorded (whatever order
    Stripe's events came in): 'lost' if one was lost, else 'open' if one is open, else
    'won' (every one closed in the platform's favour), None if it has none."""
    statuses = set(
        conn.execute(
            text("SELECT status FROM payments.card_disputes WHERE payment_id = :id"),
            {"id": payment_id},
        ).scalars()
    )
    for outcome in ("lost", "open", "won"):
        if outcome in statuses:
            return outcome
    return None


def refund_payment(
    conn: Connection, refund_id: str, payment_id: str, amount: int, *, failed: bool, cause: str
) -> bool:
    """Book a refund (and, once it failed, its reversal); False if nothing was new."""
    payment = _payment(conn, payment_id)
    escrow = lock_escrow(conn, payment.escrow_id)
    row = conn.execute(
        text("""SELECT amount, fee_back, charged_to, failed, entry_id
                  FROM payments.card_refunds WHERE id = :id"""),
        {"id": refund_id},
    ).first()
    changed = False
    if row is None:
        # A refund first seen as failed moves nothing net (its refund and its return are both
        # booked), so it is not held against what is left to refund.
        if not failed and payment.refunded + amount > payment.gross:
            raise RefundExceedsPayment(
                payment_id=payment_id,
                paid=payment.gross,
                refunded=payment.refunded,
                requested=amount,
            )
        target: recipes.Target = (
            "escrow" if escrow.state in HOLDING_STATES | {"cancelled"} else "receivable"
        )
        if target == "receivable" or escrow.state == "cancelled":
            _lock_debts(conn, escrow.org_id, escrow.currency)
        fee_back = recipes.refund_fee_back(
            amount, payment.gross, payment.platform_fee, payment.refund_platform_fee
        )
        event_id = escrow.event_id
        entry = _post(
            conn,
            escrow.org_id,
            escrow.currency,
            recipes.refund(event_id, escrow.currency, amount, fee_back, target),
            key=f"stripe:refund:{refund_id}",
            description=f"Refund {refund_id} of payment {payment_id}",
            external_ref=refund_id,
        )
        if failed:
            pass  # booked with its return below: the escrow's counters do not move
        elif target == "escrow" and escrow.state == "cancelled":
            _adjust(
                conn, escrow, "refund_after_cancel", cause, refunded=amount, held=fee_back - amount
            )
            _settle_cancelled(conn, escrow.id, key=refund_id)
        elif target == "escrow":
            escrow = _transition(
                conn,
                escrow,
                "refund",
                cause=cause,
                entry_id=entry.id,
                changes={
                    "refunded": escrow.refunded + amount,
                    "held": escrow.held - (amount - fee_back),
                },
            )
        conn.execute(
            text("""INSERT INTO payments.card_refunds
                        (id, payment_id, org_id, amount, fee_back, charged_to, failed, entry_id)
                    VALUES (:id, :payment, :org, :amount, :fee_back, :target, :failed, :entry)"""),
            {
                "id": refund_id,
                "payment": payment_id,
                "org": escrow.org_id,
                "amount": amount,
                "fee_back": fee_back,
                "target": target,
                "failed": failed,
                "entry": entry.id,
            },
        )
        if failed:
            _reverse_failed_refund(conn, escrow.org_id, refund_id, entry.id)
            return True
        conn.execute(
            text("UPDATE payments.card_payments SET refunded = refunded + :a WHERE id = :id"),
            {"a": amount, "id": payment_id},
        )
        if target == "receivable":
            # Refunded after release: the organizer owes it, recovered from its transfers.
            _recover(
                conn, escrow.org_id, escrow.currency, key=f"refund:{refund_id}", escrow_id=escrow.id
            )
        changed = True
        row = conn.execute(
            text("""SELECT amount, fee_back, charged_to, failed, entry_id
                      FROM payments.card_refunds WHERE id = :id"""),
            {"id": refund_id},
        ).one()
    if failed and not row.failed:
        returned_to_payable = row.charged_to == "escrow" and escrow.state not in (
            HOLDING_STATES | {"cancelled"}
        )
        if returned_to_payable:
            # The escrow was released since: the money is the organizer's again, on the payable.
            _post(
                conn,
                escrow.org_id,
                escrow.currency,
                recipes.refund_returned(escrow.currency, row.amount, row.fee_back),
                key=f"stripe:refund-failed:{refund_id}",
                description=f"Refund {refund_id} failed after release",
                external_ref=f"{refund_id}:failed",
            )
        else:
            # The refund came back: the money returns where it was taken from.
            _reverse_failed_refund(conn, escrow.org_id, refund_id, row.entry_id)
        conn.execute(
            text("UPDATE payments.card_refunds SET failed = true WHERE id = :id"), {"id": refund_id}
        )
        conn.execute(
            text("UPDATE payments.card_payments SET refunded = refunded - :a WHERE id = :id"),
            {"a": row.amount, "id": payment_id},
        )
        if returned_to_payable:
            _adjust(
                conn,
                escrow,
                "refund_failed_after_release",
                cause,
                refunded=-row.amount,
                released=row.amount - row.fee_back,
            )
            if row.amount > row.fee_back:
                _request_transfer(
                    conn,
                    escrow,
                    get_policy(conn, escrow.org_id),
                    row.amount - row.fee_back,
                    key=f"refund-failed:{refund_id}",
                )
        elif row.charged_to == "escrow":
            _adjust(
                conn,
                escrow,
                "refund_failed",
                cause,
                refunded=-row.amount,
                held=row.amount - row.fee_back,
            )
        changed = True
    return changed


@dataclass(frozen=True)
class _ReferencedReversal(ledger.ReverseEntry):
    """A reversal booked under an external reference: the ledger's door takes one on any
    entry, but `ledger.ReverseEntry` has no field for it yet."""

    external_ref: str | None = None

    def payload(self) -> dict[str, Any]:
        """The reversal's payload with its external reference."""
        payload = super().payload()
        payload["external_ref"] = self.external_ref
        return payload


def _reverse_failed_refund(
    conn: Connection, org_id: uuid.UUID, refund_id: str, entry_id: uuid.UUID
) -> None:
    """Reverse a failed refund's entry under `re_...:failed`, the reference Stripe's
    `refund_failure` balance transaction is matched by (its source is the refund)."""
    ledger.reverse_entry(
        conn,
        org_id,
        _ReferencedReversal(
            idempotency_key=f"stripe:refund-failed:{refund_id}",
            entry_id=entry_id,
            description=f"Refund {refund_id} failed",
            external_ref=f"{refund_id}:failed",
        ),
    )


def _settle_cancelled(conn: Connection, escrow_id: uuid.UUID, *, key: str) -> None:
    """A cancelled escrow keeps no debt of the organizer: a shortfall (a refund past its
    share) moves to the organizer's receivable at once."""
    escrow = lock_escrow(conn, escrow_id)
    if escrow.state != "cancelled" or escrow.held >= 0:
        return
    _post(
        conn,
        escrow.org_id,
        escrow.currency,
        recipes.release(escrow.event_id, escrow.currency, escrow.held),
        key=f"escrow:settle:{escrow.id}:{key}",
        description=f"Shortfall of cancelled escrow {escrow.id} to the receivable",
    )
    _adjust(conn, escrow, "shortfall_to_receivable", key, held=-escrow.held)
    _recover(
        conn, escrow.org_id, escrow.currency, key=f"settle:{escrow.id}:{key}", escrow_id=escrow.id
    )


# -- disputes ------------------------------------------------------------------------------


def _dispute(conn: Connection, dispute_id: str) -> Any:
    return conn.execute(
        text("""SELECT id, payment_id, escrow_id, amount, status, withdrawn, reinstated
                  FROM payments.card_disputes WHERE id = :id FOR UPDATE"""),
        {"id": dispute_id},
    ).first()


def open_dispute(
    conn: Connection, dispute_id: str, payment_id: str, amount: int, *, cause: str
) -> bool:
    """Record a dispute; it freezes the escrow while it still holds the money."""
    payment = _payment(conn, payment_id)
    escrow = lock_escrow(conn, payment.escrow_id)
    if _dispute(conn, dispute_id) is not None:
        return False
    conn.execute(
        text("""INSERT INTO payments.card_disputes (id, payment_id, org_id, escrow_id, amount)
                VALUES (:id, :payment, :org, :escrow, :amount)"""),
        {
            "id": dispute_id,
            "payment": payment_id,
            "org": escrow.org_id,
            "escrow": escrow.id,
            "amount": amount,
        },
    )
    if escrow.state in HOLDING_STATES:
        _transition(
            conn,
            escrow,
            "dispute_opened",
            cause=cause,
            changes={"open_disputes": escrow.open_disputes + 1},
        )
    return True


def _dispute_funds(
    conn: Connection,
    dispute_id: str,
    payment_id: str,
    amount: int,
    *,
    moved: Literal["withdrawn", "reinstated"],
    legs: tuple[recipes.Leg, ...],
    cause: str,
) -> bool:
    """Book Stripe's move of a dispute's funds once (withdrawn, or reinstated)."""
    open_dispute(conn, dispute_id, payment_id, amount, cause=cause)
    dispute = _dispute(conn, dispute_id)
    if getattr(dispute, moved):
        return False
    payment = _payment(conn, payment_id)
    _post(
        conn,
        payment.org_id,
        payment.currency,
        legs,
        key=f"stripe:dispute-{moved}:{dispute_id}",
        description=f"Dispute {dispute_id}: funds {moved}",
        external_ref=f"{dispute_id}:{moved}",
    )
    conn.execute(
        text(
            f"UPDATE payments.card_disputes SET {moved} = true, updated_at = now() WHERE id = :id"
        ),
        {"id": dispute_id},
    )
    return True


def dispute_funds_withdrawn(
    conn: Connection, dispute_id: str, payment_id: str, amount: int, fee: int, *, cause: str
) -> bool:
    """Stripe withdrew the disputed amount and its fee from the platform's balance."""
    payment = _payment(conn, payment_id)
    legs = recipes.dispute_withdrawn(payment.currency, amount, fee)
    return _dispute_funds(
        conn, dispute_id, payment_id, amount, moved="withdrawn", legs=legs, cause=cause
    )


def dispute_funds_reinstated(
    conn: Connection,
    dispute_id: str,
    payment_id: str,
    amount: int,
    fee_returned: int,
    *,
    cause: str,
) -> bool:
    """Stripe gave the disputed funds back (the dispute was won)."""
    payment = _payment(conn, payment_id)
    legs = recipes.dispute_reinstated(payment.currency, amount, fee_returned)
    return _dispute_funds(
        conn, dispute_id, payment_id, amount, moved="reinstated", legs=legs, cause=cause
    )


def close_dispute(
    conn: Connection, dispute_id: str, payment_id: str, amount: int, won: bool, *, cause: str
) -> bool:
    """Close a dispute: a lost one is charged to the escrow while it holds the event's money,
    otherwise to the organizer's receivable; the escrow unfreezes when none is left open."""
    open_dispute(conn, dispute_id, payment_id, amount, cause=cause)
    dispute = _dispute(conn, dispute_id)
    if dispute.status != "open":
        return False
    escrow = lock_escrow(conn, dispute.escrow_id)
    entry_id = None
    held = escrow.held
    charged_back = escrow.charged_back
    if not won:
        target: recipes.Target = (
            "escrow" if escrow.state in HOLDING_STATES | {"cancelled"} else "receivable"
        )
        if target == "receivable":
            _lock_debts(conn, escrow.org_id, escrow.currency)
        entry_id = _post(
            conn,
            escrow.org_id,
            escrow.currency,
            recipes.dispute_lost(escrow.event_id, escrow.currency, dispute.amount, target),
            key=f"stripe:dispute-lost:{dispute_id}",
            description=f"Dispute {dispute_id} lost",
            external_ref=f"{dispute_id}:lost",
        ).id
        if target == "escrow":
            held -= dispute.amount
            charged_back += dispute.amount
        else:
            _recover(
                conn,
                escrow.org_id,
                escrow.currency,
                key=f"dispute:{dispute_id}",
                escrow_id=escrow.id,
            )
    conn.execute(
        text("""UPDATE payments.card_disputes SET status = :status, updated_at = now()
                 WHERE id = :id"""),
        {"id": dispute_id, "status": "won" if won else "lost"},
    )
    if escrow.state == "frozen":
        _transition(
            conn,
            escrow,
            "dispute_closed",
            cause=cause,
            entry_id=entry_id,
            changes={
                "open_disputes": escrow.open_disputes - 1,
                "held": held,
                "charged_back": charged_back,
            },
        )
    elif held != escrow.held:
        _adjust(
            conn,
            escrow,
            "dispute_lost",
            cause,
            held=held - escrow.held,
            charged_back=charged_back - escrow.charged_back,
        )
    return True


# -- the event's end, release, transfer ---------------------------------------------------


def end_event(conn: Connection, escrow_id: uuid.UUID, *, cause: str = "event ended") -> Escrow:
    """The event is over: hold the money for the organizer's hold period."""
    escrow = lock_escrow(conn, escrow_id)
    policy = get_policy(conn, escrow.org_id)
    now: datetime = conn.execute(text("SELECT now()")).scalar_one()
    return _transition(
        conn,
        escrow,
        "event_ended",
        cause=cause,
        changes={
            "ended_at": now,
            "hold_until": max(now, escrow.event_ends_at) + policy.hold_period,
        },
    )


def request_release(conn: Connection, escrow_id: uuid.UUID, *, cause: str = "release") -> Escrow:
    """Release a releasable escrow: its balance moves to the organizer's payable, and the
    transfer request, the `escrow.released` webhook and the payout e-mail are published."""
    escrow = lock_escrow(conn, escrow_id)
    _lock_debts(conn, escrow.org_id, escrow.currency)
    policy = get_policy(conn, escrow.org_id)
    amount = max(escrow.held, 0)
    short = escrow.held < 0
    entry_id = None
    legs = recipes.release(escrow.event_id, escrow.currency, escrow.held)
    if legs:
        entry_id = _post(
            conn,
            escrow.org_id,
            escrow.currency,
            legs,
            key=f"escrow:release:{escrow.id}",
            description=f"Release of escrow {escrow.id} (event {escrow.event_id})",
        ).id
    escrow = _transition(
        conn,
        escrow,
        "request_release",
        cause=cause,
        entry_id=entry_id,
        changes={"held": 0, "released": escrow.released + amount},
    )
    emails = []
    if policy.payout_email:
        emails.append(
            outbox.Email(
                to=policy.payout_email,
                subject=f"Your payout for event {escrow.event_id}",
                body=(
                    f"{amount} {escrow.currency} (minor units) from event {escrow.event_id} "
                    "has been released and is on its way to your account."
                ),
            )
        )
    outbox.publish(
        conn,
        type="escrow.released",
        payload=EscrowReleased(
            escrow_id=str(escrow.id),
            event_id=escrow.event_id,
            currency=escrow.currency,
            amount=amount,
        ),
        aggregate_type="escrow",
        aggregate_id=str(escrow.id),
        org_id=escrow.org_id,
        emails=emails,
    )
    # What the organizer owes and no reversal was asked for is netted against the release:
    # the transfer is that much smaller.
    owed = owed_after_reversals(conn, escrow.org_id, escrow.currency)
    netted = min(owed, amount) if owed > 0 else 0
    if netted > 0:
        _post(
            conn,
            escrow.org_id,
            escrow.currency,
            recipes.net_receivable(escrow.currency, netted),
            key=f"escrow:net:{escrow.id}",
            description=f"Owed by the organizer, netted against the release of escrow {escrow.id}",
        )
    if amount > netted:
        _request_transfer(conn, escrow, policy, amount - netted, key="release")
    else:
        cause = "nothing to transfer" if amount == 0 else "netted against what is owed"
        escrow = _transition(conn, escrow, "transfer_paid", cause=cause)
    if short:
        # The escrow's shortfall went to the receivable: asked back from earlier transfers.
        _recover(conn, escrow.org_id, escrow.currency, key=f"release:{escrow.id}")
    return escrow


def _request_transfer(
    conn: Connection,
    escrow: Escrow,
    policy: Policy,
    amount: int,
    *,
    key: str,
    source_transaction: str | None = None,
) -> None:
    """Publish the task that asks Stripe to transfer `amount` to the organizer (funded by
    `source_transaction`, the one charge that pays for it, when there is one)."""
    outbox.publish(
        conn,
        type="stripe.transfer.requested",
        payload=TransferRequested(
            escrow_id=str(escrow.id),
            org_id=str(escrow.org_id),
            event_id=escrow.event_id,
            amount=amount,
            currency=escrow.currency,
            destination=policy.connected_account,
            source_transaction=source_transaction,
        ),
        aggregate_type="escrow",
        aggregate_id=str(escrow.id),
        org_id=escrow.org_id,
        task=True,
        dedup_key=f"transfer:{escrow.id}:{key}",
    )


def release_due(conn: Connection, limit: int = 100) -> list[tuple[uuid.UUID, str]]:
    """Move every escrow that has become due one step: end its event, end its hold, release
    it. Returns (escrow id, new state) for each step taken. Skips escrows locked by others."""
    done: list[tuple[uuid.UUID, str]] = []
    due = (
        conn.execute(
            text("""SELECT id FROM payments.escrows
                 WHERE (state = 'collecting' AND event_ends_at <= now())
                    OR (state = 'holding' AND hold_until <= now() AND open_disputes = 0)
                    OR state = 'releasable'
                 ORDER BY event_ends_at, id
                 LIMIT :limit
                   FOR UPDATE SKIP LOCKED"""),
            {"limit": limit},
        )
        .scalars()
        .all()
    )
    for escrow_id in due:
        escrow = lock_escrow(conn, escrow_id)
        while True:
            if escrow.state == "collecting" and _passed(conn, escrow.event_ends_at):
                escrow = end_event(conn, escrow.id)
            elif (
                escrow.state == "holding"
                and escrow.hold_until is not None
                and _passed(conn, escrow.hold_until)
                and escrow.open_disputes == 0
            ):
                escrow = _transition(conn, escrow, "hold_elapsed", cause="hold period over")
            elif escrow.state == "releasable":
                escrow = request_release(conn, escrow.id)
            else:
                break
            done.append((escrow.id, escrow.state))
    return done


def _passed(conn: Connection, moment: datetime) -> bool:
    passed: bool = conn.execute(text("SELECT now() >= :m"), {"m": moment}).scalar_one()
    return passed


def transfer_created(
    conn: Connection,
    transfer_id: str,
    escrow_id: uuid.UUID,
    amount: int,
    *,
    cause: str,
) -> bool:
    """Stripe made the organizer's transfer: the payable is paid from the Stripe balance and
    the escrow is released. Debts the organizer ran up while the transfer was on its way
    are asked back from it."""
    escrow = lock_escrow(conn, escrow_id)
    _lock_debts(conn, escrow.org_id, escrow.currency)
    row = conn.execute(
        text("""INSERT INTO payments.organizer_transfers (id, org_id, escrow_id, currency, amount)
                VALUES (:id, :org, :escrow, :currency, :amount)
                ON CONFLICT (id) DO NOTHING RETURNING id"""),
        {
            "id": transfer_id,
            "org": escrow.org_id,
            "escrow": escrow.id,
            "currency": escrow.currency,
            "amount": amount,
        },
    ).first()
    if row is None:
        return False
    entry = _post(
        conn,
        escrow.org_id,
        escrow.currency,
        recipes.transfer(escrow.currency, amount),
        key=f"stripe:transfer:{transfer_id}",
        description=f"Transfer {transfer_id} to the organizer",
        external_ref=transfer_id,
    )
    if escrow.state == "release_requested":
        _transition(conn, escrow, "transfer_paid", cause=cause, entry_id=entry.id)
    _recover(conn, escrow.org_id, escrow.currency, key=f"transfer:{transfer_id}")
    return True


def transfer_reversed(
    conn: Connection,
    reversal_id: str,
    transfer_id: str,
    amount: int,
    *,
    cause: str,
    request_id: str | None = None,
) -> bool:
    """A transfer (part) came back from the organizer: it settles what the organizer owes.
    `request_id` names the reversal request it answers (escrow's own), which is then done."""
    transfer = conn.execute(
        text("""SELECT org_id, currency, amount, reversed FROM payments.organizer_transfers
                 WHERE id = :id FOR UPDATE"""),
        {"id": transfer_id},
    ).first()
    if transfer is None:
        raise NotYetApplicable(reason=f"transfer {transfer_id} is not recorded yet")
    already = conn.execute(
        text("SELECT 1 FROM payments.entries WHERE idempotency_key = :k"),
        {"k": f"stripe:transfer-reversal:{reversal_id}"},
    ).first()
    if already is None and transfer.reversed + amount > transfer.amount:
        raise ReversalExceedsTransfer(
            transfer_id=transfer_id,
            amount=transfer.amount,
            reversed=transfer.reversed,
            requested=amount,
        )
    result = _post(
        conn,
        transfer.org_id,
        transfer.currency,
        recipes.transfer_reversal(transfer.currency, amount),
        key=f"stripe:transfer-reversal:{reversal_id}",
        description=f"Transfer {transfer_id} reversed ({reversal_id})",
        external_ref=reversal_id,
    )
    if request_id is not None:
        conn.execute(
            text("""UPDATE payments.transfer_reversal_requests
                       SET reversal_id = :reversal, booked_at = now()
                     WHERE id = :id AND reversal_id IS NULL"""),
            {"reversal": reversal_id, "id": request_id},
        )
    if result.replayed:
        return False
    conn.execute(
        text("UPDATE payments.organizer_transfers SET reversed = reversed + :a WHERE id = :id"),
        {"a": amount, "id": transfer_id},
    )
    return True


def payout(
    conn: Connection, payout_id: str, currency: str, amount: int, *, paid: bool, cause: str
) -> bool:
    """The platform's payout to its bank was paid (or failed): in any order, a paid payout
    moves the money to the bank and a failed one that was paid brings it back."""
    conn.execute(
        text("""INSERT INTO payments.platform_payouts (id, currency, amount)
                VALUES (:id, :currency, :amount) ON CONFLICT (id) DO NOTHING"""),
        {"id": payout_id, "currency": currency, "amount": amount},
    )
    row = conn.execute(
        text("SELECT paid, failed FROM payments.platform_payouts WHERE id = :id FOR UPDATE"),
        {"id": payout_id},
    ).one()
    if (paid and row.paid) or (not paid and row.failed):
        return False
    platform = platform_org(conn)
    now_paid = row.paid or paid
    now_failed = row.failed or not paid
    if paid:
        _post(
            conn,
            platform,
            currency,
            recipes.payout_paid(currency, amount),
            key=f"stripe:payout-paid:{payout_id}",
            description=f"Payout {payout_id} paid",
            external_ref=f"{payout_id}:paid",
            platform=platform,
        )
    if now_paid and now_failed:
        _post(
            conn,
            platform,
            currency,
            recipes.payout_failed(currency, amount),
            key=f"stripe:payout-failed:{payout_id}",
            description=f"Payout {payout_id} failed",
            external_ref=f"{payout_id}:failed",
            platform=platform,
        )
    conn.execute(
        text("UPDATE payments.platform_payouts SET paid = :p, failed = :f WHERE id = :id"),
        {"p": now_paid, "f": now_failed, "id": payout_id},
    )
    return True


def cancel_event(
    conn: Connection, escrow_id: uuid.UUID, *, cause: str = "event cancelled"
) -> Escrow:
    """Close the escrow of a cancelled event once everything was refunded; what the refunds
    took beyond the event's share (fees the organizer bears, a kept fee, rounding) becomes a
    receivable from the organizer."""
    escrow = lock_escrow(conn, escrow_id)
    _lock_debts(conn, escrow.org_id, escrow.currency)
    entry_id = None
    if escrow.held < 0 and escrow.state in ("collecting", "holding", "releasable"):
        entry_id = _post(
            conn,
            escrow.org_id,
            escrow.currency,
            recipes.release(escrow.event_id, escrow.currency, escrow.held),
            key=f"escrow:cancel:{escrow.id}",
            description=f"Close of cancelled escrow {escrow.id} (event {escrow.event_id})",
        ).id
    # The guard judges what is held once the shortfall moved to the receivable: a positive
    # balance (money not yet refunded) still refuses the cancellation.
    changes = {"held": 0} if entry_id is not None else {}
    escrow = _transition(conn, escrow, "cancel", cause=cause, entry_id=entry_id, changes=changes)
    if entry_id is not None:
        _recover(conn, escrow.org_id, escrow.currency, key=f"cancel:{escrow.id}")
    return escrow


def ledger_escrow_balance(conn: Connection, escrow: Escrow) -> int:
    """The escrow account's posted balance in the ledger (0 if it was never opened)."""
    account = ledger.find_account(
        conn, escrow.org_id, recipes.escrow_account(escrow.event_id, escrow.currency).code
    )
    return 0 if account is None else ledger.balance(conn, account).posted


# -- what an organizer owes after release: netted, or asked back from its transfers --------


def _lock_debts(conn: Connection, org_id: uuid.UUID, currency: str) -> None:
    """Serialise, per organizer and currency, the decisions on what it owes (netting at a
    release, reversals asked of Stripe). Taken before anything is posted to the organizer's
    receivable or payable in the same transaction, so that no transaction holding it ever
    waits for an account lock held by one waiting for it."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"liventix:debts:{org_id}:{currency}"},
    )


def owed_after_reversals(conn: Connection, org_id: uuid.UUID, currency: str) -> int:
    """What the organizer owes (its receivable's balance) less the transfer reversals asked
    of Stripe and not yet booked: what is left to net or to ask back."""
    account = ledger.find_account(conn, org_id, recipes.receivable(currency).code)
    balance = 0 if account is None else ledger.balance(conn, account).posted
    pending: int = conn.execute(
        text("""SELECT coalesce(sum(amount), 0) FROM payments.transfer_reversal_requests
                 WHERE org_id = :org AND currency = :currency AND reversal_id IS NULL"""),
        {"org": org_id, "currency": currency},
    ).scalar_one()
    return balance - int(pending)


def _recover(
    conn: Connection,
    org_id: uuid.UUID,
    currency: str,
    *,
    key: str,
    escrow_id: uuid.UUID | None = None,
) -> int:
    """Ask Stripe to reverse the organizer's transfers (the escrow's own first, then the
    newest) for what it owes, up to what is left of them: one request and one outbox task
    per transfer, keyed on `key` (the cause) and the transfer. What no transfer covers stays
    on the receivable, netted against the next release. Returns the amount asked for. The
    caller holds `_lock_debts`."""
    owed = owed_after_reversals(conn, org_id, currency)
    if owed <= 0:
        return 0
    transfers = conn.execute(
        text("""SELECT t.id, t.amount - t.reversed - coalesce((
                           SELECT sum(r.amount) FROM payments.transfer_reversal_requests r
                            WHERE r.transfer_id = t.id AND r.reversal_id IS NULL), 0) AS room
                  FROM payments.organizer_transfers t
                 WHERE t.org_id = :org AND t.currency = :currency
                 ORDER BY t.escrow_id IS NOT DISTINCT FROM :escrow DESC, t.created_at DESC, t.id
                   FOR UPDATE OF t"""),
        {"org": org_id, "currency": currency, "escrow": escrow_id},
    ).all()
    asked = 0
    for transfer in transfers:
        take = min(int(transfer.room), owed - asked)
        if take <= 0:
            continue
        request_id = f"{key}:{transfer.id}"
        made = conn.execute(
            text("""INSERT INTO payments.transfer_reversal_requests
                        (id, org_id, transfer_id, currency, amount)
                    VALUES (:id, :org, :transfer, :currency, :amount)
                    ON CONFLICT (id) DO NOTHING RETURNING id"""),
            {
                "id": request_id,
                "org": org_id,
                "transfer": transfer.id,
                "currency": currency,
                "amount": take,
            },
        ).first()
        if made is None:
            continue
        outbox.publish(
            conn,
            type="stripe.transfer_reversal.requested",
            payload=TransferReversalRequested(
                request_id=request_id,
                org_id=str(org_id),
                transfer_id=transfer.id,
                amount=take,
                currency=currency,
            ),
            aggregate_type="transfer",
            aggregate_id=transfer.id,
            org_id=org_id,
            task=True,
            dedup_key=f"transfer-reversal:{request_id}",
        )
        asked += take
        if asked >= owed:
            break
    return asked
