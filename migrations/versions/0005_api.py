"""The HTTP API: hashed API keys and the idempotency records of write requests.

Revision ID: 0005_api
Revises: 0004_ticketing
Create Date: 2026-11-26
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0005_api"
down_revision = "0004_ticketing"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    """Create the API's tables from their SQL file (sent without parameters, as 0001)."""
    driver = op.get_bind().connection.driver_connection
    driver.execute((_SQL / "0005_api.sql").read_text())  # type: ignore[union-attr]


def downgrade() -> None:
    """Drop the API's tables (keys and idempotency records with them)."""
    op.execute("DROP TABLE payments.api_idempotency")
    op.execute("DROP TABLE payments.api_keys")
    op.execute(
        "REVOKE UPDATE (status, attempts, next_attempt_at, finished_at, lease_expires_at,"
        " leased_by) ON messaging.deliveries FROM liventix_app"
    )
