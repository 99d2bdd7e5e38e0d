"""Building the reports from the database: each function takes the caller's connection (it
reads only) and returns a pydantic report."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, text

import escrow
import ledger
from liventix.reports.models import (
    EscrowPositionReport,
    EscrowPositionRow,
    InboxHealthRow,
    OutboxHealthReport,
    OutboxHealthRow,
    TicketTieOutReport,
    TicketTieOutRow,
    TrialBalanceLine,
    TrialBalanceReport,
    TrialBalanceTotal,
)

PLATFORM_SCOPE = "platform-wide"


def trial_balance(conn: Connection) -> TrialBalanceReport:
    """Each booking organization's trial balance per currency, and the platform-wide one
    (every entry the connection can see). Lines are grouped by the organization that booked
    the entry (`booked_by`), not by the account's owner: an organizer's sale touches the
    platform's accounts, and each organization's own entries balance. A difference is an
    (organization, currency) whose debits differ from its credits."""
    tb = ledger.trial_balance(conn)
    names: dict[Any, str] = {
        r.id: r.name for r in conn.execute(text("SELECT id, name FROM payments.organizations"))
    }
    lines: list[TrialBalanceLine] = []
    per_org: dict[tuple[Any, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in tb.rows:
        lines.append(
            TrialBalanceLine(
                booked_by=str(names.get(r.org_id, r.org_id)),
                booked_by_id=r.org_id,
                currency=r.currency,
                code=r.code,
                type=r.type,
                debit=r.debit,
                credit=r.credit,
            )
        )
        per_org[(r.org_id, r.currency)][0] += r.debit
        per_org[(r.org_id, r.currency)][1] += r.credit
    totals = [
        TrialBalanceTotal(
            booked_by=str(names.get(org, org)),
            booked_by_id=org,
            currency=cur,
            debit=d,
            credit=c,
            difference=d - c,
        )
        for (org, cur), (d, c) in sorted(per_org.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    ]
    totals += [
        TrialBalanceTotal(
            booked_by=PLATFORM_SCOPE,
            booked_by_id=None,
            currency=cur,
            debit=d,
            credit=c,
            difference=d - c,
        )
        for cur, (d, c) in sorted(tb.totals.items())
    ]
    return TrialBalanceReport(
        differences=sum(1 for t in totals if t.difference),
        lines=lines,
        totals=totals,
    )


def escrow_position(conn: Connection) -> EscrowPositionReport:
    """Every escrow's `held` beside its ledger escrow account's posted balance."""
    rows = conn.execute(
        text("""SELECT e.id, o.name FROM payments.escrows e
                  JOIN payments.organizations o ON o.id = e.org_id
                 ORDER BY o.name, e.event_id, e.currency""")
    ).all()
    out = []
    for r in rows:
        machine = escrow.get_escrow(conn, r.id)
        in_ledger = escrow.ledger_escrow_balance(conn, machine)
        out.append(
            EscrowPositionRow(
                org_id=machine.org_id,
                organizer=r.name,
                event_id=machine.event_id,
                currency=machine.currency,
                state=machine.state,
                escrow_held=machine.held,
                ledger_balance=in_ledger,
                difference=machine.held - in_ledger,
            )
        )
    return EscrowPositionReport(
        differences=sum(1 for r in out if r.difference), rows=out, labels=_event_names(conn)
    )


def _event_names(conn: Connection) -> dict[str, str]:
    """The events' names by id (escrows name their event by id), for people."""
    return {str(r.id): r.name for r in conn.execute(text("SELECT id, name FROM ticketing.events"))}


# -- tickets --------------------------------------------------------------------------------------


def ticket_tie_out(conn: Connection) -> TicketTieOutReport:
    """Per event: tickets sold (paid: issued, checked in, refunded, invalidated), refunded and
    checked in, their value beside the ledger's captured payments and booked refunds of the
    event's escrow (payments.card_payments and card_refunds with their ledger entries). A
    late payment (its order cancelled before it was paid: no ticket) is neither a sale nor
    a refund once refunded in full; what is not yet refunded of it counts as a sale, so a
    payment kept without a ticket is a sales difference. Money refunded outside the platform
    from an order that kept its tickets (partially refunded) is shown apart and explained."""
    rows = conn.execute(
        text("""
            WITH t AS (
                SELECT event_id,
                       count(*) FILTER (WHERE status IN ('issued', 'checked_in', 'refunded',
                                                         'invalidated')) AS sold,
                       count(*) FILTER (WHERE status = 'refunded') AS refunded,
                       count(*) FILTER (WHERE status = 'checked_in') AS checked_in,
                       coalesce(sum(price) FILTER (WHERE status IN (
                           'issued', 'checked_in', 'refunded', 'invalidated')), 0) AS sold_value,
                       coalesce(sum(price) FILTER (WHERE status = 'refunded'), 0) AS refunded_value
                  FROM ticketing.tickets GROUP BY event_id
            ), rp AS (
                SELECT r.payment_id, sum(r.amount) AS refunded
                  FROM payments.card_refunds r
                 WHERE NOT r.failed AND r.entry_id IS NOT NULL GROUP BY r.payment_id
            ), pp AS (
                -- A late payment: its order was cancelled (the hold ran out, the checkout
                -- was abandoned) before it was paid, so it sold no ticket and is refunded
                -- in full. What is not refunded of it yet counts as a sale without tickets.
                SELECT e.event_id, p.gross, coalesce(rp.refunded, 0) AS refunded,
                       EXISTS (SELECT 1 FROM ticketing.orders o
                                WHERE o.payment_intent_id = p.id
                                  AND o.status = 'cancelled') AS late
                  FROM payments.card_payments p
                  JOIN payments.escrows e ON e.id = p.escrow_id
                  LEFT JOIN rp ON rp.payment_id = p.id
                 WHERE p.entry_id IS NOT NULL
            ), p AS (
                SELECT event_id,
                       coalesce(sum(CASE WHEN late THEN gross - refunded ELSE gross END), 0)
                           AS sales,
                       coalesce(sum(refunded) FILTER (WHERE NOT late), 0) AS refunds
                  FROM pp GROUP BY event_id
            ), w AS (
                -- Money refunded outside the platform (Stripe's Dashboard, another
                -- integration) that refunded no ticket: the order kept its tickets and is
                -- partially refunded (ticketing's settle_order), which explains it.
                SELECT o.event_id,
                       sum(greatest(coalesce(rp.refunded, 0) - coalesce(tv.value, 0), 0))
                           AS without_tickets
                  FROM ticketing.orders o
                  LEFT JOIN rp ON rp.payment_id = o.payment_intent_id
                  LEFT JOIN (SELECT order_id, sum(price) AS value FROM ticketing.tickets
                              WHERE status = 'refunded' GROUP BY order_id) tv
                         ON tv.order_id = o.id
                 WHERE o.status = 'partially_refunded'
                 GROUP BY o.event_id
            )
            SELECT ev.id, ev.org_id, ev.name, ev.currency,
                   coalesce(t.sold, 0) AS sold, coalesce(t.refunded, 0) AS refunded,
                   coalesce(t.checked_in, 0) AS checked_in,
                   coalesce(t.sold_value, 0) AS sold_value,
                   coalesce(t.refunded_value, 0) AS refunded_value,
                   coalesce(p.sales, 0) AS sales, coalesce(p.refunds, 0) AS refunds,
                   coalesce(w.without_tickets, 0) AS without_tickets
              FROM ticketing.events ev
              LEFT JOIN t ON t.event_id = ev.id
              LEFT JOIN p ON p.event_id = ev.id::text
              LEFT JOIN w ON w.event_id = ev.id
             ORDER BY ev.created_at, ev.id
        """)
    ).all()
    out = [
        TicketTieOutRow(
            org_id=r.org_id,
            event_id=r.id,
            event=r.name,
            currency=r.currency,
            tickets_sold=int(r.sold),
            tickets_refunded=int(r.refunded),
            tickets_checked_in=int(r.checked_in),
            tickets_sold_value=int(r.sold_value),
            ledger_sales=int(r.sales),
            sales_difference=int(r.sold_value) - int(r.sales),
            tickets_refunded_value=int(r.refunded_value),
            ledger_refunds=int(r.refunds),
            ledger_refunds_without_tickets=int(r.without_tickets),
            refunds_difference=int(r.refunded_value) - (int(r.refunds) - int(r.without_tickets)),
        )
        for r in rows
    ]
    names = {
        str(r.id): r.name for r in conn.execute(text("SELECT id, name FROM payments.organizations"))
    }
    return TicketTieOutReport(
        differences=sum(bool(r.sales_difference) + bool(r.refunds_difference) for r in out),
        rows=out,
        labels=names,
    )


# -- outbox ---------------------------------------------------------------------------------------


def outbox_health(conn: Connection, *, inbox: bool = True) -> OutboxHealthReport:
    """Per channel and target (a webhook's URL, an e-mail recipient, a task): deliveries
    pending (never tried), retrying (tried, still open) and dead, with the oldest open and
    dead delivery's age; with `inbox`, the same per source and event type for the events
    received from outside (Stripe's webhooks, `messaging.inbox`), with those deferred apart
    (never tried to the end: put off by a transient database failure, due again within
    seconds, `outbox.inbox`). Dead deliveries and dead inbox events are counted as
    differences.

    The inbox is the platform's (it carries no organization, and no row-level security bounds
    it): callers acting for one organization pass `inbox=False`."""
    rows = conn.execute(
        text("""
            SELECT d.channel, coalesce(ep.url, d.target) AS target,
                   count(*) FILTER (WHERE d.status IN ('pending', 'delivering')
                                      AND d.attempts = 0) AS pending,
                   count(*) FILTER (WHERE d.status IN ('pending', 'delivering')
                                      AND d.attempts > 0) AS retrying,
                   count(*) FILTER (WHERE d.status = 'dead') AS dead,
                   extract(epoch FROM now() - min(d.created_at) FILTER (
                       WHERE d.status IN ('pending', 'delivering')))::bigint AS oldest_open,
                   extract(epoch FROM now() - min(d.created_at) FILTER (
                       WHERE d.status = 'dead'))::bigint AS oldest_dead
              FROM messaging.deliveries d
              LEFT JOIN messaging.endpoints ep ON ep.id = d.endpoint_id
             WHERE d.status IN ('pending', 'delivering', 'dead')
             GROUP BY 1, 2 ORDER BY 1, 2
        """)
    ).all()
    out = [
        OutboxHealthRow(
            channel=r.channel,
            target=r.target,
            pending=int(r.pending),
            retrying=int(r.retrying),
            dead=int(r.dead),
            oldest_open_age_seconds=r.oldest_open,
            oldest_dead_age_seconds=r.oldest_dead,
        )
        for r in rows
    ]
    events = (
        [
            InboxHealthRow(
                source=r.source,
                event_type=r.type,
                pending=int(r.pending),
                deferred=int(r.deferred),
                retrying=int(r.retrying),
                dead=int(r.dead),
                oldest_open_age_seconds=r.oldest_open,
                oldest_dead_age_seconds=r.oldest_dead,
            )
            for r in conn.execute(_INBOX_HEALTH)
        ]
        if inbox
        else []
    )
    return OutboxHealthReport(
        differences=sum(r.dead for r in out) + sum(r.dead for r in events),
        rows=out,
        inbox=events,
    )


# The inbox's open and dead events per source and type: pending is never tried, deferred
# put off by transient database failures only (a deadlock, a serialization failure, a lock
# not available: no attempt counted, due again within seconds), retrying tried and due again
# (its handler failed, attempts left).
_INBOX_HEALTH = text("""
    SELECT source, type,
           count(*) FILTER (WHERE status = 'pending' AND attempts = 0
                              AND deferrals = 0) AS pending,
           count(*) FILTER (WHERE status = 'pending' AND attempts = 0
                              AND deferrals > 0) AS deferred,
           count(*) FILTER (WHERE status = 'pending' AND attempts > 0) AS retrying,
           count(*) FILTER (WHERE status = 'dead') AS dead,
           extract(epoch FROM now() - min(received_at) FILTER (
               WHERE status = 'pending'))::bigint AS oldest_open,
           extract(epoch FROM now() - min(received_at) FILTER (
               WHERE status = 'dead'))::bigint AS oldest_dead
      FROM messaging.inbox
     WHERE status IN ('pending', 'dead')
     GROUP BY 1, 2 ORDER BY 1, 2
""")
