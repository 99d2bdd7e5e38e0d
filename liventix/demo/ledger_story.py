"""The ledger's short story (`liventix ledger demo`): a small ticket sale told through the
ledger alone.

It opens the platform's and an organizer's accounts, posts a ticket sale with the platform's
fee and Stripe's fee, places a card hold for two tickets and captures one, refunds the first
sale, corrects a mistaken entry by reversal, then prints balances and the trial balances.
Every write carries an idempotency key derived from `--run`, so running it twice with the
same run id replays the first run's results instead of posting again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

import ledger
from liventix.demo.progress import Out, money

PLATFORM_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
ORGANIZER_ID = uuid.UUID("00000000-0000-4000-8000-00000000000a")


def run_demo(engine: sa.Engine, run: str, out: Out = print) -> ledger.TrialBalance:
    """Play the story on `engine`'s database; return the platform-wide trial balance."""

    def key(name: str) -> str:
        return f"demo-{run}-{name}"

    def mark(result: ledger.WriteResult) -> str:
        return " (replayed: same key, same request)" if result.replayed else ""

    usd = "USD"
    with engine.begin() as conn:
        # A database has one platform: the one there is (a season's), or the story's.
        platform = ledger.platform_org(conn) or ledger.open_organization(
            conn, PLATFORM_ID, "Liventix", is_platform=True
        )
        ledger.open_organization(conn, ORGANIZER_ID, "Riverside Jazz Club")

    specs = {
        "stripe_balance": (platform, "asset", {}),
        "card_receivable": (platform, "asset", {}),
        "platform_fees": (platform, "revenue", {"high_volume": True}),
        "stripe_fees": (platform, "expense", {}),
        "escrow": (ORGANIZER_ID, "liability", {"debits_must_not_exceed_credits": True}),
    }
    acc: dict[str, uuid.UUID] = {}
    with engine.begin() as conn:
        for code, (org, kind, flags) in specs.items():
            acc[code] = ledger.open_account(
                conn,
                org,
                ledger.OpenAccount(
                    idempotency_key=key(f"open-{code}"),
                    code=f"{code}-{run}",
                    type=kind,  # type: ignore[arg-type]
                    currency=usd,
                    **flags,  # type: ignore[arg-type]
                ),
            ).id
    out(f"Opened {len(acc)} accounts for the platform and Riverside Jazz Club (run {run}).")

    sale_request = ledger.PostEntry(
        idempotency_key=key("sale-1"),
        description="Ticket sale: 1 x General admission",
        external_ref=f"txn_demo_{run}_1",
        lines=[
            ledger.Line(acc["stripe_balance"], "debit", 5_000, usd),
            ledger.Line(acc["escrow"], "credit", 4_500, usd),
            ledger.Line(acc["platform_fees"], "credit", 500, usd),
            ledger.Line(acc["stripe_fees"], "debit", 175, usd),
            ledger.Line(acc["stripe_balance"], "credit", 175, usd),
        ],
    )

    # 1. A ticket sale: 50.00 paid; 45.00 held in escrow for the organizer, 5.00 platform fee.
    #    Stripe's 1.75 processing fee is the platform's expense.
    with engine.begin() as conn:
        sale = ledger.post_entry(conn, ORGANIZER_ID, sale_request)
    out(f"1. Ticket sale posted as entry {sale.id}{mark(sale)}.")

    # 2. A card hold for two tickets, captured for one: the rest is released.
    with engine.begin() as conn:
        hold = ledger.create_hold(
            conn,
            ORGANIZER_ID,
            ledger.CreateHold(
                idempotency_key=key("hold-1"),
                debit_account_id=acc["card_receivable"],
                credit_account_id=acc["escrow"],
                amount=9_000,
                currency=usd,
                expires_at=_opened_at(conn, acc["escrow"]) + timedelta(days=7),
                description="Card authorization: 2 x General admission",
            ),
        )
        pending = ledger.balance(conn, acc["escrow"])
    out(
        f"2. Hold {hold.id} for {money(9_000, usd)}{mark(hold)}; escrow pending balance "
        f"{money(pending.pending, usd)}."
    )
    with engine.begin() as conn:
        capture = ledger.post_hold(
            conn, ORGANIZER_ID, ledger.PostHold(key("hold-1-capture"), hold.id, amount=4_500)
        )
    out(f"   Captured {money(4_500, usd)} of it as entry {capture.id}{mark(capture)}.")

    # 3. The first buyer is refunded in full: escrow and the platform's fee go back to the
    #    card; Stripe keeps its processing fee, so that stays the platform's expense.
    with engine.begin() as conn:
        refund = ledger.post_entry(
            conn,
            ORGANIZER_ID,
            ledger.PostEntry(
                idempotency_key=key("refund-1"),
                description="Refund of sale 1",
                external_ref=f"re_demo_{run}_1",
                lines=[
                    ledger.Line(acc["escrow"], "debit", 4_500, usd),
                    ledger.Line(acc["platform_fees"], "debit", 500, usd),
                    ledger.Line(acc["stripe_balance"], "credit", 5_000, usd),
                ],
            ),
        )
    out(f"3. Sale 1 refunded by entry {refund.id}{mark(refund)}; Stripe keeps its fee.")

    # 4. A mistaken adjustment, corrected the ledger's way: reversed by a new entry.
    with engine.begin() as conn:
        mistake = ledger.post_entry(
            conn,
            ORGANIZER_ID,
            ledger.PostEntry(
                idempotency_key=key("adjustment"),
                description="Adjustment posted by mistake",
                lines=[
                    ledger.Line(acc["stripe_fees"], "debit", 100, usd),
                    ledger.Line(acc["stripe_balance"], "credit", 100, usd),
                ],
            ),
        )
        reversal = ledger.reverse_entry(
            conn, ORGANIZER_ID, ledger.ReverseEntry(key("adjustment-reversal"), mistake.id)
        )
    out(f"4. Entry {mistake.id} reversed by entry {reversal.id}{mark(reversal)}.")

    # 5. A replay of the sale's request changes nothing.
    with engine.begin() as conn:
        again = ledger.post_entry(conn, ORGANIZER_ID, sale_request)
    out(f"5. The sale's request sent again: replayed={again.replayed}, same entry {again.id}.")

    with engine.begin() as conn:
        ledger.roll_up(conn)
    with engine.begin() as conn:
        out("")
        out(f"{'account':<34}{'posted':>16}{'pending':>16}{'available':>16}")
        for code, account_id in acc.items():
            b = ledger.balance(conn, account_id)
            out(
                f"{code:<34}{money(b.posted, usd):>16}{money(b.pending, usd):>16}"
                f"{money(b.available, usd):>16}"
            )
        views: tuple[tuple[str, uuid.UUID | None], ...] = (
            ("Riverside Jazz Club", ORGANIZER_ID),
            ("all organizations", None),
        )
        for title, scope in views:
            tb = ledger.trial_balance(conn, scope)
            net: dict[uuid.UUID, int] = {}
            for row in tb.rows:
                net[row.account_id] = net.get(row.account_id, 0) + row.debit - row.credit
            out("")
            out(f"Trial balance, {title}")
            out(f"{'account':<34}{'debit':>16}{'credit':>16}")
            for code, account_id in acc.items():
                if account_id in net:
                    value = net[account_id]
                    out(
                        f"{code:<34}{money(max(value, 0), usd):>16}{money(max(-value, 0), usd):>16}"
                    )
            for currency, (debits, credits) in tb.totals.items():
                out(f"{'total':<34}{money(debits, currency):>16}{money(credits, currency):>16}")
            out("balanced: debits equal credits" if tb.balanced else "NOT BALANCED")
        return ledger.trial_balance(conn)


def _opened_at(conn: sa.Connection, account_id: uuid.UUID) -> datetime:
    # The hold's expiry derives from stored data, not the clock, so a replay of the demo sends
    # the very same request (a new expiry would be another request under the same key).
    opened: datetime = conn.execute(
        sa.text("SELECT created_at FROM payments.accounts WHERE id = :id"), {"id": account_id}
    ).scalar_one()
    return opened
