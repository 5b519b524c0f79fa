"""What a purchase order can be asked: be placed, rescheduled, cancelled."""

from __future__ import annotations

from dataclasses import dataclass

from .events import NewDate, OrderedLine


@dataclass(frozen=True, slots=True)
class PlacePurchaseOrder:
    purchase_order_id: str
    supplier: str
    lines: tuple[OrderedLine, ...]


@dataclass(frozen=True, slots=True)
class ReschedulePurchaseOrder:
    purchase_order_id: str
    lines: tuple[NewDate, ...]


@dataclass(frozen=True, slots=True)
class CancelPurchaseOrder:
    purchase_order_id: str
    reason: str


PurchaseOrderCommand = PlacePurchaseOrder | ReschedulePurchaseOrder | CancelPurchaseOrder
