"""A reorder rule's events and the low-stock alerts it raises (stream `reorder:{sku}:{wh}`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import ConfigDict

from ..codec import WIRE


@dataclass(frozen=True, slots=True)
class ReorderRuleSet:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ReorderRuleSet"
    sku: str
    warehouse_id: str
    reorder_point: int
    reorder_quantity: int
    safety_stock: int = 0


@dataclass(frozen=True, slots=True)
class ReorderRuleRemoved:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ReorderRuleRemoved"
    sku: str
    warehouse_id: str


@dataclass(frozen=True, slots=True)
class LowStockDetected:
    """projected (available + inTransit) fell to or below the reorder point: an alert opens."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "LowStockDetected"
    alert_id: str
    sku: str
    warehouse_id: str
    available: int
    projected: int
    reorder_point: int
    suggested_order_quantity: int


@dataclass(frozen=True, slots=True)
class StockOutDetected:
    """available reached 0 while the alert is open: it becomes a stock-out."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockOutDetected"
    alert_id: str
    sku: str
    warehouse_id: str
    available: int
    projected: int
    reorder_point: int
    suggested_order_quantity: int


@dataclass(frozen=True, slots=True)
class LowStockResolved:
    """projected rose above the reorder point (or the rule went): the alert closes."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "LowStockResolved"
    alert_id: str
    sku: str
    warehouse_id: str
    available: int
    projected: int
    reorder_point: int
