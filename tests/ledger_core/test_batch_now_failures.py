"""How `ledger.post_batch_now` fails (review 2, L3).

- An application role, which acts for an organization only inside a transaction where it
  presented the organization's proof, gets `PermissionDenied` from it, not
  `OrganizationNotFound` (the organization exists); the schema's owner naming an
  organization that does not exist still gets `OrganizationNotFound`.
- A deadlock that makes the door's one statement its victim (40P01) rolled back all of the
  unit of work, and the caller holds no lock: the call runs again and the batch is posted,
  instead of the raw driver error reaching the caller.

Real connections and real locks; the deadlock is made, not mocked, and waited for by reading
pg_stat_activity (no timing assertion).
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, account_above, transfer
from tests.ledger_core.now_doors import as_deadlock_victim, count_door_calls, entries, record_pauses


@pytest.mark.parametrize("as_connection", [False, True])
def test_an_application_role_is_denied_not_told_the_organization_is_missing(
    engine: sa.Engine, app_engine: sa.Engine, open_account: OpenAccountFn, as_connection: bool
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    batch = [transfer("app-1", cash, sales, 5)]
    with pytest.raises(ledger.PermissionDenied) as info:
        if as_connection:
            with app_engine.connect() as conn:
                ledger.post_batch_now(conn, ORG_A, batch)
        else:
            ledger.post_batch_now(app_engine, ORG_A, batch)
    assert "owner" in info.value.reason
    assert entries(engine) == 0


def test_the_owner_naming_no_organization_still_gets_organization_not_found(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The control: the owner is trusted, so the refusal is the organization's."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with pytest.raises(ledger.OrganizationNotFound):
        ledger.post_batch_now(engine, uuid.uuid4(), [transfer("x", cash, sales, 5)])


def test_a_deadlock_victim_batch_is_run_again_and_posted(
    engine: sa.Engine, open_account: OpenAccountFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction holds the higher of the batch's two accounts; the door (locking in
    id order) takes the lower and waits; the other then asks for the lower: a deadlock, of
    which the door (a short deadlock_timeout on its session, a long one on the other's) is
    the victim. post_batch_now runs the batch again once the other commits: posted, two door
    calls. At f40382e the caller got the 40P01 OperationalError."""
    low = min(open_account(ORG_A, f"low-{n}", "asset") for n in range(8))
    high = account_above(open_account, low, "high", type="revenue")
    calls = count_door_calls(monkeypatch)
    pauses = record_pauses(monkeypatch)
    outcome = as_deadlock_victim(
        engine,
        low,
        high,
        lambda door: ledger.post_batch_now(door, ORG_A, [transfer("dl", low, high, 9)]),
    )
    assert isinstance(outcome, list), outcome
    assert outcome[0].error is None
    assert len(calls) == 2
    # One short jittered pause before the rerun (the first's bound: 10-20 ms; `ledger.writes.
    # alone`, shared with post_entry_now); at d233d50's batches.py none (the rerun came at once).
    assert len(pauses) == 1 and 0.01 <= pauses[0] <= 0.02, pauses
    with engine.connect() as conn:
        balance = ledger.balance(conn, low)
    assert balance.posted_debits == 9
