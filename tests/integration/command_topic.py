"""Talking to the command topic as an order platform would: produce commands, read the results
and the dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from ..support import eventually

PRINCIPALS = "orders-svc:orders,warehouse-svc:warehouse"  # the e2e API keys' principals


def command(name: str, body: Any = None, principal: str = "orders-svc", **path: str) -> bytes:
    value: dict[str, Any] = {"command": name, "principal": principal, "body": body}
    if path:
        value["path"] = path
    return orjson.dumps(value)


async def produce(bootstrap: str, topic: str, messages: Sequence[tuple[str | None, bytes]]) -> None:
    """Send (key, value) messages and wait for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        acks = [
            await producer.send(topic, value, key=key.encode() if key is not None else None)
            for key, value in messages
        ]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def topics_exist(bootstrap: str, *names: str) -> bool:
    """Whether the broker has these topics (asked without naming them: that may create them)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(names) <= set(await admin.list_topics())
    finally:
        await admin.close()


class Answers:
    """Every record of a command topic's results and DLQ, read in the background."""

    def __init__(self) -> None:
        self.records: dict[str, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
        self.results: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self.records[record.topic].append(record)
        if record.topic.endswith(".results"):
            result = orjson.loads(record.value or b"{}")
            self.results[result["key"]].append(result)

    def dead(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        return self.records[f"{topic}.dlq"]

    async def answered(self, keys: Sequence[str], copies: int = 1, within: float = 60) -> None:
        """Wait until every key has `copies` results."""

        async def done() -> bool:
            return all(len(self.results.get(k, ())) >= copies for k in keys)

        await eventually(done, within=within, interval=0.05, what=f"{len(keys)} keys answered")


@asynccontextmanager
async def answers_of(bootstrap: str, topic: str) -> AsyncIterator[Answers]:
    """Read `{topic}.results` and `{topic}.dlq` from the start, once the server created them."""
    results, dlq = f"{topic}.results", f"{topic}.dlq"

    async def created() -> bool:
        return await topics_exist(bootstrap, topic, results, dlq)

    await eventually(created, within=60, interval=0.2, what="the command topics")
    consumer = AIOKafkaConsumer(
        results,
        dlq,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    answers = Answers()

    async def read() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    answers.add(record)

    reading = asyncio.create_task(read())
    try:
        yield answers
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        await consumer.stop()
