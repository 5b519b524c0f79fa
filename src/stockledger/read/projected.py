"""Reads from the projections: Redis first, the Postgres read model when Redis is down or
does not hold the stream yet; reservations from their Postgres view. Each answer names its
source so a client can judge freshness."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import structlog
from redis.exceptions import RedisError

from ..domain.reorder.alerts import Alert, AlertQuery, live
from ..domain.reorder.state import ReorderRule
from ..domain.reservation.state import ReservationState
from ..domain.stock.state import Levels, StockLevel
from ..domain.streams import like_prefix, stock_stream
from ..metrics import REDIS_ERRORS
from ..projections.redis_stock import Projected, RedisStock
from ..projections.rows import Catalog, alert_from_row, catalog_from_row, reservation_from_row
from ..store.rows import levels_of

log = structlog.get_logger()

_COLUMNS = (
    "sku, warehouse_id, on_hand, reserved, in_transit, damaged, incoming, quality_control, "
    "expired, version, updated_at, projected_at"
)


def _row(row: asyncpg.Record) -> Projected:
    level = StockLevel(
        row["sku"],
        row["warehouse_id"],
        levels_of(row),
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
        self,
        sku_prefix: str,
        warehouse_id: str | None,
        after: str,
        limit: int,
        low_stock: bool = False,
    ) -> list[StockLevel]:
        """Up to `limit` rows of the Postgres read model in stream order after `after`; with
        `low_stock`, only the streams with an open alert (walked from the open alerts)."""
        pattern = like_prefix("stock:" + sku_prefix)
        if low_stock:
            rows = await self.pool.fetch(
                f"SELECT {', '.join('s.' + c for c in _COLUMNS.split(', '))} FROM alerts a "
                "JOIN stock_levels s ON s.stream_id = 'stock:' || a.sku || ':' || a.warehouse_id "
                "WHERE a.closed_at IS NULL AND a.stream_id > $1 AND a.stream_id LIKE $2 "
                "AND ($3::text IS NULL OR a.warehouse_id = $3) ORDER BY a.stream_id LIMIT $4",
                "reorder:" + after.removeprefix("stock:"),
                like_prefix("reorder:" + sku_prefix),
                warehouse_id,
                limit,
            )
        elif warehouse_id is None:  # the primary key's order
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

    async def alerts(self, query: AlertQuery) -> list[Alert]:
        """A keyset page of the alerts read model; an open alert with the stream's current
        available (and what to order now) from the stock and rule read models."""
        where = ["(a.stream_id, a.opened_version) > ($1, $2)", "a.stream_id LIKE $3"]
        if query.status is not None:
            where.append(f"a.closed_at IS {'' if query.status == 'open' else 'NOT '}NULL")
        args: list[Any] = [query.after_stream, query.after_version, query.pattern]
        if query.warehouse_id is not None:
            args.append(query.warehouse_id)
            where.append(f"a.warehouse_id = ${len(args)}")
        args.append(query.limit)
        rows = await self.pool.fetch(
            "SELECT a.*, s.on_hand, s.reserved, s.in_transit, s.incoming, s.quality_control, "
            "r.reorder_point AS rule_point, "
            "r.reorder_quantity, r.safety_stock FROM alerts a "
            "LEFT JOIN stock_levels s ON a.closed_at IS NULL "
            "AND s.stream_id = 'stock:' || a.sku || ':' || a.warehouse_id "
            "LEFT JOIN reorder_views r ON a.closed_at IS NULL AND r.stream_id = a.stream_id "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY a.stream_id, a.opened_version LIMIT ${len(args)}",
            *args,
        )
        return [_alert(r) for r in rows]

    async def catalog(
        self, kind: str, prefix: str, active: bool | None, after: str, limit: int
    ) -> list[Catalog]:
        """A keyset page of catalog_views: items or warehouses by id prefix and active state,
        in stream order after the stream id `after`."""
        rows = await self.pool.fetch(
            "SELECT stream_id, state FROM catalog_views WHERE stream_id > $1 "
            "AND stream_id LIKE $2 AND ($3::bool IS NULL OR active = $3) "
            "ORDER BY stream_id LIMIT $4",
            after,
            like_prefix(f"{kind}:{prefix}"),
            active,
            limit,
        )
        return [catalog_from_row(r, r["stream_id"]) for r in rows]


def _alert(row: asyncpg.Record) -> Alert:
    alert = alert_from_row(row)
    if alert.closed_at is not None or row["on_hand"] is None:
        return alert
    levels = Levels(
        row["on_hand"],
        row["reserved"],
        row["in_transit"],
        incoming=row["incoming"],
        quality_control=row["quality_control"],
    )
    rule = None
    if row["rule_point"] is not None:
        rule = ReorderRule(row["rule_point"], row["reorder_quantity"], row["safety_stock"])
    return live(alert, levels, rule)
