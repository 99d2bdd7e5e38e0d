"""Balance monitors (issue 16 item 2), against the real database: a posting that makes a
monitor's condition true publishes `ledger.balance_monitor.triggered` in its transaction,
one that makes it false `...recovered`, each once; the state follows any sequence of
postings as a model of the balance says (hypothesis); refusals are typed and write nothing;
an organization sees and deletes only its own monitors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn, present_key, transfer


def _events(conn: sa.Connection, monitor: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    rows = conn.execute(
        sa.text(
            "SELECT type, payload FROM messaging.messages WHERE aggregate_type = 'balance_monitor'"
            " AND aggregate_id = :id ORDER BY created_at, (payload ->> 'account_version')::bigint"
        ),
        {"id": str(monitor)},
    ).all()
    return [(r.type.rsplit(".", 1)[1], r.payload) for r in rows]


def _monitor(conn: sa.Connection, account: uuid.UUID, key: str, **kw: Any) -> uuid.UUID:
    args: dict[str, Any] = {"balance": "posted", "operator": "<", "value": 0, **kw}
    return ledger.create_monitor(
        conn, ORG_A, ledger.CreateMonitor(idempotency_key=key, account_id=account, **args)
    ).id


def test_a_monitor_fires_once_when_true_and_once_when_it_recovers(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    wallet = open_account(ORG_A, "wallet", "liability")
    cash = open_account(ORG_A, "cash", "asset")
    with db.begin() as conn:
        low = _monitor(conn, wallet, "m1", operator=">=", value=1000, description="big")
        assert not ledger.get_monitor(conn, low).triggered
        ledger.post_entry(conn, ORG_A, transfer("p1", cash, wallet, 600))
        assert _events(conn, low) == []
        ledger.post_entry(conn, ORG_A, transfer("p2", cash, wallet, 600))  # 1200 >= 1000
        ledger.post_entry(conn, ORG_A, transfer("p3", cash, wallet, 1))  # still true: silent
        ledger.post_entry(conn, ORG_A, transfer("p4", wallet, cash, 500))  # 701: recovered
        ledger.post_entry(conn, ORG_A, transfer("p4", wallet, cash, 500))  # replay: nothing
        events = _events(conn, low)
    assert [kind for kind, _ in events] == ["triggered", "recovered"]
    fired = events[0][1]
    assert fired["current"] == 1200 and fired["value"] == 1000 and fired["operator"] == ">="
    assert fired["account_id"] == str(wallet) and fired["description"] == "big"
    assert events[1][1]["current"] == 701


def test_pending_and_available_balances_are_watched_through_holds(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    wallet = open_account(ORG_A, "wallet", "liability")
    cash = open_account(ORG_A, "cash", "asset")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("fund", cash, wallet, 1000))
        available = _monitor(conn, wallet, "m-av", balance="available", operator="<", value=500)
        hold = ledger.create_hold(
            conn,
            ORG_A,
            ledger.CreateHold(
                idempotency_key="h1",
                debit_account_id=wallet,
                credit_account_id=cash,
                amount=600,
                currency="USD",
            ),
        ).id
        assert [k for k, _ in _events(conn, available)] == ["triggered"]
        ledger.void_hold(conn, ORG_A, ledger.VoidHold(idempotency_key="v1", hold_id=hold))
        assert [k for k, _ in _events(conn, available)] == ["triggered", "recovered"]


def test_a_condition_true_at_creation_fires_at_once_and_a_deleted_monitor_is_silent(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    wallet = open_account(ORG_A, "wallet", "liability")
    cash = open_account(ORG_A, "cash", "asset")
    with db.begin() as conn:
        zero = _monitor(conn, wallet, "m0", operator="=", value=0)
        assert ledger.get_monitor(conn, zero).triggered
        assert [k for k, _ in _events(conn, zero)] == ["triggered"]
        gone = ledger.delete_monitor(conn, ORG_A, zero)
        assert gone.deleted_at is not None
        assert ledger.delete_monitor(conn, ORG_A, zero).deleted_at == gone.deleted_at
        ledger.post_entry(conn, ORG_A, transfer("p1", cash, wallet, 5))
        assert [k for k, _ in _events(conn, zero)] == ["triggered"]
        assert ledger.list_monitors(conn, ORG_A) == ([], False)


def test_creation_is_idempotent_by_key(db: RolledBack, open_account: OpenAccountFn) -> None:
    wallet = open_account(ORG_A, "wallet", "liability")
    with db.begin() as conn:
        first = ledger.create_monitor(
            conn, ORG_A, ledger.CreateMonitor("k", wallet, "posted", ">", 5)
        )
        again = ledger.create_monitor(
            conn, ORG_A, ledger.CreateMonitor("k", wallet, "posted", ">", 5)
        )
        assert (again.id, again.replayed, first.replayed) == (first.id, True, False)
    with pytest.raises(ledger.IdempotencyConflict), db.begin() as conn:
        ledger.create_monitor(conn, ORG_A, ledger.CreateMonitor("k", wallet, "posted", ">", 6))
    with db.begin() as conn:
        assert len(ledger.list_monitors(conn, ORG_A)[0]) == 1


def test_refusals_are_typed_and_write_nothing(db: RolledBack, open_account: OpenAccountFn) -> None:
    busy = open_account(ORG_A, "fees", "revenue", high_volume=True)
    theirs = open_account(ORG_B, "wallet", "liability")
    with pytest.raises(ledger.InvalidMonitor):
        ledger.CreateMonitor("x", busy, "posted", "<>", 0)  # type: ignore[arg-type]
    with pytest.raises(ledger.InvalidMonitor):
        ledger.CreateMonitor("x", busy, "posted", "<", 2**63)
    refusals: list[tuple[type[Exception], Any]] = [
        (
            ledger.MonitorOnHighVolumeAccount,
            (ORG_A, ledger.CreateMonitor("x", busy, "posted", "<", 0)),
        ),
        (ledger.AccountNotFound, (ORG_A, ledger.CreateMonitor("y", theirs, "posted", "<", 0))),
    ]
    for error, (org, request) in refusals:
        with pytest.raises(error), db.begin() as conn:
            ledger.create_monitor(conn, org, request)
    with pytest.raises(ledger.MonitorNotFound), db.begin() as conn:
        ledger.delete_monitor(conn, ORG_A, uuid.uuid4())
    with db.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM payments.balance_monitors")).scalar() == 0


def test_an_organization_sees_and_deletes_only_its_own(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    wallet = open_account(ORG_A, "wallet", "liability")
    with db.begin() as conn:
        mine = _monitor(conn, wallet, "m1")
    with db.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        present_key(conn, ORG_B)
        assert ledger.list_monitors(conn) == ([], False)
    for org, error in (
        (None, ledger.MonitorNotFound),
        (ORG_B, ledger.MonitorNotFound),
        (ORG_A, ledger.OrganizationNotFound),
    ):
        with pytest.raises(error), db.begin() as conn:
            conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
            present_key(conn, ORG_B)
            if org is None:
                ledger.get_monitor(conn, mine)
            else:
                ledger.delete_monitor(conn, org, mine)
    with db.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        present_key(conn, ORG_A)
        assert [m.id for m in ledger.list_monitors(conn)[0]] == [mine]
        assert ledger.delete_monitor(conn, ORG_A, mine).deleted_at is not None


def _holds(operator: str, balance: int, value: int) -> bool:
    return {
        "<": balance < value,
        "<=": balance <= value,
        ">": balance > value,
        ">=": balance >= value,
        "=": balance == value,
        "!=": balance != value,
    }[operator]


OPS = st.lists(st.integers(min_value=-300, max_value=300).filter(bool), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    moves=OPS,
    value=st.integers(-400, 400),
    operator=st.sampled_from(["<", "<=", ">", ">=", "=", "!="]),
)
def test_events_follow_the_condition_over_any_postings(
    shared_engine: sa.Engine, moves: list[int], value: int, operator: str
) -> None:
    """Model: after each posting the condition on the posted balance is recomputed in Python;
    the events are exactly its changes of truth, in order."""
    with RolledBack.on(shared_engine) as db, db.begin() as conn:
        org = uuid.uuid4()
        ledger.open_organization(conn, org, "model")
        acct = [
            ledger.open_account(
                conn,
                org,
                ledger.OpenAccount(idempotency_key=c, code=c, type="asset", currency="EUR"),
            ).id
            for c in ("a", "b")
        ]
        monitor = ledger.create_monitor(
            conn,
            org,
            ledger.CreateMonitor("m", acct[0], "posted", operator, value),  # type: ignore[arg-type]
        ).id
        balance, state = 0, _holds(operator, 0, value)
        expected = ["triggered"] if state else []
        for n, move in enumerate(moves):
            debit, credit = (acct[0], acct[1]) if move > 0 else (acct[1], acct[0])
            ledger.post_entry(
                conn,
                org,
                ledger.PostEntry(
                    idempotency_key=f"p{n}",
                    lines=[
                        ledger.Line(debit, "debit", abs(move), "EUR"),
                        ledger.Line(credit, "credit", abs(move), "EUR"),
                    ],
                ),
            )
            balance += move
            now = _holds(operator, balance, value)
            if now != state:
                expected.append("triggered" if now else "recovered")
                state = now
        got = (
            conn.execute(
                sa.text(
                    "SELECT type FROM messaging.messages WHERE aggregate_id = :id"
                    " ORDER BY (payload ->> 'account_version')::bigint"
                ),
                {"id": str(monitor)},
            )
            .scalars()
            .all()
        )
        assert [t.rsplit(".", 1)[1] for t in got] == expected
        assert ledger.get_monitor(conn, monitor).triggered == state


def _flag(conn: sa.Connection, account: uuid.UUID) -> bool:
    return bool(
        conn.execute(
            sa.text("SELECT monitored FROM payments.accounts WHERE id = :id"), {"id": account}
        ).scalar_one()
    )


def test_the_monitored_flag_is_true_exactly_while_a_live_monitor_watches(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    """accounts.monitored is the trigger's whole WHEN: set by a creation, kept while a second
    monitor lives, cleared with the last one; an account never watched stays false."""
    wallet = open_account(ORG_A, "wallet", "liability")
    cash = open_account(ORG_A, "cash", "asset")
    with db.begin() as conn:
        assert not _flag(conn, wallet)
        first = _monitor(conn, wallet, "m1", operator=">", value=10)
        second = _monitor(conn, wallet, "m2", operator=">", value=20)
        assert _flag(conn, wallet) and not _flag(conn, cash)
        ledger.delete_monitor(conn, ORG_A, first)
        assert _flag(conn, wallet)
        ledger.post_entry(conn, ORG_A, transfer("p1", cash, wallet, 30))
        assert [k for k, _ in _events(conn, second)] == ["triggered"]
        assert _events(conn, first) == []
        ledger.delete_monitor(conn, ORG_A, second)
        assert not _flag(conn, wallet)
        ledger.delete_monitor(conn, ORG_A, second)  # again: still cleared
        assert not _flag(conn, wallet)
        ledger.post_entry(conn, ORG_A, transfer("p2", wallet, cash, 30))
        assert [k for k, _ in _events(conn, second)] == ["triggered"]
        _monitor(conn, wallet, "m3")
        assert _flag(conn, wallet)


def test_the_monitored_flag_moves_only_with_the_monitor_functions(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    wallet = open_account(ORG_A, "wallet", "liability")
    with pytest.raises(sa.exc.DBAPIError) as owner, db.begin() as conn:
        conn.execute(
            sa.text("UPDATE payments.accounts SET monitored = true WHERE id = :id"), {"id": wallet}
        )
    assert getattr(owner.value.orig, "sqlstate", None) == "LX002"
    with pytest.raises(sa.exc.DBAPIError) as app, db.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        present_key(conn, ORG_A)
        conn.execute(sa.text("SELECT set_config('payments.monitors', 'on', true)"))
        conn.execute(
            sa.text("UPDATE payments.accounts SET monitored = true WHERE id = :id"), {"id": wallet}
        )
    assert getattr(app.value.orig, "sqlstate", None) == "42501"  # permission denied
    with db.begin() as conn:
        assert not _flag(conn, wallet)
