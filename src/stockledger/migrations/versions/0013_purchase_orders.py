"""Purchase orders and quality control: two more stock buckets, and the open order lines.

Every stock event stores how it moved `incoming` and `qualityControl` beside the other four
deltas (`d_incoming`, `d_quality_control`; 0 for every older event, which moved neither), so
time travel and history stay one indexed SUM; the stock read model gains both columns.

`purchase_order_lines` holds each purchase order's lines as the order's state stands after its
last event: written by the append transaction itself (write/orders.py), like
`reservation_deadlines`, so it is never behind the events. Listing orders and available to
promise read it; `open_lines` (sku, expected date, only lines still open) is the index the
promise reads.

Revision ID: 0013
Revises: 0012_lots
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012_lots"
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"
SUMMED = ["position", "type", "d_on_hand", "d_reserved", "d_in_transit", "d_damaged"]
C = "C"


def upgrade() -> None:
    for column in ("d_incoming", "d_quality_control"):
        op.add_column("events", sa.Column(column, sa.Integer, nullable=False, server_default="0"))
    # The movements report reads a page as an index-only scan of events_stream_recorded, which
    # carries the deltas it sums: the two new ones join them (0010, and 0012's d_expired).
    op.create_index(
        "events_stream_recorded_summed",
        "events",
        ["stream_id", "recorded_at"],
        postgresql_include=[*SUMMED, "d_expired", "d_incoming", "d_quality_control"],
    )
    op.drop_index("events_stream_recorded", table_name="events")
    op.execute("ALTER INDEX events_stream_recorded_summed RENAME TO events_stream_recorded")
    for column in ("incoming", "quality_control"):
        op.add_column(
            "stock_levels", sa.Column(column, sa.Integer, nullable=False, server_default="0")
        )
    op.create_table(
        "purchase_order_lines",
        sa.Column("purchase_order_id", sa.Text(collation=C), primary_key=True),
        sa.Column("sku", sa.Text(collation=C), primary_key=True),
        sa.Column("warehouse_id", sa.Text(collation=C), primary_key=True),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("supplier", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("ordered", sa.Integer, nullable=False),
        sa.Column("received", sa.Integer, nullable=False),
        sa.Column("open", sa.Integer, nullable=False),
        sa.Column("unit_cost", sa.Numeric, nullable=False),
        sa.Column("expected_on", sa.Date, nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "open_lines",
        "purchase_order_lines",
        ["sku", "expected_on"],
        postgresql_include=["warehouse_id", "open"],
        postgresql_where=sa.text("open > 0"),
    )
    op.create_index("purchase_order_lines_supplier", "purchase_order_lines", ["supplier"])
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON purchase_order_lines TO {APP_ROLE}")
    # A lot's units awaiting inspection (0012's lot_holdings): neither available nor expiring.
    op.add_column(
        "lot_holdings",
        sa.Column("quality_control", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("lot_holdings", "quality_control")
    op.drop_table("purchase_order_lines")
    op.drop_index("events_stream_recorded", table_name="events")
    op.create_index(
        "events_stream_recorded", "events", ["stream_id", "recorded_at"],
        postgresql_include=[*SUMMED, "d_expired"],
    )  # fmt: skip
    op.drop_column("stock_levels", "quality_control")
    op.drop_column("stock_levels", "incoming")
    op.drop_column("events", "d_quality_control")
    op.drop_column("events", "d_incoming")
