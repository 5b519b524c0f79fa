"""What several routers answer with: the event envelope, a stream's levels, a reservation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from .wire import Out


class EventMetadata(Out):
    caused_by: str
    correlation_id: str
    causation_id: str | None = None
    request_id: str | None = None


class EventOut(Out):
    event_id: str
    type: str
    stream_id: str
    version: int
    position: int
    recorded_at: datetime
    schema_version: int
    data: dict[str, Any]
    metadata: EventMetadata
    hash: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{64}$",
        description="hex SHA-256 link of the stream's hash chain: sha256(previous event's hash "
        "|| canonical bytes of this event); README, 'Verifying the ledger yourself'",
    )


class LevelsOut(Out):
    on_hand: int
    reserved: int
    available: int
    in_transit: int
    damaged: int
    expired: int = Field(
        default=0, description="lot-tracked items: units of lots past their date (not sellable)"
    )


class StockOut(LevelsOut):
    sku: str
    warehouse_id: str
    version: int
    updated_at: datetime


class LotQuantityOut(Out):
    lot_id: str
    quantity: int
    expires_on: date | None


class LineOut(Out):
    sku: str
    warehouse_id: str
    quantity: int
    lots: list[LotQuantityOut] | None = Field(
        default=None,
        description="lot-tracked items: the lots allocated to the line, FEFO (absent otherwise)",
    )


class ReservationOut(Out):
    reservation_id: str
    order_id: str
    status: Literal["active", "confirmed", "released", "expired", "shipped"]
    expires_at: datetime
    lines: list[LineOut]
