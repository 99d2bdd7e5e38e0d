"""Fixtures for ledger tests: a platform and two organizations (each with an API key), and an
account opener. Both follow the test's tier (`transactions`: the rolled-back `db` when the test
uses it, else the committing `engine`; see tests/conftest.py)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from liventix.testing.rollback import Transactions

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
            prefix, secret = key_of(org)
            conn.execute(
                sa.text(
                    "INSERT INTO payments.api_keys (org_id, prefix, secret_sha256)"
                    " VALUES (:org, :prefix, :digest)"
                ),
                {
                    "org": org,
                    "prefix": prefix,
                    "digest": hashlib.sha256(secret.encode()).hexdigest(),
                },
            )


def key_of(org: uuid.UUID | None) -> tuple[str, str]:
    """The (prefix, secret) of the test API key of `org` (None: the platform's key)."""
    digest = hashlib.sha256(f"test key of {org}".encode()).hexdigest()
    return digest[:12], digest[12:60]


def present_key(conn: sa.Connection, org: uuid.UUID | None) -> None:
    """Act for `org` (None: the platform) as the application's roles can: by presenting its
    API key to `payments.authenticate`, as the API does for a request."""
    prefix, secret = key_of(org)
    found = conn.execute(
        sa.text("SELECT count(*) FROM payments.authenticate(:prefix, :secret, NULL)"),
        {"prefix": prefix, "secret": secret},
    ).scalar_one()
    assert found == 1


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
