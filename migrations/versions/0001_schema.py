"""The whole schema, as it stands: the ledger (payments schema and posting engine), the
outbox (messaging), escrow, ticketing, and the API's keys and tenancy proof.

One revision: nothing was deployed before it, so the history of how the schema grew was
squashed into the current form of every table and function. Its SQL lives in the files of
`migrations/sql/`, one per domain, applied in the order below.

Revision ID: 0001_schema
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0001_schema"
down_revision = None
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parent.parent / "sql"

# In dependency order: the tenancy proof and the ledger's tables first (every policy reads
# them), the engine, then the domains built on the ledger, the API's tables last.
FILES = (
    "payments_schema.sql",
    "payments_engine.sql",
    "payments_batches.sql",
    "payments_categories.sql",
    "payments_settlements.sql",
    "messaging.sql",
    "escrow.sql",
    "ticketing.sql",
    "api_tenancy.sql",
    "payments_monitors.sql",
    "payments_seals.sql",
    "replication.sql",
)

# The application's roles are cluster-wide (other databases may hold grants to them): the
# downgrade leaves them, as the upgrade creates them only if missing.
SCHEMAS = ("ticketing", "messaging", "payments")


def upgrade() -> None:
    """Create every schema, table, function, policy and grant from the SQL files."""
    # Sent through psycopg without parameters (the simple query protocol), so the files'
    # '%' and ':' reach PostgreSQL as they are; still inside Alembic's transaction.
    driver = op.get_bind().connection.driver_connection
    for name in FILES:
        driver.execute((_SQL / name).read_text())  # type: ignore[union-attr]


def downgrade() -> None:
    """Drop what the upgrade made: the three schemas (their data with them) and the grant on
    Alembic's own table."""
    op.execute(
        "DO $$ BEGIN IF to_regclass('alembic_version') IS NOT NULL THEN"
        " REVOKE SELECT ON alembic_version FROM liventix_platform; END IF; END $$"
    )
    for schema in SCHEMAS:
        op.execute(f"DROP SCHEMA {schema} CASCADE")
