"""The inbox checks Stripe's signatures itself (issue 13): the application's roles add an event
only through `messaging.receive_signed_event`, which verifies the raw body's signature
against the secret the owner registered, so a compromised application connection cannot
forge an event. And the metrics' backlog counts reach the application's roles through
`messaging.backlog()`, which answers counts, never rows.

Every check runs as `liventix_app` (SET LOCAL ROLE), the role Stripe's webhook route uses.
The database's verdict is compared with the stripe library's on generated bodies, secrets
and timestamps: the two must agree on every one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import outbox
from liventix.stripe_events import SOURCE, register_webhook_secret

SECRET = "whsec_signed_inbox_0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def _header(body: str, secret: str = SECRET, at: int | None = None) -> str:
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def _event(**extra: Any) -> str:
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1", "note": "été ✓"}},
        **extra,
    }
    return json.dumps(event, ensure_ascii=False)


def _receive(engine: sa.Engine, body: str, header: str) -> outbox.Received:
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL ROLE liventix_app")
        return outbox.receive_signed_event(conn, SOURCE, body, header)


def _stored(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM messaging.inbox")).scalar_one())


@pytest.fixture
def registered(engine: sa.Engine) -> sa.Engine:
    with engine.begin() as conn:
        register_webhook_secret(conn, SECRET)
    return engine


def test_a_signed_event_is_stored_once(registered: sa.Engine) -> None:
    body = _event()
    first = _receive(registered, body, _header(body))
    again = _receive(registered, body, _header(body))
    assert first.stored and not again.stored
    assert first.event_type == "payment_intent.succeeded"
    with registered.connect() as conn:
        payload = conn.execute(
            sa.text("SELECT payload FROM messaging.inbox WHERE event_id = :id"),
            {"id": first.event_id},
        ).scalar_one()
    assert payload == json.loads(body)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body: _header(body, secret="whsec_someone_else"), id="wrong-secret"),
        pytest.param(lambda body: _header(body, at=int(time.time()) - 301), id="stale"),
        pytest.param(lambda body: _header(body, at=int(time.time()) + 400), id="future"),
        pytest.param(lambda body: _header(body + " "), id="other-body"),
        pytest.param(lambda body: _header(body).split(",")[1], id="no-timestamp"),
        pytest.param(lambda body: _header(body).split(",")[0], id="no-v1"),
        pytest.param(lambda body: "", id="empty"),
        pytest.param(lambda body: "t=abc,v1=00", id="malformed"),
    ],
)
def test_a_forged_or_stale_event_is_refused(registered: sa.Engine, forge: Any) -> None:
    body = _event()
    with pytest.raises(outbox.InvalidSignature):
        _receive(registered, body, forge(body))
    assert _stored(registered) == 0


@pytest.mark.parametrize("body", ["[1, 2]", "not json", '{"id": 7, "type": "x"}', '{"type": "x"}'])
def test_a_signed_body_that_is_no_event_is_refused(registered: sa.Engine, body: str) -> None:
    with pytest.raises(outbox.InvalidSignature, match="database refused"):
        _receive(registered, body, _header(body))
    assert _stored(registered) == 0


def test_with_no_secret_registered_nothing_is_stored(engine: sa.Engine) -> None:
    body = _event()
    with pytest.raises(outbox.InboxNotConfigured):
        _receive(engine, body, _header(body))
    with engine.begin() as conn:  # registered, then forgotten
        register_webhook_secret(conn, SECRET)
        register_webhook_secret(conn, None)
    with pytest.raises(outbox.InboxNotConfigured):
        _receive(engine, body, _header(body))
    assert _stored(engine) == 0


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO messaging.inbox (source, event_id, type, payload)"
        " VALUES ('stripe', 'evt_forged', 'payment_intent.succeeded', '{}')",
        "SELECT * FROM messaging.inbox_secrets",
        "SELECT messaging.set_inbox_secret('stripe', 'whsec_mine')",
        "DELETE FROM messaging.inbox_secrets",
    ],
)
def test_the_application_role_cannot_forge_or_read_the_secret(
    registered: sa.Engine, statement: str
) -> None:
    with registered.begin() as conn:
        conn.exec_driver_sql("SET LOCAL ROLE liventix_app")
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.exec_driver_sql(statement)
    assert _stored(registered) == 0


def test_the_backlog_counts_reach_the_application_role(registered: sa.Engine) -> None:
    for _ in range(3):
        body = _event()
        _receive(registered, body, _header(body))
    with registered.begin() as conn:
        conn.exec_driver_sql("SET LOCAL ROLE liventix_app")
        hidden = conn.execute(sa.text("SELECT count(*) FROM messaging.inbox")).scalar_one()
        backlog = {(b.queue, b.channel): b.pending for b in outbox.backlog(conn)}
        waiting = outbox.waiting(conn)
    assert hidden == 0  # the rows stay unreadable
    assert backlog == {("inbox", "stripe"): 3}
    assert waiting == 3


_texts = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    note=_texts,
    secret=st.sampled_from([SECRET, "whsec_other_0123", "whsec_" + "k" * 80]),
    skew=st.sampled_from([0, -290, 290, -310, 310, -3600]),
    tamper=st.booleans(),
)
def test_the_database_agrees_with_the_stripe_library(
    registered: sa.Engine, note: str, secret: str, skew: int, tamper: bool
) -> None:
    body = _event(note=note)
    header = _header(body, secret=secret, at=int(time.time()) + skew)
    sent = body + "\n" if tamper else body
    try:
        stripe.WebhookSignature.verify_header(sent, header, SECRET, 300)
        library = abs(skew) <= 300  # the library checks only the past; the API the future too
    except stripe.SignatureVerificationError:
        library = False
    try:
        _receive(registered, sent, header)
        database = True
    except outbox.InvalidSignature:
        database = False
    assert database == library
