"""Stripe's webhooks in: events signed with the stripe library's own helper are stored once,
replays are acknowledged and ignored, bad signatures are refused and store nothing; stored
events are handled once, in the transaction of the handler's effects, retried when the
handler fails, dead after the last attempt, ignored when no handler is registered."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import stripe

import outbox
from liventix.stripe_events import SOURCE, receive_stripe_webhook
from tests.outbox_core.support import MakeWorker, fast_retry, rows, scalar, wait_until

SECRET = "whsec_test_0f1e2d3c4b5a69788796a5b4c3d2e1f0"


# Builders, shaped after Stripe's own examples (stripe/openapi fixtures3.json: `event`,
# `payment_intent`).
def payment_intent(amount: int = 1099, status: str = "succeeded") -> dict[str, Any]:
    """A PaymentIntent as Stripe sends it inside an event."""
    pi_id = f"pi_{uuid.uuid4().hex[:24]}"
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount if status == "succeeded" else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"enabled": True},
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi_id}_secret_{uuid.uuid4().hex[:24]}",
        "confirmation_method": "automatic",
        "created": int(time.time()),
        "currency": "usd",
        "customer": None,
        "description": None,
        "last_payment_error": None,
        "latest_charge": f"ch_{uuid.uuid4().hex[:24]}" if status == "succeeded" else None,
        "livemode": False,
        "metadata": {"order_id": "ord_123"},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": f"pm_{uuid.uuid4().hex[:24]}",
        "payment_method_types": ["card"],
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def event(obj: dict[str, Any], type: str = "payment_intent.succeeded") -> dict[str, Any]:
    """An Event wrapping `obj`."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def signed(body: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header, from the stripe library's own test helper."""
    header: str = stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=int(time.time()) if timestamp is None else timestamp
    )
    return header


def _receive(engine: sa.Engine, body: str, header: str | None) -> tuple[str, bool]:
    with engine.begin() as conn:
        return receive_stripe_webhook(conn, body.encode(), header, SECRET)


def _inbox_count(engine: sa.Engine) -> int:
    count: int = scalar(engine, "SELECT count(*) FROM messaging.inbox")
    return count


def test_a_signed_event_is_stored_once_and_replays_are_ignored(engine: sa.Engine) -> None:
    evt = event(payment_intent())
    body = json.dumps(evt)
    assert _receive(engine, body, signed(body)) == (evt["id"], True)
    stored = rows(
        engine, "SELECT source, event_id, type, payload, status, attempts FROM messaging.inbox"
    )
    assert len(stored) == 1
    assert (stored[0].source, stored[0].event_id) == (SOURCE, evt["id"])
    assert (stored[0].type, stored[0].status, stored[0].attempts) == (
        "payment_intent.succeeded",
        "pending",
        0,
    )
    assert stored[0].payload == evt

    # The same delivery again, and Stripe's retry of it (signed anew, later).
    assert _receive(engine, body, signed(body)) == (evt["id"], False)
    assert _receive(engine, body, signed(body, timestamp=int(time.time()) + 1)) == (
        evt["id"],
        False,
    )
    assert _inbox_count(engine) == 1


def test_a_signature_within_the_tolerance_is_accepted(engine: sa.Engine) -> None:
    body = json.dumps(event(payment_intent()))
    assert _receive(engine, body, signed(body, timestamp=int(time.time()) - 200))[1]


def test_bad_signatures_are_refused_and_store_nothing(engine: sa.Engine) -> None:
    body = json.dumps(event(payment_intent(amount=1099)))
    tampered = body.replace('"amount": 1099', '"amount": 1')
    assert tampered != body
    no_id = json.dumps({k: v for k, v in event(payment_intent()).items() if k != "id"})
    cases: dict[str, tuple[str, str | None]] = {
        "tampered body": (tampered, signed(body)),
        "wrong secret": (body, signed(body, secret="whsec_someone_else")),
        "missing header": (body, None),
        "empty header": (body, ""),
        "old timestamp": (body, signed(body, timestamp=int(time.time()) - 301)),
        "garbage header": (body, "t=abc,v1=zzz"),
        "signed, not JSON": ("{not json", signed("{not json")),
        "signed, no event id": (no_id, signed(no_id)),
    }
    for case, (sent, header) in cases.items():
        with pytest.raises(outbox.InvalidSignature):
            _receive(engine, sent, header)
        assert _inbox_count(engine) == 0, case


# --- handling ------------------------------------------------------------------------------

_failures_left: dict[str, int] = {}


def _write_effect(conn: sa.Connection, event: outbox.InboxEvent) -> None:
    conn.execute(
        sa.text("""INSERT INTO public.inbox_effects (event_id, attempt, xact)
                   VALUES (:id, :attempt, pg_current_xact_id()::text::bigint)"""),
        {"id": event.event_id, "attempt": event.attempts},
    )


def _effect(conn: sa.Connection, event: outbox.InboxEvent) -> None:
    _write_effect(conn, event)


def _fails(conn: sa.Connection, event: outbox.InboxEvent) -> None:
    _write_effect(conn, event)
    raise RuntimeError(f"handler broke on attempt {event.attempts}")


def _flaky(conn: sa.Connection, event: outbox.InboxEvent) -> None:
    _write_effect(conn, event)
    if event.attempts == 1:
        raise RuntimeError("first attempt fails")


outbox.register_handler(SOURCE, "test.effect", _effect)
outbox.register_handler(SOURCE, "test.type", _fails)
outbox.register_handler(SOURCE, "test.flaky", _flaky)


@pytest.fixture
def effects(engine: sa.Engine) -> Iterator[None]:
    """A table the test handlers write their effects to."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE public.inbox_effects (event_id text, attempt int, xact bigint)")
        )
    yield


def _store(engine: sa.Engine, type: str) -> str:
    evt = event(payment_intent(), type=type)
    body = json.dumps(evt)
    event_id, new = _receive(engine, body, signed(body))
    assert new
    return event_id


def _inbox(engine: sa.Engine, event_id: str) -> sa.Row[Any]:
    [row] = rows(
        engine,
        """SELECT status, attempts, last_error, handled_at, next_attempt_at > now() AS later,
                  xmin::text::bigint AS xact
             FROM messaging.inbox WHERE event_id = :id""",
        id=event_id,
    )
    return row


def test_a_handler_runs_once_in_the_transaction_that_marks_the_event_handled(
    engine: sa.Engine, effects: None, make_worker: MakeWorker
) -> None:
    event_id = _store(engine, "test.effect")
    worker = make_worker()
    assert worker.handle_inbox_once() == 1
    assert worker.handle_inbox_once() == 0
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.last_error) == ("handled", 1, None)
    assert row.handled_at is not None
    [effect] = rows(engine, "SELECT event_id, attempt, xact FROM public.inbox_effects")
    assert (effect.event_id, effect.attempt) == (event_id, 1)
    # The handler's row and the 'handled' mark were written by one transaction.
    assert effect.xact == row.xact
    # A replay of a handled event stores nothing and is not handled again.
    with engine.begin() as conn:
        assert not outbox.store_event(conn, SOURCE, event_id, "test.effect", {})
    assert worker.handle_inbox_once() == 0
    assert scalar(engine, "SELECT count(*) FROM public.inbox_effects") == 1


def test_a_failing_handler_is_rolled_back_retried_then_dead(
    engine: sa.Engine, effects: None
) -> None:
    event_id = _store(engine, "test.type")
    policy = fast_retry(0.2)
    with engine.begin() as conn:
        assert outbox.handle_next(conn, policy) == "retrying"
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.later and row.handled_at is None
    assert "handler broke on attempt 1" in row.last_error
    assert scalar(engine, "SELECT count(*) FROM public.inbox_effects") == 0
    # Not due before its backoff.
    with engine.begin() as conn:
        assert outbox.handle_next(conn, policy) is None

    def retried() -> bool:
        with engine.begin() as conn:
            status = outbox.handle_next(conn, policy)
        assert status in (None, "dead")
        return status == "dead"

    wait_until(retried, 5, "the second attempt")
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts) == ("dead", 2)
    assert "handler broke on attempt 2" in row.last_error
    assert scalar(engine, "SELECT count(*) FROM public.inbox_effects") == 0
    with engine.begin() as conn:
        assert outbox.handle_next(conn, policy) is None


def test_a_handler_failing_once_leaves_exactly_one_effect(
    engine: sa.Engine, effects: None, make_worker: MakeWorker
) -> None:
    event_id = _store(engine, "test.flaky")
    worker = make_worker(retry=fast_retry(0.05))
    wait_until(
        lambda: worker.handle_inbox_once() == 0 and _inbox(engine, event_id).status == "handled",
        5,
        "the event to be handled",
    )
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.last_error) == ("handled", 2, None)
    assert [tuple(r) for r in rows(engine, "SELECT event_id, attempt FROM inbox_effects")] == [
        (event_id, 2)
    ]


def test_an_event_without_a_handler_is_ignored(engine: sa.Engine, make_worker: MakeWorker) -> None:
    event_id = _store(engine, "test.unhandled")
    assert make_worker().handle_inbox_once() == 1
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts) == ("ignored", 1)
    assert row.last_error is not None and "no handler" in row.last_error


def test_two_workers_handle_every_event_exactly_once(
    engine: sa.Engine, effects: None, make_worker: MakeWorker
) -> None:
    ids = {_store(engine, "test.effect") for _ in range(30)}
    workers = [make_worker(name=f"w{i}") for i in range(2)]
    threads = [threading.Thread(target=w.handle_inbox_once) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    effects_seen = [r.event_id for r in rows(engine, "SELECT event_id FROM inbox_effects")]
    assert sorted(effects_seen) == sorted(ids)
    assert scalar(engine, "SELECT count(*) FROM messaging.inbox WHERE status = 'handled'") == 30
