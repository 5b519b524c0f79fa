"""A stock stream's reorder rule and its open alert, and `evolve`: a pure fold of its events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ..events import Event
from .events import (
    LowStockDetected,
    LowStockResolved,
    ReorderRuleRemoved,
    ReorderRuleSet,
    StockOutDetected,
)


@dataclass(frozen=True, slots=True)
class ReorderRule:
    reorder_point: int
    reorder_quantity: int
    safety_stock: int = 0


AlertKind = Literal["low_stock", "stock_out"]


@dataclass(frozen=True, slots=True)
class ReorderState:
    """A stock stream's reorder rule and its open alert (at most one)."""

    sku: str
    warehouse_id: str
    version: int = 0
    rule: ReorderRule | None = None
    alert_id: str | None = None
    alert_kind: AlertKind | None = None
    updated_at: datetime | None = None


def evolve_reorder(state: ReorderState, event: Event, recorded_at: datetime) -> ReorderState:
    match event:
        case ReorderRuleSet():
            rule = ReorderRule(event.reorder_point, event.reorder_quantity, event.safety_stock)
            state = replace(state, rule=rule)
        case ReorderRuleRemoved():
            state = replace(state, rule=None)
        case LowStockDetected():
            state = replace(state, alert_id=event.alert_id, alert_kind="low_stock")
        case StockOutDetected():
            state = replace(state, alert_id=event.alert_id, alert_kind="stock_out")
        case LowStockResolved():
            state = replace(state, alert_id=None, alert_kind=None)
    return replace(state, version=state.version + 1, updated_at=recorded_at)
