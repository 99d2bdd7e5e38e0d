"""The HTTP checkout in two round trips to PostgreSQL (issue 11): the hold is one statement
sent after the authentication and followed by the COMMIT, in the round trip that begins the
transaction (`tk.plan_hold`, `ticketing.open_and_hold_checkout`); the record, the answer
stored under the Idempotency-Key and the COMMIT are the record step's one round trip
(`tk.record_awaiting_statement`, `UnitOfWork.commit_with_opening`).

The hold commits before the API has read the authentication's verdict, so the statement
itself must do nothing for a key that did not authenticate, another organization's key, a
read-only key, or a request whose key already has an answer stored (a replay, a refusal):
checked here on the round trip itself (the tests' login role is the database's owner, which
row-level security does not bind: only the statement's own conditions stand in the way),
then over HTTP against the real API, PostgreSQL and the Stripe stand-in: replays during and
after a checkout, a hold that expired between the steps, the metrics that say which way
each step went.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.api import create_key, keys
from liventix.stripe_gateway import StripeGateway
from tests.api.support import GatewayApi, gateway_api, on_sale_event
from tests.ticketing_core.support import open_world, request
from ticketing_fsm.store import checkout as store


def _with_commit(statement: keys.Then) -> keys.Then:
    return lambda escape: statement(escape) + b"; COMMIT"


def _held(engine: sa.Engine, type_id: uuid.UUID) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT held FROM ticketing.ticket_types WHERE id = :id"), {"id": type_id}
            ).scalar_one()
        )


def _orders(engine: sa.Engine, key: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM ticketing.orders WHERE idempotency_key = :key"),
                {"key": key},
            ).scalar_one()
        )


def _send(
    engine: sa.Engine, token: str, header_key: str | None, planned: tk.PlannedHold
) -> tuple[keys.Principal | None, keys.StoredAnswer | None, list[Any], Any]:
    """The hold's round trip as the API sends it: BEGIN, the authentication, the planned
    statement and the COMMIT; then the connection's transaction rolled back (a commit in the
    round trip is all that can keep anything)."""
    with engine.connect() as conn:
        answers: list[Any] = []
        principal, stored = keys.authenticate(
            conn, token, header_key, then=_with_commit(planned.statement), answers=answers
        )
        result = None
        if answers:
            result = tk.planned_hold_result(conn, planned, answers[0])
        conn.rollback()
    return principal, stored, answers, result


def test_the_hold_in_one_statement_holds_only_for_a_fresh_write_of_the_planned_org(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="one").token
        read_only = create_key(conn, world.org, description="ro", scope="read_only").token
        other = open_world(conn, capacities=(1,))
        others_token = create_key(conn, other.org, description="other").token
    type_id = world.types[0]
    planned = tk.plan_hold(request(world, "api:one-1", (2,)), go=keys.FRESH_WRITE)
    assert planned is not None

    # A wrong secret: no principal, the statement's result dropped, nothing held.
    wrong = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert _send(engine, wrong, "one-1", planned)[:3] == (None, None, [])
    # Another organization's key: authenticated, but not the organization planned for.
    principal, _, answers, result = _send(engine, others_token, "one-1", planned)
    assert principal is not None and principal.org_id == other.org
    assert len(answers) == 1 and result is None
    # The organization's read-only key: refused by the API once back; the statement held
    # nothing meanwhile.
    principal, _, answers, result = _send(engine, read_only, "one-1", planned)
    assert principal is not None and principal.read_only
    assert len(answers) == 1 and result is None
    # An answer stored under the request's key (a refusal, say): a replay holds nothing.
    with engine.begin() as conn:
        conn.execute(
            sa.text("""INSERT INTO payments.api_idempotency
                           (scope, key, method, path, request_sha256, status, content_type,
                            response)
                       VALUES (:scope, 'one-1', 'POST', '/v1/checkouts', 'x', 409,
                               'application/problem+json', '{}')"""),
            {"scope": str(world.org)},
        )
    principal, stored, answers, result = _send(engine, token, "one-1", planned)
    assert principal is not None and stored is not None and stored.status == 409
    assert len(answers) == 1 and result is None
    assert (_held(engine, type_id), _orders(engine, "api:one-1")) == (0, 0)

    # The organization's key, nothing stored under the request's key: held and committed
    # in the round trip (the connection's own transaction was rolled back after it).
    principal, stored, answers, pending = _send(engine, token, "one-2", planned)
    assert principal is not None and stored is None
    assert isinstance(pending, tk.PendingCheckout)
    assert pending.order_id == planned.order_id
    assert (pending.amount, pending.currency) == (2 * 2_500, "EUR")
    assert (_held(engine, type_id), _orders(engine, "api:one-1")) == (2, 1)

    # Sent again (the same checkout's retry): the order is found, nothing more is held.
    again = tk.plan_hold(request(world, "api:one-1", (2,)), go=keys.FRESH_WRITE)
    assert again is not None
    _, _, _, found = _send(engine, token, "one-3", again)
    assert isinstance(found, tk.PendingCheckout) and found.order_id == pending.order_id
    assert found.hold_expires_at == pending.hold_expires_at
    assert (_held(engine, type_id), _orders(engine, "api:one-1")) == (2, 1)

    # Another body under the same key: the key's conflict, nothing held.
    other_body = tk.plan_hold(request(world, "api:one-1", (1,)), go=keys.FRESH_WRITE)
    assert other_body is not None
    with pytest.raises(tk.IdempotencyConflict):
        _send(engine, token, "one-4", other_body)
    # Refusals come back typed, from the statement's own answer: nothing held.
    sold_out = tk.plan_hold(request(world, "api:one-5", (4,)), go=keys.FRESH_WRITE)
    assert sold_out is not None
    with pytest.raises(tk.SoldOut):
        _send(engine, token, "one-5", sold_out)
    assert (_held(engine, type_id), _orders(engine, "api:one-5")) == (2, 0)
    # Several ticket types, or a request that does not validate: the long way.
    assert tk.plan_hold(request(world, "api:one-6", (0,)), go=keys.FRESH_WRITE) is None


def test_the_record_stores_the_answer_only_with_the_record(engine: sa.Engine) -> None:
    """The record's one statement stores nothing when it records nothing (an order no
    longer awaiting payment, another intent recorded), and records nothing for another
    organization's key."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="record").token
        other = open_world(conn, capacities=(1,))
        others_token = create_key(conn, other.org, description="other").token
        pending = tk.reserve_checkout(conn, request(world, "api:rec-1", (1,)))
    assert isinstance(pending, tk.PendingCheckout)
    intent = tk.CreatedIntent("pi_one_trip_1", "pi_one_trip_1_secret_x'y")
    checkout, statement = tk.record_awaiting_statement(pending, intent)
    assert checkout.payment_intent_id == "pi_one_trip_1" and not checkout.replayed

    def record(as_token: str) -> int:
        with engine.connect() as conn:
            answers: list[Any] = []
            principal, _ = keys.authenticate(
                conn, as_token, None, then=_with_commit(statement), answers=answers
            )
            assert principal is not None and len(answers) == 1
            conn.rollback()
            return int(answers[0].ntuples)

    assert record(others_token) == 0
    with engine.begin() as conn:
        tk.cancel_order(conn, world.org, pending.order_id, cause="tests")
    assert record(token) == 0
    with engine.connect() as conn:
        row = store.recorded(conn, pending.order_id)
    assert row is not None and row.payment_intent_id is None and row.status != "awaiting_payment"


# -- over HTTP ---------------------------------------------------------------------------


@dataclass
class SideGateway:
    """The real gateway; `meanwhile`, when set, runs once just before Stripe is asked (the
    hold committed, the record not yet made)."""

    inner: StripeGateway
    owner: sa.Engine
    meanwhile: Any = None
    intents: list[str] = field(default_factory=list)

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        """Run `meanwhile` once, then ask Stripe."""
        side, self.meanwhile = self.meanwhile, None
        if side is not None:
            side(metadata)
        created = self.inner.create_payment_intent(amount, currency, metadata, idempotency_key)
        self.intents.append(created.payment_intent_id)
        return created

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refunds go straight to Stripe."""
        return self.inner.create_refund(payment_intent_id, amount, metadata, idempotency_key)


World = GatewayApi[SideGateway]


@pytest.fixture
def world(pg_server_url: str, template_db: str) -> Iterator[World]:
    """An API on a database of its own, Stripe the stand-in, the owner's engine beside it."""
    with gateway_api(pg_server_url, template_db, "one_trip", SideGateway) as made:
        yield made


def _steps(client: httpx.Client) -> dict[tuple[str, str], float]:
    """`liventix_api_checkout_steps_total` by (step, way)."""
    text = client.get("/metrics").text
    found = re.findall(
        r'^liventix_api_checkout_steps_total\{step="(\w+)",way="(\w+)"\} (\S+)$', text, re.M
    )
    return {(step, way): float(n) for step, way, n in found}


def _client(world: World, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=world.api,
        headers={"Authorization": f"Bearer {token or world.key}"},
        timeout=60,
    )


def test_a_checkout_takes_one_round_trip_per_step_and_replays_during_and_after(
    world: World,
) -> None:
    with _client(world) as client:
        event = on_sale_event(client, capacity=5)  # the key authenticated in this process
        type_id = event["ticket_types"][0]["id"]
        body = {
            "event_id": event["id"],
            "buyer_email": "ann@example.com",
            "items": [{"ticket_type_id": type_id, "quantity": 2}],
        }
        headers = {"Idempotency-Key": "trip-1"}
        during: list[httpx.Response] = []

        def replay_during(_metadata: dict[str, str]) -> None:
            # The same request again while the first waits for Stripe: it finds the order
            # the first held, asks Stripe (the same key: the same intent) and answers.
            with _client(world) as again:
                during.append(again.post("/v1/checkouts", json=body, headers=headers))

        world.gateway.meanwhile = replay_during
        first = client.post("/v1/checkouts", json=body, headers=headers)
        assert first.status_code == 201, first.text
        ((second,),) = (during,)
        assert second.status_code == 201, second.text
        # One order, one intent, two seats: the first's record met the second's stored
        # answer, ran again, and replayed it.
        assert first.json() == second.json()
        assert first.headers.get("Idempotency-Replayed") == "true"
        assert world.gateway.intents[0] == world.gateway.intents[1]
        assert first.json()["payment_intent_id"] == world.gateway.intents[0]
        assert ok_event(client, event["id"])["ticket_types"][0]["held"] == 2

        after = client.post("/v1/checkouts", json=body, headers=headers)
        assert after.status_code == 201
        assert after.headers.get("Idempotency-Replayed") == "true"
        assert after.json() == first.json()
        assert after.headers["Location"] == first.headers["Location"]
        assert len(world.gateway.intents) == 2

        # Another buyer: both steps the short way.
        before = _steps(client)
        other = client.post(
            "/v1/checkouts",
            json={**body, "buyer_email": "bob@example.com"},
            headers={"Idempotency-Key": "trip-2"},
        )
        assert other.status_code == 201, other.text
        now = _steps(client)
        for step in ("hold", "record"):
            assert now.get((step, "short"), 0) == before.get((step, "short"), 0) + 1
            assert now.get((step, "long"), 0) == before.get((step, "long"), 0)
        order = client.get(other.headers["Location"]).json()
        assert order["payment_intent_id"] == other.json()["payment_intent_id"]
        assert [t["status"] for t in order["tickets"]] == ["held", "held"]
        # The stored answer is the one given, byte for byte.
        with world.owner.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT response::text FROM payments.api_idempotency WHERE key = 'trip-2'")
            ).scalar_one()
        assert json.loads(stored) == other.json()


def _problem(response: httpx.Response) -> dict[str, Any]:
    """A problem's body without its request id (each answer has its own)."""
    return {k: v for k, v in response.json().items() if k != "request_id"}


def ok_event(client: httpx.Client, event_id: str) -> Any:
    found = client.get(f"/v1/events/{event_id}")
    assert found.status_code == 200, found.text
    return found.json()


def test_a_hold_cancelled_between_the_steps_is_answered_the_long_way(world: World) -> None:
    """The order is cancelled while Stripe is asked: the record's one statement records and
    stores nothing, and the long way answers why (the checkout expired), stored under the key."""
    with _client(world) as client:
        event = on_sale_event(client, capacity=3)
        type_id = event["ticket_types"][0]["id"]
        body = {
            "event_id": event["id"],
            "buyer_email": "ann@example.com",
            "items": [{"ticket_type_id": type_id, "quantity": 1}],
        }

        def cancel(metadata: dict[str, str]) -> None:
            with world.owner.begin() as conn:
                tk.cancel_order(
                    conn,
                    uuid.UUID(metadata[tk.META_ORG]),
                    uuid.UUID(metadata[tk.META_ORDER]),
                    cause="tests: between the steps",
                )

        world.gateway.meanwhile = cancel
        before = _steps(client)
        late = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "late-1"})
        assert 400 <= late.status_code < 500, late.text
        now = _steps(client)
        assert now.get(("hold", "short"), 0) == before.get(("hold", "short"), 0) + 1
        assert now.get(("record", "long"), 0) == before.get(("record", "long"), 0) + 1
        replay = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "late-1"})
        assert replay.status_code == late.status_code
        assert _problem(replay) == _problem(late)
        assert ok_event(client, event["id"])["ticket_types"][0]["held"] == 0


def test_a_read_only_key_and_a_stored_refusal_hold_nothing(world: World) -> None:
    with _client(world) as client:
        event = on_sale_event(client, capacity=2)
        type_id = event["ticket_types"][0]["id"]
        with world.owner.begin() as conn:
            org = uuid.UUID(
                str(
                    conn.execute(
                        sa.text("SELECT org_id FROM ticketing.events WHERE id = :id"),
                        {"id": event["id"]},
                    ).scalar_one()
                )
            )
            read_only = create_key(conn, org, description="finance", scope="read_only").token

        def body(n: int, buyer: str = "ann@example.com") -> dict[str, Any]:
            return {
                "event_id": event["id"],
                "buyer_email": buyer,
                "items": [{"ticket_type_id": type_id, "quantity": n}],
            }

        with _client(world, read_only) as finance:
            assert finance.get(f"/v1/events/{event['id']}").status_code == 200  # known now
            refused = finance.post(
                "/v1/checkouts", json=body(1), headers={"Idempotency-Key": "ro-1"}
            )
        assert refused.status_code == 403, refused.text
        assert ok_event(client, event["id"])["ticket_types"][0]["held"] == 0

        # Sold out for 2 after another buyer's 1: the refusal is stored under the key.
        taken = client.post(
            "/v1/checkouts", json=body(1, "bob@example.com"), headers={"Idempotency-Key": "b-1"}
        )
        assert taken.status_code == 201, taken.text
        sold_out = client.post("/v1/checkouts", json=body(2), headers={"Idempotency-Key": "s-1"})
        assert sold_out.status_code == 409, sold_out.text
        # The seats come back; the same request under its key replays the refusal and holds
        # nothing (the hold's statement saw the stored answer).
        order = taken.json()["order_id"]
        assert (
            client.post(
                f"/v1/orders/{order}/cancel", headers={"Idempotency-Key": "c-1"}
            ).status_code
            == 200
        )
        assert ok_event(client, event["id"])["ticket_types"][0]["held"] == 0
        replay = client.post("/v1/checkouts", json=body(2), headers={"Idempotency-Key": "s-1"})
        assert (replay.status_code, _problem(replay)) == (409, _problem(sold_out))
        assert replay.headers.get("Idempotency-Replayed") == "true"
        assert ok_event(client, event["id"])["ticket_types"][0]["held"] == 0
