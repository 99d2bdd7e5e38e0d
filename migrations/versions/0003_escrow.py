"""Escrow: policies, escrows and their transitions, Stripe payments, refunds, disputes,
transfers and payouts as the escrow sees them.

Revision ID: 0003_escrow
Revises: 0002_outbox
Create Date: 2026-11-25
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0003_escrow"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    """Create the escrow tables from their SQL file (sent without parameters, as 0001)."""
    driver = op.get_bind().connection.driver_connection
    driver.execute((_SQL / "0003_escrow.sql").read_text())  # type: ignore[union-attr]


def downgrade() -> None:
    """Drop the escrow tables."""
    for table in (
        "platform_payouts",
        "organizer_transfers",
        "card_disputes",
        "card_refunds",
        "card_payments",
        "escrow_transitions",
        "escrows",
        "organizer_policies",
    ):
        op.execute(f"DROP TABLE payments.{table}")
