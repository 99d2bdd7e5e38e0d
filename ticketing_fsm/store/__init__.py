"""Ticketing's store: every SQL statement on the `ticketing` schema's tables, as named
statements at the top of each module and small functions below. Nothing here decides; the
use cases (`checkout`, `outcomes`, `refunds`, `tickets`) call these on the caller's connection.

- `store.checkout`: the checkout's hold, order and tickets, and its PaymentIntent's record;
- `store.paying`: the payment's usual case, the order paid and its tickets issued at once;
- `store.orders`: events, ticket types, orders, refunds, transitions;
- `store.tickets`: tickets and the ticket types' seat counters.

Ticketing reads escrow's tables only through escrow's public face: an order's amounts paid
and refunded are escrow's SQL expressions (`escrow.paid_sql`, `escrow.refunded_sql`) inside
ticketing's statement, so reading an order stays one round trip.
"""

from __future__ import annotations

from ticketing_fsm.store import checkout, orders, paying, tickets

__all__ = ["checkout", "orders", "paying", "tickets"]
