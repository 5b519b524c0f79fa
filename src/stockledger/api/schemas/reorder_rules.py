"""Reorder rules' bodies and answers, and the low-stock alerts they open."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .ledger import EventOut
from .wire import Body, Out, Quantity, Units


class ReorderRuleIn(Body):
    reorder_point: Units
    reorder_quantity: Quantity
    safety_stock: Units = 0


class ReorderRuleOut(Out):
    sku: str
    warehouse_id: str
    reorder_point: int | None = Field(description="null once the rule was removed")
    reorder_quantity: int | None
    safety_stock: int | None
    alert_id: str | None = Field(description="the open alert, if any")
    alert_kind: Literal["low_stock", "stock_out"] | None
    version: int
    updated_at: datetime | None


class ReorderRuleCommandOut(ReorderRuleOut):
    events: list[EventOut]


class ReorderRulesOut(Out):
    rules: list[ReorderRuleOut]
    next: str | None = Field(description="`after` for the next page (`sku:warehouseId`)")


class AlertOut(Out):
    alert_id: str = Field(description="kept from opening to closing (`SKU:WH:version`)")
    sku: str
    warehouse_id: str
    kind: Literal["low_stock", "stock_out"]
    status: Literal["open", "closed"]
    opened_at: datetime
    closed_at: datetime | None = Field(description="null while open")
    available: int = Field(
        description="the stream's current available while open; at closing after"
    )
    reorder_point: int
    suggested_order_quantity: int = Field(
        description="max(reorderQuantity, reorderPoint + safetyStock - projected)"
    )


class AlertsOut(Out):
    alerts: list[AlertOut]
    next: str | None = Field(description="`after` for the next page (an alertId)")
