"""Indexes the movements report's pages read alone.

A page of GET /v1/reports/movements reads the events of ~1,000 stock streams before `to`. Their
rows lie all over the table (it is in position order), so a page visited ~14,000 heap pages.
`events_stream_recorded` (stream_id, recorded_at), which time travel and history already use,
now also carries the columns the report sums (INCLUDE: position, type and the four level
deltas), so a page is an index-only range scan. It replaces the old index rather than joining
it: one index entry per event, as before, only wider. `events_returns` finds the returns,
whose data the report reads for disposals (their quantity moves no bucket).

Index-only scans skip the heap for pages the visibility map marks all-visible: autovacuum's
insert threshold keeps an append-only table marked; after upgrading a large ledger, `VACUUM
events` marks it at once.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SUMMED = ["position", "type", "d_on_hand", "d_reserved", "d_in_transit", "d_damaged"]


def upgrade() -> None:
    op.create_index(
        "events_stream_recorded_summed",
        "events",
        ["stream_id", "recorded_at"],
        postgresql_include=SUMMED,
    )
    op.drop_index("events_stream_recorded", table_name="events")
    op.execute("ALTER INDEX events_stream_recorded_summed RENAME TO events_stream_recorded")
    op.create_index(
        "events_returns",
        "events",
        ["stream_id", "recorded_at"],
        postgresql_where=sa.text("type = 'StockReturned'"),
    )


def downgrade() -> None:
    op.drop_index("events_returns", table_name="events")
    op.drop_index("events_stream_recorded", table_name="events")
    op.create_index("events_stream_recorded", "events", ["stream_id", "recorded_at"])
