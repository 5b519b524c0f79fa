"""What the inventory was worth: one stream as of an instant (its fold), and the whole
inventory as set-based sums of `stock_values` (the per-event value deltas the write path stores
beside the quantity deltas; `ops/value_backfill.py` derives them for events written before
valuation existed).

Every figure includes the events up to an `asOfPosition` (the commit horizon when the read
started, or the one asked for), so a report can be reproduced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ..domain.stock.state import StockState
from ..domain.streams import like_prefix, stock_stream
from ..domain.valuation import ZERO, rounded, text
from .sources import ReadSources
from .stock import StockReader

# The CSV columns of the whole inventory's rows, in the order of their fields.
INVENTORY_COLUMNS = (
    "sku",
    "warehouseId",
    "onHand",
    "value",
    "unitCost",
    "inTransit",
    "inTransitValue",
    "damaged",
    "damagedValue",
)


def stream_filter(
    sku: str | None, warehouse_id: str | None, column: str, first: int
) -> tuple[str, list[Any]]:
    """An SQL condition on a stock stream id column for an optional SKU and warehouse."""
    if sku is not None and warehouse_id is not None:
        return f"{column} = ${first}", [stock_stream(sku, warehouse_id)]
    if sku is not None:
        return f"{column} LIKE ${first}", [like_prefix(f"stock:{sku}:")]
    if warehouse_id is not None:
        return f"split_part({column}, ':', 3) = ${first}", [warehouse_id]
    return "true", []


# -- one stream -------------------------------------------------------------------------------


async def stream_valuation(
    sources: ReadSources, sku: str, warehouse_id: str, at: datetime, *, through: int | None = None
) -> StockState | None:
    """The stream as of `at` (its value folded from its events, those at or below the position
    `through` when given), or None before its first."""
    stream = stock_stream(sku, warehouse_id)
    version = None
    if through is not None:
        version = await sources.stock.version_through(sku, warehouse_id, through)
        if not version:
            return None
    state = (await sources.loader.load([stream], version=version, until=at))[stream]
    return state if isinstance(state, StockState) and state.version else None


# -- the whole inventory ----------------------------------------------------------------------

# $1 at, $2 asOfPosition: every stream with units or value then, by stream id
_HELD = """
WITH sums AS (
    SELECT stream_id, sum(d_on_hand)::bigint AS on_hand, sum(d_in_transit)::bigint AS in_transit,
           sum(d_damaged)::bigint AS damaged, sum(d_value) AS value,
           sum(d_in_transit_value) AS in_transit_value, sum(d_damaged_value) AS damaged_value
    FROM stock_values
    WHERE recorded_at <= $1 AND position <= $2 AND {streams}
    GROUP BY stream_id
), held AS (
    SELECT * FROM sums
    WHERE on_hand <> 0 OR in_transit <> 0 OR damaged <> 0 OR value <> 0
       OR in_transit_value <> 0 OR damaged_value <> 0
)"""
_BY_STREAM = " SELECT * FROM held ORDER BY stream_id"
_INVENTORY = (
    _HELD
    + """, totals AS (
    SELECT count(*) AS streams, COALESCE(sum(value), 0) AS value,
           COALESCE(sum(in_transit_value), 0) AS in_transit_value,
           COALESCE(sum(damaged_value), 0) AS damaged_value,
           COALESCE(sum(on_hand), 0)::bigint AS on_hand
    FROM held
)
SELECT t.streams AS total_streams, t.value AS total_value,
       t.in_transit_value AS total_in_transit_value, t.damaged_value AS total_damaged_value,
       t.on_hand AS total_on_hand, p.*
FROM totals t
LEFT JOIN LATERAL (
    SELECT * FROM held ORDER BY stream_id LIMIT $3
) p ON true
ORDER BY p.stream_id
"""
)


@dataclass(frozen=True, slots=True)
class Inventory:
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    next: str | None


async def inventory(
    pool: asyncpg.Pool[Any],
    at: datetime,
    as_of: int,
    *,
    warehouse_id: str | None = None,
    limit: int = 100,
) -> Inventory:
    """Every stock stream's onHand and value as of `at`: the first `limit` of them by stream id
    and the totals of all of them, in one set-based query (`inventory_page` gives the rest)."""
    streams, args = stream_filter(None, warehouse_id, "stream_id", 4)
    records = await pool.fetch(_INVENTORY.format(streams=streams), at, as_of, limit + 1, *args)
    first = records[0]
    page = [r for r in records if r["stream_id"] is not None]
    more = len(page) > limit
    page = page[:limit]
    rows = [inventory_row(r) for r in page]
    totals = {
        "streams": first["total_streams"],
        "onHand": first["total_on_hand"],
        "value": text(first["total_value"]),
        "inTransitValue": text(first["total_in_transit_value"]),
        "damagedValue": text(first["total_damaged_value"]),
    }
    return Inventory(rows, totals, page[-1]["stream_id"] if more else None)


async def inventory_page(
    pool: asyncpg.Pool[Any],
    at: datetime,
    as_of: int,
    *,
    warehouse_id: str | None = None,
    after: str = "",
    limit: int = 100,
) -> tuple[list[dict[str, Any]], str | None]:
    """The `limit` rows after the stream id `after` (and the last one's id when more follow),
    without the totals: a later page of `inventory`. It sums only the next streams in id order
    (a loose index scan finds them, as the movements report's pages do), widening the range
    while it holds too few streams with units or value."""
    reader = StockReader(pool)
    pattern = like_prefix("stock:")
    # enough streams for `limit` rows and a few without units or value (one range, mostly)
    span = limit + 1 + limit // 8
    span = span if warehouse_id is None else 4 * span
    where, args = stream_filter(None, warehouse_id, "stream_id", 5)
    sql = _HELD.format(streams=f"stream_id > $3 AND stream_id <= $4 AND {where}") + _BY_STREAM
    found: list[Any] = []
    async for low, high in reader.stream_ranges(pattern, after, span, most=16_384):
        found += await pool.fetch(sql, at, as_of, low, high, *args)
        if len(found) > limit:
            break
    page = found[:limit]
    more = len(found) > limit
    return [inventory_row(r) for r in page], page[-1]["stream_id"] if more else None


async def inventory_rows(
    pool: asyncpg.Pool[Any], at: datetime, as_of: int, *, warehouse_id: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every row of `inventory` in order from one statement, streamed (the CLI): the pages'
    rows without computing the totals again for each."""
    streams, args = stream_filter(None, warehouse_id, "stream_id", 3)
    sql = _HELD.format(streams=streams) + _BY_STREAM
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        async for record in conn.cursor(sql, at, as_of, *args, prefetch=2_000):
            yield inventory_row(record)


def inventory_row(r: Any) -> dict[str, Any]:
    _, sku, warehouse_id = r["stream_id"].split(":")
    on_hand, value = r["on_hand"], r["value"]
    return {
        "sku": sku,
        "warehouseId": warehouse_id,
        "onHand": on_hand,
        "value": text(value),
        "unitCost": text(rounded(value / on_hand) if on_hand else ZERO),
        "inTransit": r["in_transit"],
        "inTransitValue": text(r["in_transit_value"]),
        "damaged": r["damaged"],
        "damagedValue": text(r["damaged_value"]),
    }
