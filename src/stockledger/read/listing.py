"""The stock listing: every stock level keyset-paged in `sku:warehouseId` order, by warehouse
and SKU prefix, optionally only those with an open low-stock alert. From the Postgres read
models when the pipeline runs, else folded from the event store."""

from __future__ import annotations

from ..domain.reorder.state import ReorderState
from ..domain.stock.state import StockLevel
from ..domain.streams import like_prefix, stock_stream
from .sources import EVENT_STORE, READ_MODEL, Page, ReadSources, Source


async def stock_page(
    sources: ReadSources,
    sku_prefix: str,
    warehouse_id: str | None,
    after: str | None,
    limit: int,
    low_stock: bool = False,
) -> tuple[Page[StockLevel], Source]:
    """Up to `limit` levels after the `sku:warehouseId` `after` (None: from the start)."""
    cursor = f"stock:{after or ''}"
    if sources.projected is not None:
        found = await sources.projected.listing(sku_prefix, warehouse_id, cursor, limit, low_stock)
        return Page(found, len(found) == limit), READ_MODEL
    if low_stock:
        found = await _low_stock(sources, sku_prefix, warehouse_id, after, limit)
    else:
        found = await sources.stock.listing(sku_prefix, warehouse_id, cursor, limit)
    return Page(found, len(found) == limit), EVENT_STORE


async def _low_stock(
    sources: ReadSources, prefix: str, warehouse_id: str | None, after: str | None, limit: int
) -> list[StockLevel]:
    """The levels with an open alert, from the store: the reorder streams in order (a loose
    index scan), folded, those with an open alert kept, then their stock levels (a rule on a
    stream without stock events alerts with no level to list: the page fills on)."""
    pattern, cursor = like_prefix(f"reorder:{prefix}"), f"reorder:{after or ''}"
    found: list[StockLevel] = []
    while len(found) < limit:
        streams = await sources.stock.streams_after(pattern, cursor, limit)
        states = await sources.loader.load(streams) if streams else {}
        alerting = [
            stock_stream(state.sku, state.warehouse_id)
            for state in (states[s] for s in streams)
            if isinstance(state, ReorderState)
            and state.alert_id is not None
            and warehouse_id in (None, state.warehouse_id)
        ]
        found += await sources.stock.levels(alerting) if alerting else []
        if len(streams) < limit:
            break
        cursor = streams[-1]
    return found[:limit]
