"""A hold's life as events (issue 16 item 7): created, posted, voided and expired holds
publish `ledger.hold.*` through the outbox in the transaction that did it, once each (a
replay publishes nothing more), to the hold's organization's endpoints only; end to end, an
organizer's webhook receives a hold's creation then its expiry by `ledger.expire_holds`."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

import ledger
import outbox
from liventix.testing.rollback import RolledBack
from liventix.testing.servers import Receiver, always
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn
from tests.outbox_core.support import FAST, LOOPBACK, drain

HOLD_TYPES = [
    "ledger.hold.created",
    "ledger.hold.posted",
    "ledger.hold.voided",
    "ledger.hold.expired",
]


def _hold(
    conn: sa.Connection, key: str, debit: uuid.UUID, credit: uuid.UUID, **kw: object
) -> uuid.UUID:
    return ledger.create_hold(
        conn,
        ORG_A,
        ledger.CreateHold(
            idempotency_key=key,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=300,
            currency="USD",
            **kw,  # type: ignore[arg-type]
        ),
    ).id


def _messages(conn: sa.Connection, hold: uuid.UUID) -> list[tuple[str, dict[str, object]]]:
    rows = conn.execute(
        sa.text(
            "SELECT type, payload FROM messaging.messages WHERE aggregate_type = 'hold'"
            " AND aggregate_id = :id ORDER BY created_at, type <> 'ledger.hold.created'"
        ),
        {"id": str(hold)},
    ).all()
    return [(r.type, r.payload) for r in rows]


def test_each_step_of_a_hold_publishes_once_to_its_organization(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    wallet = open_account(ORG_A, "wallet", "liability")
    with db.begin() as conn:
        mine, _ = outbox.register_endpoint(conn, ORG_A, "https://hooks.example.com/a", HOLD_TYPES)
        outbox.register_endpoint(conn, ORG_B, "https://hooks.example.com/b")
        posted = _hold(conn, "h1", wallet, cash)
        voided = _hold(conn, "h2", wallet, cash)
        entry = ledger.post_hold(
            conn, ORG_A, ledger.PostHold(idempotency_key="p1", hold_id=posted, amount=200)
        ).id
        ledger.void_hold(conn, ORG_A, ledger.VoidHold(idempotency_key="v1", hold_id=voided))
        ledger.void_hold(conn, ORG_A, ledger.VoidHold(idempotency_key="v1", hold_id=voided))
        first = _messages(conn, posted)
        second = _messages(conn, voided)
        assert [t for t, _ in first] == ["ledger.hold.created", "ledger.hold.posted"]
        assert [t for t, _ in second] == ["ledger.hold.created", "ledger.hold.voided"]
        done = first[1][1]
        assert (done["status"], done["posted_amount"], done["entry_id"]) == (
            "posted",
            200,
            str(entry),
        )
        assert (done["amount"], done["currency"], done["org_id"]) == (300, "USD", str(ORG_A))
        assert ledger.HoldEvent.model_validate(done).hold_id == str(posted)
        deliveries = conn.execute(
            sa.text(
                "SELECT d.endpoint_id, m.type FROM messaging.deliveries d"
                " JOIN messaging.messages m ON m.id = d.message_id"
                " WHERE m.aggregate_type = 'hold' ORDER BY d.id"
            )
        ).all()
        # Every delivery is to organization A's endpoint (B's wants every type, yet sees none).
        assert {d.endpoint_id for d in deliveries} == {mine}
        assert len(deliveries) == 4


def test_an_organizers_webhook_follows_a_hold_to_its_expiry(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    wallet = open_account(ORG_A, "wallet", "liability")
    receiver = Receiver()
    receiver.policy = always(200, body=b"ok")
    receiver.start()
    worker = outbox.Worker(engine, FAST, name="hold-events")
    try:
        with engine.begin() as conn:
            outbox.register_endpoint(
                conn,
                ORG_A,
                receiver.url_for("/holds"),
                ["ledger.hold.created", "ledger.hold.expired"],
                allow=LOOPBACK,
            )
            expires = datetime.now(UTC) + timedelta(milliseconds=300)
            hold = _hold(conn, "soon", wallet, cash, expires_at=expires)
        while True:  # until the database's clock has passed the expiry
            with engine.begin() as conn:
                if ledger.expire_holds(conn) == 1:
                    break
            time.sleep(0.05)
        drain(worker, lambda: len(receiver.received()) >= 2, 30, "the hold's two webhooks")
        bodies = [h.envelope() for h in receiver.received()]
        assert [b["type"] for b in bodies] == ["ledger.hold.created", "ledger.hold.expired"]
        assert {b["data"]["hold_id"] for b in bodies} == {str(hold)}
        assert bodies[1]["data"]["status"] == "expired"
        with engine.begin() as conn:
            assert ledger.get_hold(conn, hold).status == "expired"
    finally:
        worker.stop()
        worker.close()
        receiver.close()
