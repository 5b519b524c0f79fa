"""Read models kept by the projectors: stock levels, reservations, parked streams.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"
NOW = sa.func.now()


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("projected_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    ]


def upgrade() -> None:
    # One row per stock stream; `version` is the last event applied, written in the same
    # transaction as the levels, so a projector can tell a duplicate from a gap.
    op.create_table(
        "stock_levels",
        sa.Column("stream_id", sa.Text(collation="C"), primary_key=True),
        sa.Column("sku", sa.Text(collation="C"), nullable=False),
        sa.Column("warehouse_id", sa.Text(collation="C"), nullable=False),
        *(
            sa.Column(name, sa.Integer, nullable=False)
            for name in ("on_hand", "reserved", "in_transit", "damaged")
        ),
        sa.Column("version", sa.Integer, nullable=False),
        *_timestamps(),
    )
    op.create_index("stock_levels_sku", "stock_levels", ["sku", "warehouse_id"])
    op.create_table(
        "reservation_views",
        sa.Column("reservation_id", sa.Text(collation="C"), primary_key=True),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        *_timestamps(),
    )
    # A stream whose event cannot be decoded or applied stops here (and is reported) instead
    # of stalling every other stream or being skipped.
    op.create_table(
        "parked_streams",
        sa.Column("projection", sa.Text, primary_key=True),
        sa.Column("stream_id", sa.Text(collation="C"), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.execute(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON stock_levels, reservation_views, parked_streams "
        f"TO {APP_ROLE}"
    )


def downgrade() -> None:
    op.execute("DROP TABLE stock_levels, reservation_views, parked_streams")
