"""From the domain's values to the API's response models (money as `{amount, currency}`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Literal

import escrow
import ledger
import outbox
import ticketing_fsm as tk
from liventix.api import models as m
from liventix.api import queries


def balance(
    b: ledger.Balance, *, as_of: datetime | None = None, by: str | None = None
) -> m.BalanceResponse:
    """A balance response."""
    return m.BalanceResponse(
        account_id=b.account_id,
        currency=b.currency,
        normal_side=b.normal_side,  # type: ignore[arg-type]
        posted=m.amount(b.posted, b.currency),
        pending=m.amount(b.pending, b.currency),
        available=m.amount(b.available, b.currency),
        posted_debits=b.posted_debits,
        posted_credits=b.posted_credits,
        pending_debits=b.pending_debits,
        pending_credits=b.pending_credits,
        version=b.version,
        as_of=as_of,
        by=by,  # type: ignore[arg-type]
    )


def account(a: ledger.Account) -> m.AccountResponse:
    """An account response."""
    return m.AccountResponse(
        id=a.id,
        org_id=a.org_id,
        code=a.code,
        name=a.name,
        type=a.type,
        currency=a.currency,
        debits_must_not_exceed_credits=a.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=a.credits_must_not_exceed_debits,
        high_volume=a.high_volume,
        closed=a.closed,
        metadata=a.metadata,
        balance=balance(a.balance),
    )


def entry(e: ledger.Entry) -> m.EntryResponse:
    """An entry response."""
    return m.EntryResponse(
        id=e.id,
        org_id=e.org_id,
        kind=e.kind,  # type: ignore[arg-type]
        description=e.description,
        metadata=e.metadata,
        effective_at=e.effective_at,
        created_at=e.created_at,
        external_ref=e.external_ref,
        reverses_entry_id=e.reverses_entry_id,
        hold_id=e.hold_id,
        lines=[
            m.EntryLineResponse(
                id=x.id,
                account_id=x.account_id,
                side=x.side,  # type: ignore[arg-type]
                amount=m.amount(x.amount, x.currency),
                account_version=x.account_version,
            )
            for x in e.lines
        ],
    )


def hold(h: ledger.Hold) -> m.HoldResponse:
    """A hold response."""
    return m.HoldResponse(
        id=h.id,
        org_id=h.org_id,
        debit_account_id=h.debit_account_id,
        credit_account_id=h.credit_account_id,
        amount=m.amount(h.amount, h.currency),
        expires_at=h.expires_at,
        created_at=h.created_at,
        status=h.status,  # type: ignore[arg-type]
        posted_amount=m.amount(h.posted_amount, h.currency),
        entry_id=h.entry_id,
    )


def statement(page: ledger.StatementPage) -> m.StatementResponse:
    """A statement page response."""
    c = page.currency
    return m.StatementResponse(
        account_id=page.account_id,
        currency=c,
        opening_balance=m.amount(page.opening_balance, c),
        lines=[
            m.StatementLineResponse(
                line_id=x.line_id,
                entry_id=x.entry_id,
                created_at=x.created_at,
                effective_at=x.effective_at,
                side=x.side,  # type: ignore[arg-type]
                amount=m.amount(x.amount, c),
                balance_after=m.amount(x.balance_after, c),
                description=x.description,
            )
            for x in page.lines
        ],
        next_cursor=page.next_cursor,
    )


def trial_balance(tb: ledger.TrialBalance) -> m.TrialBalanceResponse:
    """A trial balance response."""
    return m.TrialBalanceResponse(
        rows=[
            m.TrialBalanceRowResponse(
                org_id=r.org_id,
                account_id=r.account_id,
                code=r.code,
                type=r.type,
                currency=r.currency,
                debit=r.debit,
                credit=r.credit,
            )
            for r in tb.rows
        ],
        totals=[
            m.TrialBalanceTotal(currency=c, debits=d, credits=k)
            for c, (d, k) in sorted(tb.totals.items())
        ],
        balanced=tb.balanced,
    )


def trial_balance_report(tb: ledger.TrialBalance) -> m.TrialBalanceReportResponse:
    """The trial balance with its totals per booking organization and its differences."""
    base = trial_balance(tb)
    per_org: dict[tuple[uuid.UUID, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in tb.rows:
        per_org[(r.org_id, r.currency)][0] += r.debit
        per_org[(r.org_id, r.currency)][1] += r.credit
    organizations = [
        m.TrialBalanceOrganizationTotal(
            org_id=org, currency=cur, debits=d, credits=c, difference=d - c
        )
        for (org, cur), (d, c) in sorted(per_org.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    ]
    differences = sum(1 for o in organizations if o.difference) + sum(
        1 for t in base.totals if t.debits != t.credits
    )
    return m.TrialBalanceReportResponse(
        **base.model_dump(), differences=differences, organizations=organizations
    )


# -- ticketing ------------------------------------------------------------------------------


def ticket_type(t: queries.TicketType) -> m.TicketTypeResponse:
    """A ticket type response."""
    return m.TicketTypeResponse(
        id=t.id,
        event_id=t.event_id,
        name=t.name,
        price=m.amount(t.price, t.currency),
        capacity=t.capacity,
        held=t.held,
        sold=t.sold,
        available=t.capacity - t.held - t.sold,
        sales_start=t.sales_start,
        sales_end=t.sales_end,
    )


def event(e: queries.Event) -> m.EventResponse:
    """An event response."""
    return m.EventResponse(
        id=e.id,
        org_id=e.org_id,
        name=e.name,
        currency=e.currency,
        starts_at=e.starts_at,
        ends_at=e.ends_at,
        cancelled_at=e.cancelled_at,
        ticket_types=[ticket_type(t) for t in e.ticket_types],
    )


def ticket(t: tk.Ticket, currency: str) -> m.TicketResponse:
    """A ticket response."""
    return m.TicketResponse(
        id=t.id,
        order_id=t.order_id,
        org_id=t.org_id,
        event_id=t.event_id,
        ticket_type_id=t.ticket_type_id,
        status=t.status,
        code=t.code,
        holder_email=t.holder_email,
        price=m.amount(t.price, currency),
        replaces=t.replaces,
        checked_in_at=t.checked_in_at,
        checked_in_by=t.checked_in_by,
    )


def order(o: tk.Order, tickets: list[tk.Ticket]) -> m.OrderResponse:
    """An order response with its tickets."""
    c = o.currency
    return m.OrderResponse(
        id=o.id,
        org_id=o.org_id,
        event_id=o.event_id,
        buyer_email=o.buyer_email,
        status=o.status,
        amount=m.amount(o.amount, c),
        paid=m.amount(o.paid, c),
        refunded=m.amount(o.refunded, c),
        payment_intent_id=o.payment_intent_id,
        hold_expires_at=o.hold_expires_at,
        cancel_reason=o.cancel_reason,
        tickets=[ticket(t, c) for t in tickets],
    )


def checkout(c: tk.Checkout) -> m.CheckoutResponse:
    """A checkout response."""
    return m.CheckoutResponse(
        order_id=c.order_id,
        total=m.amount(c.amount, c.currency),
        payment_intent_id=c.payment_intent_id,
        client_secret=c.client_secret,
        hold_expires_at=c.hold_expires_at,
    )


# -- escrow ---------------------------------------------------------------------------------


def escrow_(x: escrow.Escrow) -> m.EscrowResponse:
    """An escrow response."""
    c = x.currency
    return m.EscrowResponse(
        id=x.id,
        org_id=x.org_id,
        event_id=x.event_id,
        currency=c,
        state=x.state,
        event_ends_at=x.event_ends_at,
        ended_at=x.ended_at,
        hold_until=x.hold_until,
        open_disputes=x.open_disputes,
        captured=m.amount(x.captured, c),
        refunded=m.amount(x.refunded, c),
        charged_back=m.amount(x.charged_back, c),
        held=m.amount(x.held, c),
        released=m.amount(x.released, c),
        version=x.version,
    )


# -- outbox ---------------------------------------------------------------------------------


def endpoint(e: outbox.Endpoint) -> m.EndpointResponse:
    """An endpoint response."""
    return m.EndpointResponse(
        id=e.id,
        org_id=e.org_id,
        url=e.url,
        event_types=list(e.event_types),
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        failing_since=e.failing_since,
        created_at=e.created_at,
    )


Channel = Literal["webhook", "email", "task"]


def delivery(d: queries.Delivery) -> m.DeliveryResponse:
    """A delivery response."""
    return m.DeliveryResponse(
        id=d.id,
        message_id=d.message_id,
        type=d.type,
        channel=d.channel,  # type: ignore[arg-type]
        endpoint_id=d.endpoint_id,
        status=d.status,  # type: ignore[arg-type]
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_error=d.last_error,
        created_at=d.created_at,
        finished_at=d.finished_at,
    )


def attempt(a: queries.Attempt) -> m.AttemptResponse:
    """An attempt response."""
    return m.AttemptResponse(
        attempt=a.attempt,
        started_at=a.started_at,
        duration_ms=a.duration_ms,
        status_code=a.status_code,
        response_body=a.response_body,
        error=a.error,
        succeeded=a.succeeded,
    )
