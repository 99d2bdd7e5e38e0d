"""What a season did, counted from the database (orders, tickets, escrows, the trial
balance, the ledger's fingerprint) and from the local servers and the stand-in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

import escrow
import ledger
from liventix.testing.stripe import StripeObject


@dataclass
class SeasonSummary:
    """What happened, counted from the database and the local servers."""

    orders: dict[str, int] = field(default_factory=dict)
    tickets: dict[str, int] = field(default_factory=dict)
    escrows: dict[str, int] = field(default_factory=dict)
    released_still_holding: int = 0
    stripe_events_posted: int = 0
    stripe_duplicates: int = 0
    webhooks_delivered: int = 0
    emails_delivered: int = 0
    email_server: str = ""
    transfers: int = 0
    payouts: dict[str, int] = field(default_factory=dict)
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    balanced: bool = False
    seconds: float = 0.0
    fingerprint: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    balance_transactions: list[StripeObject] = field(default_factory=list)
    """What Stripe's account saw: every movement of its balance."""


def count_from_database(engine: sa.Engine, orgs: list[uuid.UUID], s: SeasonSummary) -> None:
    """Fill in what the database says about the season's organizations."""
    with engine.connect() as conn:
        params = {"orgs": orgs}
        for table, target in (("orders", s.orders), ("tickets", s.tickets)):
            for status, n in conn.execute(
                sa.text(f"""SELECT status, count(*) FROM ticketing.{table}
                             WHERE org_id = ANY(:orgs) GROUP BY status ORDER BY status"""),
                params,
            ).all():
                target[status] = int(n)
        for state, n in conn.execute(
            sa.text("""SELECT state, count(*) FROM payments.escrows
                        WHERE org_id = ANY(:orgs) GROUP BY state ORDER BY state"""),
            params,
        ).all():
            s.escrows[state] = int(n)
        released = conn.execute(
            sa.text("""SELECT id FROM payments.escrows
                        WHERE org_id = ANY(:orgs) AND released > 0"""),
            params,
        ).scalars()
        s.released_still_holding = sum(1 for e in released if escrow.get_escrow(conn, e).held != 0)
        tb = ledger.trial_balance(conn)
        s.totals = dict(sorted(tb.totals.items()))
        s.balanced = tb.balanced
        s.fingerprint = ledger_fingerprint(conn, orgs)


def ledger_fingerprint(
    conn: sa.Connection, orgs: list[uuid.UUID]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Posted (debits, credits) per (organization's name, account code) for the season's
    organizations and the platform, event ids in codes replaced by the events' names: equal
    for two runs of the same seed on fresh databases."""
    names = {
        str(r.id): r.name
        for r in conn.execute(
            sa.text("SELECT id, name FROM ticketing.events WHERE org_id = ANY(:orgs)"),
            {"orgs": orgs},
        ).all()
    }
    rows = conn.execute(
        sa.text("""SELECT a.id, a.code, o.name, o.is_platform FROM payments.accounts a
                     JOIN payments.organizations o ON o.id = a.org_id
                    WHERE a.org_id = ANY(:orgs) OR o.is_platform"""),
        {"orgs": orgs},
    ).all()
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for r in rows:
        code = r.code
        for event_id, name in names.items():
            code = code.replace(event_id, name)
        b = ledger.balance(conn, r.id)
        owner = "(platform)" if r.is_platform else r.name
        found[(owner, code)] = (b.posted_debits, b.posted_credits)
    return found
