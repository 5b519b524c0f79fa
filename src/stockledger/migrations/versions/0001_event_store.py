"""Event store: events, snapshots, outbox, idempotency keys, reservation deadlines; append-only.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"


def upgrade() -> None:
    op.create_table(
        "events",
        # Global position = (writer's xid8 << 16) + index in its transaction: see
        # src/stockledger/store/event_store.py.
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        # "C" collation: byte order, so `stream_id LIKE 'stock:SKU:%'` is an index range scan.
        sa.Column("stream_id", sa.Text(collation="C"), nullable=False),
        sa.Column("version", sa.Integer, sa.CheckConstraint("version > 0"), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("schema_version", sa.SmallInteger, nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("metadata", JSONB, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text),
        # How the event moved its stock stream (0 elsewhere): levels at any point are sums.
        *(
            sa.Column(name, sa.Integer, nullable=False, server_default="0")
            for name in ("d_on_hand", "d_reserved", "d_in_transit", "d_damaged")
        ),
        sa.UniqueConstraint("stream_id", "version", name="events_stream_version"),
    )
    op.create_index("events_correlation", "events", ["correlation_id", "position"])
    op.create_index(
        "events_order",
        "events",
        ["order_id", "position"],
        postgresql_where=sa.text("order_id IS NOT NULL"),
    )
    op.create_index("events_stream_recorded", "events", ["stream_id", "recorded_at"])
    op.create_index("events_recorded", "events", ["recorded_at"])

    op.create_table(
        "snapshots",
        sa.Column("stream_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", JSONB, nullable=False),
    )
    # Written in the append transaction; a row leaves only once the broker acknowledged it.
    op.create_table(
        "outbox",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("stream_id", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.SmallInteger, nullable=False),
        sa.Column("response", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("idempotency_keys_created", "idempotency_keys", ["created_at"])
    # Due reservations, kept in the same transaction as the reservation's own events.
    op.create_table(
        "reservation_deadlines",
        sa.Column("reservation_id", sa.Text, primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("reservation_deadlines_due", "reservation_deadlines", ["expires_at"])

    for statement in (
        """
        CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'stockledger events are append-only: % on events refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """,
        """
        CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
          FOR EACH ROW EXECUTE FUNCTION events_append_only()
        """,
        """
        CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
          FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()
        """,
        # The application's role: it may read and append events, never change or remove them.
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} LOGIN;
          END IF;
          EXECUTE format('GRANT CONNECT ON DATABASE %I TO {APP_ROLE}', current_database());
        END $$
        """,
        f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}",
        f"GRANT SELECT, INSERT ON events TO {APP_ROLE}",
        f"GRANT SELECT ON alembic_version TO {APP_ROLE}",
        f"""
        GRANT SELECT, INSERT, UPDATE, DELETE
          ON snapshots, outbox, idempotency_keys, reservation_deadlines TO {APP_ROLE}
        """,
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
    op.execute("DROP TABLE events, snapshots, outbox, idempotency_keys, reservation_deadlines")
    op.execute("DROP FUNCTION events_append_only()")
