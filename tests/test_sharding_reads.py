"""No statement on the hot paths reads two organizations (issue 19 part 4, rule 4;
docs/scaling.md), checked on the plans PostgreSQL runs.

tests/test_sharding_hot_paths.py sees what a path writes; this test sees what it reads.
auto_explain, loaded in each session of the test's engine, sends the plan of every statement
(nested ones too: PL/pgSQL functions, triggers, the deferred checks run at commit) to the
client as a NOTICE, in JSON, with qualified column names. For each statement, every scan of a
distributed table (tests/test_sharding_rules.py: every table but the reference ones) must be
pinned to one organization: an equality on its distribution column (not cast) with a value
among the plan's top-level conditions, or with the distribution column of a table pinned so
(a colocated join). A value is a parameter (PL/pgSQL's variables are parameters in the
plan), a constant, or a function's result on values; a column of another row source
(`"*VALUES*".column1`, an unnest's column, a cast column) is none. An equality inside an OR
pins nothing; `= ANY(...)` pins nothing. Under Citus such a statement is routed to one node;
any other is run on every shard.

The paths driven, on an engine of one connection (escrow's capture facts are remembered per
pooled connection): a checkout; a payment the long way (the event's second: its escrow
open, its terms not yet known on the connection, as on every new connection); a payment on
the one-call path (`payments.capture_card_payment` with the order paid in one statement:
the test checks the call ran, in the statistics, and captured); a posting, a hold, a batch
of postings; then the outbox's claim and the inbox's next-due scan, the relay's statements,
which read every organization by design (docs/scaling.md step 4: run per shard, on each
node, by that node's relay).

Each path's plans must scan the tables it is known to read (`READS`): a path whose plans
were not all logged (nested statements unexplained) fails rather than passing unchecked.

`KNOWN` lists the reads still unpinned by (path, table, the statement's fingerprint: its
text normalised, constants aside), each with the step that removes it; the test fails for a
new read, a new statement on a listed table included, and for a listed one that is gone, so
the list only shrinks (a listed statement whose text changes is a new read: list it again,
or better, pin it). The checker is checked on statements made to break it.
"""

from __future__ import annotations

import hashlib
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
from tests.test_sharding_hot_paths import (
    _checkout,
    _distributed,
    _pay,
    capture_calls,
    one_call,
    one_connection,
    warm,
)
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


_PARAM = re.compile(r"^\$\d+$")  # a parameter (PL/pgSQL's variables too), an InitPlan's result
_INITPLAN = re.compile(r"^\(?InitPlan \d+\)?\.col\d+$")  # an InitPlan's result, PostgreSQL 17
_CONSTANT = re.compile(r"^(?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?)$")
_CAST = re.compile(r"^(.*)::[\w .\[\]\"]+$", re.S)
_CALL = re.compile(r"^[\w.]+\((.*)\)$", re.S)


def _uncast(text: str) -> str:
    """`text` without its trailing casts (`($1)::uuid` is `$1`, `(a.x)::uuid` is `a.x`)."""
    text = _strip(text)
    while (cast := _CAST.match(text)) is not None and not _CONSTANT.match(text):
        text = _strip(cast[1])
    return text


def is_value(text: str) -> bool:
    """Whether one side of an equality is one value for the whole statement: a parameter, a
    constant, or a function's result on such values (possibly cast). A column of any row
    source (another table, `"*VALUES*".column1`, an unnest's column), cast or not, is not."""
    text = _uncast(text)
    if _PARAM.match(text) or _INITPLAN.match(text) or _CONSTANT.match(text):
        return True
    call = _CALL.match(text)
    if call is None:
        return False
    args = call[1].strip()
    return not args or all(is_value(a) for a in _split(args, ", "))


def _pins(terms: list[str], keyed: dict[str, str]) -> tuple[set[str], list[tuple[str, str]]]:
    """The aliases an equality of their distribution column (not cast) pins to a value
    (`is_value`), and the pairs of aliases joined by an equality of their distribution
    columns (neither cast)."""
    pinned: set[str] = set()
    joins: list[tuple[str, str]] = []
    for term in terms:
        sides = equality(term)
        for one, other in () if sides is None else (sides, sides[::-1]):
            column = _COLUMN.match(one)  # a cast distribution column routes nothing
            if column is None or keyed.get(column[1]) != column[2]:
                continue
            if is_value(other):
                pinned.add(column[1])
                continue
            value = _COLUMN.match(other)
            if value is not None and keyed.get(value[1]) == value[2]:
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


def scanned(plan: dict[str, Any]) -> set[str]:
    """The tables a statement's plan reads (scans, not the target of a write), as
    'schema.table'."""
    return {
        f"{node['Schema']}.{node['Relation Name']}"
        for node in _walk(plan["Plan"])
        if "Relation Name" in node and node["Node Type"] != "ModifyTable"
    }


def fingerprint(query: str) -> str:
    """A statement's text, normalised (comments gone, string and number constants as `?`,
    whitespace collapsed), hashed: two texts that differ in more than their constants differ."""
    text = re.sub(r"--[^\n]*", " ", query)
    text = re.sub(r"'(?:[^']|'')*'", "'?'", text)
    text = re.sub(r"(?<![\w$])\d+(?:\.\d+)?(?!\w)", "?", text)
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:12]


# -- what the hot paths still read across organizations -----------------------------------

_PLATFORM_ACCOUNTS = (
    "Engine (payments_engine.sql, payments_batches.sql), docs/scaling.md step 3: the"
    " accounts read by id alone or with `org_id = p_org OR org_id = v_platform`; the"
    " organization's accounts read with org_id = p_org and the platform's in a statement of"
    " their own with org_id = the platform's, locked in one order by every door"
)
_RELAY = (
    "the relay's scan over every organization's due rows: under Citus run per shard by each"
    " node's worker (docs/scaling.md step 4); every statement after it names the row's org_id"
)
_DRAIN = _RELAY + " (the test's drain runs it before the payment)"

Read = tuple[str, str, str]
"""An unpinned read: the path, the table, the statement's `fingerprint`."""

KNOWN: dict[Read, str] = {
    # SELECT source, event_id, org_id, type, payload, received_at, attempts FROM messaging.inb
    ("payment", "messaging.inbox", "b59c229b9171"): _DRAIN,
    # SELECT source, event_id, org_id, type, payload, received_at, attempts FROM messaging.inb
    ("payment, the long way", "messaging.inbox", "b59c229b9171"): _DRAIN,
    # SELECT source, event_id, org_id, type, payload, received_at, attempts FROM messaging.inb
    ("relay: inbox next due", "messaging.inbox", "b59c229b9171"): _RELAY,
    # WITH due AS ( SELECT d.id, d.org_id FROM messaging.deliveries d WHERE ((d.status = 'pend
    ("relay: outbox claim", "messaging.deliveries", "e27824c6af61"): _RELAY,
    # WITH due AS ( SELECT d.id, d.org_id FROM messaging.deliveries d WHERE ((d.status = 'pend
    ("relay: outbox claim", "messaging.endpoint_secrets", "e27824c6af61"): _RELAY,
    # WITH due AS ( SELECT d.id, d.org_id FROM messaging.deliveries d WHERE ((d.status = 'pend
    ("relay: outbox claim", "messaging.endpoints", "e27824c6af61"): _RELAY,
    # WITH due AS ( SELECT d.id, d.org_id FROM messaging.deliveries d WHERE ((d.status = 'pend
    ("relay: outbox claim", "messaging.messages", "e27824c6af61"): _RELAY,
}


# The tables each path is known to read: its plans must scan each (some may scan more). Most
# of a path's reads are nested statements (the ledger's door, escrow's capture call, the
# checkout's functions, triggers): were their plans not logged, a path would pass on the
# few top-level statements whose plans were, having checked nothing (checkout, payment,
# posting, hold and batch then scan none of these).
READS: dict[str, frozenset[str]] = {
    "payment, the long way": frozenset(
        {
            "payments.escrows",
            "payments.accounts",
            "payments.card_payments",
            "ticketing.orders",
            "ticketing.tickets",
            "messaging.inbox",
        }
    ),
    "checkout": frozenset({"ticketing.ticket_types", "ticketing.orders", "ticketing.events"}),
    "payment": frozenset(
        {
            "payments.escrows",
            "payments.accounts",
            "payments.card_payments",
            "ticketing.orders",
            "ticketing.tickets",
            "messaging.inbox",
        }
    ),
    "posting": frozenset({"payments.accounts"}),
    "hold": frozenset({"payments.accounts"}),
    "batch": frozenset({"payments.accounts"}),
    "relay: outbox claim": frozenset({"messaging.deliveries", "messaging.messages"}),
    "relay: inbox next due": frozenset({"messaging.inbox"}),
}


__all__ = ["one_connection"]  # the fixture, imported for the tests here


def _drive(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> dict[Read, str]:
    """Drive each hot path with plans recorded; the unpinned reads (path, table, statement's
    fingerprint), each with the statement's text. `engine` has one connection, explained
    from the start (so the payment runs on the connection the warming payments taught: its
    one-call path)."""
    plans = Plans(engine)
    with engine.begin() as conn:
        a: World = open_world(conn, capacities=(50,))
        b: World = open_world(conn, capacities=(50,))
    gateway = Gateway()
    # Each organizer's first sale opens its accounts and the platform's and its escrow (not a
    # hot path); b's second teaches the connection its terms. a's second is measured: the
    # long way, as every connection's first payment for an event goes.
    warm(engine, gateway, b)
    _pay(engine, gateway, _checkout(engine, gateway, a, "warm-0"))
    long_way = _checkout(engine, gateway, a, "warm-1")
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
    answers: list[bool | None] = []

    def payment() -> None:
        with one_call(monkeypatch) as seen:
            _pay(engine, gateway, checkouts[0])
        answers.extend(seen)

    def payment_long_way() -> None:
        with one_call(monkeypatch) as seen:
            _pay(engine, gateway, long_way)
        assert seen == []  # no capture call: the connection did not know the escrow yet

    paths: list[tuple[str, Callable[[], None]]] = [
        ("payment, the long way", payment_long_way),
        ("checkout", lambda: checkouts.append(_checkout(engine, gateway, a, "rd-1"))),
        ("payment", payment),
        ("posting", posting),
        ("hold", hold),
        ("batch", batch),
        ("relay: outbox claim", claim),
        ("relay: inbox next due", inbox_idle),
    ]
    found: dict[Read, str] = {}
    calls = capture_calls(engine)
    for name, run in paths:
        with plans.record() as got:
            run()
        assert got, f"{name}: no plan recorded"
        read = set().union(*(scanned(plan) for plan in got))
        missing = READS[name] - read
        assert not missing, f"{name}: no plan scans {sorted(missing)} (scanned: {sorted(read)})"
        for plan in got:
            for scan in unpinned(plan, distributed):
                query = " ".join(plan["Query Text"].split())
                found[(name, scan.split()[0], fingerprint(plan["Query Text"]))] = query
    # The payment was measured on its one-call path: escrow's capture call ran (once, in
    # the whole drive) and captured.
    assert answers == [True]
    assert capture_calls(engine) == calls + 1
    return found


def test_the_hot_paths_read_one_organization(
    one_connection: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every scan of a distributed table on the hot paths is pinned to one organization,
    but for the pairs listed in KNOWN."""
    found = _drive(one_connection, monkeypatch)
    new = {k: v for k, v in found.items() if k not in KNOWN}
    gone = [k for k in KNOWN if k not in found]
    assert not new and not gone, (
        f"{len(new)} unpinned reads not in KNOWN:\n"
        + "\n".join(f"    {key!r}: ...,  # {query[:300]}" for key, query in sorted(new.items()))
        + f"\n{len(gone)} in KNOWN no longer read unpinned (remove them):\n"
        + "\n".join(f"    {key!r}" for key in gone)
    )


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
    ("SELECT * FROM probe.a a WHERE org_id = CAST(:o AS uuid)", []),
    ("SELECT * FROM probe.a a WHERE org_id = coalesce(CAST(:o AS uuid), CAST(:p AS uuid))", []),
    (
        "SELECT * FROM probe.a a JOIN (VALUES (CAST(:o AS uuid)), (CAST(:p AS uuid))) v(o)"
        " ON a.org_id = v.o",
        ["probe.a a"],
    ),
    ("SELECT * FROM probe.a a JOIN probe.c c ON a.org_id = CAST(c.org AS uuid)", ["probe.a a"]),
    (
        "SELECT * FROM probe.a a JOIN unnest(CAST(ARRAY[:o, :p] AS uuid[])) u(o) ON a.org_id = u.o",
        ["probe.a a"],
    ),
    (
        "SELECT * FROM probe.a a JOIN probe.b b ON b.a_id = a.id"
        " AND CAST(b.org_id AS text) = CAST(a.org_id AS text) WHERE a.org_id = :o",
        ["probe.b b"],
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
        " CREATE TABLE probe.c (org text);"
        " INSERT INTO probe.c VALUES ('00000000-0000-0000-0000-000000000001'),"
        " ('00000000-0000-0000-0000-000000000002');"
        " INSERT INTO probe.a SELECT i, gen_random_uuid() FROM generate_series(1, 500) i;"
        " INSERT INTO probe.b SELECT id, org_id, id FROM probe.a;"
        " ANALYZE probe.a, probe.b, probe.c"
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1", True),
        ("($3)::uuid", True),
        ("'00000000-0000-0000-0000-000000000001'::uuid", True),
        ("42", True),
        ("payments.current_org_id()", True),
        ("COALESCE($1, $2)", True),
        ("COALESCE($1, a.org_id)", False),
        ("(InitPlan 1).col1", True),
        ('"*VALUES*".column1', False),
        ("x.account_id", False),
        ("(c.org)::uuid", False),
        ("lower(c.org)", False),
    ],
)
def test_what_counts_as_a_value(text: str, expected: bool) -> None:
    assert is_value(text) is expected


def test_a_fingerprint_ignores_constants_and_comments_only() -> None:
    base = "SELECT a.id FROM payments.accounts a -- why\n WHERE a.id = $1 AND a.org_id = 'x'"
    assert fingerprint(base) == fingerprint(
        "SELECT  a.id FROM payments.accounts a\nWHERE a.id = $1 AND a.org_id = 'y'"
    )
    assert fingerprint(base) != fingerprint(
        "SELECT a.id FROM payments.accounts a WHERE a.id = $1 AND a.org_id = $2"
    )
    assert fingerprint(base) != fingerprint("SELECT a.id FROM payments.accounts a WHERE a.id = $1")
