"""How `ledger.post_entry_now` fails, as `ledger.post_batch_now` does (one rule: `alone`).

- An application role, which acts for an organization only inside a transaction where it
  presented the organization's proof, gets `PermissionDenied`, not `OrganizationNotFound`
  (the organization exists); the schema's owner naming an organization that does not exist
  still gets `OrganizationNotFound`.
- A deadlock that makes the posting its victim (40P01) rolled back all of the unit of work,
  and the caller holds no lock: the call runs again after a short pause and the entry is
  posted, instead of the raw driver error reaching the caller.
- A unit of work that loses every try (a deadlock or a serialization failure, staged by a
  trigger of the test's database on one entry's description) ends in `ledger.LostRace`
  after 3 tries and 2 growing pauses, the driver's error as its cause, nothing written;
  `post_batch_now` the same.

Real connections, real locks, real server errors; the deadlock is made, not mocked, and
waited for by reading pg_stat_activity (no timing assertion).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from ledger import writes
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, account_above, transfer
from tests.ledger_core.now_doors import (
    as_deadlock_victim,
    count_door_calls,
    entries,
    record_pauses,
)

LOSES = "always loses"


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses `alone` asks for before its reruns (each one taken)."""
    return record_pauses(monkeypatch)


def _with_conditions(key: str, debit: uuid.UUID, credit: uuid.UUID) -> ledger.PostEntry:
    """An entry the long way takes (a condition: `payments.ledger_write`)."""
    return transfer(key, debit, credit, 5, conditions=[ledger.Condition(debit, lte=10**6)])


@pytest.mark.parametrize("way", ["door", "long way"])
@pytest.mark.parametrize("as_connection", [False, True])
def test_an_application_role_is_denied_not_told_the_organization_is_missing(
    engine: sa.Engine,
    app_engine: sa.Engine,
    open_account: OpenAccountFn,
    as_connection: bool,
    way: str,
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    entry = (
        transfer("app-1", cash, sales, 5) if way == "door" else _with_conditions("a", cash, sales)
    )
    with pytest.raises(ledger.PermissionDenied) as info:
        if as_connection:
            with app_engine.connect() as conn:
                ledger.post_entry_now(conn, ORG_A, entry)
        else:
            ledger.post_entry_now(app_engine, ORG_A, entry)
    assert "owner" in info.value.reason and "post_entry" in info.value.reason
    assert entries(engine) == 0


def test_the_owner_naming_no_organization_still_gets_organization_not_found(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The control: the owner is trusted, so the refusal is the organization's."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with pytest.raises(ledger.OrganizationNotFound):
        ledger.post_entry_now(engine, uuid.uuid4(), transfer("x", cash, sales, 5))


def test_a_deadlock_victim_posting_is_run_again_and_posted(
    engine: sa.Engine,
    open_account: OpenAccountFn,
    monkeypatch: pytest.MonkeyPatch,
    pauses: list[float],
) -> None:
    """Another transaction holds the higher of the entry's two accounts; the door (locking in
    id order) takes the lower and waits; the other then asks for the lower: a deadlock, of
    which the door (a short deadlock_timeout on its session, a long one on the other's) is
    the victim. post_entry_now runs it again, after one short pause, once the other commits:
    posted, two door calls. Before, the caller got the 40P01 OperationalError."""
    low = min(open_account(ORG_A, f"low-{n}", "asset") for n in range(8))
    high = account_above(open_account, low, "high", type="revenue")
    calls = count_door_calls(monkeypatch)
    outcome = as_deadlock_victim(
        engine,
        low,
        high,
        lambda door: ledger.post_entry_now(door, ORG_A, transfer("dl", low, high, 9)),
    )
    assert isinstance(outcome, ledger.WriteResult), outcome
    assert not outcome.replayed
    assert len(calls) == 2
    assert len(pauses) == 1 and 0.01 <= pauses[0] <= 0.02, pauses
    with engine.connect() as conn:
        assert ledger.balance(conn, low).posted_debits == 9


@pytest.fixture
def staged_losses(engine: sa.Engine) -> None:
    """A trigger of the test's own database: an entry described LOSES fails with the SQLSTATE
    its metadata names, as the server reports a deadlock or serialization failure."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"""
            CREATE FUNCTION payments.test_staged_loss() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.description = '{LOSES}' THEN
                    RAISE EXCEPTION 'staged loss' USING ERRCODE = NEW.metadata ->> 'code';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_staged_loss BEFORE INSERT ON payments.entries
                FOR EACH ROW EXECUTE FUNCTION payments.test_staged_loss();
        """)


@pytest.mark.usefixtures("staged_losses")
@pytest.mark.parametrize("code", ["40P01", "40001"])
@pytest.mark.parametrize("call", ["post_entry_now", "post_entry_now long way", "post_batch_now"])
def test_a_unit_of_work_losing_every_try_ends_in_lost_race(
    engine: sa.Engine, open_account: OpenAccountFn, pauses: list[float], code: str, call: str
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    loses: dict[str, Any] = {"description": LOSES, "metadata": {"code": code}}
    with pytest.raises(ledger.LostRace) as info:
        if call == "post_entry_now":
            ledger.post_entry_now(engine, ORG_A, transfer("l", cash, sales, 5, **loses))
        elif call == "post_entry_now long way":
            entry = transfer(
                "l", cash, sales, 5, conditions=[ledger.Condition(cash, lte=10**6)], **loses
            )
            ledger.post_entry_now(engine, ORG_A, entry)
        else:
            ledger.post_batch_now(engine, ORG_A, [transfer("l", cash, sales, 5, **loses)])
    assert (info.value.sqlstate, info.value.attempts) == (code, 3)
    cause = info.value.__cause__
    assert isinstance(cause, sa.exc.DBAPIError)
    assert getattr(cause.orig, "sqlstate", None) == code
    assert len(pauses) == 2, pauses
    assert 0.01 <= pauses[0] <= 0.02 and 0.02 <= pauses[1] <= 0.04, pauses
    assert entries(engine) == 0
    # The control: the same call with another description posts (the trigger lets it by).
    ledger.post_entry_now(engine, ORG_A, transfer("ok", cash, sales, 5))
    assert entries(engine) == 1


def test_the_pause_before_a_rerun_is_short_jittered_and_grows() -> None:
    """Before the 2nd try 10-20 ms, before the 3rd 20-40 ms, never beyond 50 ms; jittered
    (two draws of the same bound differ)."""
    bounds = {1: (0.01, 0.02), 2: (0.02, 0.04), 3: (0.025, 0.05), 6: (0.025, 0.05)}
    for attempt, (low, high) in bounds.items():
        drawn = [writes._pause(attempt) for _ in range(200)]
        assert all(low <= x <= high for x in drawn), (attempt, min(drawn), max(drawn))
        assert len(set(drawn)) > 1
