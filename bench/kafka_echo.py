"""P11's ceiling: aiokafka consuming the command topic and producing each message to its results
topic, with no ledger, in the loop the command consumer runs (stockledger/pipeline/commands.py:
poll up to 1,000 messages, produce one result each, wait for the acks, commit the offsets).

Run (pinned to the server's CPU by the bench): `python -m bench.kafka_echo BOOTSTRAP TOPIC GROUP`.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def echo(bootstrap: str, topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    await consumer.start()
    results = f"{topic}.results"
    print("ready", flush=True)
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            records = [r for batch in batches.values() for r in batch]
            if not records:
                continue
            acks = [await producer.send(results, r.value, key=r.key) for r in records]
            await asyncio.gather(*acks)
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    uvloop.run(echo(*sys.argv[1:4]))
