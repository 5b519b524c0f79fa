"""Tracked stock: where each serial number of a serial-tracked SKU is, one row per serial in
stock or in transit (write/serial_places.py); the lots due to expire (write/lot_expiries.py),
both written in the append's transaction; and the `expired` bucket of the stock levels.

Revision ID: 0012_lots
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_lots"
down_revision = "0011"
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"
C = "C"
SUMMED = ["position", "type", "d_on_hand", "d_reserved", "d_in_transit", "d_damaged"]


def upgrade() -> None:
    # The primary key is the rule: a serial of a SKU is in one place at most. Two transactions
    # receiving it in two warehouses both INSERT; the unique index makes the second wait for
    # the first and then find it taken, whatever process each runs in.
    op.create_table(
        "serial_places",
        sa.Column("sku", sa.Text(collation=C), primary_key=True),
        sa.Column("serial", sa.Text(collation=C), primary_key=True),
        sa.Column("warehouse_id", sa.Text(collation=C), nullable=False),
        sa.Column("status", sa.Text, nullable=False),  # in_stock, in_transit (to it), damaged
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON serial_places TO {APP_ROLE}")

    # A lot holding unreserved units and an expiry date: the expiry worker appends LotExpired
    # from that date on (the row goes when no unreserved unit is left).
    op.create_table(
        "lot_expiries",
        sa.Column("stream_id", sa.Text(collation=C), primary_key=True),
        sa.Column("lot_id", sa.Text(collation=C), primary_key=True),
        sa.Column("expires_on", sa.Date, nullable=False),
    )
    op.create_index("lot_expiries_due", "lot_expiries", ["expires_on"])
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON lot_expiries TO {APP_ROLE}")

    # Lot-tracked units past their date. A constant default adds the column without rewriting
    # the table (and without an UPDATE the append-only trigger would refuse).
    op.add_column("events", sa.Column("d_expired", sa.Integer, nullable=False, server_default="0"))
    op.add_column(
        "stock_levels", sa.Column("expired", sa.Integer, nullable=False, server_default="0")
    )
    # The movement report's index-only scan (0010) covers the new delta too.
    op.create_index(
        "events_stream_recorded_summed",
        "events",
        ["stream_id", "recorded_at"],
        postgresql_include=[*SUMMED, "d_expired"],
    )
    op.drop_index("events_stream_recorded", table_name="events")
    op.execute("ALTER INDEX events_stream_recorded_summed RENAME TO events_stream_recorded")


def downgrade() -> None:
    op.create_index(
        "events_stream_recorded_summed",
        "events",
        ["stream_id", "recorded_at"],
        postgresql_include=SUMMED,
    )
    op.drop_index("events_stream_recorded", table_name="events")
    op.execute("ALTER INDEX events_stream_recorded_summed RENAME TO events_stream_recorded")
    op.drop_column("stock_levels", "expired")
    op.drop_column("events", "d_expired")
    op.drop_table("lot_expiries")
    op.drop_table("serial_places")
