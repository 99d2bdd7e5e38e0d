"""The event's end and the money's way out of the escrow: the hold period after the event,
the release to the organizer's payable (netted against what it owes, the rest asked of
Stripe as a transfer, the `escrow.released` webhook and payout e-mail published), the
sweep of due escrows, and the close of a cancelled event's escrow. Each takes the caller's
connection and never commits."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

import outbox
from escrow import recipes, store
from escrow.decisions import netted, release_step, released_amount
from escrow.lifecycle import post, transition
from escrow.messages import EscrowReleased
from escrow.models import Escrow, Policy
from escrow.settlement import lock_debts, owed_after_reversals, recover, request_transfer


def end_event(conn: Connection, escrow_id: uuid.UUID, *, cause: str = "event ended") -> Escrow:
    """The event is over: hold the money for the organizer's hold period."""
    escrow = store.lock_escrow(conn, escrow_id)
    policy = store.get_policy(conn, escrow.org_id)
    now = store.now(conn)
    return transition(
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
    escrow = store.lock_escrow(conn, escrow_id)
    lock_debts(conn, escrow.org_id, escrow.currency)
    policy = store.get_policy(conn, escrow.org_id)
    amount = released_amount(escrow.held)
    short = escrow.held < 0
    entry_id = None
    legs = recipes.release(escrow.event_id, escrow.currency, escrow.held)
    if legs:
        entry_id = post(
            conn,
            escrow.org_id,
            escrow.currency,
            legs,
            key=f"escrow:release:{escrow.id}",
            description=f"Release of escrow {escrow.id} (event {escrow.event_id})",
        ).id
    escrow = transition(
        conn,
        escrow,
        "request_release",
        cause=cause,
        entry_id=entry_id,
        changes={"held": 0, "released": escrow.released + amount},
    )
    _announce_release(conn, escrow, policy, amount)
    escrow = _pay_out(conn, escrow, policy, amount)
    if short:
        # The escrow's shortfall went to the receivable: asked back from earlier transfers.
        recover(conn, escrow.org_id, escrow.currency, key=f"release:{escrow.id}")
    return escrow


def _announce_release(conn: Connection, escrow: Escrow, policy: Policy, amount: int) -> None:
    """The `escrow.released` webhook, with the payout e-mail if the organizer gave one."""
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


def _pay_out(conn: Connection, escrow: Escrow, policy: Policy, amount: int) -> Escrow:
    """What the organizer owes and no reversal was asked for is netted against the release:
    the transfer asked of Stripe is that much smaller (none: the escrow is released now)."""
    owed = owed_after_reversals(conn, escrow.org_id, escrow.currency)
    net = netted(owed, amount)
    if net > 0:
        post(
            conn,
            escrow.org_id,
            escrow.currency,
            recipes.net_receivable(escrow.currency, net),
            key=f"escrow:net:{escrow.id}",
            description=f"Owed by the organizer, netted against the release of escrow {escrow.id}",
        )
    if amount > net:
        request_transfer(conn, escrow, policy, amount - net, key="release")
        return escrow
    cause = "nothing to transfer" if amount == 0 else "netted against what is owed"
    return transition(conn, escrow, "transfer_paid", cause=cause)


def release_due(conn: Connection, limit: int = 100) -> list[tuple[uuid.UUID, str]]:
    """Move every escrow that has become due one step: end its event, end its hold, release
    it. Returns (escrow id, new state) for each step taken. Skips escrows locked by others."""
    done: list[tuple[uuid.UUID, str]] = []
    due = store.due_escrows(conn, limit)
    if not due:
        return done
    now = store.now(conn)  # the transaction's: every step of the sweep sees the same moment
    for escrow_id in due:
        escrow = store.lock_escrow(conn, escrow_id)
        while (step := release_step(escrow, now)) is not None:
            if step == "event_ended":
                escrow = end_event(conn, escrow.id)
            elif step == "hold_elapsed":
                escrow = transition(conn, escrow, "hold_elapsed", cause="hold period over")
            else:
                escrow = request_release(conn, escrow.id)
            done.append((escrow.id, escrow.state))
    return done


def cancel_event(
    conn: Connection, escrow_id: uuid.UUID, *, cause: str = "event cancelled"
) -> Escrow:
    """Close the escrow of a cancelled event once everything was refunded; what the refunds
    took beyond the event's share (fees the organizer bears, a kept fee, rounding) becomes a
    receivable from the organizer."""
    escrow = store.lock_escrow(conn, escrow_id)
    lock_debts(conn, escrow.org_id, escrow.currency)
    entry_id = None
    if escrow.held < 0 and escrow.state in ("collecting", "holding", "releasable"):
        entry_id = post(
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
    escrow = transition(conn, escrow, "cancel", cause=cause, entry_id=entry_id, changes=changes)
    if entry_id is not None:
        recover(conn, escrow.org_id, escrow.currency, key=f"cancel:{escrow.id}")
    return escrow
