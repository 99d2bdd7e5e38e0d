"""Transfers and reversals as Stripe Connect expects: the transfer reversals escrow asks of
Stripe to recover what an organizer owes after release.

Revision ID: 0007_transfer_reversals
Revises: 0006_posting_speed
Create Date: 2026-11-27
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0007_transfer_reversals"
down_revision = "0006_posting_speed"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    """Create the transfer reversal requests."""
    driver = op.get_bind().connection.driver_connection
    driver.execute((_SQL / "0007_transfer_reversals.sql").read_text())  # type: ignore[union-attr]


def downgrade() -> None:
    """Drop them."""
    op.execute("DROP TABLE payments.transfer_reversal_requests")
