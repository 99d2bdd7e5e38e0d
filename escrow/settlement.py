"""What goes to an organizer and what it owes: the transfer asked of Stripe for its money
(recorded with what it pays, and the ledger settlement of exactly that once it is made),
and, after release, its debts (refunds, lost disputes, shortfalls charged to its receivable)
netted or asked back from its transfers. Each takes the caller's connection and never
commits."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

import ledger
import outbox
from escrow import recipes, store
from escrow.decisions import reversal_take, reversal_to_send
from escrow.errors import ReversalRequestNotFound
from escrow.messages import TransferRequested, TransferReversalRequested
from escrow.models import Escrow, Policy


def settle_transfer(
    conn: Connection,
    escrow: Escrow,
    transfer_id: str,
    amount: int,
    *,
    request_id: uuid.UUID | None = None,
    source_transaction: str | None = None,
) -> uuid.UUID | None:
    """Close, in the ledger, exactly the entries a transfer pays: what the transfer request
    it answers says, fixed when escrow asked for it (`request_transfer`), never guessed from
    the transfer's amount. The release's transfer pays the escrow account's entries (all but
    the release itself); any other pays its one entry on the payable (the capture after the
    release, the failed refund's return). A settlement keyed on the transfer, once: the
    transfer records it (a replay settles nothing). Which request: the one the transfer was
    linked to, else `request_id` (the task's message id, Stripe's idempotency key), else the
    one `source_transaction` (the charge) funds, else the escrow's only open request no
    charge funds, if its amount is the transfer's; else none yet (the transfer task, which
    always names its request, settles it when it books the transfer). Returns the
    settlement's id (None when none is made)."""
    if store.transfer_settlement(conn, transfer_id) is not None:
        return None
    request = _answered_request(
        conn,
        escrow.id,
        transfer_id,
        amount,
        request_id=request_id,
        source_transaction=source_transaction,
    )
    if request is None:
        return None
    account, covered = _paid_by(conn, escrow, request)
    if account is None or not covered:
        return None
    result = ledger.create_settlement(
        conn,
        escrow.org_id,
        ledger.CreateSettlement(
            idempotency_key=f"escrow:transfer:{transfer_id}",
            account_id=account,
            entry_ids=covered,
            description=f"Paid by transfer {transfer_id}",
            metadata={
                "transfer_id": transfer_id,
                "escrow_id": str(escrow.id),
                "transfer_request": str(request.id),
                "pays": request.kind,
            },
        ),
    )
    store.set_transfer_settlement(conn, transfer_id, result.id)
    return result.id


def sole_unfunded(open_requests: list[store.TransferRequest], amount: int) -> uuid.UUID | None:
    """The request a transfer no charge funds and nothing names answers, when there is no
    doubt: the escrow's only open request no charge funds, asking for the transfer's amount
    (the amount only refuses a transfer that is not that request's; it never chooses)."""
    if len(open_requests) != 1 or open_requests[0].amount != amount:
        return None
    return open_requests[0].id


def _named_request(
    conn: Connection,
    escrow_id: uuid.UUID,
    amount: int,
    *,
    request_id: uuid.UUID | None,
    source_transaction: str | None,
) -> store.TransferRequest | None:
    """The escrow's request the transfer's own facts name (see `settle_transfer`)."""
    if request_id is not None:
        found = store.transfer_request(conn, escrow_id, request_id)
        if found is not None:
            return found
    if source_transaction is not None:
        return store.request_funded_by(conn, escrow_id, source_transaction)
    sole = sole_unfunded(store.open_unfunded_requests(conn, escrow_id), amount)
    return None if sole is None else store.transfer_request(conn, escrow_id, sole)


def _answered_request(
    conn: Connection,
    escrow_id: uuid.UUID,
    transfer_id: str,
    amount: int,
    *,
    request_id: uuid.UUID | None,
    source_transaction: str | None,
) -> store.TransferRequest | None:
    """The request the transfer answers, linked to it (once: a request another transfer
    answered is not this one's). The caller holds the escrow's lock, as every request's
    writer does."""
    linked = store.request_of_transfer(conn, transfer_id)
    if linked is not None:
        return linked if linked.escrow_id == escrow_id else None
    found = _named_request(
        conn, escrow_id, amount, request_id=request_id, source_transaction=source_transaction
    )
    if found is None or not store.link_transfer_request(conn, found.id, transfer_id):
        return None
    return found


def _paid_by(
    conn: Connection, escrow: Escrow, request: store.TransferRequest
) -> tuple[uuid.UUID | None, list[uuid.UUID]]:
    """(account, its unsettled entries) that the request's transfer pays."""
    if request.kind == "release":
        spec = recipes.escrow_account(escrow.event_id, escrow.currency)
        account = ledger.find_account(conn, escrow.org_id, spec.code)
        if account is None:
            return None, []
        return account, [
            e for e in ledger.unsettled_entries(conn, account) if e != request.entry_id
        ]
    account = ledger.find_account(conn, escrow.org_id, recipes.payable(escrow.currency).code)
    if account is None or ledger.settlement_of(conn, request.entry_id, account) is not None:
        return account, []
    return account, [request.entry_id]


def transfer_pays(escrow_id: uuid.UUID, key: str) -> tuple[str, str]:
    """(kind, the ledger key of the entry it pays) of the transfer asked under `key`:
    "release" for the release, "refund-failed:<refund id>" for a failed refund's return
    after it, a payment's id for that payment captured after it."""
    if key == "release":
        return "release", f"escrow:release:{escrow_id}"
    refund = key.removeprefix("refund-failed:")
    if refund != key:
        return "refund_failed", f"stripe:refund-failed:{refund}"
    return "capture", f"stripe:capture:{key}"


def lock_debts(conn: Connection, org_id: uuid.UUID, currency: str) -> None:
    """Serialise, per organizer and currency, the decisions on what it owes (netting at a
    release, reversals asked of Stripe). Taken before anything is posted to the organizer's
    receivable or payable in the same transaction, so that no transaction holding it ever
    waits for an account lock held by one waiting for it."""
    store.lock_debts(conn, org_id, currency)


def ledger_balance(conn: Connection, org_id: uuid.UUID, spec: recipes.AccountSpec) -> int:
    """The posted balance of a chart account in the ledger (0 if it was never opened)."""
    account = ledger.find_account(conn, org_id, spec.code)
    return 0 if account is None else ledger.balance(conn, account).posted


def ledger_escrow_balance(conn: Connection, escrow: Escrow) -> int:
    """The escrow account's posted balance in the ledger (0 if it was never opened)."""
    return ledger_balance(
        conn, escrow.org_id, recipes.escrow_account(escrow.event_id, escrow.currency)
    )


def owed_after_reversals(conn: Connection, org_id: uuid.UUID, currency: str) -> int:
    """What the organizer owes (its receivable's balance) less the transfer reversals asked
    of Stripe and not yet booked: what is left to net or to ask back."""
    balance = ledger_balance(conn, org_id, recipes.receivable(currency))
    return balance - store.pending_reversals(conn, org_id, currency)


def request_transfer(
    conn: Connection,
    escrow: Escrow,
    policy: Policy,
    amount: int,
    *,
    key: str,
    source_transaction: str | None = None,
) -> None:
    """Publish the task that asks Stripe to transfer `amount` to the organizer (funded by
    `source_transaction`, the one charge that pays for it, when there is one), and record
    the request with what it pays (`transfer_pays`: `key` is "release", a payment's id, or
    "refund-failed:<refund id>"; its entry is posted before, in the same transaction)."""
    kind, entry_key = transfer_pays(escrow.id, key)
    entry_id = ledger.entry_by_key(conn, escrow.org_id, entry_key)
    if entry_id is None:
        raise LookupError(f"transfer {key} of escrow {escrow.id}: no entry {entry_key} to pay")
    message_id = outbox.publish(
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
    store.record_transfer_request(
        conn,
        message_id,
        org_id=escrow.org_id,
        escrow_id=escrow.id,
        key=key,
        kind=kind,
        entry_id=entry_id,
        currency=escrow.currency,
        amount=amount,
        source_transaction=source_transaction,
    )


def recover(
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
    caller holds `lock_debts`."""
    owed = owed_after_reversals(conn, org_id, currency)
    if owed <= 0:
        return 0
    asked = 0
    for transfer_id, room in store.transfer_room(conn, org_id, currency, escrow_id):
        take = reversal_take(room, owed, asked)
        if take <= 0:
            continue
        request_id = f"{key}:{transfer_id}"
        if not store.request_reversal(
            conn, request_id, org_id=org_id, transfer_id=transfer_id, currency=currency, amount=take
        ):
            continue
        outbox.publish(
            conn,
            type="stripe.transfer_reversal.requested",
            payload=TransferReversalRequested(
                request_id=request_id,
                org_id=str(org_id),
                transfer_id=transfer_id,
                amount=take,
                currency=currency,
            ),
            aggregate_type="transfer",
            aggregate_id=transfer_id,
            org_id=org_id,
            task=True,
            dedup_key=f"transfer-reversal:{request_id}",
        )
        asked += take
        if asked >= owed:
            break
    return asked


def confirm_reversal(conn: Connection, request: TransferReversalRequested) -> int:
    """Just before its task calls Stripe: the amount the reversal request asks now (0 if
    nothing: it was booked already, or the debt was settled meanwhile, by a reversal made
    in Stripe's Dashboard say, and the request is dropped). The first confirmation fixes
    the amount (shrunk to what is still owed); a retry after it asks the same, so Stripe's
    idempotency key always meets the same parameters. Takes the organizer's debts lock,
    then the request's row; a reversal's booking (`transfer_reversed`, a Dashboard's too)
    takes the debts lock first as well, so what is owed is read after it or before it,
    never beside it."""
    org_id = uuid.UUID(request.org_id)
    lock_debts(conn, org_id, request.currency)
    row = store.lock_reversal_request(conn, request.request_id)
    if row is None:
        raise ReversalRequestNotFound(request_id=request.request_id)
    if row.booked or row.canceled:
        return 0
    if row.sent:
        return row.amount
    owed = ledger_balance(conn, org_id, recipes.receivable(request.currency))
    others = store.pending_reversals(
        conn, org_id, request.currency, except_request=request.request_id
    )
    amount = reversal_to_send(row.amount, owed, others)
    if amount == 0:
        store.cancel_reversal(conn, request.request_id)
    else:
        store.reversal_sent(conn, request.request_id, amount)
    return amount
