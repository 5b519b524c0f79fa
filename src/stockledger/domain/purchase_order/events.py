"""A purchase order's events on its own stream `po:{purchaseOrderId}`, and what it writes to the
stock streams it names (`StockExpected`, and its cancellation's lines)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import ClassVar

from pydantic import ConfigDict

from ..codec import WIRE
from ..stock.events import Line


@dataclass(frozen=True, slots=True)
class OrderedLine:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    sku: str
    warehouse_id: str
    quantity: int
    unit_cost: Decimal
    expected_on: date


@dataclass(frozen=True, slots=True)
class PurchaseOrderPlaced:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "PurchaseOrderPlaced"
    purchase_order_id: str
    supplier: str
    lines: tuple[OrderedLine, ...]


@dataclass(frozen=True, slots=True)
class StockExpected:
    """On a stock stream: `quantity` more is on order for it (`incoming`)."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockExpected"
    purchase_order_id: str
    supplier: str
    sku: str
    warehouse_id: str
    quantity: int
    expected_on: date


@dataclass(frozen=True, slots=True)
class NewDate:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    sku: str
    warehouse_id: str
    expected_on: date


@dataclass(frozen=True, slots=True)
class PurchaseOrderRescheduled:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "PurchaseOrderRescheduled"
    purchase_order_id: str
    lines: tuple[NewDate, ...]


@dataclass(frozen=True, slots=True)
class PurchaseOrderReceived:
    """On the order's stream: a receipt took `quantity` off the line (`overReceived` arrived
    beyond it and is on hand, but not off the line)."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "PurchaseOrderReceived"
    purchase_order_id: str
    sku: str
    warehouse_id: str
    quantity: int
    over_received: int
    receipt_id: str | None = None


@dataclass(frozen=True, slots=True)
class PurchaseOrderCancelled:
    """`lines` hold what was still open (and leaves `incoming`): on the order's stream every
    such line, on a stock stream its own."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "PurchaseOrderCancelled"
    purchase_order_id: str
    reason: str
    lines: tuple[Line, ...]
