"""The references' checks (`ticketing.tickets_references`, `messaging.deliveries_references`)
look up each reference by its row's key, whatever the statistics say (issue 11, session 37).

A session keeps the plans it builds. Built on a fresh database (no ANALYZE: an on-sale's first
minute, a benchmark's fresh database), the tickets' check read the order by orders_key
(org_id, idempotency_key), or hashed it (a hashed SubPlan: every order of the organization
read at every hold), and the ticket types by a table scan; the deliveries' check hashed the
messages by messages_created and the endpoints by a table scan (every organization's). Each
check here runs on one session of a fresh database, on the usual case (the transaction's own
order or message) and the full check (rows of earlier transactions, locked FOR KEY SHARE),
and every scan of the referenced tables in the check's statements (auto_explain, nested,
analysed) must be a probe of the row's key (the index named, its condition on the id), its
filter removing at most the one row the key found (an earlier transaction's, for the lookup
that needs no lock). The checks as they were (the organization compared as a plain
equality, the message's moment by `=`, no setting) fail the same test, so it can fail.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.ticketing_core.support import World, open_world

# The keys a lookup may probe, by table: their leading column is the row's id.
_KEYS = {
    "orders": {"orders_pkey"},
    "ticket_types": {"ticket_types_pkey", "ticket_types_event_key"},
    "tickets": {"tickets_pkey"},
    "messages": {"messages_pkey"},
    "endpoints": {"endpoints_pkey"},
}
_EXPLAIN = (
    "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
    " SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on;"
    " SET auto_explain.log_timing = off; SET auto_explain.log_format = json;"
    " SET auto_explain.log_level = notice"
)
_HOLD = (
    "SELECT hold_expires_at FROM ticketing.hold_checkout(1, :type, :event, 2500, :order, :org,"
    " 'ann@example.com', 'EUR', 2500, '600 seconds', :key, 'h', ARRAY[:key]::text[])"
)
_PUBLISH = (
    "WITH m AS (INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,"
    " payload) VALUES (:message, :org, 'order.paid', 'order', 'a', '{}') RETURNING id)"
    " INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, recipient,"
    " target, aggregate_key)"
    " SELECT m.id, :org, c.channel, c.endpoint, c.recipient, 't', 'k'"
    " FROM m, (VALUES ('email', NULL, 'ann@example.com'), ('webhook', CAST(:endpoint AS uuid),"
    " NULL)) AS c (channel, endpoint, recipient)"
)
# A delivery of a message of an earlier transaction: the full check, its lock.
_DELIVER = (
    "INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, target,"
    " aggregate_key) VALUES (:message, :org, 'webhook', :endpoint, 't', 'k')"
)
# A ticket of an order of an earlier transaction, replacing a ticket: the full check, its locks.
_REPLACE = (
    "INSERT INTO ticketing.tickets (order_id, org_id, event_id, ticket_type_id, code,"
    " holder_email, price, replaces)"
    " SELECT order_id, org_id, event_id, ticket_type_id, code || '-2', holder_email, price, id"
    " FROM ticketing.tickets WHERE order_id = :order"
)
_ROUNDS = 40


class Explained:
    """One session of its own, explaining every statement it runs, nested ones too."""

    def __init__(self, engine: sa.Engine) -> None:
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._plans: list[dict[str, Any]] = []
        raw: Any = self.conn.connection.dbapi_connection
        raw.add_notice_handler(self._notice)
        self._explaining = False

    def _notice(self, diag: Any) -> None:
        text = diag.message_primary or ""
        if self._explaining and "plan:" in text:
            self._plans.append(json.loads(text.split("plan:", 1)[1]))

    def run(self, statement: str, values: dict[str, Any]) -> None:
        self.conn.execute(sa.text(statement), values)

    def explained(self, statement: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        """The plans of `statement`'s statements, nested ones included."""
        self.conn.exec_driver_sql(_EXPLAIN)
        self._plans, self._explaining = [], True
        try:
            self.conn.execute(sa.text(statement), values)
        finally:
            self._explaining = False
            self.conn.exec_driver_sql("SET auto_explain.log_min_duration = -1")
        return self._plans


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _walk(child)


def lookups(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scans of the referenced tables by the checks' statements (those reading the
    statement's rows, `added`)."""
    return [
        node
        for plan in plans
        if "FROM added" in plan["Query Text"]
        for node in _walk(plan["Plan"])
        if node.get("Relation Name") in _KEYS
    ]


def astray(scans: list[dict[str, Any]]) -> list[str]:
    """The scans that are not a probe of their row's key (an index scan, or a bitmap scan of
    one index), described."""
    wrong = []
    for scan in scans:
        table, probe = scan["Relation Name"], scan
        if scan["Node Type"] == "Bitmap Heap Scan" and len(scan["Plans"]) == 1:
            probe = scan["Plans"][0]  # the Bitmap Index Scan
        index, cond = probe.get("Index Name"), probe.get("Index Cond", "")
        if (
            probe["Node Type"] not in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
            or index not in _KEYS[table]
            or "(id = " not in cond
            or scan.get("Rows Removed by Filter", 0) > 1
        ):
            wrong.append(
                f"{table}: {scan['Node Type']} {index} cond={cond}"
                f" removed={scan.get('Rows Removed by Filter')}"
            )
    return wrong


def _former(conn: sa.Connection, function: str, helper: str) -> None:
    """Put back `function` as it was before session 37 (`v_org` compared plainly, the
    message's moment by `=`, no planner setting)."""
    text = conn.execute(sa.text("SELECT pg_get_functiondef(CAST(:f AS regproc))"), {"f": function})
    source = text.scalar_one()
    former = (
        source.replace(f"{helper}(v_org)", "v_org")
        .replace("IS NOT DISTINCT FROM now()", "= now()")
        .replace(" SET enable_seqscan TO 'off'\n", "\n")
    )
    assert former != source and "filter_only" not in former and "enable_seqscan" not in former
    conn.exec_driver_sql(former)


@pytest.fixture
def world(engine: sa.Engine) -> World:
    with engine.begin() as conn:
        return open_world(conn, capacities=(10_000,))


def _holds(engine: sa.Engine, world: World) -> list[dict[str, Any]]:
    """The checks' lookups of a session's last hold and of a ticket replacing one of an earlier
    transaction, on a fresh database (never analysed), after `_ROUNDS` holds."""
    session = Explained(engine)
    try:
        orders = [uuid.uuid4() for _ in range(_ROUNDS + 1)]
        holds = [
            {"type": world.ga, "event": world.event, "org": world.org, "order": o, "key": f"k{n}"}
            for n, o in enumerate(orders)
        ]
        for values in holds[:-1]:
            session.run(_HOLD, values)
        held = session.explained(_HOLD, holds[-1])
        replaced = session.explained(_REPLACE, {"order": orders[0]})
    finally:
        session.conn.close()
    assert lookups(held) and lookups(replaced)
    return lookups(held) + lookups(replaced)


def _publishes(engine: sa.Engine, world: World) -> list[dict[str, Any]]:
    """The deliveries' check's lookups of a session's last publishing and of a delivery of a
    message of an earlier transaction, on a fresh database, after `_ROUNDS` publishings."""
    with engine.begin() as conn:
        endpoint = conn.execute(
            sa.text(
                "INSERT INTO messaging.endpoints (org_id, url) VALUES (:org, 'https://x.example')"
                " RETURNING id"
            ),
            {"org": world.org},
        ).scalar_one()
    session = Explained(engine)
    messages = [
        {"org": world.org, "endpoint": endpoint, "message": uuid.uuid4()}
        for _ in range(_ROUNDS + 1)
    ]
    try:
        for values in messages[:-1]:
            session.run(_PUBLISH, values)
        published = session.explained(_PUBLISH, messages[-1])
        delivered = session.explained(_DELIVER, messages[0])
    finally:
        session.conn.close()
    assert lookups(published) and lookups(delivered)
    return lookups(published) + lookups(delivered)


def test_the_tickets_check_probes_each_reference_by_its_key(
    engine: sa.Engine, world: World
) -> None:
    scans = _holds(engine, world)
    assert {s["Relation Name"] for s in scans} == {"orders", "ticket_types", "tickets"}
    assert astray(scans) == []


def test_the_deliveries_check_probes_each_reference_by_its_key(
    engine: sa.Engine, world: World
) -> None:
    scans = _publishes(engine, world)
    assert {s["Relation Name"] for s in scans} == {"messages", "endpoints"}
    assert astray(scans) == []


def test_the_checks_as_they_were_read_past_the_keys(engine: sa.Engine, world: World) -> None:
    with engine.begin() as conn:
        _former(conn, "ticketing.tickets_references", "ticketing.filter_only")
        _former(conn, "messaging.deliveries_references", "messaging.filter_only")
    assert astray(_holds(engine, world)) != []
    assert astray(_publishes(engine, world)) != []
