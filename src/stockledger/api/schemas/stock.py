"""The stock queries' answers: a listing, one SKU everywhere, a stream's history, event feeds."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ...domain.events import EVENT_TYPES
from .ledger import EventOut, LevelsOut, StockOut
from .wire import Out

# History's `types`: OpenAPI's comma-separated array (style form, explode false) of the event
# types, from the domain's registry. FastAPI can only declare repeated parameters, so the route
# reads the raw text (hidden from the document) and `event_types` splits it.
EVENT_TYPES_PARAMETER: dict[str, Any] = {
    "name": "types",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "description": "only these event types, comma-separated: `types=StockReserved,StockShipped`",
    "schema": {"type": "array", "minItems": 1, "items": {"enum": list(EVENT_TYPES)}},
}


def event_types(text: str) -> list[str]:
    """`StockReserved,StockShipped` -> both; ValueError naming what is not an event type."""
    wanted = text.split(",")
    unknown = [t for t in wanted if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"not event types: {', '.join(map(repr, unknown))}")
    return wanted


class StockListOut(Out):
    levels: list[StockOut]
    next: str | None = Field(description="`after` for the next page (`sku:warehouseId`)")


class SkuStockOut(Out):
    sku: str
    warehouses: list[StockOut]
    totals: LevelsOut


class HistoryEventOut(EventOut):
    balance: LevelsOut


class HistoryOut(Out):
    events: list[HistoryEventOut]
    next: str | None = Field(description="pass as `after` for the next page; null at the end")


class EventsOut(Out):
    events: list[EventOut]
    next: str | None = None
