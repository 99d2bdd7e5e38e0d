"""Ticketing: events, ticket types, orders, tickets, transitions, refunds.

Revision ID: 0004_ticketing
Revises: 0003_escrow
Create Date: 2026-11-25
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0004_ticketing"
down_revision = "0003_escrow"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    """Create the ticketing schema from its SQL file (sent without parameters, as 0001)."""
    driver = op.get_bind().connection.driver_connection
    driver.execute((_SQL / "0004_ticketing.sql").read_text())  # type: ignore[union-attr]


def downgrade() -> None:
    """Drop the ticketing schema (its data with it)."""
    op.execute("DROP SCHEMA ticketing CASCADE")
