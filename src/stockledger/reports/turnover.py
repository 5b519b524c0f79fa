"""The turnover report: per SKU (all its warehouses, or one) over [from, to), how much shipped,
how much stock was held on average, and how often it turned, in units and at cost.

- `unitsShipped`: the units of the SKU's shipments in the window (gross: returns are not
  netted, as the movements and COGS reports count them).
- `averageOnHand`: onHand averaged over the time of the window, each level weighted by how long
  it held (a step function that changes at each event's recordedAt).
- `turnover = unitsShipped / averageOnHand`; `daysOfInventory = days / turnover` (the days the
  average stock lasts at the window's rate of shipping).
- `costOfGoodsSold`: the costs the shipments recorded (the COGS report's figure).
- `averageInventoryValue`: the value on hand averaged over time, as onHand is.
- `valueTurnover = costOfGoodsSold / averageInventoryValue`.

A ratio whose divisor is 0 is null (nothing held, or nothing shipped). Figures are exact
decimals, written as strings like every money figure, rounded half-even to 6 places.

Set-based: the time integral of a step function is `level at from x T + Σ delta x (to - t)`
over the window's events, so one grouped scan of `stock_values` (the per-event deltas of units
and value) gives every SKU's figures, with no fold and no window function. Only events at or
below the report's asOfPosition count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from ..domain.valuation import ZERO, rounded, text
from .movements import reading

COLUMNS = (
    "sku",
    "warehouseId",
    "unitsShipped",
    "averageOnHand",
    "turnover",
    "daysOfInventory",
    "costOfGoodsSold",
    "averageInventoryValue",
    "valueTurnover",
)
DAY = Decimal(86_400)

# $1 from, $2 to, $3 asOfPosition, $4 the last SKU of the previous page ('' for none),
# $5 how many rows (NULL: all); stream conditions after.
_REPORT = """
SELECT split_part(v.stream_id, ':', 2) COLLATE "C" AS sku,
       COALESCE(sum(v.d_on_hand) FILTER (WHERE v.recorded_at < $1), 0) AS opening_units,
       COALESCE(sum(v.d_value) FILTER (WHERE v.recorded_at < $1), 0) AS opening_value,
       COALESCE(sum(v.d_on_hand * extract(epoch FROM $2 - v.recorded_at))
                FILTER (WHERE v.recorded_at >= $1), 0) AS units_time,
       COALESCE(sum(v.d_value * extract(epoch FROM $2 - v.recorded_at))
                FILTER (WHERE v.recorded_at >= $1), 0) AS value_time,
       COALESCE(sum(v.units_shipped) FILTER (WHERE v.recorded_at >= $1), 0)::bigint AS shipped,
       COALESCE(sum(v.cogs) FILTER (WHERE v.recorded_at >= $1), 0) AS cogs,
       count(*) FILTER (WHERE v.recorded_at >= $1) AS events
FROM stock_values v
WHERE v.recorded_at < $2 AND v.position <= $3
  AND v.stream_id > 'stock:' || $4 AND split_part(v.stream_id, ':', 2) COLLATE "C" > $4
  AND {streams}
GROUP BY 1
HAVING count(*) FILTER (WHERE v.recorded_at >= $1) > 0
    OR COALESCE(sum(v.d_on_hand) FILTER (WHERE v.recorded_at < $1), 0) <> 0
    OR COALESCE(sum(v.d_value) FILTER (WHERE v.recorded_at < $1), 0) <> 0
ORDER BY 1
LIMIT $5
"""


@dataclass(frozen=True, slots=True)
class TurnoverQuery:
    """Which rows: the window [since, until), every SKU or one, all warehouses or one."""

    since: datetime
    until: datetime
    sku: str | None = None
    warehouse_id: str | None = None

    def __post_init__(self) -> None:
        if self.since >= self.until:
            raise ValueError("from must be before to")

    @property
    def seconds(self) -> Decimal:
        span: timedelta = self.until - self.since
        return Decimal(span.days * 86_400 + span.seconds) + Decimal(span.microseconds) / 10**6

    @property
    def days(self) -> Decimal:
        return self.seconds / DAY

    def head(self) -> dict[str, Any]:
        """The report's fields before its rows (HTTP and CLI)."""
        return {
            "from": self.since.isoformat(),
            "to": self.until.isoformat(),
            "days": text(rounded(self.days)),
            "warehouseId": self.warehouse_id,
        }


def _statement(
    query: TurnoverQuery, as_of: int, after: str, limit: int | None
) -> tuple[str, list[Any]]:
    args: list[Any] = [query.since, query.until, as_of, after, limit]
    where = []
    if query.sku is not None:
        args.append(query.sku)
        where.append(f"split_part(v.stream_id, ':', 2) = ${len(args)}")
    if query.warehouse_id is not None:
        args.append(query.warehouse_id)
        where.append(f"split_part(v.stream_id, ':', 3) = ${len(args)}")
    where.append("v.stream_id LIKE 'stock:%'")
    return _REPORT.format(streams=" AND ".join(where)), args


def _ratio(numerator: Decimal, divisor: Decimal) -> str | None:
    return None if divisor == ZERO else text(rounded(numerator / divisor))


def turnover_out(query: TurnoverQuery, record: asyncpg.Record) -> dict[str, Any]:
    """One report row on the wire: exact decimals as strings, null ratios where undefined."""
    seconds = query.seconds
    average_units = (record["opening_units"] * seconds + record["units_time"]) / seconds
    average_value = (record["opening_value"] * seconds + record["value_time"]) / seconds
    shipped, cogs = record["shipped"], record["cogs"]
    turns = Decimal(shipped) / average_units if average_units else None
    return {
        "sku": record["sku"],
        "warehouseId": query.warehouse_id,
        "unitsShipped": shipped,
        "averageOnHand": text(rounded(average_units)),
        "turnover": None if turns is None else text(rounded(turns)),
        "daysOfInventory": _ratio(average_units * query.days, Decimal(shipped)),
        "costOfGoodsSold": text(cogs),
        "averageInventoryValue": text(rounded(average_value)),
        "valueTurnover": _ratio(cogs, average_value),
    }


async def turnover_page(
    pool: asyncpg.Pool[Any], query: TurnoverQuery, as_of: int, limit: int, after: str = ""
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` rows of SKUs after `after` (byte order), and the last SKU when more
    follow."""
    sql, args = _statement(query, as_of, after, limit + 1)
    async with reading(pool) as conn:
        records = await conn.fetch(sql, *args)
    page = records[:limit]
    more = len(records) > limit
    return [turnover_out(query, r) for r in page], page[-1]["sku"] if more else None


async def turnover_rows(
    pool: asyncpg.Pool[Any], query: TurnoverQuery, as_of: int
) -> AsyncIterator[dict[str, Any]]:
    """Every row in SKU order from one statement, streamed (the CLI, the benchmark)."""
    sql, args = _statement(query, as_of, "", None)
    async with reading(pool) as conn:
        async for record in conn.cursor(sql, *args, prefetch=2_000):
            yield turnover_out(query, record)
