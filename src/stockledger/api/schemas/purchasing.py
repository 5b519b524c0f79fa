"""Purchase orders, inspections and available to promise: bodies and answers."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from .ledger import EventOut, StockOut
from .wire import WHOLE, Body, Id, Money, Out, Quantity, Text

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _calendar_date(value: object) -> object:
    """Only `YYYY-MM-DD` text (pydantic alone would also take a number of seconds)."""
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError("a calendar date, YYYY-MM-DD")
    return value


Day = Annotated[
    dt.date,
    BeforeValidator(_calendar_date),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "description": "a calendar date, YYYY-MM-DD",
            "examples": ["2026-12-14"],
        }
    ),
]
Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000, description="units, >= 0"), WHOLE]
PurchaseOrderStatus = Literal["open", "partially_received", "received", "cancelled"]


class OrderLineIn(Body):
    sku: Id
    warehouse_id: Id
    quantity: Quantity
    unit_cost: Money
    expected_on: Day


class PurchaseOrderIn(Body):
    supplier: Text
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=500)]


class NewDateIn(Body):
    sku: Id
    warehouse_id: Id
    expected_on: Day


class RescheduleIn(Body):
    lines: Annotated[list[NewDateIn], Field(min_length=1, max_length=500)]


class CancelIn(Body):
    reason: Text


class InspectionIn(Body):
    inspection_id: Id = Field(description="counts once per SKU and warehouse")
    sku: Id
    warehouse_id: Id
    lot_id: Id | None = Field(
        default=None,
        description="lot-tracked items: the lot inspected (required, 422 lot-required); its "
        "rejected units leave that lot. Other items name none (409)",
    )
    accepted: Count
    rejected: Count


class OrderLineOut(Out):
    sku: str
    warehouse_id: str
    ordered: int
    received: int = Field(description="taken off the line by receipts")
    open: int = Field(description="still expected (0 once received or cancelled)")
    over_received: int | None = Field(
        default=None, description="arrived beyond the line (GET of one order only)"
    )
    unit_cost: str
    expected_on: dt.date
    overdue: bool = Field(description="open and expected before today (UTC)")


class PurchaseOrderOut(Out):
    purchase_order_id: str
    supplier: str
    status: PurchaseOrderStatus
    lines: list[OrderLineOut]
    placed_at: str


class PurchaseOrdersOut(Out):
    purchase_orders: list[PurchaseOrderOut]
    next: str | None = Field(description="the `after` of the next page; null on the last")


class PurchaseOrderCommandOut(Out):
    purchase_order_id: str
    events: list[EventOut]
    stock: list[StockOut]


class PromisePoint(Out):
    date: dt.date
    incoming: int = Field(description="expected that date")
    available: int = Field(description="available now plus everything expected up to that date")


class Promise(Out):
    quantity: int
    date: dt.date | None = Field(description="the first date `quantity` is available; null: not "
                              "within the horizon")  # fmt: skip


class PromiseOut(Out):
    sku: str
    warehouse_id: str | None = None
    as_of: str
    available_now: int
    timeline: list[PromisePoint]
    promise: Promise
