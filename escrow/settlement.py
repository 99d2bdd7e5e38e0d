"""What goes to an organizer and what it owes: the transfer asked of Stripe for its money,
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
    conn: Connection, escrow: Escrow, transfer_id: str, amount: int
) -> uuid.UUID | None:
    """Close, in the ledger, exactly the entries a transfer pays (a settlement keyed on the
    transfer: a replayed event finds it, never settles twice), derived from what is posted,
    whatever order Stripe's events came in:

    - the release's transfer (its amount is the release's less what was netted against
      debts) pays the escrow's sales, refunds and lost disputes: every entry on the escrow's
      account but the release itself (nothing posts there after it);
    - any other (a payment captured after the release, a refund that failed after it) pays
      one entry on the payable: the oldest unsettled one with a reference that credits it
      with exactly the transfer's amount.

    Returns the settlement's id (None when nothing is left to cover)."""
    spec = recipes.escrow_account(escrow.event_id, escrow.currency)
    account = ledger.find_account(conn, escrow.org_id, spec.code)
    covered = [] if account is None else _paid_by_release(conn, escrow, account, amount)
    if not covered:
        account = ledger.find_account(conn, escrow.org_id, recipes.payable(escrow.currency).code)
        covered = [] if account is None else _paid_on_payable(conn, account, amount)
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
            metadata={"transfer_id": transfer_id, "escrow_id": str(escrow.id)},
        ),
    )
    return result.id


def _net_on(conn: Connection, entry_id: uuid.UUID | None, account: uuid.UUID, side: str) -> int:
    """What the entry moved on the account, on `side` (0 for no entry)."""
    if entry_id is None:
        return 0
    lines = ledger.get_entry(conn, entry_id).lines
    return sum(x.amount if x.side == side else -x.amount for x in lines if x.account_id == account)


def _paid_by_release(
    conn: Connection, escrow: Escrow, account: uuid.UUID, amount: int
) -> list[uuid.UUID]:
    """The escrow account's unsettled entries but the release, if `amount` is what the
    release's transfer carries (the release less what was netted); else none."""
    released = ledger.entry_by_key(conn, escrow.org_id, f"escrow:release:{escrow.id}")
    if released is None:
        return []
    covered = [e for e in ledger.unsettled_entries(conn, account) if e != released]
    if not covered:
        return []
    payable = ledger.find_account(conn, escrow.org_id, recipes.payable(escrow.currency).code)
    netted = ledger.entry_by_key(conn, escrow.org_id, f"escrow:net:{escrow.id}")
    expected = _net_on(conn, released, account, "debit")
    if payable is not None:
        expected -= _net_on(conn, netted, payable, "debit")
    return covered if amount == expected else []


def _paid_on_payable(conn: Connection, account: uuid.UUID, amount: int) -> list[uuid.UUID]:
    """The oldest unsettled entry with an external reference that credits the payable with
    `amount` (a capture after the release, a failed refund's return), as a list."""
    for found in ledger.unsettled_nets(conn, account):
        if found.external_ref is not None and found.net == amount:
            return [found.entry_id]
    return []


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
