"""A stock stream's own events (stream `stock:{sku}:{warehouseId}`), and the lines the facts
appended to several streams carry (a reservation, a shipment).

A fact appended to several streams has the same shape on each: on a stock stream its `lines`
hold only that stream's line, on the reservation's stream all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
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
class ShippedLine:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    sku: str
    warehouse_id: str
    quantity: int
    reserved_quantity: int  # how much of the line's reservation the shipment consumed
    cost: Decimal | None = None  # v2: what the shipped units cost (None: a v1 event)


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


@dataclass(frozen=True, slots=True)
class StockCounted:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockCounted"
    sku: str
    warehouse_id: str
    counted_quantity: int
    previous_quantity: int
    notes: str | None = None


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
