"""What the elected background roles report, so that every process's /ready can tell.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"


def upgrade() -> None:
    # One row per reporting role (`projector`, `relay`, `verifier`), upserted every few seconds
    # by whichever process leads it: `lag_seconds`, `problem` (null when healthy) and details.
    # A row whose `updated_at` is old means nobody leads that role any more.
    op.create_table(
        "pipeline_status",
        sa.Column("role", sa.Text, primary_key=True),
        sa.Column("lag_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("problem", sa.Text),
        sa.Column("details", JSONB, nullable=False, server_default="{}"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON pipeline_status TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("pipeline_status")
