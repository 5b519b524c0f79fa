"""The lots of a stock stream, now or as of an instant: folded from the event store (snapshot
plus tail), so they are exactly what the write path decides FEFO on."""

from __future__ import annotations

from datetime import datetime

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
