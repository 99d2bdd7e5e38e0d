"""Wiring the packages together at the application's edge: Stripe's event handlers in the
inbox, the transfer task in the outbox, and the periodic escrow release in the worker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

import escrow
import outbox
from liventix.stripe_gateway import StripeGateway


def transfer_task(engine: sa.Engine, gateway: StripeGateway) -> outbox.Task:
    """The `stripe.transfer.requested` task: ask Stripe for the transfer (idempotent by the
    message id), then book it at once; Stripe's `transfer.created` event finds it booked."""

    def run(message_id: str, payload: dict[str, Any]) -> None:
        request = escrow.TransferRequested.model_validate(payload)
        transfer_id, amount = gateway.create_transfer(request, idempotency_key=message_id)
        with engine.begin() as conn:
            escrow.transfer_created(
                conn, transfer_id, uuid.UUID(request.escrow_id), amount, cause=f"task {message_id}"
            )

    return run


def wire(engine: sa.Engine, gateway: StripeGateway) -> None:
    """Register the Stripe handlers and the transfer task (once per process)."""
    escrow.register_stripe_handlers(gateway)
    outbox.register_task("stripe.transfer.requested", transfer_task(engine, gateway))


def release_step(engine: sa.Engine) -> Callable[[], object]:
    """A worker step that releases every escrow that has become due."""

    def step() -> object:
        with engine.begin() as conn:
            return escrow.release_due(conn)

    return step
