"""The outbox's two indexes whose form session 34 weighed still serve their readers.

`messaging.deliveries_endpoint` is partial (`WHERE endpoint_id IS NOT NULL`: an e-mail's or a
task's delivery has no entry): every query of it names an endpoint, which implies the
predicate. `messaging.messages_created` is a B-tree (a block range index, tried in session
34, would read the refilled pages of pruned ranges at every prune): the pruning's
`created_at < now() - retention` is its one reader. Each is the plan's choice when a
sequential scan is ruled out (a plan that cannot use the index would fall back to one).
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


def test_the_prunings_old_messages_are_found_by_their_index(conn: sa.Connection) -> None:
    # outbox.prune's statement.
    plan = _plan(
        conn,
        "DELETE FROM messaging.messages m WHERE m.created_at < now() - interval '7 days'"
        " AND NOT EXISTS (SELECT FROM messaging.deliveries d"
        " WHERE d.message_id = m.id AND d.status <> 'succeeded')",
    )
    assert "messages_created" in plan
    kind = conn.execute(
        sa.text(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam"
            " WHERE c.oid = 'messaging.messages_created'::regclass"
        )
    ).scalar_one()
    assert kind == "btree"
