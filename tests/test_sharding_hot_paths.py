"""The hot paths write one organization's rows (issue 19 part 4; docs/scaling.md).

Under Citus a transaction whose writes all carry one distribution value runs on one node; a
write to two organizations' rows is a two-node transaction (two-phase commit). This test
drives each hot path on a database holding two organizers and the platform, and collects
the rows each path wrote (inserted or updated: a row version not there before, found by its
`ctid` and `xmin`, in every distributed table of tests/test_sharding_rules.py) with their
distribution values. A posting, a hold, a checkout and a payment must each write one
organization's rows; the outbox's claim is the one path known to write several
(docs/scaling.md step 4: relayed per shard), pinned here so that the change is seen.

The payment is measured on its one-call path (`escrow.capture_call`: escrow's capture, the
order paid and its tickets issued in one statement, `payments.capture_card_payment`), which
is taken only on a connection that captured for the same escrow before: the test's engine
has one connection (`one_connection`), warmed by two payments for the same event, and the
measured payment must have captured in that call (`one_call`).

Not seen: what a path reads. The payment reads the platform's high-volume accounts (step 3,
per-shard sub-accounts) and the claim reads every organization's deliveries (step 4); reads
do not make a transaction two-phase, but they do cost a trip to another node.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import escrow
import ledger
import ticketing_fsm as tk
from liventix.database import make_engine
from outbox import dispatch
from tests.test_sharding_rules import DISTRIBUTION, REFERENCE, app_schemas
from tests.ticketing_core.support import (
    Gateway,
    World,
    drain,
    open_world,
    payment_intent,
    request,
    store,
    stripe_event,
    ticketing_handlers,
)

Written = dict[str, set[uuid.UUID]]
Version = tuple[str, str]
"""A row version: its `ctid` and `xmin`. A ctid alone is reused: a version pruned or
vacuumed away leaves its slot to the next one written (a hot row updated twice since the
last look may be back at the ctid it had), which the ctid alone would take for the old."""


def _distributed(conn: sa.Connection) -> dict[str, str]:
    """Each distributed table with its distribution column (not the API's idempotency
    records, which have none yet: test_sharding_rules.KNOWN; no path here writes them)."""
    columns = conn.execute(
        sa.text("""
            SELECT c.oid::regclass::text AS tbl, a.attname FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE n.nspname = ANY(:s) AND c.relkind = 'r'"""),
        {"s": list(app_schemas(conn))},
    ).all()
    have = {(r.tbl, r.attname) for r in columns}
    return {
        t: DISTRIBUTION.get(t, "org_id")
        for t in {r.tbl for r in columns} - set(REFERENCE)
        if (t, DISTRIBUTION.get(t, "org_id")) in have
    }


class Writes:
    """The row versions of every distributed table, to tell what a path wrote since."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with engine.connect() as conn:
            self.tables = _distributed(conn)
        self.before = self._versions()

    def _versions(self) -> dict[str, dict[Version, uuid.UUID]]:
        got: dict[str, dict[Version, uuid.UUID]] = {}
        with self.engine.connect() as conn:
            for table, column in self.tables.items():
                rows = conn.execute(
                    sa.text(f"SELECT ctid::text, xmin::text, {column} FROM {table}")
                )
                got[table] = {(r[0], r[1]): r[2] for r in rows}
        return got

    def since(self) -> Written:
        """The distribution values of the row versions written since the last call, by
        table."""
        now = self._versions()
        written: Written = {}
        for table, rows in now.items():
            new = {org for version, org in rows.items() if version not in self.before[table]}
            if new:
                written[table] = new
        self.before = now
        return written


def test_a_row_version_written_where_an_old_one_was_is_seen(engine: sa.Engine) -> None:
    """`Writes` keys row versions by (ctid, xmin): a version written at the ctid an older
    one had (here after a TRUNCATE, as after pruning or a vacuum) is a write."""
    x, y = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.ctid_probe (id int, org_id uuid NOT NULL)"))
        conn.execute(sa.text("INSERT INTO public.ctid_probe VALUES (1, :x)"), {"x": x})
    writes = Writes(engine)
    writes.tables = {"public.ctid_probe": "org_id"}
    writes.before = writes._versions()
    assert writes.since() == {}
    with engine.begin() as conn:
        old = conn.execute(sa.text("SELECT ctid::text FROM public.ctid_probe")).scalar_one()
        conn.execute(sa.text("TRUNCATE public.ctid_probe"))
        conn.execute(sa.text("INSERT INTO public.ctid_probe VALUES (2, :y)"), {"y": y})
        new = conn.execute(sa.text("SELECT ctid::text FROM public.ctid_probe")).scalar_one()
    assert new == old  # the slot the old version had
    assert writes.since() == {"public.ctid_probe": {y}}
    assert writes.since() == {}


def _orgs(written: Written) -> set[uuid.UUID]:
    return set().union(*written.values()) if written else set()


@pytest.fixture
def one_connection(committing_db_url: str) -> Iterator[sa.Engine]:
    """An engine of one pooled connection on the test's database: every path runs on the
    connection the payments before it warmed (escrow's capture facts are remembered per
    pooled connection). Its sessions count their PL/pgSQL functions' calls."""
    eng = make_engine(committing_db_url, pool_size=1, max_overflow=0, pool_timeout=30)

    @sa.event.listens_for(eng, "connect")
    def _track(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute("SET track_functions = 'pl'")

    try:
        yield eng
    finally:
        eng.dispose()


def capture_calls(engine: sa.Engine) -> int:
    """How many times `payments.capture_card_payment` ran, as the statistics count it (on
    `one_connection`: its one session's counts, flushed before they are read)."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        conn.commit()
    with engine.connect() as conn:
        calls = conn.execute(
            sa.text("""SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions
                        WHERE schemaname = 'payments' AND funcname = 'capture_card_payment'""")
        ).scalar_one()
    return int(calls)


@contextmanager
def one_call(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool | None]]:
    """The answers of escrow's capture calls made inside the block (True: captured by the
    call, the one-call path; None: the long way), seen by wrapping `escrow.capture_answer`,
    which the payment's handler calls with the call's outcome (undone after the block)."""
    answers: list[bool | None] = []
    real = escrow.capture_answer

    def seen(conn: sa.Connection, call: escrow.CaptureCall, outcome: str | None) -> bool | None:
        answer = real(conn, call, outcome)
        answers.append(answer)
        return answer

    with monkeypatch.context() as patch:
        patch.setattr(escrow, "capture_answer", seen)
        yield answers


def warm(engine: sa.Engine, gateway: Gateway, world: World) -> None:
    """The event's first payment opens its escrow, the second reads its terms and accounts
    (both the long way): the connection knows them, and the next payment for the event is
    one call."""
    for n in range(2):
        _pay(engine, gateway, _checkout(engine, gateway, world, f"warm-{n}-{world.org}"))


@pytest.fixture
def worlds(one_connection: sa.Engine) -> tuple[World, World]:
    """Two organizers, each with an event on sale (and the platform)."""
    with one_connection.begin() as conn:
        return open_world(conn, capacities=(50,)), open_world(conn, capacities=(50,))


def _checkout(engine: sa.Engine, gateway: Gateway, world: World, key: str) -> tk.Checkout:
    return tk.start_checkout(engine, gateway, request(world, key, (2,)))


def _pay(engine: sa.Engine, gateway: Gateway, checkout: tk.Checkout) -> None:
    intent = payment_intent(gateway.intents[checkout.payment_intent_id], "succeeded")
    assert store(engine, stripe_event("payment_intent.succeeded", intent))
    assert drain(engine, ticketing_handlers(gateway)) == ["handled"]


def test_each_hot_path_writes_one_organizations_rows(
    one_connection: sa.Engine, worlds: tuple[World, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = one_connection
    a, b = worlds
    gateway = Gateway()
    # Each organizer's first sales open its accounts and the platform's, its escrow, and
    # teach the connection its terms (not a hot path).
    for world in worlds:
        warm(engine, gateway, world)
    writes = Writes(engine)

    checkout = _checkout(engine, gateway, a, "hot-1")
    checkout_wrote = writes.since()
    calls = capture_calls(engine)
    writes.since()
    with one_call(monkeypatch) as answers:
        _pay(engine, gateway, checkout)
    payment_wrote = writes.since()
    # The payment was the one-call path: escrow's capture call captured it.
    assert answers == [True]
    assert capture_calls(engine) == calls + 1
    with engine.begin() as conn:
        cash = ledger.open_account(
            conn, a.org, ledger.OpenAccount("sh-cash", "sh:cash", "asset", "EUR")
        ).id
        sales = ledger.open_account(
            conn, a.org, ledger.OpenAccount("sh-sales", "sh:sales", "revenue", "EUR")
        ).id
    writes.since()
    with engine.begin() as conn:
        ledger.post_entry(
            conn,
            a.org,
            ledger.PostEntry(
                "sh-post",
                [
                    ledger.Line(cash, "debit", 1_000, "EUR"),
                    ledger.Line(sales, "credit", 1_000, "EUR"),
                ],
            ),
        )
    posting_wrote = writes.since()
    with engine.begin() as conn:
        ledger.create_hold(conn, a.org, ledger.CreateHold("sh-hold", sales, cash, 500, "EUR"))
    hold_wrote = writes.since()
    # Both organizers' deliveries (their messages' e-mails) are due: one claim takes them.
    with engine.begin() as conn:
        claimed = dispatch.claim(conn, "sharding-test", 100, timedelta(minutes=1))
    claim_wrote = writes.since()

    for name, wrote in [
        ("checkout", checkout_wrote),
        ("payment", payment_wrote),
        ("posting", posting_wrote),
        ("hold", hold_wrote),
    ]:
        assert _orgs(wrote) == {a.org}, f"{name} wrote {wrote}"
    # What each path wrote (so the check above is not vacuous).
    assert {"ticketing.orders", "ticketing.tickets"} <= set(checkout_wrote)
    assert {"payments.entries", "payments.lines", "payments.card_payments"} <= set(payment_wrote)
    assert {"payments.entries", "payments.lines", "payments.accounts"} <= set(posting_wrote)
    assert {"payments.holds", "payments.accounts"} <= set(hold_wrote)
    # The claim, the known exception: one statement over every organization's deliveries.
    assert {d.org_id for d in claimed} == {a.org, b.org}
    assert claim_wrote == {"messaging.deliveries": {a.org, b.org}}


def test_the_payment_books_the_platforms_lines_with_the_organizers_entry(
    engine: sa.Engine, worlds: tuple[World, World]
) -> None:
    """The lines on the platform's accounts are distributed with the organizer's entry
    (entry_org_id) while their account is the platform's (org_id): the cross-organization
    read docs/scaling.md step 3 removes."""
    a, _ = worlds
    gateway = Gateway()
    _pay(engine, gateway, _checkout(engine, gateway, a, "lines-1"))
    with engine.connect() as conn:
        platform = conn.execute(
            sa.text("SELECT id FROM payments.organizations WHERE is_platform")
        ).scalar_one()
        owners = conn.execute(
            sa.text("""SELECT DISTINCT l.org_id, l.entry_org_id, a.code
                         FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                        WHERE l.entry_org_id = :org AND l.org_id <> l.entry_org_id"""),
            {"org": a.org},
        ).all()
    assert owners
    assert {(r.org_id, r.entry_org_id) for r in owners} == {(platform, a.org)}
    assert {r.code.split(":")[0] for r in owners} == {
        "stripe_balance",
        "platform_fees",
        "stripe_fees",
    }
