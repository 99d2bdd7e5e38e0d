"""The handle's own refusal of a payment naming another organization's event
(`ticketing_fsm.stripe_events._booked_as_its_metadata_reads`), reached with the payment's look
taken away: the look and the handle make one comparison (`_its_organizations_event`), and
the handle still refuses on its own transaction what the look would have (typed, permanent:
dead at the first attempt, nothing booked). The look's refusal: test_orderless_payment_event.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

import escrow
import outbox
import ticketing_fsm as tk
from tests.outbox_fixes.test_orderless_payment_event import _booked, _Counting, worlds
from tests.ticketing_core.support import Gateway, World, drain, payment_intent, store, stripe_event
from ticketing_fsm.checkout import META_EVENT_ENDS

__all__ = ["worlds"]  # the fixture, used by name

TYPE = "payment_intent.succeeded"


def test_the_handle_refuses_another_organizations_event_without_the_look(
    engine: sa.Engine, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    gateway = Gateway()
    reader = _Counting(gateway)
    handlers = outbox.InboxHandlers()
    tk.register_stripe_handlers(reader, into=handlers)
    paid = handlers.get("stripe", TYPE)
    assert isinstance(paid, outbox.InboxTwoStepHandler) and paid.look is not None
    handlers.register("stripe", TYPE, dataclasses.replace(paid, look=None), replace=True)
    ends = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    created = gateway.create_payment_intent(
        4_000,
        "eur",
        {tk.META_ORG: str(a.org), tk.META_EVENT: str(b.event), META_EVENT_ENDS: ends},
        idempotency_key=f"outside-{uuid.uuid4()}",
    )
    intent_id = created.payment_intent_id
    event_obj = stripe_event(TYPE, payment_intent(gateway.intents[intent_id], "succeeded"))
    assert store(engine, event_obj)
    assert drain(engine, handlers) == ["dead"]
    assert reader.asked == [intent_id]  # no look: the prepare asked Stripe for the fee
    with engine.connect() as conn:
        error = conn.execute(
            sa.text("SELECT last_error FROM messaging.inbox WHERE event_id = :e"),
            {"e": event_obj["id"]},
        ).scalar_one()
        assert error is not None and error.startswith("PaymentEventNotTheOrganizations")
        assert f"org_id='{a.org}'" in error and f"event_id='{b.event}'" in error
        assert escrow.payment_org(conn, intent_id) is None
        assert _booked(conn) == []
