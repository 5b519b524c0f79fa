"""Read models of the reorder streams: each stream's rule and open alert, and every alert from
opening to closing (GET /v1/alerts, GET /v1/stock?lowStock=true).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"
NOW = sa.func.now()


def upgrade() -> None:
    # One row per reorder stream; `version` is the last event applied (duplicates and gaps,
    # as for stock_levels).
    op.create_table(
        "reorder_views",
        sa.Column("stream_id", sa.Text(collation="C"), primary_key=True),
        sa.Column("sku", sa.Text(collation="C"), nullable=False),
        sa.Column("warehouse_id", sa.Text(collation="C"), nullable=False),
        sa.Column("reorder_point", sa.Integer),  # null: no rule (removed)
        sa.Column("reorder_quantity", sa.Integer),
        sa.Column("safety_stock", sa.Integer),
        sa.Column("alert_id", sa.Text),
        sa.Column("alert_kind", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("projected_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    # Alerts in (stream, opening version) order: the keyset of the alert listing.
    op.create_table(
        "alerts",
        sa.Column("stream_id", sa.Text(collation="C"), primary_key=True),
        sa.Column("opened_version", sa.Integer, primary_key=True),
        sa.Column("alert_id", sa.Text(collation="C"), nullable=False, unique=True),
        sa.Column("sku", sa.Text(collation="C"), nullable=False),
        sa.Column("warehouse_id", sa.Text(collation="C"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("available", sa.Integer, nullable=False),
        sa.Column("reorder_point", sa.Integer, nullable=False),
        sa.Column("suggested_order_quantity", sa.Integer, nullable=False),
        sa.Column("projected_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index(
        "alerts_open",
        "alerts",
        ["stream_id", "opened_version"],
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_index("alerts_warehouse", "alerts", ["warehouse_id", "stream_id", "opened_version"])
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON reorder_views, alerts TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE reorder_views, alerts")
