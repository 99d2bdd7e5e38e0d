"""Publishing on the caller's transaction: nothing leaves before commit, the fan-out reaches
exactly the organization's enabled endpoints that want the type, a deduplication key writes
one message, and pruning removes old delivered messages while keeping dead ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import outbox
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    OTHER_ORG,
    MakeWorker,
    Receiver,
    Reply,
    Step,
    fast_retry,
    publish_step,
    rows,
    scalar,
    statuses,
)


def test_nothing_is_sent_before_commit(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
    worker = make_worker()
    with engine.connect() as conn:
        message_id = publish_step(conn, "a", 1)
        # The transaction is open: another session (the worker's) sees nothing to send.
        assert worker.run_once() == 0
        assert receiver.requests == []
        conn.commit()
    assert worker.run_once() == 1
    assert [r.webhook_id for r in receiver.requests] == [str(message_id)]


def test_fan_out_reaches_the_enabled_endpoints_of_the_org_that_want_the_type(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        wants_it, _ = outbox.register_endpoint(
            conn, ORG, "http://127.0.0.1:9/a", ["test.step"], allow=LOOPBACK
        )
        wants_all, _ = outbox.register_endpoint(conn, ORG, "http://127.0.0.1:9/b", allow=LOOPBACK)
        outbox.register_endpoint(
            conn, ORG, "http://127.0.0.1:9/c", ["test.ticket_issued"], allow=LOOPBACK
        )
        disabled, _ = outbox.register_endpoint(conn, ORG, "http://127.0.0.1:9/d", allow=LOOPBACK)
        outbox.set_enabled(conn, disabled, False, "paused")
        outbox.register_endpoint(conn, OTHER_ORG, "http://127.0.0.1:9/e", allow=LOOPBACK)
    with engine.begin() as conn:
        message_id = publish_step(conn, "a", 1)
    got = rows(engine, "SELECT message_id, endpoint_id, channel FROM messaging.deliveries")
    assert sorted((r.endpoint_id for r in got), key=str) == sorted([wants_it, wants_all], key=str)
    assert {(r.message_id, r.channel) for r in got} == {(message_id, "webhook")}


def test_every_message_is_an_organizations(engine: sa.Engine) -> None:
    # The outbox is distributed by organization (docs/scaling.md): a message of none (the
    # platform's are the platform organization's) is refused, and nothing is written.
    with pytest.raises(sa.exc.IntegrityError, match="org_id"), engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, "http://127.0.0.1:9/a", allow=LOOPBACK)
        publish_step(conn, "a", 1, org_id=None)
    assert scalar(engine, "SELECT count(*) FROM messaging.messages") == 0
    assert scalar(engine, "SELECT count(*) FROM messaging.deliveries") == 0


def test_the_sql_face_refuses_a_message_of_no_organization(engine: sa.Engine) -> None:
    """messaging.publish (the ledger's triggers' door) refuses NULL, typed (LXM02), and
    writes nothing; it used to return NULL having written nothing, in silence."""
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, "http://127.0.0.1:9/a", allow=LOOPBACK)
    call = sa.text(
        "SELECT messaging.publish(CAST(:org AS uuid), 'test.step', 'step', 'a',"
        " CAST('{}' AS jsonb))"
    )
    with pytest.raises(sa.exc.DBAPIError) as refused, engine.begin() as conn:
        conn.execute(call, {"org": None})
    assert getattr(refused.value.orig, "sqlstate", None) == "LXM02"
    assert "message_without_organization" in str(refused.value)
    assert scalar(engine, "SELECT count(*) FROM messaging.messages") == 0
    with engine.begin() as conn:
        assert conn.execute(call, {"org": ORG}).scalar_one() is not None
    assert scalar(engine, "SELECT count(*) FROM messaging.deliveries") == 1


def test_publishing_twice_with_one_dedup_key_writes_one_message(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, "http://127.0.0.1:9/a", allow=LOOPBACK)
    with engine.begin() as conn:
        first = publish_step(conn, "a", 1, dedup_key="order-7:paid")
    with engine.begin() as conn:
        second = publish_step(conn, "a", 1, dedup_key="order-7:paid")
        # The same key twice in one transaction is deduplicated as well.
        third = publish_step(conn, "a", 1, dedup_key="order-7:paid")
    with engine.begin() as conn:
        other = publish_step(conn, "a", 2, dedup_key="order-7:refunded")
    assert first == second == third
    assert other != first
    assert scalar(engine, "SELECT count(*) FROM messaging.messages") == 2
    per_message = rows(
        engine,
        "SELECT message_id, count(*) AS n FROM messaging.deliveries GROUP BY message_id",
    )
    assert {(r.message_id, r.n) for r in per_message} == {(first, 1), (other, 1)}


def test_a_dedup_key_is_scoped_to_its_organization(engine: sa.Engine) -> None:
    # Two organizations may well use the same key ("order-1:paid"): one's message must not
    # swallow the other's, nor hand it the other organization's message id.
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, "http://127.0.0.1:9/a", allow=LOOPBACK)
        other_endpoint, _ = outbox.register_endpoint(
            conn, OTHER_ORG, "http://127.0.0.1:9/b", allow=LOOPBACK
        )
        mine = publish_step(conn, "a", 1, dedup_key="order-1:paid")
    with engine.begin() as conn:
        theirs = publish_step(conn, "a", 1, org_id=OTHER_ORG, dedup_key="order-1:paid")
    assert theirs != mine
    [delivery] = rows(
        engine,
        "SELECT message_id FROM messaging.deliveries WHERE endpoint_id = :e",
        e=other_endpoint,
    )
    assert delivery.message_id == theirs
    with engine.begin() as conn:
        assert publish_step(conn, "a", 1, org_id=OTHER_ORG, dedup_key="order-1:paid") == theirs


def test_a_dedup_key_used_by_another_org_does_not_break_publishing_under_rls(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        publish_step(conn, "a", 1, dedup_key="order-1:paid")
    # The tenant's own role, as the application runs: row-level security hides the other
    # organization's message.
    with engine.begin() as conn:
        # Proven as the owner does for a worker (payments.act_for), then as the app's role.
        conn.execute(sa.text("SELECT payments.act_for(CAST(:org AS uuid))"), {"org": OTHER_ORG})
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        theirs = publish_step(conn, "a", 1, org_id=OTHER_ORG, dedup_key="order-1:paid")
        again = publish_step(conn, "a", 1, org_id=OTHER_ORG, dedup_key="order-1:paid")
    assert theirs == again
    assert (
        scalar(engine, "SELECT org_id FROM messaging.messages WHERE id = :id", id=theirs)
        == OTHER_ORG
    )


def test_publish_refuses_an_unregistered_type_or_a_wrong_payload(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(outbox.UnknownMessageType):
            outbox.publish(
                conn,
                type="test.never_registered",
                payload=Step(aggregate="a", seq=1),
                aggregate_type="step",
                aggregate_id="a",
                org_id=ORG,
            )
        with pytest.raises(outbox.InvalidPayload):
            outbox.publish(
                conn,
                type="test.ticket_issued",
                payload=Step(aggregate="a", seq=1),
                aggregate_type="step",
                aggregate_id="a",
                org_id=ORG,
            )
    assert scalar(engine, "SELECT count(*) FROM messaging.messages") == 0


def test_prune_removes_old_delivered_messages_and_keeps_dead_and_open_ones(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for("/ok"), ["test.step"], allow=LOOPBACK)
        fails, _ = outbox.register_endpoint(
            conn, OTHER_ORG, receiver.url_for("/fails"), ["test.step"], allow=LOOPBACK
        )
        old_delivered = publish_step(conn, "delivered", 1)
        old_dead = publish_step(conn, "dead", 1, org_id=OTHER_ORG)
        recent_delivered = publish_step(conn, "recent", 1)
    receiver.policy = lambda path, webhook_id, try_no: Reply(500 if path == "/fails" else 200)
    # No retries: the failing delivery is dead after its first attempt.
    worker = make_worker(retry=fast_retry(), retention=timedelta(days=7), prune_every=0.0)
    assert worker.deliver_once() == 3
    assert statuses(engine) == {"succeeded": 2, "dead": 1}
    with engine.begin() as conn:
        old_pending = publish_step(conn, "pending", 1)
        conn.execute(
            sa.text("""UPDATE messaging.messages SET created_at = now() - interval '10 days'
                        WHERE id = ANY (:ids)"""),
            {"ids": [old_delivered, old_dead, old_pending]},
        )
    with engine.begin() as conn:
        assert outbox.prune(conn, timedelta(days=30)) == 0
        assert outbox.prune(conn, timedelta(days=7)) == 1
    left = set(rows(engine, "SELECT id FROM messaging.messages"))
    assert {r.id for r in left} == {old_dead, recent_delivered, old_pending}
    # The pruned message's deliveries and attempts went with it.
    assert scalar(engine, "SELECT count(*) FROM messaging.deliveries") == 3
    assert scalar(engine, "SELECT count(*) FROM messaging.attempts") == 2
    dead = "SELECT status FROM messaging.deliveries WHERE endpoint_id = :e"
    assert scalar(engine, dead, e=fails) == "dead"


def test_a_fresh_worker_prunes_in_its_first_round_then_waits_prune_every(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
        ids = [publish_step(conn, f"a{i}", 1) for i in range(3)]
    # A long period: the first prune must not depend on how long the machine has been up.
    worker = make_worker(retention=timedelta(hours=1), prune_every=10 * 365 * 86400.0)
    assert worker.deliver_once() == 3
    with engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE messaging.messages SET created_at = now() - interval '2 hours'
                        WHERE id = ANY (:ids)"""),
            {"ids": ids[:2]},
        )
    assert worker.prune_if_due() == 2
    # Not due again before `prune_every` has passed.
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE messaging.messages SET created_at = now() - interval '2 hours'")
        )
    assert worker.prune_if_due() == 0
    assert {r.id for r in rows(engine, "SELECT id FROM messaging.messages")} == {ids[2]}
