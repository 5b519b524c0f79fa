"""Reads a whole topic back, to compare what reached Kafka with what the store committed."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord


async def read_topic(
    bootstrap: str, topic: str, stall_seconds: float = 20
) -> list[tuple[str, int]]:
    """Every message's (streamId, version), per partition in offset order, partitions joined."""
    seen = []
    for record in await read_records(bootstrap, topic, stall_seconds):
        envelope = orjson.loads(record.value or b"{}")
        seen.append((envelope["streamId"], envelope["version"]))
    return seen


async def read_records(
    bootstrap: str, topic: str, stall_seconds: float = 20
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every message of the topic, per partition in offset order, partitions joined. Fails,
    rather than waits forever, when the broker stops handing out records below the end
    offsets it reported."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"audit-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(list(consumer.assignment()))
        last_record = loop.time()
        while behind := {
            tp.partition: (position, end)
            for tp, end in ends.items()
            if (position := await consumer.position(tp)) < end
        }:
            if loop.time() - last_record > stall_seconds:
                starts = await consumer.beginning_offsets(list(ends))
                spans = {tp.partition: (starts[tp], end) for tp, end in ends.items()}
                raise AssertionError(
                    f"{topic}: no record for {stall_seconds} s while behind the end offsets "
                    f"(partition: (position, end)) {behind}; {len(seen)} read; "
                    f"every partition (start, end): {spans}"
                )
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                seen.extend(records)
                if records:
                    last_record = loop.time()
    finally:
        await consumer.stop()
    return seen


def first_occurrences_in_order(seen: list[tuple[str, int]]) -> bool:
    """Per stream, the first time each version shows up, versions only go up."""
    last: dict[str, int] = {}
    firsts: set[tuple[str, int]] = set()
    for stream, version in seen:
        if (stream, version) in firsts:
            continue
        firsts.add((stream, version))
        if version <= last.get(stream, 0):
            return False
        last[stream] = version
    return True
