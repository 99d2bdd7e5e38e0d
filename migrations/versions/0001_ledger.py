"""The ledger: the payments schema, its rules, row-level security and posting engine.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    """Create the payments schema and its engine from the SQL files beside this package."""
    # Sent through psycopg without parameters (the simple query protocol), so the files'
    # '%' and ':' reach PostgreSQL as they are; still inside Alembic's transaction.
    driver = op.get_bind().connection.driver_connection
    for name in ("0001_payments_schema.sql", "0001_payments_engine.sql"):
        driver.execute((_SQL / name).read_text())  # type: ignore[union-attr]


def downgrade() -> None:
    """Drop the payments schema (its data with it)."""
    op.execute("DROP SCHEMA payments CASCADE")
