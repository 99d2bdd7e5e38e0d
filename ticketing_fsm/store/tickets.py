"""Statements on `ticketing`'s tickets and the ticket types' seat counters."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from ticketing_fsm.models import TICKET_FIELDS, Ticket

TICKET_COLUMNS = ", ".join(TICKET_FIELDS)

TICKETS_OF = f"""
    SELECT {TICKET_COLUMNS} FROM ticketing.tickets WHERE order_id = :id
     ORDER BY created_at, id"""

# A ticket of the organization, by id or by code (`{by}`: one of `_KEYS`), locked.
LOCK_TICKET = f"""
    SELECT {TICKET_COLUMNS} FROM ticketing.tickets
     WHERE {{by}} = :v AND org_id = :org FOR UPDATE"""
_KEYS = frozenset({"id", "code"})

ORDER_OF_TICKET = text("SELECT order_id FROM ticketing.tickets WHERE id = :id AND org_id = :org")

INSERT_ISSUED = text(f"""
    INSERT INTO ticketing.tickets
        (order_id, org_id, event_id, ticket_type_id, status, code, holder_email, price, replaces)
    VALUES (:order, :org, :event, :type, 'issued', :code, :holder, :price, :old)
    RETURNING {TICKET_COLUMNS}""")

# The ticket an issue could not move (as it is now): held ones last.
UNMOVED = text("""
    SELECT id, status FROM ticketing.tickets
     WHERE order_id = :order AND NOT (id = ANY(CAST(:moved AS uuid[])))
     ORDER BY status = 'held', created_at, id""")

RELEASE_SEATS = text("UPDATE ticketing.ticket_types SET held = held - :n WHERE id = :id")

UNSELL_SEATS = text("UPDATE ticketing.ticket_types SET sold = sold - :n WHERE id = :id")


def ticket(row: Any) -> Ticket:
    """A stored ticket from a row holding (at least) its fields."""
    return Ticket(**{f: getattr(row, f) for f in TICKET_FIELDS})


def tickets_of(conn: Connection, order_id: uuid.UUID, *, lock: bool = False) -> list[Ticket]:
    """The order's tickets (void ones included), oldest first; locked if asked."""
    statement = TICKETS_OF + (" FOR UPDATE" if lock else "")
    return [ticket(r) for r in conn.execute(text(statement), {"id": order_id})]


def lock_ticket(conn: Connection, org_id: uuid.UUID, by: str, value: object) -> Ticket | None:
    """The organization's ticket whose `by` (id or code) is `value`, locked; or None."""
    if by not in _KEYS:
        raise ValueError(f"tickets are found by id or code, not {by}")
    row = conn.execute(text(LOCK_TICKET.format(by=by)), {"v": value, "org": org_id}).first()
    return None if row is None else ticket(row)


def order_of_ticket(conn: Connection, org_id: uuid.UUID, ticket_id: uuid.UUID) -> uuid.UUID | None:
    """The order of the organization's ticket (None: no such ticket)."""
    found: uuid.UUID | None = conn.execute(
        ORDER_OF_TICKET, {"id": ticket_id, "org": org_id}
    ).scalar_one_or_none()
    return found


def insert_issued(conn: Connection, old: Ticket, holder: str, code: str) -> Ticket:
    """A new issued ticket replacing `old` (a transfer), for `holder`."""
    row = conn.execute(
        INSERT_ISSUED,
        {
            "order": old.order_id,
            "org": old.org_id,
            "event": old.event_id,
            "type": old.ticket_type_id,
            "code": code,
            "holder": holder,
            "price": old.price,
            "old": old.id,
        },
    ).one()
    return ticket(row)


def unmoved(conn: Connection, order_id: uuid.UUID, moved: Sequence[uuid.UUID]) -> Any:
    """A ticket of the order outside `moved` (its id and status), or None."""
    return conn.execute(UNMOVED, {"order": order_id, "moved": list(moved)}).first()


def release_seats(conn: Connection, counts: Sequence[tuple[uuid.UUID, int]]) -> None:
    """Give back held seats: `counts` of (ticket type, seats), in type id order."""
    for type_id, n in counts:
        conn.execute(RELEASE_SEATS, {"n": n, "id": type_id})


def unsell_seats(conn: Connection, counts: Sequence[tuple[uuid.UUID, int]]) -> None:
    """Free sold seats again: `counts` of (ticket type, seats), in type id order."""
    for type_id, n in counts:
        conn.execute(UNSELL_SEATS, {"n": n, "id": type_id})
