"""The outbox relay: committed events -> Kafka, at least once, in version order per stream.

Why this is gap-free (docs/architecture.md, "The outbox"): the append transaction writes
an outbox row beside every event, and a row leaves the outbox only after the broker has
acknowledged the message. The relay keeps no cursor that could pass a row committing late: it
always publishes whatever rows exist, lowest position first. A stream's versions commit in
order (the next version's writer starts after the previous committed, so it also gets a higher
xid and position), hence rows of one stream are published in version order. A relay killed
between the broker's ack and the DELETE publishes those rows again: duplicates, never loss;
consumers drop them by (streamId, version).

A broker that loses its log (a restart without its data, a topic deleted) shows in the acks:
a partition's offsets only grow, so an ack at or below the last one this relay saw means the
log it was writing to is gone. That batch's rows stay in the outbox, the topic is created
again and the outbox is published to it. What the broker had acknowledged before the loss is
no longer on any topic: the projectors repair their read models from the store
(projections/catch_up.py); other consumers need `stockledger republish`.

One active relay: leadership is a session advisory lock held on a dedicated connection. A
second instance is a hot standby that polls the lock and takes over when the leader's
connection dies. The leader wakes on LISTEN/NOTIFY (sent by every append at COMMIT) and polls
as a fallback; a full batch loops at once, so it batches when busy and is prompt when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    RecordListTooLargeError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownError,
    UnsupportedVersionError,
)
from aiokafka.partitioner import DefaultPartitioner

from .. import tracing
from ..config import Settings
from ..metrics import RELAY_ERRORS, RELAY_PUBLISHED
from ..store.rows import ENVELOPE_JOIN, envelope_sql
from .leader import lead
from .status import Every, report

log = structlog.get_logger()


CHANNEL = "stockledger_outbox"

# The envelope (the one the HTTP API returns) is rendered by Postgres, on its own core, straight
# from the stored jsonb (store.rows.envelope_sql): the relay only moves bytes.
MESSAGE_COLUMNS = f"""
e.position, e.stream_id, e.type, e.schema_version::text,
coalesce(e.metadata->>'correlationId', ''), e.recorded_at, e.metadata->>'traceparent',
{envelope_sql()}
"""

_BATCH = f"""
SELECT {MESSAGE_COLUMNS}
FROM outbox o JOIN events e ON e.position = o.position {ENVELOPE_JOIN}
WHERE o.position <> ALL($2::bigint[])
ORDER BY o.position LIMIT $1
"""


class Outgoing(NamedTuple):
    """One outbox row as its Kafka message: key = streamId, value = the envelope as JSON,
    headers type, schemaVersion, correlationId and, for a traced command, traceparent."""

    position: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    recorded_at: datetime


async def oldest(
    pool: asyncpg.Pool[Any], limit: int, besides: Sequence[int] = ()
) -> list[Outgoing]:
    """The oldest `limit` outbox rows but those at `besides`, lowest position first."""
    return messages(await pool.fetch(_BATCH, limit, list(besides)))


def messages(rows: Sequence[asyncpg.Record]) -> list[Outgoing]:
    """Rows selected with MESSAGE_COLUMNS as Kafka messages."""
    return [
        Outgoing(
            position,
            stream_id.encode(),
            envelope.encode(),
            [
                ("type", type_.encode()),
                ("schemaVersion", schema_version.encode()),
                ("correlationId", correlation_id.encode()),
                *([("traceparent", traceparent.encode())] if traceparent else []),
            ],
            recorded_at,
        )
        for (
            position,
            stream_id,
            type_,
            schema_version,
            correlation_id,
            recorded_at,
            traceparent,
            envelope,
        ) in rows
    ]


def traceparents(batch: Sequence[Outgoing]) -> Iterator[str | None]:
    """The stored trace context of each message (its `traceparent` header), if any."""
    for message in batch:
        yield next((v.decode() for k, v in message.headers if k == "traceparent"), None)


async def ensure_topic(settings: Settings, topics: Sequence[str] = ()) -> None:
    """Create the event topic (or `topics`) with the settings' partitions
    (STOCKLEDGER_KAFKA_PARTITIONS, what the AsyncAPI document states) if it does not exist.
    Both the relay and the projector call it before they touch the topic: a consumer's
    subscription would otherwise have the broker auto-create it with its default partition
    count, and partitions are never added later (that would move streams to other partitions,
    out of order)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        for name in topics or (settings.kafka_topic,):
            if name not in existing:
                topic = NewTopic(name, settings.kafka_partitions, 1)
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([topic])
    finally:
        await admin.close()


async def start_producer(settings: Settings) -> AIOKafkaProducer:
    """A started producer with the relay's delivery settings (acks=all, idempotent unless
    STOCKLEDGER_KAFKA_IDEMPOTENCE=false; aiokafka's default partitioner keeps key -> partition)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=10_000,
    )
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # a producer that failed to start still holds a client
        raise
    return producer


HINTS = {
    "broker unreachable": "check STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS and that the brokers are up",
    "idempotent producer refused": "the broker does not grant InitProducerId (no idempotent "
    "producer, or no IDEMPOTENT_WRITE permission): set STOCKLEDGER_KAFKA_IDEMPOTENCE=false or "
    "allow it on the broker",
    "authorization": "the broker refuses this client on the topic or cluster: grant it write "
    "access to STOCKLEDGER_KAFKA_TOPIC",
    "message too large": "an event is larger than the broker's message.max.bytes: raise it "
    "(and the topic's max.message.bytes)",
    "topic lost": "the broker lost the topic's log (restarted empty, or the topic was "
    "deleted): the relay creates it again and publishes what it had not acknowledged; run "
    "`stockledger republish --since T` for consumers that need the events acknowledged before",
    "other": "see the error; the relay retries with backoff",
}


class LogLost(KafkaError):  # type: ignore[misc]  # aiokafka ships no types
    """A partition's offsets went back: the broker no longer holds what it acknowledged."""


def classify(error: BaseException, settings: Settings) -> str:
    """The kind of a publishing failure (a label of stockledger_relay_errors_total)."""
    match error:
        case LogLost():
            return "topic lost"
        case (
            KafkaConnectionError()
            | NodeNotReadyError()
            | KafkaTimeoutError()
            | RequestTimedOutError()
            | OSError()
        ):
            return "broker unreachable"
        case UnknownError() | UnsupportedVersionError() if settings.kafka_idempotence:
            return "idempotent producer refused"  # how brokers without InitProducerId answer
        case TopicAuthorizationFailedError() | ClusterAuthorizationFailedError():
            return "authorization"
        case MessageSizeTooLargeError() | RecordListTooLargeError():
            return "message too large"
    return "other"


class Relay:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        settings: Settings,
        *,
        batch: int = 2000,
        poll_seconds: float = 0.5,
        standby_seconds: float = 1.0,
        backoff_seconds: float = 0.5,
        backoff_cap_seconds: float = 30.0,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.standby_seconds = standby_seconds
        self.backoff_seconds = backoff_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self._wake = asyncio.Event()
        self._offsets: dict[int, int] = {}  # partition -> offset of the last acked batch

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
        """Relay while leading. A failure to publish is classified and logged once per change
        of kind (naming the setting to change), reported for /ready, and retried with an
        exponential backoff up to a cap; the old producer is always closed before a new one."""
        await conn.add_listener(CHANNEL, lambda *_: self._wake.set())
        failing: str | None = None  # the kind of error now, None while publishing works
        backoff, reports = self.backoff_seconds, Every()
        while not conn.is_closed():
            producer: AIOKafkaProducer | None = None
            try:
                await ensure_topic(self.settings)  # a restarted broker may have lost it
                producer = await start_producer(self.settings)
                while not conn.is_closed():
                    await self.publish(producer)
                    if failing is not None:
                        log.info("relay publishing again", after=failing)
                        failing, backoff = None, self.backoff_seconds
                    if reports.due():
                        await report(self.pool, "relay")
                    self._wake.clear()  # drained: wait for the next commit's NOTIFY, or poll
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                    await conn.execute("SELECT 1")  # still holding the session (and the lock)?
            except (KafkaError, OSError) as error:
                kind = classify(error, self.settings)
                if kind == "topic lost":
                    self._offsets.clear()  # offsets start again on the new log
                    backoff = 0.0  # create the topic and publish again at once
                RELAY_ERRORS.labels(kind).inc()
                if kind != failing:
                    log.error(
                        "relay cannot publish", kind=kind, hint=HINTS[kind], error=repr(error)
                    )
                    failing = kind
                await report(self.pool, "relay", problem=f"{kind}: {HINTS[kind]}")
                reports.now()  # report the recovery at once
            finally:
                if producer is not None:
                    await producer.stop()
            await asyncio.sleep(backoff)
            backoff = min(max(backoff * 2, self.backoff_seconds), self.backoff_cap_seconds)
            await conn.execute("SELECT 1")  # backing off, still the leader?

    async def publish(self, producer: AIOKafkaProducer) -> int:
        """Publish the outbox, oldest rows first, batch after batch until one comes back
        short; returns how many messages the broker acknowledged. A batch's rows are deleted
        only after every one of its messages was acknowledged.

        Overlapped, in the order that keeps each stream's versions in order on the topic:
        while batch N waits for its acks, batch N+1 is read (the oldest rows not in N, so a
        late commit below N's positions still goes out before its stream's later versions);
        N+1 is produced only once N is acknowledged (a failed N never lets N+1 overtake it);
        N's rows are deleted while N+1 is produced."""
        sent, full = 0, self.batch
        batch = await oldest(self.pool, full)
        deleting: asyncio.Task[None] | None = None
        try:
            while batch:
                # One span from produce to the acks, in the trace of the batch's first traced
                # event and linked to each (the stored traceparent: the request's trace).
                count = {"messaging.batch.message_count": len(batch)}
                with tracing.batch("kafka.produce", traceparents(batch), **count):
                    acks = await produce(producer, self.settings.kafka_topic, batch)
                    if deleting is not None:
                        await deleting
                    positions = [m.position for m in batch]
                    reading = (
                        asyncio.create_task(oldest(self.pool, full, positions))
                        if len(batch) == full
                        else None
                    )
                    try:
                        # every ack, or the error: nothing deleted
                        self._check_offsets(await asyncio.gather(*acks))
                    except BaseException:
                        if reading is not None:
                            reading.cancel()
                        raise
                deleting = asyncio.create_task(self._delete(positions))
                sent += len(batch)
                RELAY_PUBLISHED.inc(len(batch))
                batch = await reading if reading is not None else []
        finally:
            if deleting is not None:
                await deleting
        return sent

    def _check_offsets(self, acked: Sequence[Any]) -> None:
        """Raise LogLost when a partition's offset did not grow (its log is gone)."""
        lost = [m.partition for m in acked if m.offset <= self._offsets.get(m.partition, -1)]
        for m in acked:
            self._offsets[m.partition] = max(m.offset, self._offsets.get(m.partition, -1))
        if lost:
            raise LogLost(f"offsets of partitions {sorted(set(lost))} went back")

    async def _delete(self, positions: list[int]) -> None:
        await self.pool.execute("DELETE FROM outbox WHERE position = ANY($1::bigint[])", positions)


async def produce(
    producer: AIOKafkaProducer, topic: str, batch: Sequence[Outgoing]
) -> list[asyncio.Future[Any]]:
    """Send the messages in per-partition batches (aiokafka's own partitioner: the same
    key -> partition as `producer.send`), in position order within each partition; returns
    the futures of their acks. Measured on the test broker: `send()` per message 59-64k
    messages/s, per-partition `send_batch` 103-112k."""
    partitions = tuple(sorted(await producer.partitions_for(topic)))
    builders: dict[int, Any] = {}
    acks: list[asyncio.Future[Any]] = []
    for m in batch:
        partition = partition_of(m.key, partitions)
        builder = builders.get(partition)
        if builder is None:
            builder = builders[partition] = producer.create_batch()
        if builder.append(key=m.key, value=m.value, timestamp=None, headers=m.headers):
            continue
        acks.append(await producer.send_batch(builder, topic, partition=partition))
        builder = builders[partition] = producer.create_batch()
        if not builder.append(key=m.key, value=m.value, timestamp=None, headers=m.headers):
            raise MessageSizeTooLargeError(f"the event at position {m.position} is too large")
    for partition, builder in builders.items():
        acks.append(await producer.send_batch(builder, topic, partition=partition))
    return acks


_PARTITIONER = DefaultPartitioner()


@functools.lru_cache(maxsize=65_536)
def partition_of(key: bytes, partitions: tuple[int, ...]) -> int:
    """The partition `producer.send` would pick for `key` (murmur2, as the Java client)."""
    chosen: int = _PARTITIONER(key, list(partitions), list(partitions))
    return chosen
