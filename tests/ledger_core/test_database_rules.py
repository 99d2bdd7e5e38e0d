"""The rules PostgreSQL enforces by itself, and who may write the ledger's tables at all.

The rules guard against raw SQL by whoever owns the tables (here the superuser, who has every
privilege and bypasses row-level security): every entry has two or more lines and balances
per currency (a deferred constraint trigger, so it is judged at COMMIT); posted rows are
append-only; account balances change only through the engine; CHECKs and foreign keys guard
amounts and currencies.

The application's roles never reach those rules by hand: an organization's role (a member of
liventix_app, acting for A) and a platform role (a member of liventix_platform) hold no INSERT,
UPDATE, DELETE or TRUNCATE on the ledger's tables and no EXECUTE on the engine's internal
functions; they write only through `payments.ledger_write` (and the platform also through the
sweeper and the roll-up). Every such attempt is refused by the privilege check (42501,
"permission denied for ...") and leaves every row of every table as it was.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import (
    ORG_A,
    ORG_B,
    OpenAccountFn,
    present_key,
    role_engine,
    transfer,
)
from tests.ledger_core.test_errors import db_moment_from_now, snapshot, wait_until_past
from tests.ledger_core.test_tenancy import (
    assert_permission_denied,
    full_snapshot,
    sqlstate,
)

APP = "app"
PLATFORM_ROLE = "platform"


@dataclass(frozen=True)
class Role:
    """An application role's engine, and the organization it acts for (None: itself)."""

    name: str
    engine: sa.Engine
    acts_for: uuid.UUID | None


@pytest.fixture(params=[APP, PLATFORM_ROLE])
def role(request: pytest.FixtureRequest, engine: sa.Engine, db_url: str) -> Iterator[Role]:
    """An organization's role acting for A, or a platform role acting for no organization
    (as the platform's own jobs do)."""
    name: str = request.param
    member_of, acts_for = {
        APP: ("liventix_app", ORG_A),
        PLATFORM_ROLE: ("liventix_platform", None),
    }[name]
    with role_engine(engine, db_url, member_of) as role_eng:
        yield Role(name, role_eng, acts_for)


@dataclass(frozen=True)
class Books:
    """Organization A's accounts, one entry posted and one hold made through the ledger."""

    cash: uuid.UUID  # asset, USD
    sales: uuid.UUID  # revenue, USD
    euros: uuid.UUID  # asset, EUR
    b_cash: uuid.UUID  # B's asset, USD
    entry: uuid.UUID  # cash debit 100 / sales credit 100
    hold: uuid.UUID  # cash -> sales, 10, open


@pytest.fixture
def books(engine: sa.Engine, open_account: OpenAccountFn) -> Books:
    """A's accounts, one committed entry and one open hold."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    euros = open_account(ORG_A, "euros", "asset", currency="EUR")
    b_cash = open_account(ORG_B, "cash", "asset")
    with engine.begin() as conn:
        entry = ledger.post_entry(conn, ORG_A, transfer("sale", cash, sales, 100)).id
        hold = ledger.create_hold(conn, ORG_A, ledger.CreateHold("hold", cash, sales, 10, "USD"))
    return Books(cash=cash, sales=sales, euros=euros, b_cash=b_cash, entry=entry, hold=hold.id)


def owner(engine: sa.Engine) -> sa.Connection:
    """A connection of the tables' owner (the superuser), in a transaction."""
    return engine.connect()


def as_role(role: Role) -> sa.Connection:
    """A connection of `role`, in a transaction, acting for its organization (if any)."""
    conn = role.engine.connect()
    present_key(conn, role.acts_for)
    return conn


def params(books: Books) -> dict[str, object]:
    """The ids the hand-written statements below may name."""
    return {
        "org": ORG_A,
        "b_org": ORG_B,
        "entry": books.entry,
        "cash": books.cash,
        "sales": books.sales,
        "b_cash": books.b_cash,
        "hold": books.hold,
    }


def insert_entry(conn: sa.Connection) -> uuid.UUID:
    """Insert an entry row for A by hand (no lines)."""
    entry: uuid.UUID = conn.execute(
        sa.text("INSERT INTO payments.entries (org_id) VALUES (:org) RETURNING id"), {"org": ORG_A}
    ).scalar_one()
    return entry


def insert_line(
    conn: sa.Connection,
    entry: uuid.UUID,
    account: uuid.UUID,
    side: str,
    amount: int,
    *,
    currency: str = "USD",
    org: uuid.UUID = ORG_A,
) -> None:
    """Insert a line by hand, booked for A, on `account` (owned by `org`)."""
    conn.execute(
        sa.text(
            "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side,"
            " amount, currency, effective_at)"
            " VALUES (:entry, :entry_org, :org, :account, :side, :amount, :currency, now())"
        ),
        {
            "entry": entry,
            "entry_org": ORG_A,
            "org": org,
            "account": account,
            "side": side,
            "amount": amount,
            "currency": currency,
        },
    )


def lines_of(conn: sa.Connection, entry: uuid.UUID) -> int:
    """How many lines the entry has, as this connection sees them."""
    return int(
        conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE entry_id = :e"), {"e": entry}
        ).scalar_one()
    )


def constraint(error: sa.exc.DBAPIError) -> str | None:
    """The name of the constraint a driver error reports."""
    name: str | None = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    return name


# --- balanced entries, judged at commit (the owner's hands) ------------------------------------


def test_unbalanced_entry_by_hand_fails_at_commit(engine: sa.Engine, books: Books) -> None:
    before = full_snapshot(engine)
    with owner(engine) as conn:
        entry = insert_entry(conn)
        insert_line(conn, entry, books.cash, "debit", 100)
        insert_line(conn, entry, books.sales, "credit", 90)
        assert lines_of(conn, entry) == 2  # the inserts went through
        with pytest.raises(ledger.UnbalancedEntry) as info, ledger.translated_errors():
            conn.commit()
    err = info.value
    assert (err.currency, err.debits, err.credits) == ("USD", 100, 90)
    assert err.details["entry_id"] == str(entry)
    assert full_snapshot(engine) == before


@pytest.mark.parametrize("n_lines", [0, 1])
def test_entry_with_fewer_than_two_lines_fails_at_commit(
    engine: sa.Engine, books: Books, n_lines: int
) -> None:
    before = full_snapshot(engine)
    with owner(engine) as conn:
        entry = insert_entry(conn)
        if n_lines:
            insert_line(conn, entry, books.cash, "debit", 100)
        assert lines_of(conn, entry) == n_lines
        with pytest.raises(ledger.TooFewLines) as info, ledger.translated_errors():
            conn.commit()
    assert info.value.count == n_lines
    assert info.value.details["entry_id"] == str(entry)
    assert full_snapshot(engine) == before


def test_line_added_to_a_committed_entry_fails_at_commit(engine: sa.Engine, books: Books) -> None:
    before = full_snapshot(engine)
    with owner(engine) as conn:
        insert_line(conn, books.entry, books.cash, "debit", 10)
        assert lines_of(conn, books.entry) == 3
        with pytest.raises(ledger.UnbalancedEntry) as info, ledger.translated_errors():
            conn.commit()
    assert (info.value.debits, info.value.credits) == (110, 100)
    assert full_snapshot(engine) == before
    with engine.connect() as conn:
        assert len(ledger.get_entry(conn, books.entry).lines) == 2


def test_unbalanced_in_one_currency_fails_even_when_the_totals_match(
    engine: sa.Engine, books: Books
) -> None:
    before = full_snapshot(engine)
    with owner(engine) as conn:
        entry = insert_entry(conn)
        insert_line(conn, entry, books.cash, "debit", 100)
        insert_line(conn, entry, books.euros, "credit", 100, currency="EUR")
        with pytest.raises(ledger.UnbalancedEntry) as info, ledger.translated_errors():
            conn.commit()
    err = info.value
    assert (err.currency, err.debits, err.credits) in {("USD", 100, 0), ("EUR", 0, 100)}
    assert full_snapshot(engine) == before


def test_balanced_entry_by_hand_commits(engine: sa.Engine, books: Books) -> None:
    """The control: the trigger judges balance, it does not refuse every hand-made entry."""
    with owner(engine) as conn:
        entry = insert_entry(conn)
        insert_line(conn, entry, books.cash, "debit", 30)
        insert_line(conn, entry, books.cash, "debit", 20)
        insert_line(conn, entry, books.sales, "credit", 50)
        conn.commit()
    with engine.connect() as conn:
        assert [(x.side, x.amount) for x in ledger.get_entry(conn, entry).lines] == [
            ("debit", 30),
            ("debit", 20),
            ("credit", 50),
        ]


# Since 0006 only the lines' trigger judges balance and the entries' trigger refuses an entry
# without lines: a line inserted after its entry was judged must still be judged, and every
# entry of a transaction on its own.


@pytest.mark.parametrize("mode", ["DEFERRED", "IMMEDIATE"])
def test_line_added_after_the_entry_was_judged_is_judged_too(
    engine: sa.Engine, books: Books, mode: str
) -> None:
    before = full_snapshot(engine)
    with owner(engine) as conn:
        entry = insert_entry(conn)
        insert_line(conn, entry, books.cash, "debit", 100)
        insert_line(conn, entry, books.sales, "credit", 100)
        conn.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))  # judged now: balanced
        conn.execute(sa.text(f"SET CONSTRAINTS ALL {mode}"))
        with pytest.raises(ledger.UnbalancedEntry) as info, ledger.translated_errors():
            insert_line(conn, entry, books.cash, "debit", 5)
            conn.commit()
    assert (info.value.debits, info.value.credits) == (105, 100)
    assert full_snapshot(engine) == before


def test_each_entry_of_a_transaction_is_judged(engine: sa.Engine, books: Books) -> None:
    before = full_snapshot(engine)
    with owner(engine) as conn:
        good, bad = insert_entry(conn), insert_entry(conn)
        insert_line(conn, good, books.cash, "debit", 40)
        insert_line(conn, bad, books.cash, "debit", 40)
        insert_line(conn, good, books.sales, "credit", 40)
        insert_line(conn, bad, books.sales, "credit", 30)
        with pytest.raises(ledger.UnbalancedEntry) as info, ledger.translated_errors():
            conn.commit()
    assert info.value.details["entry_id"] == str(bad)
    assert full_snapshot(engine) == before
    with owner(engine) as conn:
        good, empty = insert_entry(conn), insert_entry(conn)
        insert_line(conn, good, books.cash, "debit", 40)
        insert_line(conn, good, books.sales, "credit", 40)
        with pytest.raises(ledger.TooFewLines) as short, ledger.translated_errors():
            conn.commit()
    assert (short.value.count, short.value.details["entry_id"]) == (0, str(empty))
    assert full_snapshot(engine) == before


def test_the_door_names_the_first_entry_with_too_few_lines(engine: sa.Engine, books: Books) -> None:
    """Python refuses such a batch before any I/O; the door judges it too, in request order."""

    def entry(key: str, n_lines: int) -> dict[str, object]:
        lines = [
            {"account_id": str(books.cash), "side": "debit", "amount": 10, "currency": "USD"},
            {"account_id": str(books.sales), "side": "credit", "amount": 10, "currency": "USD"},
        ]
        return {"key": key, "hash": key, "lines": lines[:n_lines]}

    request = {
        "org_id": str(ORG_A),
        "operation": "post_entries",
        "requests": [entry("fine", 2), entry("short", 1), entry("empty", 0)],
    }
    before = full_snapshot(engine)
    with owner(engine) as conn:
        with pytest.raises(ledger.TooFewLines) as info, ledger.translated_errors():
            conn.execute(
                sa.text("SELECT payments.ledger_write(CAST(:p AS jsonb))"),
                {"p": json.dumps(request)},
            )
        conn.rollback()
    assert info.value.details["entry"] == 2
    assert full_snapshot(engine) == before


# --- append-only (the owner's hands) ----------------------------------------------------------

# The owner has every privilege: the triggers refuse (LX002).
CHANGES = [
    "UPDATE payments.lines SET amount = amount + 1",
    "UPDATE payments.lines SET side = 'credit' WHERE side = 'debit'",
    "UPDATE payments.lines SET account_version = account_version + 1",
    "DELETE FROM payments.lines",
    "TRUNCATE payments.lines",
    "UPDATE payments.entries SET description = 'changed'",
    "DELETE FROM payments.entries",
    "TRUNCATE payments.entries CASCADE",
    "UPDATE payments.holds SET amount = amount + 1",
    "DELETE FROM payments.holds",
    "UPDATE payments.idempotency_keys SET status = 'failed'",
    "DELETE FROM payments.idempotency_keys",
    "DELETE FROM payments.accounts",
]


@pytest.mark.parametrize("statement", CHANGES)
def test_posted_rows_cannot_be_changed_or_removed(
    engine: sa.Engine, books: Books, statement: str
) -> None:
    before = full_snapshot(engine)
    with owner(engine) as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.exec_driver_sql(statement)
    assert sqlstate(info.value) == "LX002"
    assert "append-only" in str(info.value.orig)
    assert full_snapshot(engine) == before


@pytest.mark.parametrize(
    "assignment",
    [
        "posted_debits = posted_debits + 1",
        "posted_credits = posted_credits + 1",
        "pending_debits = 5",
        "version = version + 1",
        "closed = true",
    ],
)
def test_account_balances_cannot_be_set_by_hand(
    engine: sa.Engine, books: Books, assignment: str
) -> None:
    before = full_snapshot(engine)
    with owner(engine) as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(
            sa.text(f"UPDATE payments.accounts SET {assignment} WHERE id = :id"),
            {"id": books.cash},
        )
    assert sqlstate(info.value) == "LX002"
    assert "only by posting through the ledger" in str(info.value.orig)
    assert full_snapshot(engine) == before


@pytest.mark.parametrize(
    "assignment",
    [
        "currency = 'EUR'",
        "type = 'liability'",
        "code = 'other'",
        "org_id = :b_org",
        "normal_side = 'credit'",
    ],
)
def test_account_identity_cannot_change(engine: sa.Engine, books: Books, assignment: str) -> None:
    before = full_snapshot(engine)
    with owner(engine) as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(
            sa.text(f"UPDATE payments.accounts SET {assignment} WHERE id = :id"),
            {"id": books.cash, "b_org": ORG_B},
        )
    assert sqlstate(info.value) == "LX002"
    assert "identity" in str(info.value.orig)
    assert full_snapshot(engine) == before


def test_an_accounts_normal_side_follows_its_type_whatever_the_insert_says(
    engine: sa.Engine, books: Books
) -> None:
    """normal_side is a plain column (not generated: session 29), set from the type at
    INSERT by accounts_rules whatever the inserter gives."""
    with owner(engine) as conn:
        sides = conn.execute(
            sa.text(
                "INSERT INTO payments.accounts (org_id, code, name, type, currency, normal_side)"
                " VALUES (:org, 'ns-asset', 'ns', 'asset', 'USD', 'credit'),"
                " (:org, 'ns-expense', 'ns', 'expense', 'USD', NULL),"
                " (:org, 'ns-revenue', 'ns', 'revenue', 'USD', 'debit'),"
                " (:org, 'ns-liability', 'ns', 'liability', 'USD', 'debit'),"
                " (:org, 'ns-equity', 'ns', 'equity', 'USD', 'debit')"
                " RETURNING type, normal_side"
            ),
            {"org": ORG_B},
        ).all()
    assert dict(sides) == {
        "asset": "debit",
        "expense": "debit",
        "revenue": "credit",
        "liability": "credit",
        "equity": "credit",
    }


# --- CHECKs and foreign keys (the owner's hands) ----------------------------------------------


@dataclass(frozen=True)
class BadLine:
    """A line the table's rules refuse: its account (a `Books` field), amount, other
    arguments of `insert_line`, and the SQLSTATE and constraint of the refusal."""

    account: str
    amount: int
    extra: dict[str, Any]
    state: str
    constraint: str


BAD_LINES = [
    *[
        pytest.param(BadLine("cash", a, {}, "23514", "lines_amount_check"), id=f"amount={a}")
        for a in (0, -1, -(2**63))
    ],
    # a line's currency must be its account's
    pytest.param(
        BadLine("cash", 100, {"currency": "EUR"}, "23503", "lines_account_fkey"), id="currency"
    ),
    # a line names its account together with the account's organization and currency
    pytest.param(
        BadLine("b_cash", 100, {"org": ORG_A}, "23503", "lines_account_fkey"), id="other-owner"
    ),
]


@pytest.mark.parametrize("bad", BAD_LINES)
def test_a_line_breaking_a_table_rule_is_refused(
    engine: sa.Engine, books: Books, bad: BadLine
) -> None:
    """Non-positive amounts (check_violation), another currency than the account's, another
    owner than the account's (foreign_key_violation): refused, nothing written."""
    before = full_snapshot(engine)
    with owner(engine) as conn:
        entry = insert_entry(conn)
        with pytest.raises(sa.exc.DBAPIError) as info:
            insert_line(conn, entry, getattr(books, bad.account), "debit", bad.amount, **bad.extra)
    assert sqlstate(info.value) == bad.state
    assert constraint(info.value) == bad.constraint
    assert full_snapshot(engine) == before


# --- the application's roles write nothing by hand --------------------------------------------

# (statement, the table the privilege check names). Each would get through the privilege
# check were the privilege granted: the row-level checks and triggers would then have their
# say (an own-organization row for A, an LX002 refusal, ...), so a 42501 "permission denied
# for table" here is the privilege and nothing else.
DIRECT_WRITES = [
    ("INSERT INTO payments.entries (org_id) VALUES (:org)", "entries"),
    (
        "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,"
        " currency, effective_at) VALUES (:entry, :org, :org, :cash, 'debit', 10, 'USD', now())",
        "lines",
    ),
    (
        "INSERT INTO payments.holds (org_id, debit_account_id, credit_account_id, amount,"
        " currency) VALUES (:org, :cash, :sales, 10, 'USD')",
        "holds",
    ),
    (
        "INSERT INTO payments.hold_resolutions (hold_id, org_id, kind)"
        " VALUES (:hold, :org, 'voided')",
        "hold_resolutions",
    ),
    (
        "INSERT INTO payments.idempotency_keys (org_id, key, operation, request_hash, status,"
        " result) VALUES (:org, 'forged', 'post_entries', 'x', 'succeeded', '{}')",
        "idempotency_keys",
    ),
    (
        "INSERT INTO payments.accounts (org_id, code, name, type, currency, posted_debits)"
        " VALUES (:org, 'forged', 'Forged', 'asset', 'USD', 1000000)",
        "accounts",
    ),
    ("UPDATE payments.lines SET amount = amount + 1 WHERE entry_id = :entry", "lines"),
    ("UPDATE payments.lines SET side = 'credit' WHERE side = 'debit'", "lines"),
    ("UPDATE payments.lines SET account_version = account_version + 1", "lines"),
    ("DELETE FROM payments.lines", "lines"),
    ("TRUNCATE payments.lines", "lines"),
    ("UPDATE payments.entries SET description = 'changed'", "entries"),
    ("UPDATE payments.entries SET org_id = :b_org", "entries"),
    ("DELETE FROM payments.entries", "entries"),
    ("UPDATE payments.accounts SET posted_debits = posted_debits + 1000000", "accounts"),
    ("UPDATE payments.accounts SET posted_credits = posted_credits + 1", "accounts"),
    ("UPDATE payments.accounts SET pending_debits = 0 WHERE id = :cash", "accounts"),
    ("UPDATE payments.accounts SET version = version + 1", "accounts"),
    ("UPDATE payments.accounts SET closed = true WHERE id = :cash", "accounts"),
    ("UPDATE payments.accounts SET currency = 'EUR' WHERE id = :cash", "accounts"),
    ("UPDATE payments.accounts SET type = 'liability' WHERE id = :cash", "accounts"),
    ("UPDATE payments.accounts SET code = 'other' WHERE id = :cash", "accounts"),
    ("UPDATE payments.accounts SET org_id = :b_org WHERE id = :cash", "accounts"),
    ("DELETE FROM payments.accounts", "accounts"),
    ("UPDATE payments.holds SET amount = 1", "holds"),
    ("DELETE FROM payments.holds", "holds"),
    ("UPDATE payments.hold_resolutions SET kind = 'expired'", "hold_resolutions"),
    ("UPDATE payments.idempotency_keys SET status = 'failed'", "idempotency_keys"),
    ("DELETE FROM payments.idempotency_keys", "idempotency_keys"),
    ("UPDATE payments.organizations SET is_platform = true WHERE id = :org", "organizations"),
    ("DELETE FROM payments.organizations WHERE id = :org", "organizations"),
]


@pytest.mark.parametrize(("statement", "table"), DIRECT_WRITES)
def test_application_roles_cannot_write_the_tables(
    engine: sa.Engine, role: Role, books: Books, statement: str, table: str
) -> None:
    before = full_snapshot(engine)
    with as_role(role) as conn:
        # the role does see the rows it would change: its refusal is not an empty match
        assert lines_of(conn, books.entry) == 2
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.execute(sa.text(statement), params(books))
    assert_permission_denied(info.value, "table", table)
    assert full_snapshot(engine) == before


def test_application_roles_cannot_row_lock_accounts(
    engine: sa.Engine, role: Role, books: Books
) -> None:
    """Row locks need UPDATE: only the engine, as the owner, locks accounts."""
    with as_role(role) as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(
            sa.text("SELECT id FROM payments.accounts WHERE id = :cash FOR NO KEY UPDATE"),
            params(books),
        )
    assert_permission_denied(info.value, "table", "accounts")


def test_app_role_cannot_create_an_organization(
    engine: sa.Engine, db_url: str, books: Books
) -> None:
    """Registering organizations is the platform's (it holds INSERT there, nothing more)."""
    before = full_snapshot(engine)
    with (
        role_engine(engine, db_url, "liventix_app") as app,
        app.connect() as conn,
        pytest.raises(sa.exc.DBAPIError) as info,
    ):
        present_key(conn, ORG_A)
        conn.execute(
            sa.text("INSERT INTO payments.organizations (id, name) VALUES (:id, 'Org C')"),
            {"id": uuid.uuid4()},
        )
    assert_permission_denied(info.value, "table", "organizations")
    assert full_snapshot(engine) == before


@pytest.mark.parametrize(
    "assignment",
    [
        "posted_debits = posted_debits + 1000000",
        "pending_debits = 0",
        "version = version + 1",
        "closed = true",
    ],
)
def test_raising_the_writer_flag_does_not_let_a_role_set_balances(
    engine: sa.Engine, role: Role, books: Books, assignment: str
) -> None:
    """`payments.writer` is an ordinary setting any session may raise; it only tells the
    owner's trigger that the engine is at work. It grants nothing."""
    before = full_snapshot(engine)
    with as_role(role) as conn:
        conn.execute(sa.text("SELECT set_config('payments.writer', 'on', true)"))
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.execute(
                sa.text(f"UPDATE payments.accounts SET {assignment} WHERE id = :cash"),
                params(books),
            )
    assert_permission_denied(info.value, "table", "accounts")
    with engine.connect() as conn:
        cash = ledger.balance(conn, books.cash)
    assert (cash.posted, cash.pending) == (100, 110)  # the sale; and the open hold's 10
    assert full_snapshot(engine) == before


# (call, the function the privilege check names). The engine's internal functions run
# only inside the door, as its owner.
INTERNAL_CALLS = [
    ("SELECT payments._post(:org, CAST(:entries AS jsonb))", "_post"),
    ("SELECT payments._create_hold(:org, CAST(:new_hold AS jsonb))", "_create_hold"),
    ("SELECT payments._post_hold(:org, CAST(:hold_ref AS jsonb))", "_post_hold"),
    ("SELECT payments._void_hold(:org, CAST(:hold_ref AS jsonb))", "_void_hold"),
    (
        "SELECT payments._release_pending(h) FROM payments.holds h WHERE h.id = :hold",
        "_release_pending",
    ),
    ("SELECT payments._open_account(:org, CAST(:new_account AS jsonb))", "_open_account"),
    ("SELECT payments._close_account(:org, CAST(:account_ref AS jsonb))", "_close_account"),
    (
        "SELECT payments._lock_accounts(:org, ARRAY[CAST(:cash AS uuid)], true, NULL)",
        "_lock_accounts",
    ),
    ("SELECT payments._check_org(:org)", "_check_org"),
    ("SELECT payments.assert_entry_balanced(:entry)", "assert_entry_balanced"),
]


def call_params(books: Books) -> dict[str, object]:
    """`params` and the JSON payloads of the internal functions: each a valid request."""
    line = {"currency": "USD", "amount": 10}
    return {
        **params(books),
        "entries": json.dumps(
            [
                {
                    "key": "forged",
                    "lines": [
                        {**line, "account_id": str(books.cash), "side": "debit"},
                        {**line, "account_id": str(books.sales), "side": "credit"},
                    ],
                }
            ]
        ),
        "new_hold": json.dumps(
            {
                "debit_account_id": str(books.cash),
                "credit_account_id": str(books.sales),
                "amount": 5,
                "currency": "USD",
            }
        ),
        "hold_ref": json.dumps({"hold_id": str(books.hold)}),
        "new_account": json.dumps({"code": "forged", "type": "asset", "currency": "USD"}),
        "account_ref": json.dumps({"account_id": str(books.cash)}),
    }


@pytest.mark.parametrize(("call", "function"), INTERNAL_CALLS)
def test_application_roles_cannot_call_the_internal_functions(
    engine: sa.Engine, role: Role, books: Books, call: str, function: str
) -> None:
    before = full_snapshot(engine)
    with as_role(role) as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(sa.text(call), call_params(books))
        conn.commit()
    assert_permission_denied(info.value, "function", function)
    assert full_snapshot(engine) == before


def test_the_internal_calls_are_valid_for_the_owner(engine: sa.Engine, books: Books) -> None:
    """The control for the test above: run by the owner, each call does its work, so a
    role's refusal is the missing privilege, not a malformed call."""
    before = full_snapshot(engine)
    for call, function in INTERNAL_CALLS:
        with owner(engine) as conn:
            ledger.act_for(conn, ORG_A)
            conn.execute(sa.text("SELECT set_config('payments.writer', 'on', true)"))
            conn.execute(sa.text(call), call_params(books))
            conn.rollback()
        assert full_snapshot(engine) == before, function


# --- the sweeper and the roll-up are the platform's -------------------------------------------


@pytest.fixture
def due(engine: sa.Engine, open_account: OpenAccountFn, books: Books) -> uuid.UUID:
    """An expired, unresolved hold of A's and a high-volume line not yet rolled up; returns
    the high-volume account."""
    volume = open_account(ORG_A, "volume", "asset", high_volume=True)
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("volume-sale", volume, books.sales, 7))
        expiry = db_moment_from_now(engine, 200)
        ledger.create_hold(
            conn,
            ORG_A,
            ledger.CreateHold("expiring", books.cash, books.sales, 3, "USD", expires_at=expiry),
        )
    wait_until_past(engine, expiry)
    return volume


@pytest.mark.parametrize(
    ("call", "function"),
    [
        ("SELECT payments.expire_holds()", "expire_holds"),
        ("SELECT payments.roll_up_all()", "roll_up_all"),
        ("SELECT payments.roll_up(:volume)", "roll_up"),
    ],
)
def test_app_role_cannot_run_the_sweeper_or_the_roll_up(
    engine: sa.Engine, db_url: str, due: uuid.UUID, call: str, function: str
) -> None:
    before = full_snapshot(engine)
    with (
        role_engine(engine, db_url, "liventix_app") as app,
        app.connect() as conn,
        pytest.raises(sa.exc.DBAPIError) as info,
    ):
        present_key(conn, ORG_A)
        conn.execute(sa.text(call), {"volume": due})
        conn.commit()
    assert_permission_denied(info.value, "function", function)
    assert full_snapshot(engine) == before


def test_platform_role_runs_the_sweeper_and_the_roll_up(
    engine: sa.Engine, db_url: str, due: uuid.UUID
) -> None:
    """The control for the test above: the same calls do their work for a platform role
    with the platform's key, and refuse it without."""
    with role_engine(engine, db_url, "liventix_platform") as platform:
        for call in (ledger.expire_holds, ledger.roll_up):
            with platform.begin() as conn, pytest.raises(ledger.PermissionDenied):
                call(conn)
        with platform.begin() as conn:
            present_key(conn, None)
            assert ledger.expire_holds(conn) == 1
            assert ledger.roll_up(conn) == 1
    with engine.connect() as conn:
        assert snapshot(engine).counts["hold_resolutions"] == 1
        unrolled = conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE account_version IS NULL")
        ).scalar_one()
        assert unrolled == 0
        assert ledger.balance(conn, due).posted == 7
