"""Tenancy with real non-superuser roles, acting for an organization only by its API key.

Reads go through row-level security: an organization's role (a member of liventix_app) sees
only the rows of the organization whose key it presented (`payments.authenticate`), nothing
when it presented none, and nothing more when it sets `liventix.org_id` by hand; a member of
liventix_platform sees everything with the platform's key, and nothing without it.

Writes go only through the ledger's door (`payments.ledger_write`, run with its owner's
rights): an organization's role acts only for the organization whose key it presented and
sees neither another's nor the platform's accounts; without a key it cannot write at all. A
platform role with the platform's key acts for any organization and may use the platform's
accounts in its entries; with an organization's key it is scoped like that organization's
role; without a key it acts for no one. Neither role may write a table by hand
(test_database_rules checks every table; here, the cross-organization cases), nor call
`payments.act_for` (`ledger.act_for`), the owner's way to act for anyone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import (
    ORG_A,
    ORG_B,
    PLATFORM,
    OpenAccountFn,
    present_key,
    role_engine,
    transfer,
)
from tests.ledger_core.test_errors import State, snapshot
from tests.support import api_key

TABLES = (
    "organizations",
    "accounts",
    "entries",
    "lines",
    "holds",
    "hold_resolutions",
    "idempotency_keys",
)


@pytest.fixture
def platform_engine(engine: sa.Engine, db_url: str) -> Iterator[sa.Engine]:
    """An engine for a platform role (a member of liventix_platform)."""
    with role_engine(engine, db_url, "liventix_platform") as role:
        yield role


@dataclass(frozen=True)
class World:
    """Accounts, entries and holds of A, B and the platform, written by the superuser."""

    a_cash: uuid.UUID
    a_sales: uuid.UUID
    a_wallet: uuid.UUID
    b_cash: uuid.UUID
    b_sales: uuid.UUID
    fees: uuid.UUID
    a_entry: uuid.UUID
    b_entry: uuid.UUID
    b_hold: uuid.UUID


# What each organization's role may see of the world below.
VISIBLE = {
    ORG_A: {
        "organizations": 1,
        "accounts": 3,
        "entries": 3,  # sale, fee, hold post
        "lines": 6,  # the platform's fee line included: the entry is booked for A
        "holds": 2,
        "hold_resolutions": 1,
        "idempotency_keys": 8,  # 3 accounts, 2 entries, 2 holds, 1 hold post
    },
    ORG_B: {
        "organizations": 1,
        "accounts": 2,
        "entries": 4,  # 3 sales, 1 fee
        "lines": 8,
        "holds": 2,
        "hold_resolutions": 1,
        "idempotency_keys": 9,  # 2 accounts, 4 entries, 2 holds, 1 void
    },
}
TOTAL = {
    "organizations": 3,
    "accounts": 6,
    "entries": 7,
    "lines": 14,
    "holds": 4,
    "hold_resolutions": 2,
    "idempotency_keys": 18,  # and the platform's fee account
}


@pytest.fixture
def world(engine: sa.Engine, open_account: OpenAccountFn) -> World:
    """Both organizations have accounts, entries (some touching the platform) and holds."""
    w = World(
        a_cash=open_account(ORG_A, "cash", "asset"),
        a_sales=open_account(ORG_A, "sales", "revenue"),
        a_wallet=open_account(ORG_A, "wallet", "liability"),
        b_cash=open_account(ORG_B, "cash", "asset"),
        b_sales=open_account(ORG_B, "sales", "revenue"),
        fees=open_account(PLATFORM, "fees", "revenue"),
        a_entry=uuid.uuid4(),
        b_entry=uuid.uuid4(),
        b_hold=uuid.uuid4(),
    )
    with engine.begin() as conn:
        a_entry = ledger.post_entry(conn, ORG_A, transfer("a-sale", w.a_cash, w.a_sales, 500))
        ledger.post_entry(conn, ORG_A, transfer("a-fee", w.a_sales, w.fees, 50))
        ledger.create_hold(conn, ORG_A, ledger.CreateHold("a-h1", w.a_cash, w.a_wallet, 70, "USD"))
        a_h2 = ledger.create_hold(
            conn, ORG_A, ledger.CreateHold("a-h2", w.a_cash, w.a_wallet, 40, "USD")
        )
        ledger.post_hold(conn, ORG_A, ledger.PostHold("a-h2-post", a_h2.id))
        b_entry = ledger.post_entry(conn, ORG_B, transfer("b-sale-1", w.b_cash, w.b_sales, 100))
        ledger.post_entry(conn, ORG_B, transfer("b-sale-2", w.b_cash, w.b_sales, 100))
        ledger.post_entry(conn, ORG_B, transfer("b-sale-3", w.b_cash, w.b_sales, 100))
        ledger.post_entry(conn, ORG_B, transfer("b-fee", w.b_sales, w.fees, 30))
        b_hold = ledger.create_hold(
            conn, ORG_B, ledger.CreateHold("b-h1", w.b_cash, w.b_sales, 20, "USD")
        )
        b_h2 = ledger.create_hold(
            conn, ORG_B, ledger.CreateHold("b-h2", w.b_cash, w.b_sales, 10, "USD")
        )
        ledger.void_hold(conn, ORG_B, ledger.VoidHold("b-h2-void", b_h2.id))
    assert visible_counts(engine) == TOTAL
    return replace(w, a_entry=a_entry.id, b_entry=b_entry.id, b_hold=b_hold.id)


def visible_counts(
    engine: sa.Engine, org: uuid.UUID | None = None, *, act: bool = True
) -> dict[str, int]:
    """Rows of each payments table the engine's role sees, having presented the key of `org`
    (None: the platform's) or no key at all."""
    with engine.connect() as conn:
        if act:
            present_key(conn, org)
        return visible_counts_on(conn)


def visible_counts_on(conn: sa.Connection) -> dict[str, int]:
    """Rows of each payments table the connection sees now."""
    return {
        t: int(conn.execute(sa.text(f"SELECT count(*) FROM payments.{t}")).scalar_one())
        for t in TABLES
    }


def owned_counts(engine: sa.Engine, org: uuid.UUID) -> dict[str, int]:
    """Rows of each table that belong to `org`, counted by the superuser."""
    where = {
        "organizations": "id = :o",
        "lines": "org_id = :o OR entry_org_id = :o",
    }
    with engine.connect() as conn:
        return {
            t: int(
                conn.execute(
                    sa.text(
                        f"SELECT count(*) FROM payments.{t} WHERE {where.get(t, 'org_id = :o')}"
                    ),
                    {"o": org},
                ).scalar_one()
            )
            for t in TABLES
        }


Digests = dict[str, tuple[int, str]]


def digests(engine: sa.Engine) -> Digests:
    """Each payments table's row count and a hash of all its rows, read by the superuser.

    Finer than `snapshot`: it sees every column of every row (an account's code or currency,
    an organization's platform flag, a line's position), so any change at all shows.
    """
    with engine.connect() as conn:
        out: Digests = {}
        for t in TABLES:
            count, digest = conn.execute(
                sa.text(
                    f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)),"
                    f" '') FROM payments.{t} AS t"
                )
            ).one()
            out[t] = (int(count), str(digest))
        return out


def full_snapshot(engine: sa.Engine) -> tuple[State, Digests]:
    """The ledger's state (balances and counts) and a digest of every row of every table."""
    return snapshot(engine), digests(engine)


def sqlstate(error: sa.exc.DBAPIError) -> str | None:
    """The SQLSTATE of a driver error."""
    state: str | None = getattr(error.orig, "sqlstate", None)
    return state


def message(error: sa.exc.DBAPIError) -> str | None:
    """The primary message of a driver error."""
    text: str | None = getattr(getattr(error.orig, "diag", None), "message_primary", None)
    return text


def assert_permission_denied(error: sa.exc.DBAPIError, kind: str, name: str) -> None:
    """`error` is the privilege check refusing `kind` (table or function) `name`: not
    row-level security (also 42501, "new row violates row-level security policy"), not a
    trigger (LX002), not a constraint."""
    assert (sqlstate(error), message(error)) == ("42501", f"permission denied for {kind} {name}")


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("org", [ORG_A, ORG_B], ids=["A", "B"])
def test_app_role_sees_only_its_organizations_rows(
    engine: sa.Engine, app_engine: sa.Engine, world: World, org: uuid.UUID
) -> None:
    seen = visible_counts(app_engine, org)
    assert seen == VISIBLE[org]
    assert seen == owned_counts(engine, org)
    with app_engine.connect() as conn:
        present_key(conn, org)
        orgs = conn.execute(sa.text("SELECT id FROM payments.organizations")).scalars().all()
        account_orgs = set(
            conn.execute(sa.text("SELECT org_id FROM payments.accounts")).scalars().all()
        )
    assert orgs == [org]
    assert account_orgs == {org}


def test_app_role_without_a_key_sees_nothing(app_engine: sa.Engine, world: World) -> None:
    assert visible_counts(app_engine, act=False) == dict.fromkeys(TABLES, 0)
    with app_engine.connect() as conn, pytest.raises(ledger.AccountNotFound):
        ledger.balance(conn, world.a_cash)


@pytest.mark.parametrize("engine_name", ["app_engine", "platform_engine"])
def test_setting_the_organization_by_hand_gives_nothing(
    request: pytest.FixtureRequest, world: World, engine_name: str
) -> None:
    """`set_config('liventix.org_id', B)`, with or without a proof copied from another
    transaction, or A's key then B's id set over it: the role sees none of B's rows."""
    role: sa.Engine = request.getfixturevalue(engine_name)
    with role.connect() as conn:
        conn.execute(sa.text("SELECT set_config('liventix.org_id', :o, false)"), {"o": str(ORG_B)})
        assert visible_counts_on(conn) == dict.fromkeys(TABLES, 0)
        conn.rollback()
        present_key(conn, ORG_A)
        proof = conn.execute(sa.text("SELECT current_setting('liventix.actor_proof')")).scalar()
        conn.execute(sa.text("SELECT set_config('liventix.org_id', :o, true)"), {"o": str(ORG_B)})
        assert visible_counts_on(conn) == dict.fromkeys(TABLES, 0)
        conn.rollback()
        # A's proof, replayed in a later transaction, proves nothing (not even A).
        conn.execute(sa.text("SELECT set_config('liventix.org_id', :o, true)"), {"o": str(ORG_A)})
        conn.execute(sa.text("SELECT set_config('liventix.actor_proof', :p, true)"), {"p": proof})
        assert visible_counts_on(conn) == dict.fromkeys(TABLES, 0)
        conn.rollback()
        conn.execute(sa.text("SELECT set_config('liventix.org_id', '', true)"))
        assert visible_counts_on(conn) == dict.fromkeys(TABLES, 0)
        with pytest.raises(ledger.AccountNotFound):
            ledger.balance(conn, world.b_cash)


def test_the_owners_act_for_is_not_the_application_roles(
    app_engine: sa.Engine, platform_engine: sa.Engine, world: World
) -> None:
    for role in (app_engine, platform_engine):
        with role.connect() as conn, pytest.raises(ledger.PermissionDenied):
            ledger.act_for(conn, ORG_B)


def test_a_wrong_or_revoked_key_acts_for_no_one(
    engine: sa.Engine, app_engine: sa.Engine, world: World
) -> None:
    prefix, secret = api_key(ORG_B)
    with app_engine.connect() as conn:
        for wrong in (secret[:-1] + ("0" if secret[-1] != "0" else "1"), "", secret.upper()):
            found = conn.execute(
                sa.text("SELECT count(*) FROM payments.authenticate(:p, :s, NULL)"),
                {"p": prefix, "s": wrong},
            ).scalar_one()
            assert found == 0
            assert visible_counts_on(conn) == dict.fromkeys(TABLES, 0)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE payments.api_keys SET revoked_at = now() WHERE prefix = :p"),
            {"p": prefix},
        )
    with app_engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT count(*) FROM payments.authenticate(:p, :s, NULL)"),
            {"p": prefix, "s": secret},
        ).scalar_one()
        assert found == 0
        assert visible_counts_on(conn) == dict.fromkeys(TABLES, 0)


def test_platform_role_sees_everything_with_the_platforms_key_only(
    platform_engine: sa.Engine, world: World
) -> None:
    """The membership alone gives nothing: the platform's key does (an organization's key
    gives a platform role nothing to read either: its policies are the platform's)."""
    assert visible_counts(platform_engine, act=False) == dict.fromkeys(TABLES, 0)
    assert visible_counts(platform_engine, ORG_A) == dict.fromkeys(TABLES, 0)
    assert visible_counts(platform_engine, None) == TOTAL
    with platform_engine.connect() as conn:
        present_key(conn, None)
        assert ledger.balance(conn, world.b_cash).posted == 300
        assert ledger.balance(conn, world.fees).posted == 80
        assert ledger.get_entry(conn, world.b_entry).org_id == ORG_B
        assert ledger.get_hold(conn, world.b_hold).org_id == ORG_B


def test_app_role_cannot_read_another_organizations_rows_through_the_api(
    app_engine: sa.Engine, world: World
) -> None:
    with app_engine.connect() as conn:
        present_key(conn, ORG_A)
        own = ledger.balance(conn, world.a_cash)
        assert (own.posted, own.pending, own.available) == (540, 610, 540)
        with pytest.raises(ledger.AccountNotFound) as missing:
            ledger.balance(conn, world.b_cash)
        assert missing.value.account_id == str(world.b_cash)
        with pytest.raises(ledger.AccountNotFound) as missing:
            ledger.balance(conn, world.fees)
        assert missing.value.account_id == str(world.fees)
        with pytest.raises(ledger.AccountNotFound):
            ledger.get_account(conn, world.b_cash)
        with pytest.raises(ledger.EntryNotFound) as no_entry:
            ledger.get_entry(conn, world.b_entry)
        assert no_entry.value.entry_id == str(world.b_entry)
        with pytest.raises(ledger.HoldNotFound) as no_hold:
            ledger.get_hold(conn, world.b_hold)
        assert no_hold.value.hold_id == str(world.b_hold)
        assert ledger.find_account(conn, ORG_B, "cash") is None
        assert ledger.find_account(conn, ORG_A, "cash") == world.a_cash


# --- writing through the ledger's door: organization's role -----------------------------------


@pytest.mark.parametrize("engine_name", ["app_engine", "platform_engine"])
def test_a_role_without_a_key_cannot_write(
    request: pytest.FixtureRequest, engine: sa.Engine, world: World, engine_name: str
) -> None:
    """With no key presented (nothing set, or an organization set by hand), the door
    refuses either role every operation, for any organization."""
    app_engine: sa.Engine = request.getfixturevalue(engine_name)
    writes: list[tuple[Callable[..., ledger.WriteResult], uuid.UUID, object]] = [
        (ledger.post_entry, ORG_A, transfer("x", world.a_cash, world.a_sales, 1)),
        (
            ledger.create_hold,
            ORG_A,
            ledger.CreateHold("x-h", world.a_cash, world.a_wallet, 1, "USD"),
        ),
        (ledger.open_account, ORG_A, ledger.OpenAccount("x-open", "new", "asset", "USD")),
        (ledger.close_account, ORG_A, ledger.CloseAccount("x-close", world.a_cash)),
        (ledger.void_hold, ORG_B, ledger.VoidHold("x-void", world.b_hold)),
        (ledger.post_entry, ORG_B, transfer("y", world.b_cash, world.b_sales, 1)),
    ]
    before = full_snapshot(engine)
    for forged in (None, ""):  # nothing set at all, or set by hand to the target
        for write, org, payload in writes:
            with pytest.raises(ledger.OrganizationNotFound) as info, app_engine.begin() as conn:
                if forged is not None:
                    conn.execute(
                        sa.text("SELECT set_config('liventix.org_id', :o, true)"),
                        {"o": str(org)},
                    )
                write(conn, org, payload)
            assert info.value.org_id == str(org)
    assert full_snapshot(engine) == before


E = TypeVar("E", bound=Exception)


def _refused_to_org_a(
    app_engine: sa.Engine, error: type[E], write: Callable[[sa.Connection], object]
) -> E:
    """`write` in a transaction of the organization role with ORG_A's key presented: refused
    with `error` (returned, for the ids it names)."""
    with pytest.raises(error) as info, app_engine.begin() as conn:
        present_key(conn, ORG_A)
        write(conn)
    return info.value


def test_app_role_cannot_post_to_another_organizations_account(
    engine: sa.Engine, app_engine: sa.Engine, world: World
) -> None:
    before = full_snapshot(engine)
    steal = transfer("steal", world.b_cash, world.a_sales, 100)
    hold = ledger.CreateHold("steal-hold", world.b_cash, world.a_sales, 1, "USD")
    close = ledger.CloseAccount("close-b", world.b_cash)
    for write in (
        lambda conn: ledger.post_entry(conn, ORG_A, steal),
        lambda conn: ledger.create_hold(conn, ORG_A, hold),
        lambda conn: ledger.close_account(conn, ORG_A, close),
    ):
        refused = _refused_to_org_a(app_engine, ledger.AccountNotFound, write)
        assert refused.account_id == str(world.b_cash)
    void = ledger.VoidHold("void-b", world.b_hold)
    _refused_to_org_a(app_engine, ledger.HoldNotFound, lambda c: ledger.void_hold(c, ORG_A, void))
    assert full_snapshot(engine) == before


def test_app_role_cannot_post_for_another_organization(
    engine: sa.Engine, app_engine: sa.Engine, world: World
) -> None:
    before = full_snapshot(engine)
    for_b = transfer("for-b", world.b_cash, world.b_sales, 100)
    open_b = ledger.OpenAccount("open-b", "new", "asset", "USD")
    for write in (
        lambda conn: ledger.post_entry(conn, ORG_B, for_b),
        lambda conn: ledger.open_account(conn, ORG_B, open_b),
    ):
        refused = _refused_to_org_a(app_engine, ledger.OrganizationNotFound, write)
        assert refused.org_id == str(ORG_B)
    assert full_snapshot(engine) == before


def test_app_role_cannot_post_to_a_platform_account(
    engine: sa.Engine, app_engine: sa.Engine, world: World
) -> None:
    before = full_snapshot(engine)
    fee = transfer("fee", world.a_sales, world.fees, 10)
    refused = _refused_to_org_a(
        app_engine, ledger.AccountNotFound, lambda conn: ledger.post_entry(conn, ORG_A, fee)
    )
    assert refused.account_id == str(world.fees)
    assert full_snapshot(engine) == before


def test_app_role_posts_within_its_own_accounts(
    engine: sa.Engine, app_engine: sa.Engine, world: World
) -> None:
    with app_engine.begin() as conn:
        present_key(conn, ORG_A)
        sale = ledger.post_entry(
            conn, ORG_A, transfer("app-sale", world.a_cash, world.a_sales, 250)
        )
        hold = ledger.create_hold(
            conn, ORG_A, ledger.CreateHold("app-hold", world.a_cash, world.a_wallet, 60, "USD")
        )
        ledger.post_hold(conn, ORG_A, ledger.PostHold("app-hold-post", hold.id, 25))
        refund = ledger.reverse_entry(conn, ORG_A, ledger.ReverseEntry("app-refund", sale.id))
        replay = ledger.post_entry(
            conn, ORG_A, transfer("app-sale", world.a_cash, world.a_sales, 250)
        )
    assert replay == ledger.WriteResult(sale.id, True)
    with engine.connect() as conn:
        cash = ledger.balance(conn, world.a_cash)
        # 540 before; +250 sold, -250 refunded, +25 posted from the hold; A's 70 hold stays
        assert (cash.posted, cash.pending) == (565, 635)
        assert ledger.balance(conn, world.a_wallet).posted == 65
        assert ledger.get_entry(conn, refund.id).org_id == ORG_A
        keys = conn.execute(
            sa.text(
                "SELECT key FROM payments.idempotency_keys WHERE org_id = :o AND key LIKE 'app-%'"
            ),
            {"o": ORG_A},
        ).scalars()
        assert sorted(keys) == ["app-hold", "app-hold-post", "app-refund", "app-sale"]
        assert ledger.trial_balance(conn, ORG_A).balanced


# --- writing through the ledger's door: platform role -----------------------------------------


def test_platform_role_with_the_platforms_key_books_for_an_organization_with_a_platform_account(
    engine: sa.Engine, platform_engine: sa.Engine, world: World
) -> None:
    with platform_engine.begin() as conn:
        present_key(conn, None)
        fee = ledger.post_entry(conn, ORG_A, transfer("p-fee", world.a_sales, world.fees, 5))
        opened = ledger.open_account(
            conn, ORG_B, ledger.OpenAccount("p-open-b", "deposits", "liability", "USD")
        )
    with engine.connect() as conn:
        assert ledger.balance(conn, world.fees).posted == 85
        assert ledger.balance(conn, world.a_sales).posted == 445  # 500 sold, 50 + 5 in fees
        entry = ledger.get_entry(conn, fee.id)
        lines = conn.execute(
            sa.text(
                "SELECT account_id, org_id, entry_org_id FROM payments.lines"
                " WHERE entry_id = :e ORDER BY id"
            ),
            {"e": fee.id},
        ).all()
        assert ledger.get_account(conn, opened.id).org_id == ORG_B
    assert entry.org_id == ORG_A
    assert [tuple(r) for r in lines] == [
        (world.a_sales, ORG_A, ORG_A),
        (world.fees, PLATFORM, ORG_A),
    ]


def test_platform_role_with_the_platforms_key_cannot_mix_organizations(
    engine: sa.Engine, platform_engine: sa.Engine, world: World
) -> None:
    """The platform's accounts may join any organization's entry; another organization's
    may not, whoever books."""
    before = full_snapshot(engine)
    with pytest.raises(ledger.AccountOrganizationMismatch) as info, platform_engine.begin() as c:
        present_key(c, None)
        ledger.post_entry(c, ORG_A, transfer("p-mix", world.b_cash, world.a_sales, 10))
    assert (info.value.account_id, info.value.org_id) == (str(world.b_cash), str(ORG_A))
    with pytest.raises(ledger.AccountOrganizationMismatch) as info, platform_engine.begin() as c:
        present_key(c, None)
        ledger.create_hold(
            c, ORG_B, ledger.CreateHold("p-mix-hold", world.b_cash, world.a_cash, 1, "USD")
        )
    assert info.value.account_id == str(world.a_cash)
    assert full_snapshot(engine) == before


def test_platform_role_acting_for_an_organization_is_scoped_to_it(
    engine: sa.Engine, platform_engine: sa.Engine, world: World
) -> None:
    """With A's key a platform role writes as A would: the platform's and B's accounts
    do not exist for it, nor does B."""
    before = full_snapshot(engine)
    refusals: list[
        tuple[type[ledger.LedgerError], Callable[..., ledger.WriteResult], object, str]
    ] = [
        (
            ledger.AccountNotFound,
            ledger.post_entry,
            transfer("f", world.a_sales, world.fees, 5),
            "fees",
        ),
        (
            ledger.AccountNotFound,
            ledger.post_entry,
            transfer("b", world.b_cash, world.a_sales, 5),
            "b_cash",
        ),
        (
            ledger.AccountNotFound,
            ledger.create_hold,
            ledger.CreateHold("fee-hold", world.a_sales, world.fees, 5, "USD"),
            "fees",
        ),
        (
            ledger.AccountNotFound,
            ledger.close_account,
            ledger.CloseAccount("c", world.fees),
            "fees",
        ),
        (ledger.HoldNotFound, ledger.void_hold, ledger.VoidHold("void-b", world.b_hold), "b_hold"),
    ]
    for error, write, request, named in refusals:
        with pytest.raises(error) as info, platform_engine.begin() as conn:
            present_key(conn, ORG_A)
            write(conn, ORG_A, request)
        assert type(info.value) is error
        assert str(getattr(world, named)) in info.value.details.values()
    with pytest.raises(ledger.OrganizationNotFound) as no_org, platform_engine.begin() as conn:
        present_key(conn, ORG_A)
        ledger.post_entry(conn, ORG_B, transfer("for-b", world.b_cash, world.b_sales, 5))
    assert no_org.value.org_id == str(ORG_B)
    assert full_snapshot(engine) == before
    # the control: acting for A, it books within A's own accounts
    with platform_engine.begin() as conn:
        present_key(conn, ORG_A)
        sale = ledger.post_entry(conn, ORG_A, transfer("p-sale", world.a_cash, world.a_sales, 7))
    with engine.connect() as conn:
        assert ledger.get_entry(conn, sale.id).org_id == ORG_A
        assert ledger.balance(conn, world.a_cash).posted == 547


# --- raw SQL by the organization's role -------------------------------------------------------
# Neither application role holds INSERT, UPDATE, DELETE or TRUNCATE on the ledger's tables:
# the privilege check refuses before row-level security or any trigger is consulted.


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("UPDATE payments.lines SET amount = amount + 1", "lines"),
        ("UPDATE payments.lines SET account_version = NULL", "lines"),
        ("DELETE FROM payments.lines", "lines"),
        ("UPDATE payments.entries SET description = 'changed'", "entries"),
        ("DELETE FROM payments.entries", "entries"),
    ],
)
def test_app_role_cannot_change_or_delete_posted_rows(
    engine: sa.Engine, app_engine: sa.Engine, world: World, statement: str, table: str
) -> None:
    before = full_snapshot(engine)
    with app_engine.connect() as conn:
        present_key(conn, ORG_A)
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.exec_driver_sql(statement)
    assert_permission_denied(info.value, "table", table)
    assert full_snapshot(engine) == before


@pytest.mark.parametrize("org", [ORG_A, ORG_B], ids=["own", "other"])
def test_app_role_cannot_book_rows_by_hand_for_any_organization(
    engine: sa.Engine, app_engine: sa.Engine, world: World, org: uuid.UUID
) -> None:
    """Not for another organization (row-level security used to stop that) and not for its
    own either (the deferred balance trigger used to be all that stood in the way)."""
    before = full_snapshot(engine)
    with app_engine.connect() as conn:
        present_key(conn, ORG_A)
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.execute(
                sa.text("INSERT INTO payments.entries (org_id) VALUES (:org)"), {"org": org}
            )
    assert_permission_denied(info.value, "table", "entries")
    assert full_snapshot(engine) == before


_RAW_LINE = sa.text(
    "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,"
    " currency, effective_at) VALUES (:entry, :entry_org, :org, :account, :side, :amount,"
    " 'USD', now())"
)


@pytest.mark.parametrize(
    ("account", "org"),
    [("b_cash", ORG_B), ("fees", PLATFORM), ("a_cash", ORG_A)],
    ids=["other-organization", "platform", "own"],
)
def test_app_role_cannot_add_a_line_by_hand(
    engine: sa.Engine, app_engine: sa.Engine, world: World, account: str, org: uuid.UUID
) -> None:
    """A's role adds a line to A's committed sale, on B's, the platform's or its own cash:
    refused before anything is inserted, so the entry keeps its two lines."""
    before = full_snapshot(engine)
    account_id: uuid.UUID = getattr(world, account)
    with app_engine.connect() as conn:
        present_key(conn, ORG_A)
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.execute(
                _RAW_LINE,
                {
                    "entry": world.a_entry,
                    "entry_org": ORG_A,
                    "org": org,
                    "account": account_id,
                    "side": "debit",
                    "amount": 50,
                },
            )
    assert_permission_denied(info.value, "table", "lines")
    assert full_snapshot(engine) == before
    with engine.connect() as conn:
        assert len(ledger.get_entry(conn, world.a_entry).lines) == 2
        on_b = conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE account_id = :a"),
            {"a": world.b_cash},
        ).scalar_one()
    assert on_b == 3  # B's three sales, nothing else
