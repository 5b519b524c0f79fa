"""`stockledger republish`: send events from the store to the topic again.

For when the topic lost data (a broker that lost its log, a topic past its retention) or a new
downstream consumer needs history. The store keeps every event; this reads the chosen ones in
position order, below the commit horizon (the same gap-safe feed as /v1/events), and produces
them exactly as the relay does: key = streamId, value = the envelope, the same headers.
Consumers already deduplicate by (streamId, version), so a republished event that was never
lost changes nothing. It never touches the outbox: the live relay goes on undisturbed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ..config import Settings
from ..store.rows import ENVELOPE_JOIN
from .relay import MESSAGE_COLUMNS, ensure_topic, messages, start_producer

_SELECT = f"""
SELECT {MESSAGE_COLUMNS}
FROM events e {ENVELOPE_JOIN}
WHERE e.position > $1
  AND e.position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)
  AND ($2::timestamptz IS NULL OR e.recorded_at >= $2)
  AND ($3::text IS NULL OR e.stream_id = $3)
ORDER BY e.position LIMIT $4
"""

_COUNT = """
SELECT count(*) FROM events e
WHERE e.position > $1
  AND e.position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)
  AND ($2::timestamptz IS NULL OR e.recorded_at >= $2)
  AND ($3::text IS NULL OR e.stream_id = $3)
"""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which events: after a position, recorded since an instant, of one stream (all optional)."""

    after_position: int = 0
    since: datetime | None = None
    stream_id: str | None = None

    def args(self) -> tuple[Any, ...]:
        return (self.after_position, self.since, self.stream_id)


async def count(pool: asyncpg.Pool[Any], selection: Selection) -> int:
    total: int = await pool.fetchval(_COUNT, *selection.args())
    return total


async def republish(
    pool: asyncpg.Pool[Any],
    settings: Settings,
    selection: Selection,
    advance: Callable[[int], None],
    *,
    batch: int = 2000,
) -> int:
    """Produce every selected event to STOCKLEDGER_KAFKA_TOPIC; returns how many were acked."""
    await ensure_topic(settings)
    producer = await start_producer(settings)
    sent, after = 0, selection.after_position
    try:
        while rows := await pool.fetch(_SELECT, after, selection.since, selection.stream_id, batch):
            chunk = messages(rows)
            acks = [
                await producer.send(
                    settings.kafka_topic, value=m.value, key=m.key, headers=m.headers
                )
                for m in chunk
            ]
            await asyncio.gather(*acks)
            sent += len(chunk)
            after = chunk[-1].position
            advance(len(chunk))
    finally:
        await producer.stop()
    return sent
