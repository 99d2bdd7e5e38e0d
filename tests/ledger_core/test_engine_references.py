"""The references the ledger's rows make, checked by triggers instead of by foreign keys.

Entries, lines and idempotency keys name their organization, account and entry without
foreign-key constraints (one query per row was most of a batch's server time; the engine's
fast doors check them once per posting or batch themselves); row triggers, skipped in those
doors, check the same references and raise the foreign keys' error (23503) under their old
constraint names. The rows they name can never go away. A line
added to an entry an earlier transaction posted is refused at commit even when it balances.
Each case is raw SQL by the tables' owner (the superuser, who bypasses row-level security),
and leaves every table as it was.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn, transfer
from tests.ledger_core.test_database_rules import constraint, insert_entry, insert_line, lines_of
from tests.ledger_core.test_tenancy import sqlstate

NOWHERE = uuid.UUID("00000000-0000-0000-0000-0000000000ff")
TABLES = ("organizations", "accounts", "entries", "lines", "idempotency_keys")


@dataclass(frozen=True)
class Books:
    """A's accounts and B's, and one entry posted through the ledger (cash 100 / sales)."""

    cash: uuid.UUID
    sales: uuid.UUID
    b_cash: uuid.UUID
    entry: uuid.UUID


@pytest.fixture
def books(engine: sa.Engine, open_account: OpenAccountFn) -> Books:
    """A's and B's accounts, and one committed entry."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    b_cash = open_account(ORG_B, "cash", "asset")
    with engine.begin() as conn:
        entry = ledger.post_entry(conn, ORG_A, transfer("sale", cash, sales, 100)).id
    return Books(cash=cash, sales=sales, b_cash=b_cash, entry=entry)


def snapshot(engine: sa.Engine) -> dict[str, object]:
    """Every row of the tables the references join, as text, in order."""
    with engine.connect() as conn:
        return {
            t: conn.execute(
                sa.text(f"SELECT array_agg(x::text ORDER BY x::text) FROM payments.{t} x")
            ).scalar_one()
            for t in TABLES
        }


def owner(engine: sa.Engine) -> sa.Connection:
    """A connection of the tables' owner (the superuser), in a transaction."""
    return engine.connect()


def test_a_balanced_pair_added_to_a_posted_entry_is_refused_at_commit(
    engine: sa.Engine, books: Books
) -> None:
    """Balance alone would let it through: the entry was posted by an earlier transaction."""
    before = snapshot(engine)
    with owner(engine) as conn:
        insert_line(conn, books.entry, books.cash, "debit", 10)
        insert_line(conn, books.entry, books.sales, "credit", 10)
        assert lines_of(conn, books.entry) == 4  # the inserts went through
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.commit()
    assert sqlstate(info.value) == "LX002"
    assert "append-only" in str(info.value.orig)
    assert snapshot(engine) == before
    with engine.connect() as conn:
        assert len(ledger.get_entry(conn, books.entry).lines) == 2


def test_a_balanced_pair_in_one_statement_on_a_posted_entry_is_refused(
    engine: sa.Engine, books: Books
) -> None:
    """Lines that balance among themselves are not judged at commit for balance; the entry's
    age still queues them."""
    before = snapshot(engine)
    with owner(engine) as conn:
        conn.execute(
            sa.text(
                "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side,"
                " amount, currency, effective_at) VALUES"
                " (:e, :org, :org, :cash, 'debit', 5, 'USD', now()),"
                " (:e, :org, :org, :sales, 'credit', 5, 'USD', now())"
            ),
            {"e": books.entry, "org": ORG_A, "cash": books.cash, "sales": books.sales},
        )
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.commit()
    assert sqlstate(info.value) == "LX002"
    assert snapshot(engine) == before


def test_an_entry_and_its_lines_in_separate_statements_of_one_transaction_commit(
    engine: sa.Engine, books: Books
) -> None:
    """The control: lines of an entry this transaction inserted (in a savepoint too) pass."""
    with owner(engine) as conn:
        with conn.begin_nested():  # the entry's row carries the savepoint's own xid
            entry = insert_entry(conn)
        with conn.begin_nested():
            insert_line(conn, entry, books.cash, "debit", 7)
        insert_line(conn, entry, books.sales, "credit", 7)
        conn.commit()
    with engine.connect() as conn:
        assert [(x.side, x.amount) for x in ledger.get_entry(conn, entry).lines] == [
            ("debit", 7),
            ("credit", 7),
        ]


def test_a_line_naming_no_entry_is_refused(engine: sa.Engine, books: Books) -> None:
    before = snapshot(engine)
    with owner(engine) as conn, pytest.raises(sa.exc.DBAPIError) as info:
        insert_line(conn, uuid.uuid4(), books.cash, "debit", 100)
    assert sqlstate(info.value) == "23503"
    assert constraint(info.value) == "lines_entry_fkey"
    assert snapshot(engine) == before


def test_a_line_claiming_another_organization_for_its_entry_is_refused(
    engine: sa.Engine, books: Books
) -> None:
    before = snapshot(engine)
    with owner(engine) as conn:
        entry = insert_entry(conn)  # A's
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.execute(
                sa.text(
                    "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id,"
                    " side, amount, currency, effective_at)"
                    " VALUES (:e, :b, :b, :b_cash, 'debit', 1, 'USD', now())"
                ),
                {"e": entry, "b": ORG_B, "b_cash": books.b_cash},
            )
    assert sqlstate(info.value) == "23503"
    assert constraint(info.value) == "lines_entry_fkey"
    assert snapshot(engine) == before


def test_a_line_naming_no_account_is_refused(engine: sa.Engine, books: Books) -> None:
    before = snapshot(engine)
    with owner(engine) as conn:
        entry = insert_entry(conn)
        with pytest.raises(sa.exc.DBAPIError) as info:
            insert_line(conn, entry, uuid.uuid4(), "debit", 100)
    assert sqlstate(info.value) == "23503"
    assert constraint(info.value) == "lines_account_fkey"
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("statement", "name"),
    [
        ("INSERT INTO payments.entries (org_id) VALUES (:nowhere)", "entries_org_id_fkey"),
        (
            "INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash,"
            " status, result) VALUES (:nowhere, 'k', 'post_entries', 'h', 'succeeded', '{}')",
            "idempotency_keys_org_id_fkey",
        ),
    ],
)
def test_rows_naming_no_organization_are_refused(
    engine: sa.Engine, books: Books, statement: str, name: str
) -> None:
    before = snapshot(engine)
    with owner(engine) as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(sa.text(statement), {"nowhere": NOWHERE})
    assert sqlstate(info.value) == "23503"
    assert constraint(info.value) == name
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM payments.organizations WHERE id = :org",
        "TRUNCATE payments.organizations CASCADE",
        "UPDATE payments.organizations SET id = :nowhere WHERE id = :org",
        "TRUNCATE payments.accounts CASCADE",
    ],
)
def test_what_the_rows_name_never_goes_away(
    engine: sa.Engine, books: Books, statement: str
) -> None:
    before = snapshot(engine)
    with owner(engine) as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(sa.text(statement), {"org": ORG_A, "nowhere": NOWHERE})
    assert sqlstate(info.value) == "LX002"
    assert snapshot(engine) == before


def test_an_organization_can_still_be_renamed(engine: sa.Engine, books: Books) -> None:
    """The control: only its id is fixed."""
    with owner(engine) as conn:
        conn.execute(
            sa.text("UPDATE payments.organizations SET name = 'Org A2' WHERE id = :org"),
            {"org": ORG_A},
        )
        conn.commit()
    with engine.connect() as conn:
        name = conn.execute(
            sa.text("SELECT name FROM payments.organizations WHERE id = :org"), {"org": ORG_A}
        ).scalar_one()
    assert name == "Org A2"


@pytest.fixture
def holds(engine: sa.Engine, books: Books) -> dict[str, uuid.UUID]:
    """A hold of A's and one of B's (B's on B's cash and a B account of its own)."""
    with engine.begin() as conn:
        a = ledger.create_hold(
            conn, ORG_A, ledger.CreateHold("hold-a", books.cash, books.sales, 5, "USD")
        ).id
    b_sales = ledger_account(engine, ORG_B, "sales")
    with engine.begin() as conn:
        b = ledger.create_hold(
            conn, ORG_B, ledger.CreateHold("hold-b", books.b_cash, b_sales, 5, "USD")
        ).id
    return {"a": a, "b": b}


def ledger_account(engine: sa.Engine, org: uuid.UUID, code: str) -> uuid.UUID:
    """A revenue account opened through the ledger."""
    with engine.begin() as conn:
        account: uuid.UUID = ledger.open_account(
            conn, org, ledger.OpenAccount(code, code, "revenue", "USD")
        ).id
    return account


def b_entry(engine: sa.Engine, books: Books) -> uuid.UUID:
    """An entry posted for B."""
    b_sales = ledger_account(engine, ORG_B, "b-sales")
    with engine.begin() as conn:
        entry: uuid.UUID = ledger.post_entry(
            conn, ORG_B, transfer("b-sale", books.b_cash, b_sales, 3)
        ).id
    return entry


_NAMES = {"reverses_entry_id": "entries_reverses_entry_id_fkey", "hold_id": "entries_hold_id_fkey"}


@pytest.mark.parametrize("column", ["reverses_entry_id", "hold_id"])
@pytest.mark.parametrize("names", ["nowhere", "another organization's"])
def test_an_entry_naming_no_entry_or_hold_of_its_organization_is_refused(
    engine: sa.Engine, books: Books, holds: dict[str, uuid.UUID], column: str, names: str
) -> None:
    """The entry a reversal reverses and the hold a hold's posting posts: declared foreign
    keys NOT ENFORCED since session 31 (an enforced one fired its check for every entry, NULL
    or not), checked by the entries' insert trigger with the same error and name, by raw SQL
    as through the doors."""
    kind = "hold_post" if column == "hold_id" else "reversal"
    if names == "nowhere":
        target = NOWHERE
    else:
        target = holds["b"] if column == "hold_id" else b_entry(engine, books)
    before = snapshot(engine)
    with owner(engine) as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(
            sa.text(
                f"INSERT INTO payments.entries (org_id, kind, {column})"
                " VALUES (:org, :kind, :target)"
            ),
            {"org": ORG_A, "kind": kind, "target": target},
        )
    assert sqlstate(info.value) == "23503"
    assert constraint(info.value) == _NAMES[column]
    assert snapshot(engine) == before


@pytest.mark.parametrize("column", ["reverses_entry_id", "hold_id"])
def test_an_entry_naming_its_organization_s_entry_or_hold_passes_the_reference(
    engine: sa.Engine, books: Books, holds: dict[str, uuid.UUID], column: str
) -> None:
    """The control: the same raw insert naming A's own entry or hold passes the reference
    (it is then queued for the balance check at commit, having no line: rolled back)."""
    target = holds["a"] if column == "hold_id" else books.entry
    kind = "hold_post" if column == "hold_id" else "reversal"
    with owner(engine) as conn:
        entry = conn.execute(
            sa.text(
                f"INSERT INTO payments.entries (org_id, kind, {column})"
                " VALUES (:org, :kind, :target) RETURNING id"
            ),
            {"org": ORG_A, "kind": kind, "target": target},
        ).scalar_one()
        assert entry is not None
        conn.rollback()


def test_no_foreign_key_check_fires_on_the_entries_insert(engine: sa.Engine) -> None:
    """No referential-integrity trigger on payments.entries' inserts: the two references are
    the trigger's (at the old code, an enforced foreign key's check trigger per reference)."""
    with engine.connect() as conn:
        fired = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
                " WHERE t.tgrelid = 'payments.entries'::regclass AND t.tgisinternal"
                " AND p.proname = 'RI_FKey_check_ins'"
            )
        ).scalar_one()
        declared = conn.execute(
            sa.text(
                "SELECT array_agg(conname::text ORDER BY conname) FROM pg_constraint"
                " WHERE conrelid = 'payments.entries'::regclass AND contype = 'f'"
                " AND NOT conenforced"
            )
        ).scalar_one()
    assert fired == 0
    assert declared == ["entries_hold_id_fkey", "entries_reverses_entry_id_fkey"]


@pytest.mark.parametrize("column", ["reverses_entry_id", "hold_id"])
@pytest.mark.parametrize("names", ["nowhere", "another organization's"])
def test_the_references_are_checked_even_with_engine_checked_set(
    engine: sa.Engine, books: Books, holds: dict[str, uuid.UUID], column: str, names: str
) -> None:
    """payments.engine_checked (the fast doors' flag, which skips the row checks) does not
    skip the two references: an owner's session setting it is refused as any writer is, as
    the enforced foreign keys refused it (review 2, M1: at 4b9c9a8 the references were
    checked inside check_new_entry, skipped under the flag, and these inserts went through)."""
    kind = "hold_post" if column == "hold_id" else "reversal"
    if names == "nowhere":
        target = NOWHERE
    else:
        target = holds["b"] if column == "hold_id" else b_entry(engine, books)
    before = snapshot(engine)
    with owner(engine) as conn:
        conn.execute(sa.text("SET LOCAL payments.engine_checked = 'on'"))
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.execute(
                sa.text(
                    f"INSERT INTO payments.entries (org_id, kind, {column})"
                    " VALUES (:org, :kind, :target)"
                ),
                {"org": ORG_A, "kind": kind, "target": target},
            )
    assert sqlstate(info.value) == "23503"
    assert constraint(info.value) == _NAMES[column]
    assert snapshot(engine) == before


def test_the_references_trigger_is_not_behind_engine_checked(engine: sa.Engine) -> None:
    """The catalog's side of the same: the entries' trigger calling check_entry_references
    fires whenever a reference is set, its WHEN naming no setting."""
    with engine.connect() as conn:
        whens = (
            conn.execute(
                sa.text(
                    "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t"
                    " JOIN pg_proc p ON p.oid = t.tgfoid"
                    " WHERE t.tgrelid = 'payments.entries'::regclass"
                    " AND p.proname = 'check_entry_references'"
                )
            )
            .scalars()
            .all()
        )
    assert len(whens) == 1
    assert "engine_checked" not in whens[0]
    assert "reverses_entry_id IS NOT NULL" in whens[0]
