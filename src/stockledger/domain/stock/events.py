"""A stock stream's own events (stream `stock:{sku}:{warehouseId}`), and the lines the facts
appended to several streams carry (a reservation, a shipment).

A fact appended to several streams has the same shape on each: on a stock stream its `lines`
hold only that stream's line, on the reservation's stream all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import ConfigDict

from ..catalog.events import ValuationMethod
from ..codec import WIRE

ReturnReason = Literal["defective", "wrong_item", "customer_changed_mind", "damaged_in_transit"]
ReturnCondition = Literal["resellable", "damaged", "dispose"]
AdjustmentReason = Literal["physical_count", "damage", "expiry", "theft", "system_correction"]


@dataclass(frozen=True, slots=True)
class Line:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    sku: str
    warehouse_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class LotQuantity:
    """Units of one lot: what a reservation allocated, a shipment took (lot-tracked items)."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    lot_id: str
    quantity: int
    expires_on: date | None = None


# A reservation's line; on a lot-tracked item with the lots allocated to it (FEFO). Its schema
# keeps the name and title its items had before they gained `lots` (the released v1 schema).
@dataclass(frozen=True, slots=True)
class ReservedLine(Line):
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(**WIRE, title="Line")
    lots: tuple[LotQuantity, ...] | None = None  # v2 (None: the item is not tracked by lot)


@dataclass(frozen=True, slots=True)
class ShippedLine:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    sku: str
    warehouse_id: str
    quantity: int
    reserved_quantity: int  # how much of the line's reservation the shipment consumed
    cost: Decimal | None = None  # v2: what the shipped units cost (None: a v1 event)
    lots: tuple[LotQuantity, ...] | None = None  # v3: the lots the units came from
    serials: tuple[str, ...] | None = None  # v3: the serials shipped (serial-tracked items)


@dataclass(frozen=True, slots=True)
class StockReceived:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockReceived"
    sku: str
    warehouse_id: str
    quantity: int
    purchase_order_id: str
    unit_cost: Decimal
    supplier: str
    receipt_id: str | None = None
    valuation_method: ValuationMethod | None = None  # v2: how the stream values its units
    # v3: what the receipt took off its purchase order's open line (and `incoming`), what
    # arrived beyond that line, and whether its units wait in quality control
    expected: int | None = None
    over_received: int | None = None
    inspect: bool | None = None
    lot_id: str | None = None  # v3: the lot received (lot-tracked items)
    expires_on: date | None = None  # v3: the lot's expiry date (the first day it is expired)
    serials: tuple[str, ...] | None = None  # v3: the serials received (serial-tracked items)


@dataclass(frozen=True, slots=True)
class StockShipped:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockShipped"
    shipment_id: str
    order_id: str
    lines: tuple[ShippedLine, ...]
    reservation_id: str | None = None


@dataclass(frozen=True, slots=True)
class StockReturned:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockReturned"
    return_id: str
    order_id: str
    sku: str
    warehouse_id: str
    quantity: int
    reason: ReturnReason
    condition: ReturnCondition
    cost: Decimal | None = None  # v2: the value the returned units came back at
    lot_id: str | None = None  # v3: the lot the units go back into
    serials: tuple[str, ...] | None = None  # v3: the serials returned


@dataclass(frozen=True, slots=True)
class StockAdjusted:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockAdjusted"
    sku: str
    warehouse_id: str
    quantity_change: int
    reason: AdjustmentReason
    previous_quantity: int
    new_quantity: int
    notes: str | None = None
    cost: Decimal | None = None  # v2: the value that left (or came in, for a gain)
    unit_cost: Decimal | None = None  # v2: a gain's unit cost when one was given
    lot_id: str | None = None  # v3: the lot adjusted
    serials: tuple[str, ...] | None = None  # v3: the serials removed (or found, for a gain)


@dataclass(frozen=True, slots=True)
class LotExpired:
    """A lot's date came (UTC): its unreserved units move from onHand to expired."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "LotExpired"
    sku: str
    warehouse_id: str
    lot_id: str
    expires_on: date
    quantity: int


@dataclass(frozen=True, slots=True)
class StockCounted:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockCounted"
    sku: str
    warehouse_id: str
    counted_quantity: int
    previous_quantity: int
    notes: str | None = None
    lot_id: str | None = None  # v2: the lot counted (previous and counted are the lot's)
    serials: tuple[str, ...] | None = None  # v2: the serials counted


@dataclass(frozen=True, slots=True)
class StockInspected:
    """Units out of quality control: `accepted` become available, `rejected` move from onHand
    to damaged (`cost`: the value that went with them)."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockInspected"
    inspection_id: str
    sku: str
    warehouse_id: str
    accepted: int
    rejected: int
    lot_id: str | None = None
    cost: Decimal | None = None
