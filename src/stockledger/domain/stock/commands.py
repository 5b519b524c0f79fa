"""What a stock stream can be asked: receive, ship, take back, adjust or count its stock. A
shipment that names a reservation ships that reservation's lines: the reservation decides it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .events import AdjustmentReason, Line, ReturnCondition, ReturnReason


@dataclass(frozen=True, slots=True)
class SerialLine(Line):
    """A shipment line of a serial-tracked item: the serials it ships, exactly its quantity."""

    serials: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiveStock:
    sku: str
    warehouse_id: str
    quantity: int
    purchase_order_id: str
    unit_cost: Decimal | None  # None: the purchase order line's
    supplier: str
    receipt_id: str | None = None
    inspect: bool = False  # into quality control, until inspected
    lot_id: str | None = None
    expires_on: date | None = None
    serials: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ShipStock:
    shipment_id: str
    order_id: str
    reservation_id: str | None = None
    lines: tuple[Line, ...] | None = None


@dataclass(frozen=True, slots=True)
class ReturnStock:
    return_id: str
    order_id: str
    sku: str
    warehouse_id: str
    quantity: int
    reason: ReturnReason
    condition: ReturnCondition
    lot_id: str | None = None
    serials: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class AdjustStock:
    sku: str
    warehouse_id: str
    quantity_change: int
    reason: AdjustmentReason
    notes: str | None = None
    expected_version: int | None = None
    unit_cost: Decimal | None = None  # what a gain's units cost (else the current average)
    lot_id: str | None = None
    serials: tuple[str, ...] | None = None  # removed (a loss) or found (a gain)


@dataclass(frozen=True, slots=True)
class CountStock:
    sku: str
    warehouse_id: str
    counted_quantity: int
    notes: str | None = None
    expected_version: int | None = None
    lot_id: str | None = None
    serials: tuple[str, ...] | None = None  # the serials counted (serial-tracked items)


@dataclass(frozen=True, slots=True)
class InspectStock:
    inspection_id: str
    sku: str
    warehouse_id: str
    accepted: int
    rejected: int
    lot_id: str | None = None


@dataclass(frozen=True, slots=True)
class ExpireLot:
    """Move a lot's unreserved units to expired once its date has come (the expiry worker)."""

    sku: str
    warehouse_id: str
    lot_id: str


StockCommand = (
    ReceiveStock | ShipStock | ReturnStock | AdjustStock | CountStock | InspectStock | ExpireLot
)


def line_serials(lines: tuple[Line, ...] | None) -> dict[tuple[str, str], tuple[str, ...]]:
    """The serials the lines name, per SKU+warehouse (only lines that name some)."""
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for line in lines or ():
        if isinstance(line, SerialLine) and line.serials:
            key = (line.sku, line.warehouse_id)
            out[key] = (*out.get(key, ()), *line.serials)
    return out


def merge_lines(lines: tuple[Line, ...]) -> tuple[Line, ...]:
    """Sum lines on the same SKU+warehouse, keeping first-seen order."""
    totals: dict[tuple[str, str], int] = {}
    for line in lines:
        key = (line.sku, line.warehouse_id)
        totals[key] = totals.get(key, 0) + line.quantity
    return tuple(Line(sku=s, warehouse_id=w, quantity=q) for (s, w), q in totals.items())
