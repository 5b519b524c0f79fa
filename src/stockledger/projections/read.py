"""Reads from the projections: Redis first, the Postgres read model when Redis is down or
does not hold the stream yet; reservations from their Postgres view. Each answer names its
source so a client can judge freshness."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import structlog
from redis.exceptions import RedisError

from ..domain.state import Levels, ReservationState, StockLevel
from ..domain.streams import like_prefix, stock_stream
from ..metrics import REDIS_ERRORS
from .redis_stock import Projected, RedisStock
from .rows import reservation_from_row

log = structlog.get_logger()

_COLUMNS = (
    "sku, warehouse_id, on_hand, reserved, in_transit, damaged, version, updated_at, projected_at"
)


def _row(row: asyncpg.Record) -> Projected:
    level = StockLevel(
        row["sku"],
        row["warehouse_id"],
        Levels(row["on_hand"], row["reserved"], row["in_transit"], row["damaged"]),
        row["version"],
        row["updated_at"],
    )
    return Projected(level, row["projected_at"])


class ProjectedReader:
    def __init__(self, pool: asyncpg.Pool[Any], redis: RedisStock | None) -> None:
        self.pool = pool
        self.redis = redis

    async def level(self, sku: str, warehouse_id: str) -> tuple[Projected, str] | None:
        if self.redis is not None:
            try:
                found = await self.redis.level(sku, warehouse_id)
                if found is not None:
                    return found, "redis"
            except (RedisError, OSError) as error:
                REDIS_ERRORS.inc()
                log.warning("redis read failed; reading postgres", error=repr(error))
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM stock_levels WHERE stream_id = $1",
            stock_stream(sku, warehouse_id),
        )
        return (_row(row), "postgres") if row else None

    async def listing(
        self, sku_prefix: str, warehouse_id: str | None, after: str, limit: int
    ) -> list[StockLevel]:
        """Up to `limit` rows of the Postgres read model in stream order after `after`."""
        pattern = like_prefix("stock:" + sku_prefix)
        if warehouse_id is None:  # the primary key's order
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM stock_levels WHERE stream_id > $1 "
                "AND stream_id LIKE $2 ORDER BY stream_id LIMIT $3",
                after,
                pattern,
                limit,
            )
        else:  # stock_levels_warehouse (warehouse_id, stream_id)
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM stock_levels WHERE warehouse_id = $1 "
                "AND stream_id > $2 AND stream_id LIKE $3 ORDER BY stream_id LIMIT $4",
                warehouse_id,
                after,
                pattern,
                limit,
            )
        return [_row(r).level for r in rows]

    async def sku_levels(self, sku: str) -> tuple[list[Projected], str]:
        if self.redis is not None:
            try:
                found = await self.redis.sku_levels(sku)
                if found:
                    return found, "redis"
            except (RedisError, OSError) as error:
                REDIS_ERRORS.inc()
                log.warning("redis read failed; reading postgres", error=repr(error))
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM stock_levels WHERE sku = $1 ORDER BY warehouse_id", sku
        )
        return [_row(r) for r in rows], "postgres"

    async def reservation(self, reservation_id: str) -> tuple[ReservationState, datetime] | None:
        """The reservation as the view holds it, and when the projector wrote the row; None
        when it has no row yet (the caller folds the store)."""
        row = await self.pool.fetchrow(
            "SELECT * FROM reservation_views WHERE reservation_id = $1", reservation_id
        )
        return (reservation_from_row(row), row["projected_at"]) if row else None
