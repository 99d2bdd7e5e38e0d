"""The outbox's two indexes whose form session 34 weighed still serve their readers.

`messaging.deliveries_endpoint` is partial (`WHERE endpoint_id IS NOT NULL`: an e-mail's or a
task's delivery has no entry): every query of it names an endpoint, which implies the
predicate. `messaging.messages_created` is a B-tree (a block range index, tried in session
34, would read the refilled pages of pruned ranges at every prune): the pruning's
`created_at < now() - retention` is its one reader. The endpoint's index is the plan's
choice when a sequential scan is ruled out (a plan that cannot use it would fall back to one);
the pruning's is judged by its definition (see its test).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa


def _plan(conn: sa.Connection, statement: str, **params: object) -> str:
    conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
    lines = conn.execute(sa.text(f"EXPLAIN {statement}"), params).scalars()
    return "\n".join(lines)


def test_an_endpoints_deliveries_are_found_by_its_index(conn: sa.Connection) -> None:
    # As the API's delivery log and the endpoint's disabling and requeue name it.
    for statement in (
        "SELECT d.id FROM messaging.deliveries d WHERE d.endpoint_id = :e"
        " ORDER BY d.id DESC LIMIT 20",
        "UPDATE messaging.deliveries SET status = 'cancelled'"
        " WHERE endpoint_id = :e AND status IN ('pending', 'delivering')",
    ):
        assert "deliveries_endpoint" in _plan(conn, statement, e=uuid.uuid4())


def test_the_prunings_index_is_a_btree_on_the_message_time(conn: sa.Connection) -> None:
    # outbox.prune's `created_at < now() - retention`: an ordered index on created_at alone.
    # (Not the plan: on the shared rolled-back database the messages table's statistics are
    # whatever other tests left, and with few rows any index ties; the CI of 9ad64a6 and
    # 8d63449 saw another chosen.)
    definition = conn.execute(
        sa.text("SELECT pg_get_indexdef('messaging.messages_created'::regclass)")
    ).scalar_one()
    assert definition.endswith("ON messaging.messages USING btree (created_at)")
