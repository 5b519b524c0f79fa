"""The projector: a Kafka consumer group feeding the Postgres and Redis read models.

Order of commits: the read-model transaction first, then Redis (CAS on version), then the Kafka
offsets. A crash anywhere replays messages that are already applied, and the per-stream
versions make that harmless. Scale out by running more projectors in the same group: a stream
lives on one partition (key = streamId), so its events reach one projector in order.

A broker that lost its log hands out offsets below those already read (or reports a log end
below the position): the projector then reads the new log from its beginning, so a committed
offset beyond the new end skips nothing, and catches the read models up from the store for
what went with the old log (catch_up.py). It does the same after reconnecting to Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from .. import tracing
from ..config import Settings
from ..metrics import CONSUMER_LAG, PROJECTION_LAG
from ..pipeline.relay import ensure_topic
from ..pipeline.status import Every, report
from ..store.rows import RecordedEvent
from .catch_up import catch_up
from .postgres import PostgresProjection
from .redis_refill import RedisWatch
from .redis_stock import RedisStock

log = structlog.get_logger()

CATCH_UP_WINDOW = timedelta(minutes=10)  # before the first caught-up moment of a term
CATCH_UP_MARGIN = timedelta(seconds=30)  # clock skew, and events still in flight then
STOP_SECONDS = 3.0


def decode(record: ConsumerRecord[bytes, bytes]) -> RecordedEvent:
    """A Kafka message back into the event it carries (raises on anything malformed)."""
    envelope: dict[str, Any] = orjson.loads(record.value or b"")
    return RecordedEvent(
        position=int(envelope["position"]),
        event_id=UUID(envelope["eventId"]),
        stream_id=str(envelope["streamId"]),
        version=int(envelope["version"]),
        type=str(envelope["type"]),
        schema_version=int(envelope["schemaVersion"]),
        data=dict(envelope["data"]),
        metadata=dict(envelope["metadata"]),
        recorded_at=datetime.fromisoformat(envelope["recordedAt"]),
    )


def _traceparents(records: list[ConsumerRecord[bytes, bytes]]) -> Iterator[str | None]:
    for record in records:
        yield next((v.decode() for k, v in record.headers if k == "traceparent"), None)


class Projector:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        settings: Settings,
        redis: RedisStock | None,
        *,
        max_records: int = 2000,
        retry_seconds: float = 0.5,
    ) -> None:
        self.postgres = PostgresProjection(pool)
        self.redis = redis
        self.redis_watch = RedisWatch(pool, redis) if redis is not None else None
        self.settings = settings
        self.max_records = max_records
        self.retry_seconds = retry_seconds
        # When the read models last held everything on the topic (a catch-up starts a margin
        # before it); before the first time, a window back from the start.
        self.caught_up_at = datetime.now(UTC) - CATCH_UP_WINDOW

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Apply one batch; retried until Postgres takes it (offsets wait for it)."""
        events: list[RecordedEvent] = []
        poison: list[tuple[str, str]] = []
        for record in records:
            try:
                events.append(decode(record))
            except (ValueError, KeyError, TypeError) as error:
                stream = (record.key or b"").decode(errors="replace") or "unknown"
                poison.append((stream, f"undecodable message at offset {record.offset}: {error!r}"))
        # One span for the batch, continuing the trace of its first traced message (the Kafka
        # header the relay sent from the event's metadata), linked to each.
        with tracing.batch("projector.apply", _traceparents(records), events=len(events)):
            await self._apply(events, poison)

    async def _apply(self, events: list[RecordedEvent], poison: list[tuple[str, str]]) -> None:
        while True:
            try:
                changed = await self.postgres.apply(events, poison)
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("projection write failed; retrying", error=repr(error))
                await asyncio.sleep(self.retry_seconds)
            except Exception:  # a bug must not kill the projector silently: retry, loudly
                log.exception("projection batch failed; retrying")
                await asyncio.sleep(self.retry_seconds * 4)
        if self.redis is not None:
            await self.redis.write(changed)

    async def catch_up(self, why: str) -> None:
        """Bring every stream written since shortly before the last caught-up moment to its
        latest version from the store (the topic lost messages)."""
        since = self.caught_up_at - CATCH_UP_MARGIN
        while True:  # until Postgres answers: a term that ended here would forget the catch-up
            try:
                offered = await catch_up(
                    self.postgres.pool, since, lambda events: self._apply(events, [])
                )
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("catch-up from the store failed; retrying", error=repr(error))
                await asyncio.sleep(self.retry_seconds)
        log.warning("projections caught up from the store", why=why, streams=offered)
        await report(
            self.postgres.pool,
            "projector",
            problem=f"{why}: caught {offered} stream(s) up from the store",
        )

    async def run(self) -> None:
        reconnecting = False
        while True:
            consumer = AIOKafkaConsumer(
                self.settings.kafka_topic,
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                group_id=self.settings.kafka_consumer_group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                metadata_max_age_ms=5_000,
            )
            try:
                if reconnecting:  # the store needs no broker: repair first, then rejoin
                    await self.catch_up("reconnected to kafka")
                    reconnecting = False
                await ensure_topic(self.settings)  # before subscribing, which would create it
                await consumer.start()
                await self._consume(consumer)
            except KafkaError as error:
                log.warning("projector lost kafka; reconnecting", error=repr(error))
                await report(self.postgres.pool, "projector", problem=f"kafka: {error!r}")
                reconnecting = True
            finally:
                with contextlib.suppress(Exception):  # bounded: a vanished broker can stall it
                    await asyncio.wait_for(consumer.stop(), STOP_SECONDS)
            await asyncio.sleep(self.retry_seconds)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        # How stale the read models are, for /ready (pipeline/status.py): 0 when nothing waits
        # on the topic, else the age of the newest event applied (or of this run, before the first).
        applied_through = datetime.now(UTC)
        reports = Every()
        read: dict[TopicPartition, int] = {}  # the next offset expected per partition
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
            records = [r for batch in batches.values() for r in batch]
            if any(r[0].offset < read.get(tp, 0) for tp, r in batches.items() if r):
                await self._log_lost(consumer, read)
                continue  # the batch is read again from the new log's beginning
            for tp, batch in batches.items():
                if batch:
                    read[tp] = batch[-1].offset + 1
            if records:
                await self.handle(records)
                await consumer.commit()  # only after the read models hold the batch
                applied_through = datetime.fromtimestamp(records[-1].timestamp / 1000, UTC)
            elif self.redis is not None and self.redis.pending:
                await self.redis.write([])  # Redis came back: write what it missed
            if self.redis_watch is not None:
                await self.redis_watch.check()  # Redis lost its data: refill it
            behind, shrunk = 0, False
            for partition in consumer.assignment():
                end = consumer.highwater(partition)
                if end is not None:
                    lag = end - await consumer.position(partition)
                    shrunk = shrunk or lag < 0  # the log ends before what we read
                    CONSUMER_LAG.labels(str(partition.partition)).set(max(lag, 0))
                    behind += max(lag, 0)
            if shrunk:
                await self._log_lost(consumer, read)
                continue
            if behind == 0:
                self.caught_up_at = datetime.now(UTC)
            if reports.due():
                age = (datetime.now(UTC) - applied_through).total_seconds() if behind else 0.0
                PROJECTION_LAG.set(age)
                details = {"behindMessages": behind}
                await report(self.postgres.pool, "projector", lag_seconds=age, details=details)

    async def _log_lost(self, consumer: AIOKafkaConsumer, read: dict[TopicPartition, int]) -> None:
        """The topic's log is not the one read so far: read the new one from its beginning
        and repair from the store what went with the old one."""
        log.error("the topic lost its log; reading it again from the beginning")
        read.clear()
        await consumer.seek_to_beginning()
        await self.catch_up("the topic lost its log")
