"""The lots of a stock stream, now or as of an instant: folded from the event store (snapshot
plus tail), so they are exactly what the write path decides FEFO on."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from ..domain.stock.lots import Lot, fefo_key
from ..domain.stock.state import StockState
from ..domain.streams import stock_stream
from .sources import ReadSources


async def stream_lots(
    sources: ReadSources, sku: str, warehouse_id: str, at: datetime | None = None
) -> list[Lot] | None:
    """The stream's lots holding units, in FEFO order; None when the stream had no event (by
    `at`)."""
    state = await sources.state(stock_stream(sku, warehouse_id), until=at)
    if not isinstance(state, StockState) or not state.version:
        return None
    return sorted(state.lots.lots if state.lots else (), key=fefo_key)


_EXPIRING = """
SELECT sku, warehouse_id, lot_id, expires_on, on_hand, reserved, expired, quality_control,
       first_received_at
FROM lot_holdings
WHERE expires_on IS NOT NULL AND ($1::date IS NULL OR expires_on < $1)
  AND ($2::text IS NULL OR warehouse_id = $2) AND ($3::text IS NULL OR sku = $3)
  AND (on_hand > 0 OR reserved > 0 OR expired > 0)
  AND ($4::date IS NULL OR (expires_on, sku, warehouse_id, lot_id) > ($4, $5, $6, $7))
ORDER BY expires_on, sku, warehouse_id, lot_id
LIMIT $8
"""

ExpiringCursor = tuple[date, str, str, str]


async def expiring_lots(
    pool: asyncpg.Pool[Any],
    expires_before: date | None,
    warehouse_id: str | None,
    sku: str | None,
    after: ExpiringCursor | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Lots still holding units (onHand, reserved or expired), by expiry date, then sku,
    warehouse and lot: a keyset page of the lot_holdings rows the append keeps (one index
    range of `lot_holdings_expiring`)."""
    a = after or (None, None, None, None)
    rows: list[asyncpg.Record] = await pool.fetch(
        _EXPIRING, expires_before, warehouse_id, sku, *a, limit
    )
    return rows
