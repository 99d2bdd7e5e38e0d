"""Ticketing's Stripe handlers compose escrow's: escrow's handler books first, then ticketing
follows up, in the same call (one transaction); a two-step handler keeps escrow's prepare.
Built without a database: the handlers are only composed and called with stand-ins here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa

import escrow
import outbox
from ticketing_fsm import stripe_events


class _Reader:
    """A StripeReader that is never asked (composing handlers asks Stripe nothing)."""

    def charge_facts(self, payment_intent_id: str) -> Any:
        raise AssertionError("not asked")

    def refunds_of_charge(self, charge_id: str) -> Any:
        raise AssertionError("not asked")


_EVENT = outbox.InboxEvent(
    source="stripe",
    event_id="evt_1",
    type="refund.updated",
    payload={"data": {"object": {}}},
    received_at=datetime(2026, 12, 3, tzinfo=UTC),
    attempts=0,
)
_CONN = cast(sa.Connection, object())


def _name(handler: outbox.AnyInboxHandler) -> str:
    """The qualified name of a handler's function (a two-step one's: its handle's)."""
    found = handler.handle if isinstance(handler, outbox.InboxTwoStepHandler) else handler
    return str(found.__qualname__)


def test_every_escrow_handler_is_kept_and_ticketing_follows_up_on_its_events() -> None:
    reader = cast(escrow.StripeReader, _Reader())
    base = escrow.stripe_handlers(reader)
    combined = stripe_events.handlers(reader)
    assert set(base) <= set(combined)
    followed = {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
    }
    assert set(combined) == set(base) | followed
    for event_type in set(base) - followed:
        # escrow's alone, untouched (each call of escrow's builds its closures anew).
        assert _name(combined[event_type]) == _name(base[event_type])
    for event_type in followed & set(base):
        # Composed by `_then`: escrow's handler, then ticketing's follow-up; the payment's
        # success by `_paid`: escrow's capture and ticketing's issue together
        # (`ticketing_fsm.pay_for_intent`).
        composer = "_paid" if event_type == "payment_intent.succeeded" else "_then"
        assert _name(combined[event_type]).startswith(f"{composer}.<locals>.handle")
        # A two-step handler stays two steps, with escrow's own prepare.
        if isinstance(base[event_type], outbox.InboxTwoStepHandler):
            two = combined[event_type]
            assert isinstance(two, outbox.InboxTwoStepHandler)
            assert two.prepare.__qualname__ == cast(Any, base[event_type]).prepare.__qualname__
    # escrow's dict is not changed by the composition.
    assert escrow.stripe_handlers(reader).keys() == base.keys()


def test_escrow_books_before_ticketing_follows_up() -> None:
    calls: list[str] = []

    def booked(conn: sa.Connection, event: outbox.InboxEvent) -> None:
        calls.append("escrow")

    def follow(conn: sa.Connection, event: outbox.InboxEvent) -> None:
        calls.append("ticketing")

    one = stripe_events._then(booked, follow)
    assert callable(one) and not isinstance(one, outbox.InboxTwoStepHandler)
    one(_CONN, _EVENT)
    assert calls == ["escrow", "ticketing"]

    calls.clear()

    def prepare(event: outbox.InboxEvent) -> str:
        calls.append("prepare")
        return "facts"

    def handle(conn: sa.Connection, event: outbox.InboxEvent, facts: str) -> None:
        calls.append(f"escrow:{facts}")

    two = stripe_events._then(outbox.InboxTwoStepHandler(prepare=prepare, handle=handle), follow)
    assert isinstance(two, outbox.InboxTwoStepHandler)
    two.handle(_CONN, _EVENT, two.prepare(_EVENT))
    assert calls == ["prepare", "escrow:facts", "ticketing"]

    assert stripe_events._then(None, follow) is follow  # an event escrow does not book
