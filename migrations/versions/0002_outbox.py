"""The outbox: the messaging schema (messages, endpoints, deliveries, attempts, inbox).

Revision ID: 0002_outbox
Revises: 0001_ledger
Create Date: 2026-11-25
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0002_outbox"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    """Create the messaging schema from its SQL file (sent without parameters, as 0001)."""
    driver = op.get_bind().connection.driver_connection
    driver.execute((_SQL / "0002_messaging.sql").read_text())  # type: ignore[union-attr]


def downgrade() -> None:
    """Drop the messaging schema (its data with it)."""
    op.execute("DROP SCHEMA messaging CASCADE")
