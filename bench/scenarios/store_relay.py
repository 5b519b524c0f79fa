"""P8: outbox relay throughput on a backlog of 200,000 events vs aiokafka producing the same.

The backlog: 200,000 committed events with their outbox rows (as the append writes them). The
relay is `outbox.Relay.publish` (batches of 2,000: read the oldest outbox rows joined to their
events, send, await every ack, delete those rows) until the outbox is empty.
The ceiling sends the very same messages (`outbox.oldest`, read beforehand)
with a producer of the same settings, in the same batches of 2,000 with every ack awaited.
Broker: Tansu (Kafka protocol, in memory) started here; acks=all, idempotence off (Tansu has no
InitProducerId), the same for both.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.results import Result
from bench.runner import Context, scenario
from bench.storebench import Timer, fresh_database, has_events, load_average, reusable_database
from bench.storedata import Shop, build
from stockledger.config import Settings
from stockledger.ops.local_services import start_kafka
from stockledger.pipeline.relay import (
    Outgoing,
    Relay,
    ensure_topic,
    oldest,
    produce,
    start_producer,
)
from stockledger.store.db import create_pool

GOAL_RATE = 30_000
GOAL_RATIO = 0.8
BATCH = 2_000


async def backlog_database(context: Context, total: int) -> str:
    name = f"stockledger_bench_relay_{total // 1000}k"
    url = await reusable_database(name, lambda conn: has_events(conn, total))
    if url is None:
        url = await fresh_database(name)
        with Timer() as took:
            await build(url, Shop(skus=15_000, prefix="RL"), lambda s: s.emitted >= total)
        context.console.print(f"built {name} in {took.seconds:.0f} s")
    pool = await create_pool(url, 1)
    try:  # the backlog: an outbox row for every event, as the appends left them
        await pool.execute(
            "INSERT INTO outbox (position, stream_id, version) "
            "SELECT position, stream_id, version FROM events ON CONFLICT DO NOTHING"
        )
        await pool.execute("VACUUM (ANALYZE) outbox")
    finally:
        await pool.close()
    return url


async def ceiling(settings: Settings, messages: list[Outgoing]) -> float:
    producer = await start_producer(settings)  # exactly the relay's producer settings
    try:
        with Timer() as took:
            for start in range(0, len(messages), BATCH):
                batch = messages[start : start + BATCH]
                await asyncio.gather(*await produce(producer, settings.kafka_topic, batch))
    finally:
        await producer.stop()
    return took.seconds


async def relay(relay: Relay) -> tuple[float, int]:
    producer = await start_producer(relay.settings)
    sent = 0
    try:
        with Timer() as took:
            sent = await relay.publish(producer)
    finally:
        await producer.stop()
    return took.seconds, sent


@asynccontextmanager
async def fresh_broker(url: str) -> AsyncIterator[Settings]:
    """A broker of its own, with the topic created, for one measured run."""
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as workdir:
        kafka = await asyncio.to_thread(start_kafka, Path(workdir))
        try:
            settings = Settings(
                database_url=url,
                kafka_bootstrap_servers=kafka.url,
                kafka_idempotence=False,
                kafka_topic=f"bench.relay.{uuid.uuid4().hex[:8]}",
            )
            await ensure_topic(settings)
            yield settings
        finally:
            await asyncio.to_thread(kafka.stop)


@scenario("P8", "outbox relay throughput, backlog of 200,000 events, vs aiokafka directly")
async def run(context: Context) -> list[Result]:
    total = 50_000 if context.quick else 200_000
    url = await backlog_database(context, total)
    pool = await create_pool(url, 4)
    try:
        messages = await oldest(pool, 10 * total)
        load = load_average()
        async with fresh_broker(url) as settings:  # each run its own broker: it keeps its log
            ceiling_s = await ceiling(settings, messages)  # in memory, and a full one is slower
        ceiling_sent = len(messages)
        del messages  # 200,000 live objects would tax every GC pass of the relay's run
        gc.collect()
        async with fresh_broker(url) as settings:
            relay_s, sent = await relay(Relay(pool, settings, batch=BATCH))
        context.console.print(f"relay {sent:,} in {relay_s:.1f} s; ceiling {ceiling_s:.1f} s")
    finally:
        await pool.close()
    rate, ceiling_rate = sent / relay_s, ceiling_sent / ceiling_s
    return [
        Result(
            scenario=f"P8 relay (Relay.publish) of a {total:,}-event outbox backlog",
            figure=f"{rate:,.0f} events/s ({sent:,} in {relay_s:.1f} s; {load})",
            ceiling=f"aiokafka, the same messages and acks: {ceiling_rate:,.0f} events/s",
            ratio=rate / ceiling_rate,
            goal=f">= {GOAL_RATE:,} events/s, >= {GOAL_RATIO}x aiokafka alone",
            met=rate >= GOAL_RATE and rate / ceiling_rate >= GOAL_RATIO,
        )
    ]
