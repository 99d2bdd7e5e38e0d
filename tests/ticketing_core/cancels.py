"""The hold sweeper's second step in tests: the `stripe.payment_intent.cancel.requested` tasks
the sweeper (or a buyer's cancel) published, run as the worker runs them (the application's
task, `liventix.wiring.cancel_intent_task`, on the application's Stripe gateway), each under
its message id. A task is idempotent by that id: running one again asks Stripe the same
(answered the same) and releases nothing more.

Importable from spawned worker processes: nothing here depends on pytest's fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway
from liventix.wiring import cancel_intent_task

CANCEL_TASK = "stripe.payment_intent.cancel.requested"

_TASKS = sa.text("""
    SELECT id, payload FROM messaging.messages
     WHERE type = 'stripe.payment_intent.cancel.requested'
       AND (CAST(:ids AS text[]) IS NULL OR aggregate_id = ANY(CAST(:ids AS text[])))
     ORDER BY created_at, id""")


def cancel_tasks(
    conn: sa.Connection, order_ids: Sequence[uuid.UUID] | None = None
) -> list[tuple[uuid.UUID, dict[str, object]]]:
    """The cancel tasks published (for these orders; None: for every order), oldest first,
    as (message id, payload)."""
    ids = None if order_ids is None else [str(i) for i in order_ids]
    return [(row.id, dict(row.payload)) for row in conn.execute(_TASKS, {"ids": ids})]


def run_cancel_tasks(
    engine: sa.Engine, gateway: StripeGateway, order_ids: Sequence[uuid.UUID] | None = None
) -> int:
    """Run every cancel task published (for these orders), as the worker does; returns how
    many ran."""
    with engine.connect() as conn:
        tasks = cancel_tasks(conn, order_ids)
    run = cancel_intent_task(engine, gateway)
    for message_id, payload in tasks:
        run(str(message_id), payload)
    return len(tasks)


def sweep(engine: sa.Engine, gateway: StripeGateway, limit: int = 100) -> int:
    """The sweeper's run (`expire_holds`, committed), then the cancel tasks it published run
    against Stripe (each releasing its order's seats once Stripe says the intent is
    canceled); returns what `expire_holds` returned."""
    with engine.begin() as conn:
        before = {message_id for message_id, _ in cancel_tasks(conn)}
        acted = tk.expire_holds(conn, limit)
    with engine.connect() as conn:
        new = [(m, p) for m, p in cancel_tasks(conn) if m not in before]
    run = cancel_intent_task(engine, gateway)
    for message_id, payload in new:
        run(str(message_id), payload)
    return acted


def sweep_alone(engine: sa.Engine, grace: timedelta = tk.CANCEL_GRACE) -> int:
    """The sweeper's run alone (`expire_holds` with this grace, committed), its cancel tasks
    left queued; returns what `expire_holds` returned."""
    with engine.begin() as conn:
        return tk.expire_holds(conn, grace=grace)


_ASKED_AGO = sa.text("""
    UPDATE ticketing.orders
       SET cancel_requested_at = cancel_requested_at - CAST(:ago AS interval),
           cancel_refused_at = cancel_refused_at - CAST(:ago AS interval)
     WHERE id = :id AND cancel_requested_at IS NOT NULL
    RETURNING id""")


def asked_ago(engine: sa.Engine, order_id: uuid.UUID, ago: timedelta) -> None:
    """Move the sweeper's latest ask about the order (and Stripe's answer to it, if any)
    `ago` into the past, as if the grace had been running that long."""
    with engine.begin() as conn:
        assert conn.execute(_ASKED_AGO, {"id": order_id, "ago": ago}).first() is not None
