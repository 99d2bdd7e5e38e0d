"""The accounts' guards since they fire by column (`BEFORE UPDATE OF ...`): an UPDATE that
names none of a guard's columns fires none of it, so the engine's own updates (balances and
version, with payments.writer on) compile and judge only the balances' small WHEN.

Against the owner's hands, each rule still refuses what it refused: a change of identity, of
balances outside the engine, of the monitored flag outside the monitors' functions (tested
column by column in test_database_rules). Here: what the split must let through, and a change
named together with an unguarded column."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer


@contextmanager
def _owner(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.begin() as conn:
        yield conn


def _row(engine: sa.Engine, account: uuid.UUID) -> tuple[object, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                sa.text(
                    "SELECT posted_debits, posted_credits, version, closed, monitored, code,"
                    " metadata FROM payments.accounts WHERE id = :id"
                ),
                {"id": account},
            ).one()
        )


def test_the_triggers_fire_by_column(engine: sa.Engine) -> None:
    """Every row trigger of the accounts fired by an UPDATE names its columns (the balance
    monitors' too: the balances the engine moves, with the smallest WHEN): none fires for an
    UPDATE of others."""
    with engine.connect() as conn:
        triggers: dict[str, list[str]] = dict(
            conn.execute(
                sa.text(
                    "SELECT t.tgname, array_agg(a.attname ORDER BY a.attname)"
                    "  FROM pg_trigger t"
                    "  JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr)"
                    " WHERE t.tgrelid = 'payments.accounts'::regclass"
                    "   AND t.tgname LIKE 'accounts_%' AND NOT t.tgisinternal"
                    "   AND t.tgtype & 16 <> 0 GROUP BY t.tgname"  # fired by UPDATE
                )
            ).all()
        )
    assert triggers == {
        "accounts_guard": sorted(
            [
                *("posted_debits", "posted_credits", "pending_debits", "pending_credits"),
                *("version", "closed"),
            ]
        ),
        "accounts_guard_identity": sorted(
            [
                *("id", "org_id", "code", "type", "currency", "high_volume", "created_at"),
                "normal_side",
            ]
        ),
        "accounts_guard_monitored": ["monitored"],
        "accounts_watch_balance": sorted(
            ["posted_debits", "posted_credits", "pending_debits", "pending_credits"]
        ),
        "accounts_rules": sorted(
            [
                *("code", "type", "high_volume"),
                *("debits_must_not_exceed_credits", "credits_must_not_exceed_debits"),
            ]
        ),
    }


def test_unguarded_columns_and_unchanged_values_pass(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", type="revenue")
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("sale", cash, sales, 70))
    before = _row(engine, cash)
    with _owner(engine) as conn:
        # Unguarded: metadata and name. Named but unchanged: balances, identity, monitored.
        conn.execute(
            sa.text(
                "UPDATE payments.accounts SET metadata = '{\"k\": 1}', name = 'Cash',"
                " posted_debits = posted_debits, version = version, code = code,"
                " monitored = monitored WHERE id = :id"
            ),
            {"id": cash},
        )
    after = _row(engine, cash)
    assert after[:6] == before[:6]
    assert after[6] == {"k": 1}


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("metadata = '{}', posted_credits = posted_credits + 1", "only by posting"),
        ("name = 'x', currency = 'EUR'", "identity"),
        ("metadata = '{}', monitored = true", "monitored flag"),
    ],
)
def test_a_guarded_change_beside_an_unguarded_one_is_refused(
    engine: sa.Engine, open_account: OpenAccountFn, assignment: str, message: str
) -> None:
    cash = open_account(ORG_A, "cash")
    before = _row(engine, cash)
    with pytest.raises(sa.exc.DBAPIError) as info, _owner(engine) as conn:
        conn.execute(
            sa.text(f"UPDATE payments.accounts SET {assignment} WHERE id = :id"), {"id": cash}
        )
    assert getattr(info.value.orig, "sqlstate", None) == "LX002"
    assert message in str(info.value.orig)
    assert _row(engine, cash) == before


def test_the_engine_moves_both_accounts_of_a_two_line_entry_in_one_update(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The two-line path's one UPDATE: each account gets its own side, amount and version
    (whichever of the two comes first in the request or in id order)."""
    a = open_account(ORG_A, "a")
    b = open_account(ORG_A, "b", type="liability")
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("ab", a, b, 11))
        ledger.post_entry(
            conn,
            ORG_A,
            ledger.PostEntry(
                "ba", [ledger.Line(b, "credit", 5, "USD"), ledger.Line(a, "debit", 5, "USD")]
            ),
        )
        ledger.post_entry(conn, ORG_A, transfer("ba-2", b, a, 3))
    assert _row(engine, a)[:3] == (16, 3, 3)
    assert _row(engine, b)[:3] == (3, 16, 3)


_ACCOUNT_INSERT = (
    "INSERT INTO payments.accounts (org_id, code, name, type, currency,"
    " debits_must_not_exceed_credits, credits_must_not_exceed_debits, high_volume)"
    " VALUES (:org, :code, 'n', :type, 'USD', :dm, :cm, :hv)"
)
_VALID = {"code": "ok", "type": "asset", "dm": False, "cm": False, "hv": False}


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"code": ""}, "accounts_code_check"),
        ({"type": "cash"}, "accounts_type_check"),
        ({"dm": True, "cm": True}, "accounts_one_overdraft_flag"),
        ({"hv": True, "dm": True}, "accounts_high_volume_without_flags"),
        ({"hv": True, "cm": True}, "accounts_high_volume_without_flags"),
    ],
)
def test_an_account_breaking_a_definition_rule_is_refused_as_a_check_refuses(
    engine: sa.Engine, open_account: OpenAccountFn, changes: dict[str, object], rule: str
) -> None:
    """The definition rules (a trigger since they left the table's CHECKs, see
    accounts_rules): by the owner's INSERT, and by an UPDATE of the flags, refused with the
    CHECK's SQLSTATE (23514) and its name; nothing written."""
    cash = open_account(ORG_A, "cash")
    with pytest.raises(sa.exc.IntegrityError) as info, _owner(engine) as conn:
        conn.execute(sa.text(_ACCOUNT_INSERT), {"org": ORG_A, **_VALID, **changes})
    assert getattr(info.value.orig, "sqlstate", None) == "23514"
    assert info.value.orig.diag.constraint_name == rule  # type: ignore[union-attr]
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM payments.accounts WHERE code = :c"),
            {"c": changes.get("code", "ok")},
        ).scalar_one()
    assert count == 0
    if rule in ("accounts_one_overdraft_flag", "accounts_high_volume_without_flags"):
        flags = {"dm": "debits_must_not_exceed_credits", "cm": "credits_must_not_exceed_debits"}
        if rule == "accounts_one_overdraft_flag":
            assignment = f"{flags['dm']} = true, {flags['cm']} = true"
            target = cash
        else:
            target = open_account(ORG_A, "fees", type="revenue", high_volume=True)
            assignment = f"{flags['dm' if 'dm' in changes else 'cm']} = true"
        before = _row(engine, target)
        with pytest.raises(sa.exc.IntegrityError) as info, _owner(engine) as conn:
            conn.execute(
                sa.text(f"UPDATE payments.accounts SET {assignment} WHERE id = :id"),
                {"id": target},
            )
        assert info.value.orig.diag.constraint_name == rule  # type: ignore[union-attr]
        assert _row(engine, target) == before


def test_a_valid_account_passes_the_definition_rules(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The control: each rule refuses only what it names (one flag, a high-volume account
    without flags, every type)."""
    with _owner(engine) as conn:
        for n, (type_, dm, cm, hv) in enumerate(
            [
                ("asset", True, False, False),
                ("liability", False, True, False),
                ("revenue", False, False, True),
                ("equity", False, False, False),
                ("expense", False, False, False),
            ]
        ):
            conn.execute(
                sa.text(_ACCOUNT_INSERT),
                {"org": ORG_A, "code": f"ok-{n}", "type": type_, "dm": dm, "cm": cm, "hv": hv},
            )
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM payments.accounts WHERE code LIKE 'ok-%'")
        ).scalar_one()
    assert count == 5
