"""Purchase orders as their readers ask: one order (folded from its stream), a keyset page of
orders by status, SKU, warehouse, supplier or lateness, and the open lines of an SKU by date
(what available to promise adds up). The last two read `purchase_order_lines`, which the append
transaction keeps as the orders stand (write/record.py `order_lines`), so they are never behind
the events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from ..domain.purchase_order.state import PurchaseOrderState
from ..domain.streams import po_stream
from .sources import ReadSources


async def order(sources: ReadSources, purchase_order_id: str) -> PurchaseOrderState | None:
    state = await sources.state(po_stream(purchase_order_id))
    if isinstance(state, PurchaseOrderState) and state.placed is not None:
        return state
    return None


@dataclass(frozen=True, slots=True)
class OrderQuery:
    status: str | None = None
    sku: str | None = None
    warehouse_id: str | None = None
    supplier: str | None = None
    overdue: bool = False
    after: str = ""
    limit: int = 100


_PAGE = """
WITH picked AS (
    SELECT DISTINCT purchase_order_id FROM purchase_order_lines
    WHERE purchase_order_id > $1
      AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR sku = $3)
      AND ($4::text IS NULL OR warehouse_id = $4) AND ($5::text IS NULL OR supplier = $5)
      AND (NOT $6::bool OR (open > 0 AND expected_on < $7::date))
    ORDER BY purchase_order_id LIMIT $8
)
SELECT l.* FROM purchase_order_lines l JOIN picked USING (purchase_order_id)
ORDER BY l.purchase_order_id, l.line_no
"""


async def orders_page(
    pool: asyncpg.Pool[Any], query: OrderQuery, today: date
) -> list[list[asyncpg.Record]]:
    """Up to `limit` orders (each its line rows, in line order) after `after`, by id."""
    rows = await pool.fetch(
        _PAGE,
        query.after,
        query.status,
        query.sku,
        query.warehouse_id,
        query.supplier,
        query.overdue,
        today,
        query.limit,
    )
    orders: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        orders.setdefault(row["purchase_order_id"], []).append(row)
    return list(orders.values())


# The `open_lines` index: (sku, expected_on) over the lines still open, with warehouse and open
# quantity included, so a promise is one index-only range scan, summed per date in Postgres (an
# overdue line counts from today): a few dozen rows back, whatever the number of lines.
_OPEN = """
SELECT GREATEST(expected_on, $4::date) AS expected_on, sum(open)::bigint AS open
FROM purchase_order_lines
WHERE sku = $1 AND open > 0 AND ($2::text IS NULL OR warehouse_id = $2) AND expected_on <= $3
GROUP BY 1
"""


async def open_lines(
    pool: asyncpg.Pool[Any], sku: str, warehouse_id: str | None, until: date, today: date
) -> Sequence[tuple[date, int]]:
    """(expected on, open quantity) of the open lines of `sku` expected up to `until`, summed
    per date (overdue ones on `today`)."""
    rows = await pool.fetch(_OPEN, sku, warehouse_id, until, today)
    return [(r["expected_on"], r["open"]) for r in rows]
