"""Fixtures for ledger tests: a platform and two organizations (each with an API key), and an
account opener. Both follow the test's tier (`transactions`: the rolled-back `db` when the test
uses it, else the committing `engine`; see tests/conftest.py). Also engines logged in as a new
non-superuser role (`role_engine`; `app_engine`, an organization's role), on the committing
tier (a role logs in), and the batch's fast door watched (`doors`)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import ledger
from ledger import batches
from liventix.testing.rollback import Transactions
from tests.support import add_api_key
from tests.support import present_key as present_key  # noqa: PLC0414 (the ledger tests import it here)

PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
ORG_A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
ORG_B = uuid.UUID("00000000-0000-0000-0000-00000000000b")

OpenAccountFn = Callable[..., uuid.UUID]


def account_above(open_account: OpenAccountFn, low: uuid.UUID, code: str, **kw: Any) -> uuid.UUID:
    """An account of ORG_A whose id sorts after `low` (the engine locks and moves accounts in
    id order, so `low` is the first). Open `low` as the lowest of several ids: one random id
    alone is above 64 others with a chance of 1 in 65."""
    for n in range(64):
        account = open_account(ORG_A, f"{code}-{n}", **kw)
        if account > low:
            return account
    raise AssertionError("no account id above the first in 64 tries")


@pytest.fixture
def orgs(transactions: Transactions) -> None:
    """The platform and organizations A and B exist."""
    with transactions.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
        ledger.open_organization(conn, ORG_A, "Org A")
        ledger.open_organization(conn, ORG_B, "Org B")
        for org in (ORG_A, ORG_B, None):
            add_api_key(conn, org)


@pytest.fixture
def open_account(transactions: Transactions, orgs: None) -> OpenAccountFn:
    """Open an account (committed) and return its id: open_account(org, code, type, ...)."""

    def _open(
        org: uuid.UUID, code: str, type: str = "asset", currency: str = "USD", **flags: Any
    ) -> uuid.UUID:
        with transactions.begin() as conn:
            result = ledger.open_account(
                conn,
                org,
                ledger.OpenAccount(
                    idempotency_key=f"open-{org}-{code}",
                    code=code,
                    type=type,  # type: ignore[arg-type]
                    currency=currency,
                    **flags,
                ),
            )
        return result.id

    return _open


def bulk_accounts(conn: sa.Connection, org: uuid.UUID, prefix: str, count: int) -> list[uuid.UUID]:
    """`count` USD asset accounts of `org` coded `<prefix>-1` .. `<prefix>-<count>`, inserted
    by one statement (the tests of plans on many accounts): their ids."""
    return [
        uuid.UUID(str(r[0]))
        for r in conn.execute(
            sa.text(
                "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                " SELECT :org, :prefix || '-' || n, :prefix || '-' || n, 'asset', 'USD'"
                " FROM generate_series(1, :count) n ORDER BY n RETURNING id"
            ),
            {"org": org, "prefix": prefix, "count": count},
        )
    ]


def transfer(
    key: str, debit: uuid.UUID, credit: uuid.UUID, amount: int, currency: str = "USD", **kw: Any
) -> ledger.PostEntry:
    """A two-line entry: debit one account, credit another."""
    return ledger.PostEntry(
        idempotency_key=key,
        lines=[
            ledger.Line(debit, "debit", amount, currency),
            ledger.Line(credit, "credit", amount, currency),
        ],
        **kw,
    )


@contextmanager
def role_engine(engine: sa.Engine, db_url: str, member_of: str) -> Iterator[sa.Engine]:
    """An engine logged in as a new LOGIN role in `member_of`, dropped afterwards.

    Roles are cluster-wide, so each gets a unique name. The embedded server trusts local
    socket connections, so no password is needed.
    """
    name = f"{member_of}_{uuid.uuid4().hex[:12]}"
    database = make_url(db_url).database
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN IN ROLE {member_of}')
        conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{database}" TO "{name}"')
    role = sa.create_engine(make_url(db_url).set(username=name), poolclass=NullPool)
    try:
        with role.connect() as conn:
            me = conn.execute(
                sa.text(
                    "SELECT current_user AS name, rolsuper, rolbypassrls,"
                    " pg_has_role(current_user, :parent, 'member') AS member"
                    " FROM pg_roles WHERE rolname = current_user"
                ),
                {"parent": member_of},
            ).one()
        assert (me.name, me.rolsuper, me.rolbypassrls, me.member) == (name, False, False, True)
        yield role
    finally:
        role.dispose()
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')


@pytest.fixture
def app_engine(engine: sa.Engine, db_url: str) -> Iterator[sa.Engine]:
    """An engine for an organization's role (a member of liventix_app)."""
    with role_engine(engine, db_url, "liventix_app") as role:
        yield role


class Doors:
    """The batch's fast door (`ledger.batches._fast`) watched: whether each call it answered
    posted the batch (`taken`), and `long_only` to send every batch the long way."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken: list[bool] = []
        self.long_only = False
        real = batches._fast

        def fast(conn: sa.Connection, org: uuid.UUID, payloads: Any) -> Any:
            if self.long_only:
                return None
            ids = real(conn, org, payloads)
            self.taken.append(ids is not None)
            return ids

        monkeypatch.setattr(batches, "_fast", fast)

    @property
    def fast_taken(self) -> int:
        """How many batches the fast door posted."""
        return sum(self.taken)


@pytest.fixture
def doors(monkeypatch: pytest.MonkeyPatch) -> Doors:
    """The batch's fast door, watched (`Doors`)."""
    return Doors(monkeypatch)


# Which way a posting took, read from the statistics of its transaction (deltas inside it):
# the usual way of post_entry takes its key by its INSERT alone (one probe of the keys'
# index), the general way looks it up first (two); the long way is counted by its calls
# (with track_functions = 'pl').
KEY_PROBES = (
    "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_xact_user_tables"
    " WHERE relid = 'payments.idempotency_keys'::regclass"
)
LONG_WAY_CALLS = (
    "SELECT coalesce(pg_stat_get_xact_function_calls("
    "'payments.ledger_write(jsonb)'::regprocedure), 0)"
)


def wait_until_blocked(engine: sa.Engine, holder: int, what: str) -> None:
    """Until some session waits on the holder's transaction (backend pid `holder`); raises,
    naming `what` was awaited, if none does within ~20 s."""
    with engine.connect() as conn:
        for _ in range(2000):
            waiting = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE :holder = ANY (pg_blocking_pids(pid))"
                ),
                {"holder": holder},
            ).scalar_one()
            if waiting:
                return
            conn.rollback()
            time.sleep(0.01)
    raise AssertionError(f"nothing waited on {what}")


def race_a_holder(
    engine: sa.Engine,
    holder_conn: sa.Connection,
    attempt: Callable[[], object],
    what: str,
    *,
    meanwhile: Callable[[], None] | None = None,
    commit: bool = True,
) -> object:
    """Run `attempt` in a thread of its own while `holder_conn` keeps its transaction open;
    once some session waits on the holder (`wait_until_blocked`, naming `what`), run
    `meanwhile`, then end the holder's transaction (commit, or roll back) and close its
    connection. Returns what `attempt` returned, or the exception it raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(attempt())
        except Exception as exc:  # asserted by the caller, in its thread
            outcome.append(exc)

    try:
        holder = int(holder_conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        thread = threading.Thread(target=run)
        thread.start()
        try:
            wait_until_blocked(engine, holder, what)
            if meanwhile is not None:
                meanwhile()
        finally:
            if commit:
                holder_conn.commit()
            else:
                holder_conn.rollback()
            thread.join(timeout=60)
    finally:
        holder_conn.close()
    assert not thread.is_alive(), f"the attempt still waits after {what} ended"
    assert len(outcome) == 1
    return outcome[0]
