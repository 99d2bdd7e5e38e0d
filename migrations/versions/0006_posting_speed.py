"""Posting speed: the same ledger rules with less server work per posting and per batch.

Revision ID: 0006_posting_speed
Revises: 0005_api
Create Date: 2026-11-26
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0006_posting_speed"
down_revision = "0005_api"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    """Replace the posting and balance-check functions (sent without parameters, as 0001)."""
    driver = op.get_bind().connection.driver_connection
    driver.execute((_SQL / "0006_posting_speed.sql").read_text())  # type: ignore[union-attr]


def downgrade() -> None:
    """Put back the functions as 0001 defined them."""
    driver = op.get_bind().connection.driver_connection
    driver.execute((_SQL / "0006_posting_speed_down.sql").read_text())  # type: ignore[union-attr]
