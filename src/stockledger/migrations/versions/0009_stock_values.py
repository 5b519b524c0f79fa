"""Per-event value deltas of the stock streams, beside the events' quantity deltas: what the
set-based valuation and COGS queries sum.

One row per stock-stream event that moves a quantity on hand, in transit or damaged, or a
value: written in the event's own transaction from v2 on; the rows of events written before
are derived by `stockledger migrate` (backfill_stock_values) from the events alone.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"
MONEY = sa.Numeric  # exact, unbounded scale: the domain's Decimal as it is


def upgrade() -> None:
    op.create_table(
        "stock_values",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("stream_id", sa.Text(collation="C"), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        *(
            sa.Column(name, sa.Integer, nullable=False, server_default="0")
            for name in ("d_on_hand", "d_in_transit", "d_damaged")
        ),
        *(
            sa.Column(name, MONEY, nullable=False, server_default="0")
            for name in ("d_value", "d_in_transit_value", "d_damaged_value", "cogs", "loss")
        ),
        sa.Column("units_shipped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("loss_reason", sa.Text),
    )
    op.create_index("stock_values_recorded", "stock_values", ["recorded_at"])
    op.create_index("stock_values_stream", "stock_values", ["stream_id", "position"])
    op.execute(f"GRANT SELECT, INSERT ON stock_values TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("stock_values")
