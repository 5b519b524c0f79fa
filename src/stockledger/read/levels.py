"""The stock level of one SKU in one warehouse, and of one SKU across its warehouses: from
Redis, else the Postgres read model, else (or when asked to be strong) a fold of the store."""

from __future__ import annotations

from ..domain.stock.state import StockLevel, StockState
from ..domain.streams import stock_stream
from .sources import EVENT_STORE, Consistency, ReadSources, Source


async def level(
    sources: ReadSources, sku: str, warehouse_id: str, consistency: Consistency = "eventual"
) -> tuple[StockLevel, Source] | None:
    """The level and where it came from; None when the stream has no stock event.

    `eventual` reads the projections first (Redis, then Postgres) and sums the store's deltas
    when they do not hold the stream yet; `strong` folds the stream (snapshot + tail)."""
    if consistency == "eventual" and sources.projected is not None:
        found = await sources.projected.level(sku, warehouse_id)
        if found is not None:
            projected, name = found
            return projected.level, Source(name, projected.projected_at)
    if consistency == "strong":
        state = await sources.state(stock_stream(sku, warehouse_id))
        folded = state.level if isinstance(state, StockState) and state.version else None
    else:
        folded = await sources.stock.level(sku, warehouse_id)
    return (folded, EVENT_STORE) if folded is not None else None


async def sku_levels(sources: ReadSources, sku: str) -> tuple[list[StockLevel], Source]:
    """One SKU in every warehouse that has its stock, projections first like a single level;
    an empty list when it never had a stock event."""
    if sources.projected is not None:
        projected, name = await sources.projected.sku_levels(sku)
        if projected:
            return [x.level for x in projected], Source(name)
    return await sources.stock.sku_levels(sku), EVENT_STORE
