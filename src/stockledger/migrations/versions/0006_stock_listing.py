"""The stock listing by warehouse (GET /v1/stock?warehouseId=) pages an index, never scans.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("stock_levels_warehouse", "stock_levels", ["warehouse_id", "stream_id"])


def downgrade() -> None:
    op.drop_index("stock_levels_warehouse", "stock_levels")
