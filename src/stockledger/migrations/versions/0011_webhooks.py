"""Webhooks: subscriptions, their deliveries, a queue per (webhook, stream), and the matcher's
cursor in the global feed (src/stockledger/webhooks/, docs/webhooks.md).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, UUID

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"
C = "C"


def upgrade() -> None:
    # `secret` is sealed (AES-GCM, key from the environment: webhooks/secret_box.py), never clear.
    # `event_types` null: every type, those added later included. `failing_since`: the first
    # failed attempt since the last delivered one (null while healthy).
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_types", ARRAY(sa.Text)),
        sa.Column("sku_prefix", sa.Text(collation=C)),
        sa.Column("description", sa.Text),
        sa.Column("secret", BYTEA, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("enabled_at", sa.DateTime(timezone=True)),  # last enabled again, if ever
    )
    # One row per (webhook, event) matched; `position` is the event's (the listing's order and
    # cursor). `next_attempt_at` is set after a failed attempt while it is retried.
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "webhook_id",
            UUID(as_uuid=True),
            sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("stream_id", sa.Text(collation=C), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="delivery_status"),
        sa.UniqueConstraint("webhook_id", "position", name="webhook_deliveries_event"),
    )
    # What a sender reads: a stream's pending deliveries in version (= position) order.
    op.create_index(
        "webhook_deliveries_pending",
        "webhook_deliveries",
        ["webhook_id", "stream_id", "position"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    # The failed ones, few, listed and retried by operators. (Delivered ones are listed and
    # forgotten along the (webhook_id, position) key: the matcher adds them in that order. No
    # index has every row by status: each would cost every delivery an index entry more.)
    op.create_index(
        "webhook_deliveries_failed",
        "webhook_deliveries",
        ["webhook_id", "position"],
        postgresql_where=sa.text("status = 'failed'"),
    )
    # A row per (webhook, stream) with deliveries: when its oldest pending one goes next
    # ('infinity': none pending). One failing stream waits here alone; the others' rows stay
    # due. `touched` counts the changes of other writers than the sender (queue.py).
    op.create_table(
        "webhook_queues",
        sa.Column(
            "webhook_id",
            UUID(as_uuid=True),
            sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("stream_id", sa.Text(collation=C), primary_key=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("touched", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("webhook_queues_due", "webhook_queues", ["webhook_id", "next_attempt_at"])
    # The matcher's position in the global feed: every event at or below it was matched.
    op.create_table(
        "webhook_cursor",
        sa.Column("one", sa.Boolean, primary_key=True, server_default=sa.true()),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.CheckConstraint("one", name="webhook_cursor_one_row"),
    )
    op.execute("INSERT INTO webhook_cursor (one, position) VALUES (true, 0)")
    op.execute(
        "GRANT SELECT, INSERT, UPDATE, DELETE "
        f"ON webhooks, webhook_deliveries, webhook_queues, webhook_cursor TO {APP_ROLE}"
    )


def downgrade() -> None:
    op.execute("DROP TABLE webhook_cursor, webhook_queues, webhook_deliveries, webhooks")
