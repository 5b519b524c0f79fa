"""The lot queries' answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from .ledger import EventOut
from .wire import Out


class LotOut(Out):
    lot_id: str
    expires_on: date | None
    on_hand: int
    reserved: int
    available: int
    expired: int
    first_received_at: datetime


class StreamLotsOut(Out):
    sku: str
    warehouse_id: str
    lots: list[LotOut]


class ExpiringLotOut(LotOut):
    sku: str
    warehouse_id: str


class ExpiringLotsOut(Out):
    lots: list[ExpiringLotOut]
    next: str | None = Field(description="`after` for the next page")


class RecallOut(Out):
    sku: str
    lot_id: str
    expires_on: date | None
    received: list[dict[str, Any]]
    shipped: list[dict[str, Any]]
    returned: list[dict[str, Any]]
    transferred: list[dict[str, Any]]
    adjusted: list[dict[str, Any]]
    now: list[dict[str, Any]]
    open_reservations: list[dict[str, Any]]
    balanced: bool = Field(
        description="received = shipped - returned + now + adjusted out + lost: every unit "
        "received is accounted for"
    )
    events: list[EventOut]
    as_of_position: int


class SerialOut(Out):
    sku: str
    serial: str
    status: Literal["in_stock", "in_transit", "shipped", "lost", "removed"]
    warehouse_id: str | None = None
    order_id: str | None = None
    lot_id: str | None = None
    events: list[EventOut]
