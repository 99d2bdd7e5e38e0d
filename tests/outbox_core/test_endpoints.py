"""Endpoint health: a 410 disables the endpoint at once, and so does failing without a
success for longer than the configured period; either way its open deliveries are cancelled
and an `endpoint.disabled` message goes to the organization's other endpoints."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

import outbox
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    MakeWorker,
    Receiver,
    Reply,
    drain,
    fast_retry,
    publish_step,
    rows,
    scalar,
)


def _endpoint(engine: sa.Engine, endpoint_id: uuid.UUID) -> outbox.Endpoint:
    with engine.connect() as conn:
        return outbox.get_endpoint(conn, endpoint_id)


def _disabled_notices(receiver: Receiver) -> list[dict[str, object]]:
    return [
        r.envelope()
        for r in receiver.requests
        if r.path == "/ops" and r.envelope()["type"] == "endpoint.disabled"
    ]


def test_410_disables_the_endpoint_cancels_its_deliveries_and_tells_the_org(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        gone, _ = outbox.register_endpoint(
            conn, ORG, receiver.url_for("/gone"), ["test.step"], allow=LOOPBACK
        )
        outbox.register_endpoint(
            conn, ORG, receiver.url_for("/ops"), ["endpoint.disabled"], allow=LOOPBACK
        )
        publish_step(conn, "a", 1)
        publish_step(conn, "a", 2)  # waits behind a:1
        publish_step(conn, "b", 1)
    receiver.policy = lambda path, webhook_id, try_no: Reply(410 if path == "/gone" else 200)
    worker = make_worker()
    # One round claims a:1 and b:1 (a:2 waits for a:1), both answered 410.
    assert worker.deliver_once() == 2

    endpoint = _endpoint(engine, gone)
    assert not endpoint.enabled
    assert endpoint.disabled_reason is not None and "410" in endpoint.disabled_reason
    left = rows(
        engine,
        "SELECT status, last_error FROM messaging.deliveries WHERE endpoint_id = :e",
        e=gone,
    )
    assert [r.status for r in left] == ["cancelled"] * 3
    assert all("endpoint disabled" in r.last_error for r in left)
    notice = rows(
        engine,
        """SELECT org_id, aggregate_type, aggregate_id, payload FROM messaging.messages
            WHERE type = 'endpoint.disabled'""",
    )
    assert len(notice) == 1
    assert (notice[0].org_id, notice[0].aggregate_type) == (ORG, "endpoint")
    assert notice[0].aggregate_id == str(gone)
    assert notice[0].payload["endpoint_id"] == str(gone)
    assert notice[0].payload["url"] == receiver.url_for("/gone")

    drain(worker, lambda: len(_disabled_notices(receiver)) == 1, 10, "the notice")
    [envelope] = _disabled_notices(receiver)
    assert envelope["data"] == notice[0].payload
    # The disabled endpoint got nothing more, and new messages no longer fan out to it.
    assert sum(r.path == "/gone" for r in receiver.requests) == 2
    with engine.begin() as conn:
        publish_step(conn, "c", 1)
    assert scalar(engine, "SELECT count(*) FROM messaging.deliveries WHERE status = 'pending'") == 0


def test_failing_without_success_for_the_period_disables_the_endpoint(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        failing, _ = outbox.register_endpoint(
            conn, ORG, receiver.url_for("/down"), ["test.step"], allow=LOOPBACK
        )
        outbox.register_endpoint(
            conn, ORG, receiver.url_for("/ops"), ["endpoint.disabled"], allow=LOOPBACK
        )
        publish_step(conn, "a", 1)
    receiver.policy = lambda path, webhook_id, try_no: Reply(500 if path == "/down" else 200)
    worker = make_worker(retry=fast_retry(*[0.05] * 40), disable_after=timedelta(milliseconds=300))
    drain(worker, lambda: len(_disabled_notices(receiver)) == 1, 10, "the endpoint's notice")

    endpoint = _endpoint(engine, failing)
    assert not endpoint.enabled
    assert endpoint.disabled_reason is not None and "no success" in endpoint.disabled_reason
    status = "SELECT status FROM messaging.deliveries WHERE endpoint_id = :e"
    assert scalar(engine, status, e=failing) == "cancelled"
    # It kept trying during the period (more than one attempt), then stopped.
    tries = sum(r.path == "/down" for r in receiver.requests)
    assert tries > 1
    worker.run_once()
    assert sum(r.path == "/down" for r in receiver.requests) == tries


def test_a_success_resets_the_failing_period(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        flaky, _ = outbox.register_endpoint(
            conn, ORG, receiver.url_for("/flaky"), ["test.step"], allow=LOOPBACK
        )
        publish_step(conn, "a", 1)
    receiver.policy = lambda path, webhook_id, try_no: Reply(500 if try_no == 1 else 200)
    worker = make_worker(retry=fast_retry(0.05), disable_after=timedelta(hours=1))
    assert worker.deliver_once() == 1
    assert _endpoint(engine, flaky).failing_since is not None
    drain(
        worker,
        lambda: scalar(engine, "SELECT status FROM messaging.deliveries") == "succeeded",
        10,
        "the retry to succeed",
    )
    endpoint = _endpoint(engine, flaky)
    assert endpoint.enabled and endpoint.failing_since is None


def test_re_enabling_an_endpoint_lets_new_messages_through(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        endpoint_id, _ = outbox.register_endpoint(
            conn, ORG, receiver.url_for(), ["test.step"], allow=LOOPBACK
        )
        outbox.set_enabled(conn, endpoint_id, False, "maintenance")
        publish_step(conn, "a", 1)
        outbox.set_enabled(conn, endpoint_id, True)
        publish_step(conn, "a", 2)
    worker = make_worker()
    drain(worker, lambda: receiver.count == 1, 10, "the delivery")
    assert receiver.requests[0].envelope()["data"] == {"aggregate": "a", "seq": 2}


def test_a_failing_endpoint_does_not_hold_back_another_endpoints_deliveries(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(
            conn, ORG, receiver.url_for("/down"), ["test.step"], allow=LOOPBACK
        )
        outbox.register_endpoint(conn, ORG, receiver.url_for("/up"), ["test.step"], allow=LOOPBACK)
        for seq in range(3):
            publish_step(conn, "a", seq)
    receiver.policy = lambda path, webhook_id, try_no: Reply(500 if path == "/down" else 200)
    worker = make_worker(retry=fast_retry(60))
    drain(
        worker,
        lambda: sum(r.path == "/up" for r in receiver.requests) == 3,
        10,
        "the healthy endpoint's deliveries",
    )
    up = [r.envelope()["data"]["seq"] for r in receiver.requests if r.path == "/up"]
    down = [r.envelope()["data"]["seq"] for r in receiver.requests if r.path == "/down"]
    assert up == [0, 1, 2]
    # The failing endpoint's queue for the aggregate waits behind its first message.
    assert down == [0]


def test_a_dead_delivery_no_longer_holds_back_the_next_one_of_its_aggregate(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
        first = str(publish_step(conn, "a", 0))
        publish_step(conn, "a", 1)
    receiver.policy = lambda path, webhook_id, try_no: Reply(500 if webhook_id == first else 200)
    worker = make_worker(retry=fast_retry(0.05))
    drain(worker, lambda: receiver.count == 3, 10, "the second message")
    assert [r.envelope()["data"]["seq"] for r in receiver.requests] == [0, 0, 1]
    got = rows(engine, "SELECT status FROM messaging.deliveries ORDER BY id")
    assert [r.status for r in got] == ["dead", "succeeded"]
