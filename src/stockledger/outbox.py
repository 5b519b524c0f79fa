"""The outbox relay: committed events -> Kafka, at least once, in version order per stream.

Why this is gap-free (DESIGN.md "Commit-order gaps", design (c)): the append transaction writes
an outbox row beside every event, and a row leaves the outbox only after the broker has
acknowledged the message. The relay keeps no cursor that could pass a row committing late: it
always publishes whatever rows exist, lowest position first. A stream's versions commit in
order (the next version's writer starts after the previous committed, so it also gets a higher
xid and position), hence rows of one stream are published in version order. A relay killed
between the broker's ack and the DELETE publishes those rows again: duplicates, never loss;
consumers drop them by (streamId, version).

One active relay: leadership is a session advisory lock held on a dedicated connection. A
second instance is a hot standby that polls the lock and takes over when the leader's
connection dies. The leader wakes on LISTEN/NOTIFY (sent by every append at COMMIT) and polls
as a fallback; a full batch loops at once, so it batches when busy and is prompt when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from .config import Settings
from .leader import lead
from .metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, RELAY_PUBLISHED

log = structlog.get_logger()


CHANNEL = "stockledger_outbox"

# The envelope (API.md "Event envelope") is rendered by Postgres, on its own core, straight
# from the stored jsonb: the relay only moves bytes. recordedAt in UTC with microseconds, as
# RecordedEvent.envelope() renders it.
_BATCH = """
SELECT o.position, e.stream_id, e.type, e.schema_version::text,
       coalesce(e.metadata->>'correlationId', ''), e.recorded_at,
       json_build_object(
         'eventId', e.event_id, 'type', e.type, 'streamId', e.stream_id, 'version', e.version,
         'position', e.position,
         'recordedAt', to_char(e.recorded_at AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
         'schemaVersion', e.schema_version, 'data', e.data, 'metadata', e.metadata
       )::text
FROM outbox o JOIN events e ON e.position = o.position
ORDER BY o.position LIMIT $1
"""


class Outgoing(NamedTuple):
    """One outbox row as its Kafka message: key = streamId, value = the envelope as JSON,
    headers type, schemaVersion and correlationId."""

    position: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    recorded_at: datetime


async def oldest(pool: asyncpg.Pool[Any], limit: int) -> list[Outgoing]:
    """The oldest `limit` outbox rows, lowest position first, as messages."""
    return [
        Outgoing(
            position,
            stream_id.encode(),
            envelope.encode(),
            [
                ("type", type_.encode()),
                ("schemaVersion", schema_version.encode()),
                ("correlationId", correlation_id.encode()),
            ],
            recorded_at,
        )
        for position, stream_id, type_, schema_version, correlation_id, recorded_at, envelope in (
            await pool.fetch(_BATCH, limit)
        )
    ]


async def ensure_topic(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        if settings.kafka_topic not in await admin.list_topics():
            topic = NewTopic(settings.kafka_topic, settings.kafka_partitions, 1)
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
    finally:
        await admin.close()


class Relay:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        settings: Settings,
        *,
        batch: int = 2000,
        poll_seconds: float = 0.5,
        standby_seconds: float = 1.0,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.standby_seconds = standby_seconds
        self._wake = asyncio.Event()
        self._measured = 0.0

    async def run(self) -> None:
        """Stand by until this instance holds the leader lock, then relay until it loses it."""
        await lead(
            self.settings.require_database_url(),
            "relay",
            self._lead,
            standby_seconds=self.standby_seconds,
            watch=False,  # _lead pings its own session between batches
            errors=(KafkaError,),
        )

    async def _lead(self, conn: asyncpg.Connection[Any]) -> None:
        await ensure_topic(self.settings)
        await conn.add_listener(CHANNEL, lambda *_: self._wake.set())
        producer = await self._producer()
        try:
            while not conn.is_closed():
                try:
                    await self.publish(producer)
                except KafkaError as error:  # recreate the producer after a fatal error
                    log.warning("publish failed; recreating the producer", error=repr(error))
                    await producer.stop()
                    await asyncio.sleep(self.poll_seconds)
                    await ensure_topic(self.settings)  # a restarted broker may have lost it
                    producer = await self._producer()
                    continue
                self._wake.clear()  # drained: wait for the next commit's NOTIFY, or poll
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                await conn.execute("SELECT 1")  # still holding the session (and the lock)?
        finally:
            await producer.stop()

    async def _producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=self.settings.kafka_idempotence,
            linger_ms=2,
            max_batch_size=256 * 1024,
            request_timeout_ms=10_000,
        )
        await producer.start()
        return producer

    async def publish(self, producer: AIOKafkaProducer) -> int:
        """Publish the outbox, oldest rows first, batch after batch until one comes back
        short; returns how many messages the broker acknowledged. A batch's rows are deleted
        only after every one of its messages was acknowledged."""
        sent, topic = 0, self.settings.kafka_topic
        while batch := await oldest(self.pool, self.batch):
            acks = [
                await producer.send(topic, value=m.value, key=m.key, headers=m.headers)
                for m in batch
            ]
            await asyncio.gather(*acks)  # every ack, or the error: nothing is deleted
            await self.pool.execute(
                "DELETE FROM outbox WHERE position = ANY($1::bigint[])",
                [m.position for m in batch],
            )
            sent += len(batch)
            RELAY_PUBLISHED.inc(len(batch))
            full = len(batch) == self.batch
            await self._measure_backlog(full, batch)
            if not full:
                break
        return sent

    async def _measure_backlog(self, busy: bool, batch: Sequence[Outgoing]) -> None:
        now = time.monotonic()
        if busy or now - self._measured < 1.0:  # at most one count a second
            if batch:
                OUTBOX_OLDEST_AGE.set((datetime.now(UTC) - batch[0].recorded_at).total_seconds())
            return
        self._measured = now
        row = await self.pool.fetchrow(
            "SELECT count(*) AS n, min(e.recorded_at) AS oldest FROM outbox o "
            "JOIN events e ON e.position = o.position"
        )
        OUTBOX_BACKLOG.set(row["n"] if row else 0)
        oldest = row["oldest"] if row else None
        OUTBOX_OLDEST_AGE.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
