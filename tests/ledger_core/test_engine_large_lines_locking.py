"""Lines of 2**40 or more on high-volume accounts, and lines naming no account (review of
2e5ae69, session 29).

- The overflow hint (accounts.large_unrolled) stays up while a large line is unrolled: the
  writer of a large line and the roll-up are serialised on the account's row, in either order
  (the trigger raised it only when down, so a second large line took no lock and a concurrent
  roll-up, blind to the uncommitted line, lowered it).
- The writer of a large line locks the high-volume account in the doors' one order, with the
  organization's accounts, before any of the platform's (the trigger's UPDATE locked it at
  the line's insert, after the platform's: a deadlock with a hold's creation).
- A line naming no account is refused account_not_found, not dropped (the entry then failed
  only at commit, unbalanced).

Concurrency is observed, never timed: a session is known to wait when pg_stat_activity says
it waits on a lock; a lock is known to be held when NOWAIT cannot take it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import ledger
from tests.ledger_core.conftest import ORG_A, ORG_B, PLATFORM, OpenAccountFn, transfer
from tests.ledger_core.test_database_rules import insert_line

BIG = 2**40


def _pid(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _blocked_or_done(engine: sa.Engine, pid: int, thread: threading.Thread) -> bool:
    """Wait until the session `pid` waits on a lock (True) or `thread` has ended (False)."""
    deadline = time.monotonic() + 60
    with engine.connect() as probe:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                return False
            waiting = probe.execute(
                sa.text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"),
                {"p": pid},
            ).scalar()
            probe.rollback()
            if waiting:
                return True
            time.sleep(0.01)
    raise AssertionError(f"session {pid} neither waited on a lock nor ended in 60 s")


def _run(target: Callable[[], object], out: dict[str, object], name: str) -> threading.Thread:
    def body() -> None:
        try:
            out[name] = target()
        except Exception as exc:  # reported by the test's assertions
            out[name] = exc

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def _hint_and_unrolled(engine: sa.Engine, account: uuid.UUID) -> tuple[bool, int]:
    """The account's hint, and how many of its lines of 2**40 or more are not rolled up."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT a.large_unrolled, (SELECT count(*) FROM payments.lines l"
                " WHERE l.account_id = a.id AND l.account_version IS NULL"
                " AND l.amount >= :big) FROM payments.accounts a WHERE a.id = :a"
            ),
            {"a": account, "big": BIG},
        ).one()
    return bool(row[0]), int(row[1])


def _big_sale(key: str, cash: uuid.UUID, sales: uuid.UUID, fees: uuid.UUID) -> ledger.PostEntry:
    return ledger.PostEntry(
        key,
        [
            ledger.Line(cash, "debit", 2 * BIG, "USD"),
            ledger.Line(sales, "credit", BIG, "USD"),
            ledger.Line(fees, "credit", BIG, "USD"),
        ],
    )


@pytest.fixture
def sale_accounts(open_account: OpenAccountFn) -> dict[str, uuid.UUID]:
    return {
        "cash": open_account(ORG_A, "cash", "asset"),
        "sales": open_account(ORG_A, "sales", "revenue"),
        "fees": open_account(PLATFORM, "fees", "revenue", high_volume=True),
    }


def _roll_up(engine: sa.Engine, account: uuid.UUID) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(sa.text("SELECT payments.roll_up(:a)"), {"a": account}).scalar_one()
        )


def test_a_roll_up_during_a_second_large_line_leaves_the_hint_up_until_it_is_rolled(
    engine: sa.Engine, sale_accounts: dict[str, uuid.UUID]
) -> None:
    """The hint is up (a large fee line committed, unrolled); a second large fee line is
    posted and left uncommitted; a roll-up meanwhile waits for it (the writer holds the fee
    account's row), then rolls both lines and lowers the hint: never a large line unrolled
    with the hint down. Before: the roll-up rolled the first, saw no other, lowered the hint,
    and the second committed unrolled with the hint down (the fast doors then took the
    account without counting it)."""
    a = sale_accounts
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, _big_sale("L1", a["cash"], a["sales"], a["fees"]))
    assert _hint_and_unrolled(engine, a["fees"]) == (True, 1)
    out: dict[str, object] = {}
    with engine.connect() as writer:
        writer.begin()
        ledger.post_entry(writer, ORG_A, _big_sale("L2", a["cash"], a["sales"], a["fees"]))
        with engine.connect() as roller:
            pid = _pid(roller)
            roller.rollback()
            thread = _run(
                lambda: roller.execute(
                    sa.text("SELECT payments.roll_up(:a)"), {"a": a["fees"]}
                ).scalar_one(),
                out,
                "rolled",
            )
            try:
                waited = _blocked_or_done(engine, pid, thread)
            finally:
                writer.commit()
                thread.join(60)
            roller.commit()
    assert waited  # the roll-up waited for the writer of the large line
    assert out["rolled"] == 2  # then saw its line: both rolled up
    assert _hint_and_unrolled(engine, a["fees"]) == (False, 0)


def test_a_large_line_written_during_a_roll_up_raises_the_hint_after_it(
    engine: sa.Engine, sale_accounts: dict[str, uuid.UUID]
) -> None:
    """The other order: a roll-up has rolled the only large line and lowered the hint, not yet
    committed; a second large line's writer waits for it and raises the hint once it has
    committed. Before: the writer, seeing the hint up, took no lock; the roll-up committed
    the hint down under the new line."""
    a = sale_accounts
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, _big_sale("L1", a["cash"], a["sales"], a["fees"]))
    out: dict[str, object] = {}
    with engine.connect() as roller:
        roller.begin()
        assert (
            roller.execute(sa.text("SELECT payments.roll_up(:a)"), {"a": a["fees"]}).scalar_one()
            == 1
        )
        with engine.connect() as writer:
            pid = _pid(writer)
            writer.rollback()

            def write() -> object:
                with writer.begin():
                    return ledger.post_entry(
                        writer, ORG_A, _big_sale("L2", a["cash"], a["sales"], a["fees"])
                    )

            thread = _run(write, out, "posted")
            try:
                waited = _blocked_or_done(engine, pid, thread)
            finally:
                roller.commit()
                thread.join(60)
    assert waited  # the writer waited for the roll-up holding the fee account
    assert isinstance(out["posted"], ledger.WriteResult), out["posted"]
    assert _hint_and_unrolled(engine, a["fees"]) == (True, 1)
    assert _roll_up(engine, a["fees"]) == 1
    assert _hint_and_unrolled(engine, a["fees"]) == (False, 0)


def test_a_large_line_locks_the_high_volume_account_before_the_platforms(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The reviewer's deadlock: T2 creates a hold from the organization's high-volume account
    Y to its cash (locking both) and stays open; T1 posts cash2 debit 2*2**40, Y credit 2**40
    and the platform's P credit 2**40, and waits for Y. It waits holding none of the
    platform's accounts (Y is locked with the organization's, before P), so T2's transfer
    from cash to P goes through, and then T1's posting. Before: T1 had locked P (the usual
    way's lock statements, then _post's) and waited for Y in the line's trigger; T2's
    transfer waited for P: a deadlock."""
    cash = open_account(ORG_A, "cash", "asset")
    cash2 = open_account(ORG_A, "cash2", "asset")
    y = open_account(ORG_A, "a-fees", "revenue", high_volume=True)
    p = open_account(PLATFORM, "clearing", "liability")
    out: dict[str, object] = {}
    with engine.connect() as t2, engine.connect() as t1:
        t2.begin()
        ledger.create_hold(t2, ORG_A, ledger.CreateHold("h1", y, cash, 1, "USD"))
        pid = _pid(t1)
        t1.rollback()

        def post_big() -> object:
            with t1.begin():
                return ledger.post_entry(
                    t1,
                    ORG_A,
                    ledger.PostEntry(
                        "big1",
                        [
                            ledger.Line(cash2, "debit", 2 * BIG, "USD"),
                            ledger.Line(y, "credit", BIG, "USD"),
                            ledger.Line(p, "credit", BIG, "USD"),
                        ],
                    ),
                )

        thread = _run(post_big, out, "t1")
        try:
            assert _blocked_or_done(engine, pid, thread)  # T1 waits for Y, held by T2
            with engine.connect() as probe:  # P is free: T1 waits holding none of the platform's
                probe.execute(
                    sa.text(
                        "SELECT 1 FROM payments.accounts WHERE org_id = :o AND id = :p"
                        " FOR NO KEY UPDATE NOWAIT"
                    ),
                    {"o": PLATFORM, "p": p},
                )
                probe.rollback()
            out["t2"] = ledger.post_entry(t2, ORG_A, transfer("t2", cash, p, 1))
            t2.commit()
        finally:
            t2.rollback()
            thread.join(60)
    assert isinstance(out["t1"], ledger.WriteResult), out["t1"]
    assert isinstance(out["t2"], ledger.WriteResult), out["t2"]
    with engine.connect() as conn:
        moved: dict[uuid.UUID, int] = {
            r.id: r.posted_credits
            for r in conn.execute(
                sa.text("SELECT id, posted_credits FROM payments.accounts WHERE id IN (:y, :p)"),
                {"y": y, "p": p},
            )
        }
    assert moved == {y: 0, p: BIG + 1}  # Y's line waits for its roll-up; P moved by both


def _refused(result: dict[str, object]) -> tuple[object, object]:
    return result["code"], result["details"]


def _refusal(conn: sa.Connection, statement: str, params: dict[str, object]) -> tuple[str, object]:
    """The code and details of the refusal (SQLSTATE LX001) `statement` raises, in a savepoint."""
    with pytest.raises(DBAPIError) as raised, conn.begin_nested():
        conn.execute(sa.text(statement), params)
    diag = raised.value.orig.diag  # type: ignore[union-attr]
    assert raised.value.orig.sqlstate == "LX001"  # type: ignore[union-attr]
    return str(diag.message_primary), json.loads(str(diag.message_detail))


def test_a_line_naming_no_account_is_refused_not_dropped(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """A raw caller's line without an account: ledger_write refuses the entry
    account_not_found and writes nothing, the usual door (its long way) the same; a hold
    naming no account too. Before: the line was dropped, the entry answered 'succeeded' and
    failed only at COMMIT, unbalanced (the hold: a NOT NULL violation)."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    lines = [
        {"account_id": str(cash), "side": "debit", "amount": 10, "currency": "USD"},
        {"account_id": str(sales), "side": "credit", "amount": 5, "currency": "USD"},
        {"side": "credit", "amount": 5, "currency": "USD"},
    ]
    entry = {
        "org_id": str(ORG_A),
        "operation": "post_entries",
        "record_failure": True,
        "requests": [{"key": "no-account", "hash": "x", "lines": lines}],
    }
    hold = {
        "org_id": str(ORG_A),
        "operation": "create_hold",
        "requests": [
            {
                "key": "h",
                "hash": "h",
                "debit_account_id": str(cash),
                "amount": 1,
                "currency": "USD",
            }
        ],
    }
    write = "SELECT payments.ledger_write(CAST(:b AS jsonb))"
    with engine.begin() as conn:
        assert _refusal(conn, write, {"b": json.dumps(entry)}) == (
            "account_not_found",
            {"account_id": None},
        )
        assert _refusal(
            conn,
            "SELECT * FROM payments.post_entry(:o, 'no-account-2', 'y',"
            " ARRAY[CAST(:c AS uuid), NULL, CAST(:s AS uuid)],"
            " ARRAY['debit', 'credit', 'credit'], ARRAY[10, 5, 5]::bigint[],"
            " ARRAY['USD', 'USD', 'USD'], '', '{}', NULL, NULL)",
            {"o": ORG_A, "c": cash, "s": sales},
        ) == ("account_not_found", {"account_id": None})
        assert _refusal(conn, write, {"b": json.dumps(hold)}) == (
            "account_not_found",
            {"account_id": None},
        )
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM payments.lines")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM payments.holds")).scalar_one() == 0
        versions = conn.execute(
            sa.text("SELECT sum(version) FROM payments.accounts WHERE id IN (:c, :s)"),
            {"c": cash, "s": sales},
        ).scalar_one()
        assert versions == 0


def test_a_line_naming_no_account_in_a_batch_gets_its_own_refusal(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """In post_batch, the entry with a line naming no account is refused account_not_found on
    its own and the other entry posts (before: the batch answered both posted and its
    transaction failed at COMMIT, the good entry with it)."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    good = [
        {"account_id": str(cash), "side": "debit", "amount": 10, "currency": "USD"},
        {"account_id": str(sales), "side": "credit", "amount": 10, "currency": "USD"},
    ]
    bad = [
        {"account_id": str(cash), "side": "debit", "amount": 10, "currency": "USD"},
        {"account_id": str(sales), "side": "credit", "amount": 5, "currency": "USD"},
        {"account_id": None, "side": "credit", "amount": 5, "currency": "USD"},
    ]
    body = {
        "org_id": str(ORG_A),
        "requests": [
            {"key": "good", "hash": "g", "lines": good},
            {"key": "bad", "hash": "b", "lines": bad},
        ],
        "chains": [[0], [1]],
    }
    with engine.begin() as conn:
        answer = conn.execute(
            sa.text("SELECT payments.post_batch(CAST(:b AS jsonb))"), {"b": json.dumps(body)}
        ).scalar_one()
    first, second = answer["results"]
    assert first["status"] == "succeeded"
    assert second["status"] == "failed"
    assert _refused(second) == ("account_not_found", {"account_id": None})
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT posted_debits FROM payments.accounts WHERE id = :c"), {"c": cash}
            ).scalar_one()
            == 10
        )


def test_a_transaction_posting_for_two_organizations_may_deadlock_and_is_run_again(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Outside the one lock order (docs/engine.md): T1 posts for A then B, T2 for B then A,
    each holding the first organization's accounts. PostgreSQL breaks the cycle by failing
    one; the usual way runs in no subtransaction (none is paid for on every posting), so the
    victim's caller gets the database's deadlock (SQLSTATE 40P01, not a ledger refusal), its
    transaction aborted: the unit of work is run again (the API does: a lost race), and
    posts. A retry inside the door could not help: the victim's earlier posting, outside it,
    holds what the other waits for."""
    a1, a2 = open_account(ORG_A, "a1", "asset"), open_account(ORG_A, "a2", "asset")
    b1, b2 = open_account(ORG_B, "b1", "asset"), open_account(ORG_B, "b2", "asset")
    out: dict[str, object] = {}

    def second_posting(conn: sa.Connection, name: str, org: uuid.UUID, key: str) -> None:
        debit, credit = (a1, a2) if org == ORG_A else (b1, b2)
        try:
            out[name] = ledger.post_entry(conn, org, transfer(key, debit, credit, 1))
            conn.commit()
        except DBAPIError as exc:
            out[name] = exc
            conn.rollback()  # the aborted transaction's locks released: the other goes on

    with engine.connect() as t1, engine.connect() as t2:
        t1.begin()
        ledger.post_entry(t1, ORG_A, transfer("t1-a", a1, a2, 1))
        t2.begin()
        ledger.post_entry(t2, ORG_B, transfer("t2-b", b1, b2, 1))
        pid = _pid(t1)
        thread = threading.Thread(target=second_posting, args=(t1, "t1", ORG_B, "t1-b"))
        thread.start()
        try:
            assert _blocked_or_done(engine, pid, thread)  # T1 waits for T2's B accounts
            second_posting(t2, "t2", ORG_A, "t2-a")
        finally:
            thread.join(60)
    outcomes = {name: out[name] for name in ("t1", "t2")}
    failed = {n: o for n, o in outcomes.items() if not isinstance(o, ledger.WriteResult)}
    assert len(failed) == 1, outcomes  # one victim, the other posted
    ((victim, error),) = failed.items()
    assert isinstance(error, DBAPIError), error
    assert error.orig.sqlstate == "40P01"  # type: ignore[union-attr]
    # The victim's unit of work, run again: both its postings go through.
    first, second = (("t1-a", ORG_A, a1, a2), ("t1-b", ORG_B, b1, b2))
    if victim == "t2":
        first, second = (("t2-b", ORG_B, b1, b2), ("t2-a", ORG_A, a1, a2))
    with engine.begin() as conn:
        for key, org, debit, credit in (first, second):
            ledger.post_entry(conn, org, transfer(key, debit, credit, 1))
    with engine.connect() as conn:
        debits = conn.execute(
            sa.text("SELECT sum(posted_debits) FROM payments.accounts WHERE id IN (:a, :b)"),
            {"a": a1, "b": b1},
        ).scalar_one()
    assert debits == 4


def test_a_raw_writers_large_line_holds_the_hint_up_against_a_roll_up(
    engine: sa.Engine, sale_accounts: dict[str, uuid.UUID]
) -> None:
    """The owner writing lines by hand (no door locks for it): the line's trigger raises the
    hint under the account's row lock even when it is up already, so a roll-up meanwhile
    waits for the writer and then rolls its line too. Before: the trigger's UPDATE matched
    nothing (the hint was up) and took no lock."""
    a = sale_accounts
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, _big_sale("L1", a["cash"], a["sales"], a["fees"]))
    out: dict[str, object] = {}
    with engine.connect() as writer:
        writer.begin()
        entry = writer.execute(
            sa.text("INSERT INTO payments.entries (org_id) VALUES (:o) RETURNING id"), {"o": ORG_A}
        ).scalar_one()
        insert_line(writer, entry, a["cash"], "debit", BIG)
        insert_line(writer, entry, a["fees"], "credit", BIG, org=PLATFORM)
        with engine.connect() as roller:
            pid = _pid(roller)
            roller.rollback()
            thread = _run(
                lambda: roller.execute(
                    sa.text("SELECT payments.roll_up(:a)"), {"a": a["fees"]}
                ).scalar_one(),
                out,
                "rolled",
            )
            try:
                waited = _blocked_or_done(engine, pid, thread)
            finally:
                writer.commit()
                thread.join(60)
            roller.commit()
    assert waited
    assert out["rolled"] == 2
    assert _hint_and_unrolled(engine, a["fees"]) == (False, 0)


def test_roll_up_all_locks_each_organizations_accounts_before_the_platforms(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """roll_up_all keeps each account it rolls locked to its end: it takes them in the doors'
    one order, the organization's before the platform's (whatever order the rows were
    created in), so while it waits for an organization's account it holds none of the
    platform's. Before: in the table's order (here the platform's first)."""
    platform_fees = open_account(PLATFORM, "fees", "revenue", high_volume=True)
    org_fees = open_account(ORG_A, "a-fees", "revenue", high_volume=True)
    out: dict[str, object] = {}
    with engine.connect() as holder, engine.connect() as roller:
        holder.begin()
        holder.execute(
            sa.text(
                "SELECT 1 FROM payments.accounts WHERE org_id = :o AND id = :a FOR NO KEY UPDATE"
            ),
            {"o": ORG_A, "a": org_fees},
        )
        pid = _pid(roller)
        roller.rollback()
        thread = _run(
            lambda: roller.execute(sa.text("SELECT payments.roll_up_all()")).scalar_one(),
            out,
            "rolled",
        )
        try:
            assert _blocked_or_done(engine, pid, thread)  # waits for the organization's
            with engine.connect() as probe:  # holding none of the platform's
                probe.execute(
                    sa.text(
                        "SELECT 1 FROM payments.accounts WHERE org_id = :o AND id = :a"
                        " FOR NO KEY UPDATE NOWAIT"
                    ),
                    {"o": PLATFORM, "a": platform_fees},
                )
                probe.rollback()
        finally:
            holder.rollback()
            thread.join(60)
            roller.rollback()
    assert out["rolled"] == 0
