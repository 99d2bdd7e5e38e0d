"""Tenancy that holds against the application's own database role: who a transaction acts
for is proven (signed by a server secret only the owner reads), set only by an API key
(`payments.authenticate`) or by a trusted caller (`payments.act_for`); the platform's
policies need the platform's proof; the inbox and the API keys are unreadable to
organization requests; webhook secrets are stored sealed. Also: a hold's expiry must lie in
the future.

Revision ID: 0008_tenancy
Revises: 0007_transfer_reversals
Create Date: 2026-11-28
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

from outbox import sealing

revision = "0008_tenancy"
down_revision = "0007_transfer_reversals"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parent.parent / "sql"


def upgrade() -> None:
    """Seal the webhook secrets stored in plain text, then apply the tenancy SQL."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, secret FROM messaging.endpoint_secrets WHERE secret LIKE 'whsec_%'")
    ).all()
    for row in rows:
        bind.execute(
            sa.text("UPDATE messaging.endpoint_secrets SET secret = :sealed WHERE id = :id"),
            {"id": row.id, "sealed": sealing.seal(row.secret)},
        )
    driver = bind.connection.driver_connection
    driver.execute((_SQL / "0008_tenancy.sql").read_text())  # type: ignore[union-attr]


def downgrade() -> None:
    """Put back the trusting functions and policies (secrets stay sealed: that is one-way
    without the key, and the key is the application's)."""
    driver = op.get_bind().connection.driver_connection
    driver.execute((_SQL / "0008_tenancy_down.sql").read_text())  # type: ignore[union-attr]
