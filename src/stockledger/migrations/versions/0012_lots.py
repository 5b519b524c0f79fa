"""Tracked stock: where each serial number of a serial-tracked SKU is, one row per serial in
stock or in transit, written in the append's transaction (write/serial_places.py).

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


def downgrade() -> None:
    op.drop_table("serial_places")
