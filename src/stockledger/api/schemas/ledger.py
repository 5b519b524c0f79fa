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
    available: int = Field(description="onHand - reserved - qualityControl")
    in_transit: int
    damaged: int
    incoming: int = Field(description="expected from open purchase order lines")
    quality_control: int = Field(description="on hand, awaiting inspection: not available")
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


class ReservedComponentOut(Out):
    sku: str
    per_kit: int = Field(description="units of the component in one kit, when it was reserved")
    quantity: int = Field(description="units of the component the kit line holds")
    lots: list[LotQuantityOut] | None = Field(
        default=None,
        description="lot-tracked components: the lots allocated, FEFO, when the kit line alone "
        "holds that stock stream",
    )


class LineOut(Out):
    sku: str
    warehouse_id: str
    quantity: int
    components: list[ReservedComponentOut] | None = Field(
        default=None,
        description="a line naming a kit: the components it reserved (the kit as it was then)",
    )
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
