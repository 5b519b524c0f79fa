"""The catalog read model: each item and warehouse as its stream folds (GET /v1/items,
GET /v1/warehouses with the pipeline).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"


def upgrade() -> None:
    # One row per item:/warehouse: stream: the state as snapshots hold it, its version (the
    # last event applied: duplicates and gaps, as for stock_levels) and the `active` filter.
    op.create_table(
        "catalog_views",
        sa.Column("stream_id", sa.Text(collation="C"), primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "projected_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON catalog_views TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("catalog_views")
