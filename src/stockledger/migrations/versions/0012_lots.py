"""Tracked stock: where each serial number of a serial-tracked SKU is, one row per serial in
stock or in transit (write/serial_places.py); the lots each stream holds (write/lot_holdings.py);
the events of each lot and serial (write/tracked_events.py), all written in the append's
transaction; and the `expired` bucket of the stock levels.

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

    # Every lot holding units, per stock stream, as the stream's state has it: rewritten by the
    # batch that changed the stream's lots, in its transaction (write/lot_holdings.py). The
    # expiry worker finds the lots whose date has come; GET /v1/lots lists them by expiry.
    op.create_table(
        "lot_holdings",
        sa.Column("stream_id", sa.Text(collation=C), primary_key=True),
        sa.Column("lot_id", sa.Text(collation=C), primary_key=True),
        sa.Column("sku", sa.Text(collation=C), nullable=False),
        sa.Column("warehouse_id", sa.Text(collation=C), nullable=False),
        sa.Column("expires_on", sa.Date),
        sa.Column("on_hand", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("expired", sa.Integer, nullable=False),
        sa.Column("first_received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "lot_holdings_expiring", "lot_holdings", ["expires_on", "sku", "warehouse_id", "lot_id"]
    )
    op.create_index("lot_holdings_lot", "lot_holdings", ["sku", "lot_id"])
    # The events that moved each lot or serial: (sku, 'lot:<id>' | 'serial:<n>', position),
    # written with the events. A recall reads them with one index range, not a ledger scan.
    op.create_table(
        "tracked_events",
        sa.Column("sku", sa.Text(collation=C), primary_key=True),
        sa.Column("unit", sa.Text(collation=C), primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True),
    )
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON lot_holdings, tracked_events TO {APP_ROLE}"
    )

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
    op.drop_table("tracked_events")
    op.drop_table("lot_holdings")
    op.drop_table("serial_places")
