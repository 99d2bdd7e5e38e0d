"""Workers as real OS processes (`python -m liventix worker`) against a real HTTP receiver:
at-least-once under SIGKILL mid-batch, per-aggregate order with four concurrent workers and a
receiver that sometimes fails, SIGTERM finishing the batch in flight, and the requeue command.
"""

from __future__ import annotations

import signal
import zlib
from collections import defaultdict

import sqlalchemy as sa

import outbox
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    MakeWorker,
    Receiver,
    Reply,
    Request,
    SpawnWorker,
    all_succeeded,
    always,
    drain,
    fast_retry,
    publish_step,
    rows,
    run_cli,
    scalar,
    statuses,
    wait_until,
)


def test_at_least_once_when_a_worker_is_killed_mid_batch(
    engine: sa.Engine, receiver: Receiver, spawn_worker: SpawnWorker
) -> None:
    total = 200
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
        published = {str(publish_step(conn, f"agg-{i}", 1)): i for i in range(total)}
    receiver.policy = always(200, delay=0.05)  # slow: a batch takes a while to send
    args = ("--poll", "0.1", "--lease", "2", "--batch-size", "100", "--concurrency", "8")

    first = spawn_worker(*args)
    first.wait_ready()
    # A batch of 100 at 8 at a time takes ~0.65 s; the first 10 requests are well inside it.
    wait_until(lambda: receiver.count >= 10, 20, "the first worker's requests")
    first.signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    assert receiver.count < total
    # The killed worker's claims are still leased: nothing it held is lost, only late.
    assert statuses(engine)["delivering"] > 0

    second = spawn_worker(*args)
    second.wait_ready()
    wait_until(all_succeeded(engine, total), 30, "every delivery to succeed")

    requests = receiver.requests
    by_id: dict[str, list[Request]] = defaultdict(list)
    for request in requests:
        by_id[request.webhook_id].append(request)
    # Every message arrived, at least once; a repeat is the same message under the same id.
    assert set(by_id) == set(published)
    for webhook_id, seen in by_id.items():
        assert {r.body for r in seen} == {seen[0].body}
        assert seen[0].envelope()["data"] == {"aggregate": f"agg-{published[webhook_id]}", "seq": 1}
    repeated = {i for i, seen in by_id.items() if len(seen) > 1}
    # The kill landed mid-batch: what the first worker sent was not recorded, so it was sent
    # again.
    assert repeated
    assert len(requests) > total
    # The database agrees: a repeated message's delivery was claimed twice, and succeeded
    # once.
    claimed_twice = {
        str(r.message_id)
        for r in rows(engine, "SELECT message_id FROM messaging.deliveries WHERE attempts > 1")
    }
    assert repeated <= claimed_twice
    assert scalar(engine, "SELECT count(*) FROM messaging.attempts WHERE succeeded") == total
    assert receiver.overlaps == []


def test_four_worker_processes_keep_each_aggregate_in_order(
    engine: sa.Engine, receiver: Receiver, spawn_worker: SpawnWorker
) -> None:
    aggregates, per_aggregate = 20, 5
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for("/one"), ["test.step"], allow=LOOPBACK)
        outbox.register_endpoint(conn, ORG, receiver.url_for("/two"), ["test.step"], allow=LOOPBACK)

    def policy(path: str, webhook_id: str, try_no: int) -> Reply:
        # About one first try in ten fails, differently on each endpoint.
        unlucky = try_no == 1 and zlib.crc32(f"{path}{webhook_id}".encode()) % 10 == 0
        return Reply(500 if unlucky else 200, delay=0.005)

    receiver.policy = policy
    args = (
        "--poll",
        "0.05",
        "--batch-size",
        "5",
        "--concurrency",
        "4",
        "--retry-schedule",
        ",".join(["0.05"] * 8),
    )
    workers = [spawn_worker(*args) for _ in range(4)]
    for worker in workers:
        worker.wait_ready()

    # Publish while the workers run: round k adds message k of every aggregate.
    for seq in range(per_aggregate):
        with engine.begin() as conn:
            for a in range(aggregates):
                publish_step(conn, f"agg-{a}", seq)
    expected = aggregates * per_aggregate * 2
    wait_until(all_succeeded(engine, expected), 40, "every delivery to succeed")

    requests = receiver.requests
    assert any(r.status == 500 for r in requests), "the receiver never failed"
    streams: dict[tuple[str, str], list[Request]] = defaultdict(list)
    for request in requests:
        data = request.envelope()["data"]
        streams[(request.path, data["aggregate"])].append(request)
    assert len(streams) == aggregates * 2
    for key, stream in streams.items():
        seqs = [r.envelope()["data"]["seq"] for r in stream]
        # Seen in publish order: a message is first sent only after the previous one's.
        assert sorted(seqs) == seqs, key
        assert sorted(set(seqs)) == list(range(per_aggregate)), key
        # And only once the previous message's successful reply had been written.
        last_success_done: int | None = None
        for seq in range(per_aggregate):
            tries = [r for r in stream if r.envelope()["data"]["seq"] == seq]
            if last_success_done is not None:
                assert all(r.seq > last_success_done for r in tries), (key, seq)
            [success] = [r for r in tries if r.status == 200]
            last_success_done = receiver.finished_at(success)
            assert last_success_done is not None
    assert receiver.overlaps == []
    # Every request made was recorded as an attempt; the work was shared.
    assert scalar(engine, "SELECT count(*) FROM messaging.attempts") == len(requests)
    assert scalar(engine, "SELECT count(DISTINCT worker) FROM messaging.attempts") > 1

    for worker in workers:
        worker.signal(signal.SIGTERM)
    assert [worker.wait(15) for worker in workers] == [0, 0, 0, 0]


def test_sigterm_finishes_the_batch_in_flight_and_exits_cleanly(
    engine: sa.Engine, receiver: Receiver, spawn_worker: SpawnWorker
) -> None:
    batch, total = 20, 60
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
        for i in range(total):
            publish_step(conn, f"agg-{i}", 1)
    receiver.policy = always(200, delay=0.1)  # 20 at 2 at a time: ~1 s per batch
    worker = spawn_worker("--batch-size", str(batch), "--concurrency", "2", "--poll", "0.1")
    worker.wait_ready()
    wait_until(lambda: receiver.count >= 2, 20, "the batch to be in flight")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.text()
    assert "stopped" in worker.text()

    # The batch in flight (the first, unless this process was slow to send the signal) was
    # finished and recorded; nothing was left leased; the rest was never touched.
    done = statuses(engine)
    assert done["succeeded"] % batch == 0 and 0 < done["succeeded"] < total
    assert done == {"succeeded": done["succeeded"], "pending": total - done["succeeded"]}
    leased = "SELECT count(*) FROM messaging.deliveries WHERE lease_expires_at IS NOT NULL"
    assert scalar(engine, leased) == 0
    untouched = (
        "SELECT count(*) FROM messaging.deliveries WHERE status = 'pending' AND attempts = 0"
    )
    assert scalar(engine, untouched) == total - done["succeeded"]
    assert receiver.count == done["succeeded"]
    assert len({r.webhook_id for r in receiver.requests}) == done["succeeded"]
    assert scalar(engine, "SELECT count(*) FROM messaging.attempts") == done["succeeded"]


def test_the_requeue_command_brings_dead_deliveries_back(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker, cli_env: dict[str, str]
) -> None:
    with engine.begin() as conn:
        first, _ = outbox.register_endpoint(conn, ORG, receiver.url_for("/first"), allow=LOOPBACK)
        second, _ = outbox.register_endpoint(conn, ORG, receiver.url_for("/second"), allow=LOOPBACK)
        publish_step(conn, "a", 1)
        publish_step(conn, "b", 1)
    receiver.policy = always(500)
    worker = make_worker(retry=fast_retry(0.05))
    drain(worker, lambda: statuses(engine) == {"dead": 4}, 10, "every delivery to die")
    receiver.policy = always(200)
    one = scalar(
        engine, "SELECT min(id) FROM messaging.deliveries WHERE endpoint_id = :e", e=second
    )

    assert "requeued 1 delivery(ies)" in run_cli(
        cli_env, "outbox", "requeue", "--delivery", str(one)
    )
    assert statuses(engine) == {"dead": 3, "pending": 1}
    assert "requeued 2 delivery(ies)" in run_cli(
        cli_env, "outbox", "requeue", "--endpoint", str(first)
    )
    assert statuses(engine) == {"dead": 1, "pending": 3}
    # With no option, every dead delivery (the python API's default, tested with it).
    with engine.begin() as conn:
        assert outbox.requeue(conn) == 1
    assert statuses(engine) == {"pending": 4}
    assert scalar(engine, "SELECT max(attempts) FROM messaging.deliveries") == 0
    drain(worker, all_succeeded(engine, 4), 10, "the requeued deliveries")
    assert sum(r.status == 200 for r in receiver.requests) == 4
