"""The broker loses its log under load (the in-memory test broker restarted empty): the relay
re-creates the topic and publishes what is unacknowledged, the projectors converge without
missing or double-applying anything, and /ready says so.

A deleted topic is not tried on the test broker: its topic deletion leaves the old record
files behind, and a topic created again under the same name fails every produce at an offset
those files hold. On Kafka, deletion removes the log and the same mechanism applies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from stockledger.ops.local_services import free_port, start_kafka

from ..support import eventually
from .kafka_reader import first_occurrences_in_order, read_topic
from .pipeline import Pipeline, start_pipeline
from .test_pipeline_faults import committed, outbox_empty

BEFORE, AFTER = 2.0, 3.0  # seconds of load around the fault (a few in CI)
WAREHOUSES = ("WH-A", "WH-B")


async def _ready_status(pipe: Pipeline) -> str:
    got = await pipe.api.http.get("/ready")
    return str(got.json()["status"])


async def _load_with_a_fault(
    pipe: Pipeline, ids: Any, fault: Callable[[], Awaitable[None]]
) -> tuple[dict[str, int], int]:
    """Receipts from four clients, from BEFORE seconds before the fault until AFTER seconds
    after it; returns the 201s per stream and the store's last position when the fault was
    over."""
    skus = [ids("LOSS") for _ in range(6)]
    answered: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    over: asyncio.Future[int] = loop.create_future()  # the position when the fault was over

    async def writer(n: int) -> None:
        i = 0
        while not over.done() or loop.time() < over_at:
            sku, wh = skus[(n + i) % len(skus)], WAREHOUSES[i % 2]
            await pipe.api.receive(sku, wh, 1)  # asserts 201
            answered[f"{sku}:{wh}"] = answered.get(f"{sku}:{wh}", 0) + 1
            i += 1
            await asyncio.sleep(0.005)

    over_at = float("inf")

    async def strike() -> None:
        nonlocal over_at
        await asyncio.sleep(BEFORE)
        await fault()
        over_at = loop.time() + AFTER
        over.set_result(await pipe.pool.fetchval("SELECT max(position) FROM events"))

    await asyncio.gather(*(writer(n) for n in range(4)), strike())
    return answered, over.result()


async def _converged(
    pipe: Pipeline, bootstrap: str, answered: dict[str, int], after_fault: int
) -> None:
    await eventually(lambda: outbox_empty(pipe.pool), within=30, what="outbox drained")
    seen = await read_topic(bootstrap, pipe.settings.kafka_topic)
    later = {
        (r["stream_id"], r["version"])
        for r in await pipe.pool.fetch(
            "SELECT stream_id, version FROM events WHERE position > $1", after_fault
        )
    }
    assert len(later) > 50, "the load went on after the loss"
    assert later <= set(seen), "everything committed after the loss is on the new topic"
    assert set(seen) <= await committed(pipe.pool), "and only what the store holds"
    assert first_occurrences_in_order(seen)
    await pipe.wait_caught_up(within=30)  # even streams whose last events went with the log
    for key, count in answered.items():
        sku, wh = key.split(":")
        assert (await pipe.api.stock(sku, wh))["onHand"] == count, key  # nothing applied twice
    await eventually(
        lambda: _is_ready(pipe), within=30, interval=0.2, what="/ready says ready again"
    )


async def _is_ready(pipe: Pipeline) -> bool:
    return await _ready_status(pipe) == "ready"


async def test_broker_restarted_empty_under_load(
    new_database: Callable[[], str], redis_server: str, tmp_path: Path, ids: Any
) -> None:
    """The projectors lag when the broker comes back empty (their table is locked meanwhile),
    so events the relay had published are on no topic any more: they must reach the read
    models anyway, and nothing twice."""
    port = free_port()
    broker = await asyncio.to_thread(start_kafka, tmp_path / "kafka", port)
    try:
        async with (
            asyncio.timeout(180),
            start_pipeline(new_database, broker.url, redis_server) as pipe,
        ):

            async def restart_empty() -> None:
                nonlocal broker
                async with pipe.pool.acquire() as conn, conn.transaction():
                    # Holds the projector's next write (it locks its rows FOR UPDATE).
                    await conn.execute("LOCK TABLE stock_levels IN EXCLUSIVE MODE")
                    mark = await pipe.pool.fetchval("SELECT max(position) FROM events")
                    await eventually(
                        lambda: _published_through(pipe, mark), what="published past the lock"
                    )
                    await asyncio.to_thread(broker.stop)
                    await eventually(
                        lambda: _is_degraded(pipe), within=5, what="/ready says degraded"
                    )
                    broker = await asyncio.to_thread(start_kafka, tmp_path / "kafka", port)

            answered, after_fault = await _load_with_a_fault(pipe, ids, restart_empty)
            await _converged(pipe, broker.url, answered, after_fault)
    finally:
        await asyncio.to_thread(broker.stop)


async def _published_through(pipe: Pipeline, position: int) -> bool:
    left = await pipe.pool.fetchval("SELECT count(*) FROM outbox WHERE position <= $1", position)
    return bool(left == 0)


async def _is_degraded(pipe: Pipeline) -> bool:
    return await _ready_status(pipe) == "degraded"
