"""Reads the API needs that the domain packages do not offer (yet): lists of accounts,
entries and escrows (keyset-paginated), an event with its ticket types, one ticket, and the
outbox's deliveries and their attempts.

Every query runs on the request's connection under its role, so row-level security bounds
what it returns; an organization's queries also filter by its id (the index's prefix, and a
second belt). Values come back as the domain's own types where the domain has one.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

import escrow
import ledger
import outbox
import ticketing_fsm as tk
from liventix.api import problems
from liventix.api.problems import ApiProblem


def encode_cursor(created_at: datetime, row_id: object) -> str:
    """An opaque cursor for the keyset (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The keyset position of a cursor; a 422 naming `after` if it is not one of ours."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, str(uuid.UUID(row_id))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiProblem(
            problems.VALIDATION, "after: not a cursor this API issued", field="query.after"
        ) from exc


def _page_filter(alias: str, after: tuple[datetime, str] | None) -> tuple[str, dict[str, Any]]:
    if after is None:
        return "", {}
    return (
        f" AND ({alias}.created_at, {alias}.id) > (CAST(:after_at AS timestamptz),"
        " CAST(:after_id AS uuid))",
        {"after_at": after[0], "after_id": after[1]},
    )


def _org_filter(alias: str, org_id: uuid.UUID | None) -> tuple[str, dict[str, Any]]:
    if org_id is None:
        return "", {}
    return f" AND {alias}.org_id = :org", {"org": org_id}


# -- ledger ---------------------------------------------------------------------------------


def list_accounts(
    conn: Connection, org_id: uuid.UUID | None, after: str | None, limit: int
) -> tuple[list[ledger.Account], str | None]:
    """A page of accounts (with balances), oldest first, and the next page's cursor."""
    page_sql, page_params = _page_filter("a", decode_cursor(after))
    org_sql, org_params = _org_filter("a", org_id)
    rows = conn.execute(
        text(f"""SELECT a.id, a.org_id, a.code, a.name, a.type, a.currency, a.created_at,
                        a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits,
                        a.high_volume, a.closed, a.metadata, b.normal_side, b.posted_debits,
                        b.posted_credits, b.pending_debits, b.pending_credits, b.version
                   FROM payments.accounts a
                   JOIN payments.account_balances b ON b.account_id = a.id
                  WHERE true {org_sql} {page_sql}
                  ORDER BY a.created_at, a.id
                  LIMIT :limit"""),
        {**org_params, **page_params, "limit": limit},
    ).all()
    accounts = [
        ledger.Account(
            id=r.id,
            org_id=r.org_id,
            code=r.code,
            name=r.name,
            type=r.type,
            currency=r.currency,
            debits_must_not_exceed_credits=r.debits_must_not_exceed_credits,
            credits_must_not_exceed_debits=r.credits_must_not_exceed_debits,
            high_volume=r.high_volume,
            closed=r.closed,
            metadata=r.metadata,
            balance=ledger.Balance(
                account_id=r.id,
                currency=r.currency,
                normal_side=r.normal_side,
                posted_debits=int(r.posted_debits),
                posted_credits=int(r.posted_credits),
                pending_debits=int(r.pending_debits),
                pending_credits=int(r.pending_credits),
                version=r.version,
            ),
        )
        for r in rows
    ]
    cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if len(rows) == limit else None
    return accounts, cursor


def list_entries(
    conn: Connection,
    org_id: uuid.UUID | None,
    account_id: uuid.UUID | None,
    after: str | None,
    limit: int,
) -> tuple[list[ledger.Entry], str | None]:
    """A page of entries (with their lines), oldest first, optionally only those touching an
    account, and the next page's cursor."""
    page_sql, page_params = _page_filter("e", decode_cursor(after))
    org_sql, org_params = _org_filter("e", org_id)
    account_sql = ""
    if account_id is not None:
        account_sql = (
            " AND EXISTS (SELECT FROM payments.lines x"
            " WHERE x.entry_id = e.id AND x.account_id = :account)"
        )
        page_params["account"] = account_id
    rows = conn.execute(
        text(f"""SELECT e.id, e.org_id, e.kind, e.description, e.metadata, e.effective_at,
                        e.created_at, e.external_ref, e.reverses_entry_id, e.hold_id
                   FROM payments.entries e
                  WHERE true {org_sql} {account_sql} {page_sql}
                  ORDER BY e.created_at, e.id
                  LIMIT :limit"""),
        {**org_params, **page_params, "limit": limit},
    ).all()
    lines: dict[uuid.UUID, list[ledger.EntryLine]] = {r.id: [] for r in rows}
    if rows:
        for x in conn.execute(
            text("""SELECT id, entry_id, account_id, side, amount, currency, account_version
                      FROM payments.lines WHERE entry_id = ANY(CAST(:ids AS uuid[]))
                     ORDER BY id"""),
            {"ids": list(lines)},
        ):
            lines[x.entry_id].append(
                ledger.EntryLine(
                    id=x.id,
                    account_id=x.account_id,
                    side=x.side,
                    amount=x.amount,
                    currency=x.currency,
                    account_version=x.account_version,
                )
            )
    entries = [
        ledger.Entry(
            id=r.id,
            org_id=r.org_id,
            kind=r.kind,
            description=r.description,
            metadata=r.metadata,
            effective_at=r.effective_at,
            created_at=r.created_at,
            external_ref=r.external_ref,
            reverses_entry_id=r.reverses_entry_id,
            hold_id=r.hold_id,
            lines=tuple(lines[r.id]),
        )
        for r in rows
    ]
    cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if len(rows) == limit else None
    return entries, cursor


# -- ticketing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketType:
    """A ticket type and its counters."""

    id: uuid.UUID
    event_id: uuid.UUID
    name: str
    price: int
    currency: str
    capacity: int
    held: int
    sold: int
    sales_start: datetime
    sales_end: datetime


@dataclass(frozen=True)
class Event:
    """An event and its ticket types."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    currency: str
    starts_at: datetime
    ends_at: datetime
    cancelled_at: datetime | None
    ticket_types: tuple[TicketType, ...]


def get_event(conn: Connection, event_id: uuid.UUID) -> Event:
    """The event and its ticket types; EventNotFound if it is not visible."""
    row = conn.execute(
        text("""SELECT id, org_id, name, currency, starts_at, ends_at, cancelled_at
                  FROM ticketing.events WHERE id = :id"""),
        {"id": event_id},
    ).first()
    if row is None:
        raise tk.EventNotFound(event_id=str(event_id))
    types = conn.execute(
        text("""SELECT id, event_id, name, price, currency, capacity, held, sold, sales_start,
                       sales_end
                  FROM ticketing.ticket_types WHERE event_id = :id ORDER BY sales_start, id"""),
        {"id": event_id},
    ).all()
    return Event(**row._asdict(), ticket_types=tuple(TicketType(**t._asdict()) for t in types))


_TICKET_COLUMNS = (
    "id, order_id, org_id, event_id, ticket_type_id, status, code, holder_email, price, "
    "replaces, checked_in_at, checked_in_by, version"
)


def get_ticket(conn: Connection, ticket_id: uuid.UUID) -> tk.Ticket:
    """The ticket; TicketNotFound if it is not visible."""
    row = conn.execute(
        text(f"SELECT {_TICKET_COLUMNS} FROM ticketing.tickets WHERE id = :id"), {"id": ticket_id}
    ).first()
    if row is None:
        raise tk.TicketNotFound(ticket=str(ticket_id))
    return tk.Ticket(**row._asdict())


def ticket_currency(conn: Connection, ticket_type_id: uuid.UUID) -> str:
    """The currency of a ticket type."""
    currency: str = conn.execute(
        text("SELECT currency FROM ticketing.ticket_types WHERE id = :id"), {"id": ticket_type_id}
    ).scalar_one()
    return currency


# -- escrow ---------------------------------------------------------------------------------

_ESCROW_COLUMNS = (
    "id, org_id, event_id, currency, state, event_ends_at, ended_at, hold_until, open_disputes,"
    " captured, refunded, charged_back, held, released, version"
)


def list_escrows(
    conn: Connection,
    org_id: uuid.UUID | None,
    event_id: str | None,
    after: str | None,
    limit: int,
) -> tuple[list[escrow.Escrow], str | None]:
    """A page of escrows, oldest first, optionally of one event, and the next cursor."""
    page_sql, params = _page_filter("x", decode_cursor(after))
    org_sql, org_params = _org_filter("x", org_id)
    event_sql = ""
    if event_id is not None:
        event_sql = " AND x.event_id = :event"
        params["event"] = event_id
    rows = conn.execute(
        text(f"""SELECT {_ESCROW_COLUMNS}, created_at FROM payments.escrows x
                  WHERE true {org_sql} {event_sql} {page_sql}
                  ORDER BY x.created_at, x.id LIMIT :limit"""),
        {**params, **org_params, "limit": limit},
    ).all()
    found = [
        escrow.Escrow(**{k: v for k, v in r._asdict().items() if k != "created_at"}) for r in rows
    ]
    cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if len(rows) == limit else None
    return found, cursor


# -- outbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """A delivery as the API shows it."""

    id: int
    message_id: uuid.UUID
    type: str
    channel: str
    endpoint_id: uuid.UUID | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


_DELIVERY = """SELECT d.id, d.message_id, m.type, d.channel, d.endpoint_id, d.status,
                      d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.finished_at
                 FROM messaging.deliveries d JOIN messaging.messages m ON m.id = d.message_id"""


def get_delivery(conn: Connection, delivery_id: int) -> Delivery:
    """The delivery; DeliveryNotFound if it is not visible."""
    row = conn.execute(text(f"{_DELIVERY} WHERE d.id = :id"), {"id": delivery_id}).first()
    if row is None:
        raise outbox.DeliveryNotFound(delivery_id=delivery_id)
    return Delivery(**row._asdict())


def list_deliveries(
    conn: Connection,
    org_id: uuid.UUID | None,
    *,
    endpoint_id: uuid.UUID | None,
    status: str | None,
    after: int | None,
    limit: int,
) -> tuple[list[Delivery], str | None]:
    """A page of deliveries, newest first; the cursor is the last id."""
    where = ["true"]
    params: dict[str, Any] = {"limit": limit}
    if org_id is not None:
        where.append("d.org_id = :org")
        params["org"] = org_id
    if endpoint_id is not None:
        where.append("d.endpoint_id = :endpoint")
        params["endpoint"] = endpoint_id
    if status is not None:
        where.append("d.status = :status")
        params["status"] = status
    if after is not None:
        where.append("d.id < :after")
        params["after"] = after
    rows = conn.execute(
        text(f"{_DELIVERY} WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT :limit"), params
    ).all()
    found = [Delivery(**r._asdict()) for r in rows]
    return found, (str(rows[-1].id) if len(rows) == limit else None)


@dataclass(frozen=True)
class Attempt:
    """One try of a delivery."""

    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None
    error: str | None
    succeeded: bool


def attempts_of(conn: Connection, delivery_id: int) -> list[Attempt]:
    """The delivery's attempts, first first (the delivery must be visible)."""
    get_delivery(conn, delivery_id)
    rows = conn.execute(
        text("""SELECT attempt, started_at, duration_ms, status_code, response_body, error,
                       succeeded
                  FROM messaging.attempts WHERE delivery_id = :id ORDER BY attempt, id"""),
        {"id": delivery_id},
    ).all()
    return [Attempt(**r._asdict()) for r in rows]
