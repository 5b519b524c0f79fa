"""Idempotency records hold the ledger's receipt of a command (its outcome or refusal, rendered
by the API for every copy of the request), no longer an HTTP status and body.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before this revision keep their status and are answered as they were.
    op.alter_column("idempotency_keys", "status_code", existing_type=sa.SmallInteger, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys WHERE status_code IS NULL")
    op.alter_column(
        "idempotency_keys", "status_code", existing_type=sa.SmallInteger, nullable=False
    )
