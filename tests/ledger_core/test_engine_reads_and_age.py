"""The engine's point-in-time read and its judgement of an entry's age.

- `balance_as_of` reads one index entry of the account's lines however the planner guesses
  their number: after the statement's fifth use (prepared, planned once for any account)
  too, for an account holding far more lines than the average. Counted in blocks read from
  payments.lines and its indexes by this transaction (`pg_stat_get_xact_blocks_fetched`).
- An entry counts as posted by an earlier transaction by the 64-bit id of the transaction
  that posted it (`entries.created_xact`), not by its row's 32-bit xmin, which names another
  transaction again after 2**32 of them.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer

_BLOCKS = sa.text("""
    SELECT sum(pg_stat_get_xact_blocks_fetched(c.oid))
      FROM pg_class c
     WHERE c.oid = 'payments.lines'::regclass
        OR c.oid IN (SELECT indexrelid FROM pg_index
                      WHERE indrelid = 'payments.lines'::regclass)
""")


def _blocks(conn: sa.Connection) -> int:
    return int(conn.execute(_BLOCKS).scalar_one())


def test_balance_as_of_probes_one_line_once_prepared_for_a_big_account(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    """A big account among many small ones: the plan prepared for any account still probes."""
    big = open_account(ORG_A, "big", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with db.begin() as conn:
        small = list(
            conn.execute(
                sa.text(
                    "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                    " SELECT :org, 'small-' || g, 'small', 'asset', 'USD'"
                    " FROM generate_series(1, 3000) g RETURNING id"
                ),
                {"org": ORG_A},
            ).scalars()
        )
        for n in range(6):
            ledger.post_batch(
                conn,
                ORG_A,
                [transfer(f"big-{n}-{i}", big, sales, 1 + i) for i in range(1000)]
                + [
                    transfer(
                        f"small-{n}-{i}", small[n * 500 + i], small[(n * 500 + i + 1) % 3000], 3
                    )
                    for i in range(500)
                ],
            )
        middle: datetime = conn.execute(
            sa.text(
                "SELECT min(created_at) + (max(created_at) - min(created_at)) / 2"
                " FROM payments.lines WHERE account_id = :a"
            ),
            {"a": big},
        ).scalar_one()
        conn.execute(sa.text("ANALYZE payments.lines"))
    with db.begin() as conn:
        expected = conn.execute(
            sa.text(
                "SELECT coalesce(sum(amount), 0) FROM payments.lines"
                " WHERE account_id = :a AND created_at <= :t"
            ),
            {"a": big, "t": middle},
        ).scalar_one()
        for by in ("recorded", "effective"):
            for _ in range(8):  # past the five custom plans of a prepared statement
                ledger.balance_as_of(conn, big, middle, by=by)
            before = _blocks(conn)
            found = ledger.balance_as_of(conn, big, middle, by=by)
            read = _blocks(conn) - before
            assert found.posted_debits == expected
            # One probe: a few index pages (a read of the account's 6,000 lines: 30 or more).
            assert read <= 12, (by, read)


def test_an_entry_is_judged_by_the_transaction_that_posted_it_not_its_xmin(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """An entry row this transaction inserted but marked as posted by another transaction
    (what an old entry whose xmin came round again looks like) takes no new lines."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.connect() as conn:  # the tables' owner
        entry = conn.execute(
            sa.text(
                "INSERT INTO payments.entries (org_id, created_xact)"
                " VALUES (:org, '3'::xid8) RETURNING id"
            ),
            {"org": ORG_A},
        ).scalar_one()
        assert conn.execute(
            sa.text(
                "SELECT xmin::text = (pg_current_xact_id()::xid)::text"
                " FROM payments.entries WHERE id = :e"
            ),
            {"e": entry},
        ).scalar_one()  # its xmin is this transaction's: the old test would pass it
        for account, side in ((cash, "debit"), (sales, "credit")):
            conn.execute(
                sa.text(
                    "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id,"
                    " side, amount, currency, effective_at)"
                    " VALUES (:e, :org, :org, :a, :side, 5, 'USD', now())"
                ),
                {"e": entry, "org": ORG_A, "a": account, "side": side},
            )
        try:
            conn.commit()
        except sa.exc.DBAPIError as exc:
            assert getattr(exc.orig, "sqlstate", None) == "LX002"
        else:
            raise AssertionError("lines were added to an entry posted by another transaction")
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM payments.entries WHERE id = :e"), {"e": entry}
            ).scalar_one()
            == 0
        )


def test_an_entry_posted_in_this_transaction_takes_its_lines(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The control: the default created_xact is the posting transaction's, savepoint or not."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.connect() as conn:
        with conn.begin_nested():
            entry: uuid.UUID = conn.execute(
                sa.text("INSERT INTO payments.entries (org_id) VALUES (:org) RETURNING id"),
                {"org": ORG_A},
            ).scalar_one()
        for account, side in ((cash, "debit"), (sales, "credit")):
            conn.execute(
                sa.text(
                    "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id,"
                    " side, amount, currency, effective_at)"
                    " VALUES (:e, :org, :org, :a, :side, 5, 'USD', now())"
                ),
                {"e": entry, "org": ORG_A, "a": account, "side": side},
            )
        conn.commit()
    with engine.connect() as conn:
        assert len(ledger.get_entry(conn, entry).lines) == 2


_POST_ONE = sa.text("""
    SELECT status, id, code FROM payments.post_entry(
        :org, :key, 'hash', CAST(:accounts AS uuid[]), CAST(:sides AS text[]),
        CAST(:amounts AS bigint[]), CAST(:currencies AS text[]), '', NULL, NULL, NULL)
""")


def _count_entries(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM payments.entries")).scalar_one())


def test_the_fast_door_refuses_an_unbalanced_entry_itself(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """payments.post_entry skips the row triggers: an entry that does not balance per
    currency, called by hand past the Python checks, is still refused, and nothing stays."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    before = _count_entries(engine)
    for sides, amounts in ((["debit", "credit"], [10, 9]), (["debit", "debit"], [5, 5])):
        with engine.connect() as conn:
            try:
                conn.execute(
                    _POST_ONE,
                    {
                        "org": ORG_A,
                        "key": f"unbalanced-{amounts}",
                        "accounts": [str(cash), str(sales)],
                        "sides": sides,
                        "amounts": amounts,
                        "currencies": ["USD", "USD"],
                    },
                )
                conn.commit()
            except sa.exc.DBAPIError as exc:
                assert getattr(exc.orig, "sqlstate", None) in ("LX001", "LX002"), exc
            else:
                raise AssertionError(f"an unbalanced entry was posted: {sides} {amounts}")
    assert _count_entries(engine) == before


def test_a_caller_setting_the_engines_flag_still_gets_the_checks(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The flag that skips the row triggers is the fast doors' own: a caller that sets
    it and asks ledger_write for an unbalanced entry is refused at commit."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    before = _count_entries(engine)
    request = {
        "org_id": str(ORG_A),
        "operation": "post_entries",
        "record_failure": False,
        "requests": [
            {
                "key": "forged-flag",
                "hash": "h",
                "kind": "standard",
                "lines": [
                    {"account_id": str(cash), "side": "debit", "amount": 10, "currency": "USD"},
                    {"account_id": str(sales), "side": "credit", "amount": 7, "currency": "USD"},
                ],
                "description": "",
                "metadata": {},
                "effective_at": None,
                "external_ref": None,
                "conditions": [],
            }
        ],
    }
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT set_config('payments.engine_checked', 'on', true)"))
        try:
            conn.execute(
                sa.text("SELECT payments.ledger_write(CAST(:p AS jsonb))"),
                {"p": json.dumps(request)},
            )
            conn.commit()
        except sa.exc.DBAPIError as exc:
            assert getattr(exc.orig, "sqlstate", None) in ("LX001", "LX002"), exc
        else:
            raise AssertionError("an unbalanced entry was posted with the flag forged")
    assert _count_entries(engine) == before
