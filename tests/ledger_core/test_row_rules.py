"""The rules of a single row of lines, entries and idempotency keys, judged by row triggers.

They were CHECK constraints, which every INSERT reads from their stored text, plans and
compiles again; the row triggers that judge the rows' references judge them now, and raise
what the CHECK raised (23514, the constraint's name). The
engine's fast doors skip those triggers and write rows that keep the rules by construction.
The accounts' five balance columns share one rule, the check of their domain
(payments.account_count, constraint accounts_balances_check). Each case is raw SQL by
the tables' owner (the superuser) and leaves every table as it was.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer

TABLES = ("accounts", "entries", "lines", "idempotency_keys")


@dataclass(frozen=True)
class Books:
    """A's accounts, one entry posted and one hold made through the ledger."""

    cash: uuid.UUID
    sales: uuid.UUID
    fees: uuid.UUID  # high volume
    entry: uuid.UUID
    hold: uuid.UUID


@pytest.fixture
def books(engine: sa.Engine, open_account: OpenAccountFn) -> Books:
    """A's accounts, one committed entry (cash 100 / sales, 5 of it to fees), one open hold."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    fees = open_account(ORG_A, "fees", "revenue", high_volume=True)
    with engine.begin() as conn:
        entry = ledger.post_entry(
            conn,
            ORG_A,
            ledger.PostEntry(
                "sale",
                [
                    ledger.Line(cash, "debit", 100, "USD"),
                    ledger.Line(sales, "credit", 95, "USD"),
                    ledger.Line(fees, "credit", 5, "USD"),
                ],
            ),
        ).id
        hold = ledger.create_hold(conn, ORG_A, ledger.CreateHold("hold", cash, sales, 10, "USD"))
    return Books(cash=cash, sales=sales, fees=fees, entry=entry, hold=hold.id)


def snapshot(engine: sa.Engine) -> dict[str, object]:
    """Every row of the tables, as text, in order."""
    with engine.connect() as conn:
        return {
            t: conn.execute(
                sa.text(f"SELECT array_agg(x::text ORDER BY x::text) FROM payments.{t} x")
            ).scalar_one()
            for t in TABLES
        }


def refused(engine: sa.Engine, statement: str, params: dict[str, Any]) -> tuple[str, str]:
    """Run `statement` as the owner; the SQLSTATE and constraint of its refusal."""
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(sa.text(statement), params)
    diag = getattr(info.value.orig, "diag", None)
    return (
        str(getattr(info.value.orig, "sqlstate", None)),
        str(getattr(diag, "constraint_name", None)),
    )


_LINE = (
    "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,"
    " currency, effective_at, account_version, account_posted_debits, account_posted_credits)"
    " VALUES (:e, :org, :org, :cash, 'debit', 10, 'USD', now(), NULL, NULL, NULL),"
    " (:e, :org, :org, :sales, {side}, {amount}, 'USD', now(), {position})"
)
_ENTRY = (
    "INSERT INTO payments.entries (org_id, kind, reverses_entry_id, hold_id)"
    " VALUES (:org, 'standard', NULL, NULL), (:org, {kind}, {reverses}, {hold})"
)
_KEY = (
    "INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,"
    " result) VALUES (:org, 'fine', 'post_entries', 'h', 'succeeded', '{{}}'),"
    " (:org, {key}, 'post_entries', 'h', {status}, '{{}}')"
)

# (statement, the constraint it breaks): the second row of each statement breaks one rule,
# the first keeps every rule, so the whole statement is refused.
BROKEN = [
    pytest.param(
        _LINE.format(side="'sideways'", amount="10", position="NULL, NULL, NULL"),
        "lines_side_check",
        id="line-side",
    ),
    *[
        pytest.param(
            _LINE.format(side="'credit'", amount=amount, position="NULL, NULL, NULL"),
            "lines_amount_check",
            id=f"line-amount={amount}",
        )
        for amount in ("0", "-10", "-9223372036854775808")
    ],
    *[
        pytest.param(
            _LINE.format(side="'credit'", amount="10", position=position),
            "lines_position_complete",
            id=f"line-position={position.replace(' ', '')}",
        )
        for position in ("1, NULL, NULL", "1, 0, NULL", "NULL, 0, 0", "NULL, NULL, 10")
    ],
    pytest.param(
        _ENTRY.format(kind="'gift'", reverses="NULL", hold="NULL"),
        "entries_kind_check",
        id="entry-kind",
    ),
    pytest.param(
        _ENTRY.format(kind="'reversal'", reverses="NULL", hold="NULL"),
        "entries_reversal_names_entry",
        id="reversal-without-entry",
    ),
    pytest.param(
        _ENTRY.format(kind="'standard'", reverses=":entry", hold="NULL"),
        "entries_reversal_names_entry",
        id="standard-naming-an-entry",
    ),
    pytest.param(
        _ENTRY.format(kind="'hold_post'", reverses="NULL", hold="NULL"),
        "entries_hold_post_names_hold",
        id="hold-post-without-hold",
    ),
    pytest.param(
        _ENTRY.format(kind="'standard'", reverses="NULL", hold=":hold"),
        "entries_hold_post_names_hold",
        id="standard-naming-a-hold",
    ),
    pytest.param(
        _KEY.format(key="''", status="'succeeded'"), "idempotency_keys_key_check", id="key"
    ),
    pytest.param(
        _KEY.format(key="'other'", status="'maybe'"), "idempotency_keys_status_check", id="status"
    ),
]


@pytest.mark.parametrize(("statement", "rule"), BROKEN)
def test_a_row_breaking_a_rule_is_refused_as_a_check(
    engine: sa.Engine, books: Books, statement: str, rule: str
) -> None:
    """A statement with one row breaking a rule: check_violation under the rule's name,
    nothing written (the rule judged before the row's references)."""
    before = snapshot(engine)
    with engine.connect() as conn:
        entry = conn.execute(
            sa.text("INSERT INTO payments.entries (org_id) VALUES (:org) RETURNING id"),
            {"org": ORG_A},
        ).scalar_one()
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.execute(
                sa.text(statement),
                {
                    "e": entry,
                    "org": ORG_A,
                    "cash": books.cash,
                    "sales": books.sales,
                    "entry": books.entry,
                    "hold": books.hold,
                },
            )
    diag = getattr(info.value.orig, "diag", None)
    assert getattr(info.value.orig, "sqlstate", None) == "23514"
    assert getattr(diag, "constraint_name", None) == rule
    assert getattr(diag, "table_name", None) == next(t for t in TABLES if rule.startswith(t))
    assert f'violates check constraint "{rule}"' in str(info.value.orig)
    assert snapshot(engine) == before


def test_rows_keeping_the_rules_pass(engine: sa.Engine, books: Books) -> None:
    """Rows keeping every rule go through: an entry and its lines, a reversal naming it and
    its lines, a key, written by hand, commit."""
    ids = {"org": ORG_A, "cash": books.cash, "sales": books.sales}
    with engine.begin() as conn:
        entry = conn.execute(
            sa.text("INSERT INTO payments.entries (org_id) VALUES (:org) RETURNING id"), ids
        ).scalar_one()
        conn.execute(
            sa.text(_LINE.format(side="'credit'", amount="10", position="NULL, NULL, NULL")),
            {**ids, "e": entry},
        )
        reversal = conn.execute(
            sa.text(
                "INSERT INTO payments.entries (org_id, kind, reverses_entry_id)"
                " VALUES (:org, 'reversal', :entry) RETURNING id"
            ),
            {**ids, "entry": entry},
        ).scalar_one()
        conn.execute(
            sa.text(_LINE.format(side="'credit'", amount="10", position="NULL, NULL, NULL")),
            {**ids, "e": reversal, "cash": books.sales, "sales": books.cash},
        )
        conn.execute(sa.text(_KEY.format(key="'other'", status="'failed'")), ids)
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM payments.lines WHERE entry_id IN (:a, :b)"),
                {"a": entry, "b": reversal},
            ).scalar_one()
            == 4
        )


def test_the_roll_up_must_give_a_complete_position(engine: sa.Engine, books: Books) -> None:
    """A high-volume account's line takes its version and both totals at once: a partial
    position is refused as lines_position_complete; the roll-up's own passes."""
    before = snapshot(engine)
    for assignment in (
        "account_version = 1",
        "account_version = 1, account_posted_debits = 0",
        "account_posted_debits = 0, account_posted_credits = 5",
    ):
        state, rule = refused(
            engine,
            f"UPDATE payments.lines SET {assignment} WHERE account_id = :fees",
            {"fees": books.fees},
        )
        assert (state, rule) == ("23514", "lines_position_complete"), assignment
    assert snapshot(engine) == before
    with engine.begin() as conn:
        assert ledger.roll_up(conn) == 1
        position = conn.execute(
            sa.text(
                "SELECT account_version, account_posted_debits, account_posted_credits"
                " FROM payments.lines WHERE account_id = :fees"
            ),
            {"fees": books.fees},
        ).one()
    assert tuple(position) == (1, 0, 5)


@pytest.mark.parametrize(
    "column", ["posted_debits", "posted_credits", "pending_debits", "pending_credits", "version"]
)
def test_no_balance_below_zero(engine: sa.Engine, books: Books, column: str) -> None:
    """Inside the engine's rights (payments.writer on), a balance or version below zero is
    still refused: accounts_balances_check, the check of the five columns' domain."""
    before = snapshot(engine)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(sa.text("SET LOCAL payments.writer = 'on'"))
        conn.execute(
            sa.text(f"UPDATE payments.accounts SET {column} = -1 WHERE id = :cash"),
            {"cash": books.cash},
        )
    assert getattr(info.value.orig, "sqlstate", None) == "23514"
    diag = getattr(info.value.orig, "diag", None)
    assert getattr(diag, "constraint_name", None) == "accounts_balances_check"
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError):
        conn.execute(
            sa.text(
                "INSERT INTO payments.accounts (org_id, code, name, type, currency,"
                f" {column}) VALUES (:org, 'neg', 'neg', 'asset', 'USD', -1)"
            ),
            {"org": ORG_A},
        )
    assert snapshot(engine) == before


def test_the_fast_door_refuses_an_empty_key(engine: sa.Engine, books: Books) -> None:
    """payments.post_entry skips the keys' trigger: it judges the key's rule itself (raw SQL
    past the Python side's validation), as the CHECK did; nothing written."""
    before = snapshot(engine)
    state, rule = refused(
        engine,
        "SELECT * FROM payments.post_entry(:org, '', 'h', ARRAY[:cash, :sales]::uuid[],"
        " '{debit,credit}', '{10,10}', '{USD,USD}', '', NULL, NULL, NULL)",
        {"org": ORG_A, "cash": books.cash, "sales": books.sales},
    )
    assert (state, rule) == ("23514", "idempotency_keys_key_check")
    assert snapshot(engine) == before


def test_the_fast_doors_rows_keep_the_rules(engine: sa.Engine, books: Books) -> None:
    """What the fast doors wrote (single postings, a batch, a high-volume account's line)
    passes every rule the skipped triggers judge."""
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("one", books.cash, books.sales, 7))
        ledger.post_batch(
            conn,
            ORG_A,
            [transfer(f"b{i}", books.cash, books.sales, 1 + i) for i in range(3)],
        )
        broken = conn.execute(
            sa.text(
                "SELECT"
                " (SELECT count(*) FROM payments.lines WHERE NOT (side IN ('debit', 'credit')"
                "   AND amount > 0"
                "   AND (account_version IS NULL) = (account_posted_debits IS NULL)"
                "   AND (account_version IS NULL) = (account_posted_credits IS NULL)))"
                " + (SELECT count(*) FROM payments.entries"
                "   WHERE NOT (kind IN ('standard', 'hold_post', 'reversal')"
                "   AND (kind = 'reversal') = (reverses_entry_id IS NOT NULL)"
                "   AND (kind = 'hold_post') = (hold_id IS NOT NULL)))"
                " + (SELECT count(*) FROM payments.idempotency_keys"
                "   WHERE NOT (key <> '' AND status IN ('succeeded', 'failed')))"
            )
        ).scalar_one()
        lines = conn.execute(sa.text("SELECT count(*) FROM payments.lines")).scalar_one()
    assert lines == 3 + 2 + 2 * 3
    assert broken == 0
