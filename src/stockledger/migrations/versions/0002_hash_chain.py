"""Tamper evidence: a hash chain over every stream's events, and signed checkpoints.

Adds `events.hash` (see `stockledger/store/hashchain.py` for the exact definition), backfills it
for the events already stored, then makes it NOT NULL. The append-only trigger refuses UPDATE on
events, so the backfill disables it and re-enables it inside this migration's transaction: no
other session ever sees events without it. Adds the `event_hash_chain` aggregate the append
statement folds new events with, and `audit_checkpoints` (append-only as well).

Revision ID: 0002
Revises: 0001
"""

import hashlib
import json
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BYTEA

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APP_ROLE = "stockledger_app"
BATCH = 5000


def _canonical(row: Any) -> bytes:
    # A frozen copy of stockledger.store.hashchain.canonical: a migration must not change when
    # the application code does.
    at = row.recorded_at.astimezone(UTC)
    document = {
        "eventId": row.event_id,
        "type": row.type,
        "streamId": row.stream_id,
        "version": row.version,
        "recordedAt": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}Z",
        "schemaVersion": row.schema_version,
        "data": json.loads(row.data),
        "metadata": json.loads(row.metadata),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _backfill() -> None:
    bind = op.get_bind()
    after: tuple[str, int] = ("", 0)
    previous = bytes(32)
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT position, event_id::text AS event_id, stream_id, version, type, "
                "schema_version, data::text AS data, metadata::text AS metadata, recorded_at "
                "FROM events WHERE (stream_id, version) > (:stream, :version) "
                "ORDER BY stream_id, version LIMIT :batch"
            ),
            {"stream": after[0], "version": after[1], "batch": BATCH},
        ).all()
        if not rows:
            return
        positions, hashes = [], []
        for row in rows:
            if row.version == 1 or row.stream_id != after[0]:
                previous = bytes(32)
            previous = hashlib.sha256(previous + _canonical(row)).digest()
            positions.append(row.position)
            hashes.append(previous)
            after = (row.stream_id, row.version)
        bind.execute(
            sa.text(
                "UPDATE events e SET hash = x.hash "
                "FROM unnest(CAST(:positions AS bigint[]), CAST(:hashes AS bytea[])) "
                "AS x(position, hash) WHERE e.position = x.position"
            ),
            {"positions": positions, "hashes": hashes},
        )


def upgrade() -> None:
    op.add_column("events", sa.Column("hash", BYTEA))
    op.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
    _backfill()
    op.execute("ALTER TABLE events ENABLE TRIGGER events_no_update_delete")
    op.alter_column("events", "hash", nullable=False)
    op.create_check_constraint("events_hash_length", "events", "length(hash) = 32")
    for statement in (
        # sha256(previous || body), starting from the stream head's stored hash: used as a
        # window aggregate over a stream's new events, ordered by version.
        """
        CREATE FUNCTION event_hash_chain_step(state bytea, head bytea, body bytea)
        RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT sha256(COALESCE(state, head) || body) $$
        """,
        """
        CREATE AGGREGATE event_hash_chain(bytea, bytea) (
          SFUNC = event_hash_chain_step, STYPE = bytea
        )
        """,
    ):
        op.execute(statement)

    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        # Every event with position <= this one, and only those, is covered (0: none yet).
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("event_count", sa.BigInteger, nullable=False),
        sa.Column("stream_count", sa.BigInteger, nullable=False),
        sa.Column("digest", BYTEA, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", BYTEA, nullable=False),
    )
    op.create_index("audit_checkpoints_position", "audit_checkpoints", ["position"])
    for statement in (
        """
        CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'stockledger audit checkpoints are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """,
        """
        CREATE TRIGGER audit_checkpoints_no_update_delete
          BEFORE UPDATE OR DELETE ON audit_checkpoints
          FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only()
        """,
        """
        CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
          FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only()
        """,
        f"GRANT SELECT, INSERT ON audit_checkpoints TO {APP_ROLE}",
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE audit_checkpoints")
    op.execute("DROP FUNCTION audit_checkpoints_append_only()")
    op.execute("DROP AGGREGATE event_hash_chain(bytea, bytea)")
    op.execute("DROP FUNCTION event_hash_chain_step(bytea, bytea, bytea)")
    op.drop_constraint("events_hash_length", "events")
    op.drop_column("events", "hash")
