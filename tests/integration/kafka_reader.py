"""Reads a whole topic back, to compare what reached Kafka with what the store committed."""

from __future__ import annotations

import uuid

import orjson
from aiokafka import AIOKafkaConsumer


async def read_topic(bootstrap: str, topic: str) -> list[tuple[str, int]]:
    """Every message's (streamId, version), per partition in offset order, partitions joined."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"audit-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[tuple[str, int]] = []
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    envelope = orjson.loads(record.value or b"{}")
                    seen.append((envelope["streamId"], envelope["version"]))
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
