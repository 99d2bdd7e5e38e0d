"""Resolving a recipe's legs to ledger accounts: the chart's accounts are opened on first use
(idempotently, by a key derived from their code) and looked up by code afterwards, through
the ledger's public face."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Connection

import ledger
from escrow.errors import EscrowError
from escrow.recipes import AccountSpec, Leg, Owner


class NoPlatform(EscrowError):
    """The platform organization is not registered."""


def platform_org(conn: Connection) -> uuid.UUID:
    """The platform organization's id."""
    org = ledger.platform_org(conn)
    if org is None:
        raise NoPlatform()
    return org


def ensure_accounts(
    conn: Connection,
    organizer: uuid.UUID,
    currency: str,
    specs: Sequence[AccountSpec],
    platform: uuid.UUID | None = None,
) -> dict[tuple[Owner, str], uuid.UUID]:
    """Ids of the given chart accounts, opening the missing ones."""
    platform = platform or platform_org(conn)
    owners: dict[Owner, uuid.UUID] = {"platform": platform, "organizer": organizer}
    wanted = {(s.owner, s.code): s for s in specs}
    ids = ledger.find_accounts(conn, [(owners[o], c) for o, c in wanted])
    by_org = {v: k for k, v in owners.items()}
    found = {(by_org[org], code): account_id for (org, code), account_id in ids.items()}
    for key, spec in wanted.items():
        if key in found:
            continue
        org = owners[spec.owner]
        found[key] = ledger.open_account(
            conn,
            org,
            ledger.OpenAccount(
                idempotency_key=f"chart:{spec.code}",
                code=spec.code,
                type=spec.type,  # type: ignore[arg-type]
                currency=currency,
                high_volume=spec.high_volume,
            ),
        ).id
    return found


def lines(
    conn: Connection,
    organizer: uuid.UUID,
    currency: str,
    legs: Sequence[Leg],
    platform: uuid.UUID | None = None,
) -> list[ledger.Line]:
    """The ledger lines of a recipe's legs."""
    ids = ensure_accounts(conn, organizer, currency, [leg.account for leg in legs], platform)
    return [ledger.Line(ids[(leg.owner, leg.code)], leg.side, leg.amount, currency) for leg in legs]
