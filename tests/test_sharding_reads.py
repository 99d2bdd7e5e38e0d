"""No statement on the hot paths reads two organizations (issue 19 part 4, rule 4;
docs/scaling.md), checked on the plans PostgreSQL runs.

tests/test_sharding_hot_paths.py sees what a path writes; this test sees what it reads.
auto_explain, loaded in each session of the test's engine, sends the plan of every statement
(nested ones too: PL/pgSQL functions, triggers, the deferred checks run at commit) to the
client as a NOTICE, in JSON, with qualified column names. For each statement, every scan of a
distributed table (tests/test_sharding_rules.py: every table but the reference ones) must be
pinned to one organization: an equality on its distribution column with a value (a
parameter, a constant, a function's result) among the plan's top-level conditions, or with
the distribution column of a table pinned so (a colocated join). An equality inside an OR
pins nothing; `= ANY(...)` pins nothing. Under Citus such a statement is routed to one node;
any other is run on every shard.

The paths driven: a checkout, a payment (Stripe's event through the inbox, handled by
escrow's and ticketing's handlers), a posting, a hold, a batch of postings; then the outbox's
claim and the inbox's next-due scan, the relay's statements, which read every organization
by design (docs/scaling.md step 4: run per shard, on each node, by that node's relay).

`KNOWN` lists the (path, table) pairs still read unpinned, each with the statement and the
step that removes it; the test fails for a new pair and for a listed one that is gone, so the
list only shrinks. The checker is checked on statements made to break it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

import ledger
import outbox
import ticketing_fsm as tk
from outbox import dispatch
from tests.test_sharding_hot_paths import _checkout, _distributed, _pay
from tests.ticketing_core.support import Gateway, World, open_world

_SETTINGS = (
    "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;"
    " SET auto_explain.log_format = json; SET auto_explain.log_level = notice;"
    " SET auto_explain.log_verbose = on"
)
# A plan node's conditions, as EXPLAIN names them.
_CONDITIONS = (
    "Index Cond",
    "Recheck Cond",
    "Filter",
    "Join Filter",
    "Hash Cond",
    "Merge Cond",
    "TID Cond",
    "One-Time Filter",
)
_COLUMN = re.compile(r"^(\w+)\.(\w+)$")


class Plans:
    """The plans of the statements an engine's sessions run while recording."""

    def __init__(self, engine: sa.Engine) -> None:
        self._recording: list[dict[str, Any]] | None = None

        @event.listens_for(engine, "connect")
        def _explain(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.add_notice_handler(self._notice)
            with dbapi_conn.cursor() as cur:
                cur.execute("LOAD 'auto_explain'")
                cur.execute(_SETTINGS)

        engine.dispose()  # every session from now on is a new one, explained

    def _notice(self, diag: Any) -> None:
        text = diag.message_primary or ""
        if self._recording is not None and "plan:" in text:
            self._recording.append(json.loads(text.split("plan:", 1)[1]))

    @contextmanager
    def record(self) -> Iterator[list[dict[str, Any]]]:
        """Collect the plans of the statements run inside the block."""
        got: list[dict[str, Any]] = []
        self._recording = got
        try:
            yield got
        finally:
            self._recording = None


def _strip(text: str) -> str:
    """`text` without the parentheses that enclose all of it."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 and i < len(text) - 1:
                return text  # the first parenthesis closes before the end
        text = text[1:-1].strip()
    return text


def _split(text: str, word: str) -> list[str]:
    """`text` cut at each `word` outside parentheses, brackets and quotes."""
    parts: list[str] = []
    depth = start = i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            i = text.index("'", i + 1)
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and text.startswith(word, i):
            parts.append(text[start:i])
            start = i + len(word)
        i += 1
    parts.append(text[start:])
    return parts


def conjuncts(condition: str) -> list[str]:
    """The top-level AND terms of an EXPLAIN condition (an OR is one term)."""
    text = _strip(condition)
    parts = _split(text, " AND ")
    if len(parts) == 1:
        return [text]
    return [term for part in parts for term in conjuncts(part)]


def equality(term: str) -> tuple[str, str] | None:
    """The two sides of a term that is one equality, else None (`x = ANY (...)` is none)."""
    sides = _split(_strip(term), " = ")
    if len(sides) != 2 or sides[1].startswith(("ANY ", "ALL ", "ANY(", "ALL(")):
        return None
    return _strip(sides[0]), _strip(sides[1])


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _walk(child)


def _pins(terms: list[str], keyed: dict[str, str]) -> tuple[set[str], list[tuple[str, str]]]:
    """The aliases an equality pins to a value, and the pairs of aliases joined on their
    distribution columns."""
    pinned: set[str] = set()
    joins: list[tuple[str, str]] = []
    for term in terms:
        sides = equality(term)
        for one, other in () if sides is None else (sides, sides[::-1]):
            column = _COLUMN.match(one)
            if column is None or keyed.get(column[1]) != column[2]:
                continue
            value = _COLUMN.match(other)
            if value is None:
                pinned.add(column[1])  # a parameter, a constant, a function's result
            elif keyed.get(value[1]) == value[2]:
                joins.append((column[1], value[1]))
    return pinned, joins


def unpinned(plan: dict[str, Any], distributed: dict[str, str]) -> list[str]:
    """The distributed tables a statement's plan scans without pinning them to one
    organization, as 'schema.table alias'."""
    scans: dict[str, str] = {}
    terms: list[str] = []
    for node in _walk(plan["Plan"]):
        if "Relation Name" in node and node["Node Type"] != "ModifyTable":
            scans[node["Alias"]] = f"{node['Schema']}.{node['Relation Name']}"
        terms += [t for key in _CONDITIONS if key in node for t in conjuncts(node[key])]
    keyed = {alias: distributed[t] for alias, t in scans.items() if t in distributed}
    pinned, joins = _pins(terms, keyed)
    grew = True
    while grew:
        grew = False
        for x, y in joins:
            if (x in pinned) != (y in pinned):
                pinned |= {x, y}
                grew = True
    return sorted(f"{scans[a]} {a}" for a in keyed if a not in pinned)


# -- what the hot paths still read across organizations -----------------------------------

_PLATFORM_ACCOUNTS = (
    "Engine (payments_engine.sql, payments_batches.sql), docs/scaling.md step 3: the"
    " accounts read by id alone or with `org_id = p_org OR org_id = v_platform`; the"
    " organization's accounts read with org_id = p_org and the platform's in a statement of"
    " their own with org_id = the platform's, locked in one order by every door"
)
_OVERFLOW_HINT = (
    "Engine (payments_engine.sql post_entry), step 3: the high-volume accounts' overflow"
    " hint reads their unrolled lines by account_id alone (the platform's lines of every"
    " organizer's entries)"
)
_TICKETING = (
    "Payment (ticketing.sql, ticketing_fsm/store): a ticketing row found by id (or by its"
    " PaymentIntent) without `org_id = <the order's organization>`"
)
_ESCROW = (
    "Payment (escrow.sql, escrow/store): an escrow row (escrow, payment, refund) found by id"
    " without `org_id = <the escrow's organization>`"
)
_RELAY = (
    "the relay's scan over every organization's due rows: under Citus run per shard by each"
    " node's worker (docs/scaling.md step 4); every statement after it names the row's org_id"
)
KNOWN: dict[tuple[str, str], str] = {
    ("payment", "messaging.inbox"): _RELAY + " (the test's drain runs it before the payment)",
    ("payment", "payments.accounts"): _PLATFORM_ACCOUNTS,
    ("payment", "payments.lines"): _OVERFLOW_HINT,
    ("payment", "payments.card_payments"): _ESCROW,
    ("payment", "payments.card_refunds"): _TICKETING,
    ("payment", "payments.escrows"): _ESCROW,
    ("payment", "ticketing.events"): _TICKETING,
    ("payment", "ticketing.orders"): _TICKETING + " (the order paid, found by its intent)",
    ("posting", "payments.accounts"): _PLATFORM_ACCOUNTS,
    ("hold", "payments.accounts"): _PLATFORM_ACCOUNTS,
    ("batch", "payments.accounts"): _PLATFORM_ACCOUNTS,
    ("relay: inbox next due", "messaging.inbox"): _RELAY,
    ("relay: outbox claim", "messaging.deliveries"): _RELAY,
    ("relay: outbox claim", "messaging.messages"): _RELAY,
    ("relay: outbox claim", "messaging.endpoints"): _RELAY,
    ("relay: outbox claim", "messaging.endpoint_secrets"): _RELAY,
}


def _drive(engine: sa.Engine) -> dict[tuple[str, str], set[str]]:
    """Drive each hot path with plans recorded; the unpinned (path, table) pairs, each with
    the statements that read it so."""
    with engine.begin() as conn:
        a: World = open_world(conn, capacities=(50,))
        b: World = open_world(conn, capacities=(50,))
    gateway = Gateway()
    # Each organizer's first sale opens its accounts and the platform's (not a hot path).
    for world in (a, b):
        _pay(engine, gateway, _checkout(engine, gateway, world, f"warm-{world.org}"))
    with engine.begin() as conn:
        distributed = _distributed(conn)
        cash = ledger.open_account(
            conn, a.org, ledger.OpenAccount("rd-cash", "rd:cash", "asset", "EUR")
        ).id
        sales = ledger.open_account(
            conn, a.org, ledger.OpenAccount("rd-sales", "rd:sales", "revenue", "EUR")
        ).id

    def line_pair(amount: int) -> list[ledger.Line]:
        return [
            ledger.Line(cash, "debit", amount, "EUR"),
            ledger.Line(sales, "credit", amount, "EUR"),
        ]

    def posting() -> None:
        with engine.begin() as conn:
            ledger.post_entry(conn, a.org, ledger.PostEntry("rd-post", line_pair(1_000)))

    def hold() -> None:
        with engine.begin() as conn:
            ledger.create_hold(conn, a.org, ledger.CreateHold("rd-hold", sales, cash, 500, "EUR"))

    def batch() -> None:
        with engine.begin() as conn:
            ledger.post_batch(
                conn, a.org, [ledger.PostEntry(f"rd-b{i}", line_pair(10 + i)) for i in range(3)]
            )

    def claim() -> None:
        with engine.begin() as conn:
            assert dispatch.claim(conn, "sharding-reads", 100, timedelta(minutes=1))

    def inbox_idle() -> None:
        with engine.begin() as conn:
            assert outbox.handle_next(conn, outbox.RetryPolicy(schedule=(0,))) is None

    checkouts: list[tk.Checkout] = []
    paths: list[tuple[str, Callable[[], None]]] = [
        ("checkout", lambda: checkouts.append(_checkout(engine, gateway, a, "rd-1"))),
        ("payment", lambda: _pay(engine, gateway, checkouts[0])),
        ("posting", posting),
        ("hold", hold),
        ("batch", batch),
        ("relay: outbox claim", claim),
        ("relay: inbox next due", inbox_idle),
    ]
    plans = Plans(engine)
    found: dict[tuple[str, str], set[str]] = {}
    for name, run in paths:
        with plans.record() as got:
            run()
        assert got, f"{name}: no plan recorded"
        for plan in got:
            for scan in unpinned(plan, distributed):
                table = scan.split()[0]
                found.setdefault((name, table), set()).add(" ".join(plan["Query Text"].split()))
    return found


def test_the_hot_paths_read_one_organization(engine: sa.Engine) -> None:
    """Every scan of a distributed table on the hot paths is pinned to one organization,
    but for the pairs listed in KNOWN."""
    found = _drive(engine)
    new = {k: v for k, v in found.items() if k not in KNOWN}
    gone = [k for k in KNOWN if k not in found]
    assert not new, f"{len(new)} unpinned reads:\n" + "\n".join(
        f"{path} reads {table} in: " + "\n    ".join(s[:400] for s in sorted(statements))
        for (path, table), statements in sorted(new.items())
    )
    assert not gone, "no longer read unpinned, remove from KNOWN:\n" + "\n".join(map(str, gone))


# -- the checker, on statements made to break it -------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("(a.org_id = $1)", ["(a.org_id = $1)"]),
        ("((a.id = $1) AND (a.org_id = $2))", ["(a.id = $1)", "(a.org_id = $2)"]),
        ("((a.org_id = $1) OR (a.org_id = $2))", ["(a.org_id = $1) OR (a.org_id = $2)"]),
        ("(a.x = ' AND ') AND b", ["a.x = ' AND '", "b"]),
        (
            "((a.id = ANY ($1)) AND (((a.org_id = $2) OR (a.org_id = $3)) IS TRUE))",
            ["(a.id = ANY ($1))", "(((a.org_id = $2) OR (a.org_id = $3)) IS TRUE)"],
        ),
    ],
)
def test_conjuncts(condition: str, expected: list[str]) -> None:
    assert [_strip(t) for t in conjuncts(condition)] == [_strip(t) for t in expected]


_PROBES = [
    ("SELECT * FROM probe.a a WHERE org_id = :o", []),
    ("SELECT * FROM probe.a a WHERE id = :i", ["probe.a a"]),
    (
        "SELECT * FROM probe.a a WHERE id = :i AND org_id = ANY(CAST(ARRAY[:o, :p] AS uuid[]))",
        ["probe.a a"],
    ),
    ("SELECT * FROM probe.a a WHERE id = :i AND (org_id = :o OR org_id = :p)", ["probe.a a"]),
    ("SELECT * FROM probe.a a WHERE org_id = payments.current_org_id()", []),
    (
        "SELECT * FROM probe.a a JOIN probe.b b ON b.a_id = a.id AND b.org_id = a.org_id"
        " WHERE a.org_id = :o",
        [],
    ),
    (
        "SELECT * FROM probe.a a JOIN probe.b b ON b.a_id = a.id AND b.org_id = a.org_id",
        ["probe.a a", "probe.b b"],
    ),
    (
        "SELECT * FROM probe.a a JOIN probe.b b ON b.a_id = a.id WHERE a.org_id = :o",
        ["probe.b b"],
    ),
    (
        "SELECT * FROM probe.a a WHERE a.org_id = :o AND EXISTS"
        " (SELECT FROM probe.b b WHERE b.a_id = a.id AND b.org_id = a.org_id)",
        [],
    ),
    ("UPDATE probe.a a SET id = id WHERE id = :i", ["probe.a a"]),
    ("INSERT INTO probe.a VALUES (:i, :o)", []),
    ("SELECT * FROM probe.r r WHERE id = :i", []),
]


@pytest.mark.parametrize(("sql", "expected"), _PROBES)
def test_the_checker_finds_each_unpinned_scan(
    conn: sa.Connection, sql: str, expected: list[str]
) -> None:
    """Tables made to be scanned pinned and not (rolled back); enough rows that the planner
    keeps every condition, and enable_* off so both kinds of scan are seen."""
    conn.exec_driver_sql(
        "CREATE SCHEMA probe;"
        " CREATE TABLE probe.a (id int, org_id uuid NOT NULL, PRIMARY KEY (id, org_id));"
        " CREATE TABLE probe.b (id int, org_id uuid NOT NULL, a_id int, PRIMARY KEY (id, org_id));"
        " CREATE TABLE probe.r (id int PRIMARY KEY);"
        " INSERT INTO probe.a SELECT i, gen_random_uuid() FROM generate_series(1, 500) i;"
        " INSERT INTO probe.b SELECT id, org_id, id FROM probe.a;"
        " ANALYZE probe.a, probe.b"
    )
    distributed = {"probe.a": "org_id", "probe.b": "org_id"}
    params = {"i": 1, "o": "00000000-0000-0000-0000-000000000001"}
    params["p"] = "00000000-0000-0000-0000-000000000002"
    for seqscan in ("on", "off"):
        conn.exec_driver_sql(f"SET LOCAL enable_seqscan = {seqscan}")
        doc = conn.execute(
            sa.text(f"EXPLAIN (VERBOSE, FORMAT JSON) {sql}"),
            params,
        ).scalar_one()
        plan = doc[0] if isinstance(doc, list) else json.loads(doc)[0]
        assert unpinned(plan, distributed) == expected, (seqscan, json.dumps(plan)[:2000])
