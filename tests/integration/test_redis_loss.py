"""Redis loses its data under load (FLUSHDB, or a restart without persistence): stock reads
fall back to Postgres at once, and the projector refills Redis without an operator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stockledger.ops.local_services import start_redis
from stockledger.projections.drift import find_drift
from stockledger.projections.redis_stock import RedisStock

from ..support import eventually
from .pipeline import Pipeline, start_pipeline

WAREHOUSES = ("WH-A", "WH-B", "WH-C")
LOAD_SECONDS = 4.0  # a few seconds in CI; the fault lands in the middle


async def _load_with_a_fault(
    pipe: Pipeline, ids: Any, fault: Callable[[], Any]
) -> tuple[dict[str, int], str]:
    """Receipts on busy SKUs from several clients while reading every SKU's warehouses; the
    fault strikes halfway. Returns the receipts answered 201 per stream, and an idle SKU that
    nothing writes after the fault (only a refill can bring it back to Redis)."""
    idle = ids("IDLE")
    busy = [ids("BUSY") for _ in range(4)]
    expected: dict[str, int] = {}
    for sku in (idle, *busy):
        for wh in WAREHOUSES:
            await pipe.api.receive(sku, wh, 1)
            expected[f"stock:{sku}:{wh}"] = 1
    await pipe.wait_caught_up()
    loop = asyncio.get_running_loop()
    end = loop.time() + LOAD_SECONDS
    wrong: list[str] = []

    async def writer(n: int) -> None:
        i = 0
        while loop.time() < end:
            sku = busy[(n + i) % len(busy)]  # one warehouse: the others only a refill restores
            await pipe.api.receive(sku, "WH-A", 1)  # asserts 201
            expected[f"stock:{sku}:WH-A"] += 1
            i += 1

    async def reader() -> None:
        while loop.time() < end:
            for sku in (idle, *busy):
                got = await pipe.api.get(f"/v1/stock/{sku}", role="orders")
                warehouses = [w["warehouseId"] for w in got.json().get("warehouses", [])]
                if got.status_code != 200 or warehouses != list(WAREHOUSES):
                    source = got.headers.get("X-Stock-Source")
                    wrong.append(f"{got.status_code} {source} {got.text}")
            await asyncio.sleep(0.01)

    async def strike() -> None:
        await asyncio.sleep(LOAD_SECONDS / 2)
        await fault()

    await asyncio.gather(*(writer(n) for n in range(4)), reader(), reader(), strike())
    assert wrong == [], "every read during the loss named every warehouse"
    return expected, idle


async def _refilled(pipe: Pipeline, expected: dict[str, int], idle: str) -> None:
    """Redis holds every stream again, at the level the 201s add up to, and agrees with the
    store (verify)."""
    redis = RedisStock(pipe.redis, pipe.settings.redis_prefix)

    async def complete() -> bool:
        if not await redis.filled():
            return False
        for stream, on_hand in expected.items():
            _, sku, wh = stream.split(":")
            found = await redis.level(sku, wh)
            if found is None or found.level.levels.on_hand != on_hand:
                return False
        return True

    await pipe.wait_caught_up()
    await eventually(complete, within=30, interval=0.1, what="redis refilled")
    got = await pipe.api.get(f"/v1/stock/{idle}", role="orders")
    assert got.headers["X-Stock-Source"] == "redis"
    report = await find_drift(pipe.pool, redis, lambda _: None)
    assert report.findings == []
    assert report.complete, report.missing


async def test_flushdb_under_load_is_refilled_without_an_operator(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    async with (
        asyncio.timeout(120),
        start_pipeline(new_database, kafka_broker, redis_server) as pipe,
    ):
        expected, idle = await _load_with_a_fault(pipe, ids, pipe.redis.flushdb)
        await _refilled(pipe, expected, idle)


async def test_redis_restarted_empty_under_load_is_refilled(
    new_database: Callable[[], str], kafka_broker: str, tmp_path: Path, ids: Any
) -> None:
    server = await asyncio.to_thread(start_redis, tmp_path / "redis")
    port = server.port

    async def restart_empty() -> None:
        nonlocal server
        await asyncio.to_thread(server.stop)
        server = await asyncio.to_thread(start_redis, tmp_path / "redis", port)

    try:
        async with (
            asyncio.timeout(120),
            start_pipeline(new_database, kafka_broker, server.url) as pipe,
        ):
            expected, idle = await _load_with_a_fault(pipe, ids, restart_empty)
            await _refilled(pipe, expected, idle)
    finally:
        await asyncio.to_thread(server.stop)
