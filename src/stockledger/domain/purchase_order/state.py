"""A purchase order's state, and `evolve`: a pure fold of its events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from ..events import Event
from .events import (
    PurchaseOrderCancelled,
    PurchaseOrderPlaced,
    PurchaseOrderReceived,
    PurchaseOrderRescheduled,
)


class PurchaseOrderStatus(StrEnum):
    NONE = "none"
    OPEN = "open"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    warehouse_id: str
    ordered: int
    unit_cost: Decimal
    expected_on: date
    received: int = 0  # taken off the line (never more than ordered)
    over_received: int = 0  # arrived beyond it
    cancelled: int = 0  # what was open when the order was cancelled

    @property
    def open(self) -> int:
        return self.ordered - self.received - self.cancelled

    def overdue(self, today: date) -> bool:
        return self.open > 0 and self.expected_on < today


@dataclass(frozen=True, slots=True)
class PurchaseOrderState:
    purchase_order_id: str
    version: int = 0
    supplier: str = ""
    placed: PurchaseOrderPlaced | None = None
    lines: tuple[OrderLine, ...] = ()
    cancelled: bool = False
    placed_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def status(self) -> PurchaseOrderStatus:
        if self.placed is None:
            return PurchaseOrderStatus.NONE
        if self.cancelled:
            return PurchaseOrderStatus.CANCELLED
        if all(x.open == 0 for x in self.lines):
            return PurchaseOrderStatus.RECEIVED
        if any(x.received or x.over_received for x in self.lines):
            return PurchaseOrderStatus.PARTIALLY_RECEIVED
        return PurchaseOrderStatus.OPEN

    @property
    def is_open(self) -> bool:
        return self.status in (PurchaseOrderStatus.OPEN, PurchaseOrderStatus.PARTIALLY_RECEIVED)

    def line(self, sku: str, warehouse_id: str) -> OrderLine | None:
        return next((x for x in self.lines if (x.sku, x.warehouse_id) == (sku, warehouse_id)), None)


def _each(
    state: PurchaseOrderState, sku: str, warehouse_id: str, **change: int
) -> tuple[OrderLine, ...]:
    return tuple(
        replace(x, **{k: getattr(x, k) + v for k, v in change.items()})
        if (x.sku, x.warehouse_id) == (sku, warehouse_id)
        else x
        for x in state.lines
    )


def evolve_purchase_order(
    state: PurchaseOrderState, event: Event, recorded_at: datetime
) -> PurchaseOrderState:
    match event:
        case PurchaseOrderPlaced():
            lines = tuple(
                OrderLine(x.sku, x.warehouse_id, x.quantity, x.unit_cost, x.expected_on)
                for x in event.lines
            )
            state = replace(
                state, supplier=event.supplier, placed=event, lines=lines, placed_at=recorded_at
            )
        case PurchaseOrderRescheduled():
            dates = {(x.sku, x.warehouse_id): x.expected_on for x in event.lines}
            lines = tuple(
                replace(x, expected_on=dates.get((x.sku, x.warehouse_id), x.expected_on))
                for x in state.lines
            )
            state = replace(state, lines=lines)
        case PurchaseOrderReceived(sku=s, warehouse_id=w, quantity=q, over_received=over):
            state = replace(state, lines=_each(state, s, w, received=q, over_received=over))
        case PurchaseOrderCancelled():
            lines = state.lines
            for x in event.lines:
                lines = _each(replace(state, lines=lines), x.sku, x.warehouse_id,
                              cancelled=x.quantity)  # fmt: skip
            state = replace(state, lines=lines, cancelled=True)
    return replace(state, version=state.version + 1, updated_at=recorded_at)
