"""Redis that lost its data (restarted empty, FLUSHDB) is refilled by the projector, without
an operator: from the Postgres read model, which the projector writes before Redis and so is
never behind it. Until the fill completes, reads that need the whole projection go to Postgres
(projections/redis_stock.py says how a fill knows it is complete)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

import asyncpg
import structlog
from redis.exceptions import RedisError

from ..domain.stock.state import StockLevel
from ..metrics import REDIS_REFILLS
from ..pipeline.status import Every
from ..store.rows import LEVEL_NAMES, levels_of
from .redis_stock import RedisStock

log = structlog.get_logger()

_PAGE = (
    f"SELECT stream_id, sku, warehouse_id, {', '.join(LEVEL_NAMES)}, version, updated_at "
    "FROM stock_levels WHERE stream_id > $1 ORDER BY stream_id LIMIT $2"
)


async def stock_level_batches(
    pool: asyncpg.Pool[Any], size: int = 2000
) -> AsyncGenerator[list[StockLevel], None]:
    """The Postgres stock read model, `size` rows at a time in stream order."""
    after = ""
    while rows := await pool.fetch(_PAGE, after, size):
        yield [
            StockLevel(
                r["sku"],
                r["warehouse_id"],
                levels_of(r),
                r["version"],
                r["updated_at"],
            )
            for r in rows
        ]
        after = rows[-1]["stream_id"]


class RedisWatch:
    """Checks (at most once per `every_seconds`) that Redis still holds a complete projection,
    and refills it when not. Runs in the projector's loop, between its batches."""

    def __init__(self, pool: asyncpg.Pool[Any], redis: RedisStock, every_seconds: float = 1.0):
        self.pool = pool
        self.redis = redis
        self.every = Every(every_seconds)

    async def check(self) -> None:
        if not self.every.due():
            return
        try:
            if await self.redis.filled():
                return
        except (RedisError, OSError):
            return  # Redis is away: reads fall back, writes wait in `pending`
        started = time.monotonic()
        log.warning("redis lacks a complete stock projection; filling it from postgres")
        if await self.redis.refill(stock_level_batches(self.pool)):
            REDIS_REFILLS.inc()
            log.info("redis stock projection filled", seconds=round(time.monotonic() - started, 3))
