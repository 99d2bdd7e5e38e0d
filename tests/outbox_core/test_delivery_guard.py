"""The deliveries' guard (review D6): an organization's role, with its own API key, cannot
insert a delivery by hand that sends its message to another organization's endpoint, that
sends another organization's message, or that orders a platform transfer task; every
legitimate publisher still publishes (the organization's own webhooks, the owner's and the
platform's transfer tasks). The first two are refused by the foreign keys, which name the
organization with the message and the endpoint (SQLSTATE 23503); the task by the guard's
trigger, which runs on task deliveries alone (SQLSTATE LXM01)."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

import ledger
from tests.support import acting, add_api_key

ORG_A = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
ORG_B = uuid.UUID("00000000-0000-0000-0000-0000000000b1")
PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")

TRANSFER = {
    "escrow_id": str(uuid.uuid4()),
    "org_id": str(ORG_A),
    "event_id": "evt",
    "amount": 100_000,
    "currency": "USD",
    "destination": "acct_attacker",
}


@pytest.fixture
def world(conn: sa.Connection) -> dict[str, uuid.UUID]:
    """Organizations A and B (and the platform) with API keys, and one endpoint each."""
    ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
    ledger.open_organization(conn, ORG_A, "Org A")
    ledger.open_organization(conn, ORG_B, "Org B")
    for org in (ORG_A, ORG_B, None):
        add_api_key(conn, org)
    endpoints = {}
    for name, org in (("a", ORG_A), ("b", ORG_B)):
        endpoints[name] = conn.execute(
            sa.text(
                "INSERT INTO messaging.endpoints (org_id, url)"
                " VALUES (:org, 'https://example.com/hook') RETURNING id"
            ),
            {"org": org},
        ).scalar_one()
    return endpoints


def _message(conn: sa.Connection, org: uuid.UUID, type: str = "order.paid") -> uuid.UUID:
    message_id = uuid.uuid4()
    conn.execute(
        sa.text(
            "INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,"
            " payload) VALUES (:id, :org, :type, 'x', '1', CAST(:payload AS jsonb))"
        ),
        {"id": message_id, "org": org, "type": type, "payload": json.dumps(TRANSFER)},
    )
    return message_id


def _delivery(
    conn: sa.Connection,
    message_id: uuid.UUID,
    org: uuid.UUID,
    channel: str,
    endpoint: uuid.UUID | None = None,
) -> int:
    recipient = "ann@example.com" if channel == "email" else None
    delivery_id: int = conn.execute(
        sa.text(
            "INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id,"
            " recipient, target, aggregate_key)"
            " VALUES (:m, :org, :channel, :endpoint, :recipient, 't', 'x:1') RETURNING id"
        ),
        {
            "m": message_id,
            "org": org,
            "channel": channel,
            "endpoint": endpoint,
            "recipient": recipient,
        },
    ).scalar_one()
    return delivery_id


def _sqlstate(error: sa.exc.DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None)


def test_a_delivery_to_another_organizations_endpoint_is_refused(
    conn: sa.Connection, world: dict[str, uuid.UUID]
) -> None:
    with acting(conn, ORG_A):
        mine = _message(conn, ORG_A)
        with pytest.raises(sa.exc.DBAPIError, match="deliveries_endpoint_id_fkey") as refused:
            _delivery(conn, mine, ORG_A, "webhook", world["b"])
        assert _sqlstate(refused.value) == "23503"
    assert conn.execute(sa.text("SELECT count(*) FROM messaging.deliveries")).scalar_one() == 0


def test_a_delivery_of_another_organizations_message_is_refused(
    conn: sa.Connection, world: dict[str, uuid.UUID]
) -> None:
    theirs = _message(conn, ORG_B)
    with acting(conn, ORG_A):
        # A webhook or an e-mail of theirs (the foreign key), and a task (the guard's
        # trigger, which runs before the key's check).
        for channel, endpoint, refusal, sqlstate in (
            ("webhook", world["a"], "deliveries_message_id_fkey", "23503"),
            ("email", None, "deliveries_message_id_fkey", "23503"),
            ("task", None, "delivery_org_mismatch", "LXM01"),
        ):
            nested = conn.begin_nested()
            with pytest.raises(sa.exc.DBAPIError, match=refusal) as refused:
                _delivery(conn, theirs, ORG_A, channel, endpoint)
            nested.rollback()
            assert _sqlstate(refused.value) == sqlstate
    assert conn.execute(sa.text("SELECT count(*) FROM messaging.deliveries")).scalar_one() == 0


@pytest.mark.parametrize(
    "task_type", ["stripe.transfer.requested", "stripe.transfer_reversal.requested"]
)
def test_an_organization_cannot_order_a_money_moving_task(
    conn: sa.Connection, world: dict[str, uuid.UUID], task_type: str
) -> None:
    with acting(conn, ORG_A):
        forged = _message(conn, ORG_A, task_type)
        with pytest.raises(sa.exc.DBAPIError, match="task_not_allowed") as refused:
            _delivery(conn, forged, ORG_A, "task")
        assert _sqlstate(refused.value) == "LXM01"
    assert conn.execute(sa.text("SELECT count(*) FROM messaging.deliveries")).scalar_one() == 0


def test_legitimate_deliveries_are_still_written(
    conn: sa.Connection, world: dict[str, uuid.UUID]
) -> None:
    with acting(conn, ORG_A):
        # The organization's own message to its own endpoint, and a task that moves no money.
        _delivery(conn, _message(conn, ORG_A), ORG_A, "webhook", world["a"])
        _delivery(conn, _message(conn, ORG_A, "stripe.refund.requested"), ORG_A, "task")
        assert conn.execute(sa.text("SELECT count(*) FROM messaging.deliveries")).scalar_one() == 2
    with acting(conn, None):
        # The platform's key (`POST /escrows/release-due`) orders a release's transfer.
        _delivery(conn, _message(conn, ORG_A, "stripe.transfer.requested"), ORG_A, "task")
    # The owner (the worker, the CLI) too.
    _delivery(conn, _message(conn, ORG_A, "stripe.transfer.requested"), ORG_A, "task")
    _delivery(conn, _message(conn, ORG_A, "stripe.transfer_reversal.requested"), ORG_A, "task")
    assert conn.execute(sa.text("SELECT count(*) FROM messaging.deliveries")).scalar_one() == 2
