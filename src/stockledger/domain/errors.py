"""Typed domain errors carrying the data a client needs; mapped to problem+json in one place."""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any


class DomainError(Exception):
    """Base of every business-rule refusal.

    Each error keeps its constructor's arguments as attributes of the same name, so that it can
    be written down (`to_json`) and raised again from what was written (`from_json`): a refusal
    recorded under an Idempotency-Key is the same error for every copy of the request."""

    def to_json(self) -> dict[str, Any]:
        fields = inspect.signature(type(self)).parameters
        data = {name: getattr(self, name) for name in fields}
        if isinstance(self, InsufficientStock):
            data["lines"] = [asdict(x) for x in self.lines]
        return {"error": type(self).__name__, **data}

    @staticmethod
    def from_json(data: dict[str, Any]) -> DomainError:
        kind = _KINDS[data["error"]]
        arguments = {k: v for k, v in data.items() if k != "error"}
        if kind is InsufficientStock:
            arguments["lines"] = [ShortLine(**x) for x in arguments["lines"]]
        return kind(**arguments)


@dataclass(frozen=True, slots=True)
class ShortLine:
    sku: str
    warehouse_id: str
    requested: int
    available: int


class InsufficientStock(DomainError):
    def __init__(self, lines: list[ShortLine], detail: str | None = None) -> None:
        self.lines = lines
        self.detail = detail or "Not enough available stock for: " + ", ".join(
            f"{x.sku}@{x.warehouse_id} (requested {x.requested}, available {x.available})"
            for x in lines
        )
        super().__init__(self.detail)


class ReservationNotActive(DomainError):
    def __init__(self, reservation_id: str, status: str, action: str) -> None:
        self.reservation_id = reservation_id
        self.status = status
        self.action = action
        self.detail = f"Reservation {reservation_id} is {status}; cannot {action} it"
        super().__init__(self.detail)


class NotFound(DomainError):
    def __init__(self, what: str) -> None:
        self.what = what
        self.detail = f"{what} not found"
        super().__init__(self.detail)


class InvalidCommand(DomainError):
    """A command that contradicts itself, whatever the ledger holds (maps to 422)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class LedgerConflict(DomainError):
    """A well-formed command that what the ledger holds refuses: a bucket over capacity,
    shipping what a reservation does not hold or for another order, receiving more than was
    dispatched (maps to 409, as insufficient stock does)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class VersionMismatch(DomainError):
    """The client's If-Match version is not the stream's version (maps to 412)."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        self.detail = f"Stream {stream_id} is at version {actual}, If-Match expected {expected}"
        super().__init__(self.detail)


class ConflictingDuplicate(DomainError):
    """An id that was already used for a different request (maps to 409)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class ItemInactive(DomainError):
    """Receipts, reservations and new transfers of a deactivated SKU (maps to 409)."""

    def __init__(self, sku: str, action: str) -> None:
        self.sku = sku
        self.action = action
        self.detail = f"Item {sku} is inactive: it takes no {action} until it is activated"
        super().__init__(self.detail)


class WarehouseInactive(DomainError):
    """Receipts, returns and transfers into a deactivated warehouse (maps to 409)."""

    def __init__(self, warehouse_id: str, action: str) -> None:
        self.warehouse_id = warehouse_id
        self.action = action
        self.detail = f"Warehouse {warehouse_id} is inactive: it takes no {action}"
        super().__init__(self.detail)


class UnknownItem(DomainError):
    """With STOCKLEDGER_CATALOG_REQUIRED, a command naming an SKU never defined (422)."""

    def __init__(self, sku: str) -> None:
        self.sku = sku
        self.detail = f"Item {sku} was never defined (PUT /v1/items/{sku}); the catalog is required"
        super().__init__(self.detail)


class UnknownWarehouse(DomainError):
    """With STOCKLEDGER_CATALOG_REQUIRED, a command naming a warehouse never defined (422)."""

    def __init__(self, warehouse_id: str) -> None:
        self.warehouse_id = warehouse_id
        self.detail = (
            f"Warehouse {warehouse_id} was never defined (PUT /v1/warehouses/{warehouse_id}); "
            "the catalog is required"
        )
        super().__init__(self.detail)


class WarehouseNotEmpty(DomainError):
    """A warehouse deactivates only when every stock stream there is at zero (409)."""

    def __init__(self, warehouse_id: str, holding: list[str]) -> None:
        self.warehouse_id = warehouse_id
        self.holding = holding
        shown = ", ".join(holding[:5]) + (" ..." if len(holding) > 5 else "")
        self.detail = f"Warehouse {warehouse_id} still holds stock: {shown}"
        super().__init__(self.detail)


class ValuationMethodLocked(DomainError):
    """An item's valuation method cannot change once it has stock events (409)."""

    def __init__(self, sku: str, current: str) -> None:
        self.sku = sku
        self.current = current
        self.detail = f"Item {sku} has stock events: its valuation method stays {current}"
        super().__init__(self.detail)


class KitHasNoStock(DomainError):
    """A kit is a rule, not stock: nothing puts units on a kit SKU, and an SKU that has stock
    events cannot become a kit (409)."""

    def __init__(self, sku: str, action: str) -> None:
        self.sku = sku
        self.action = action
        self.detail = f"{sku} is a kit and holds no stock of its own: {action}"
        super().__init__(self.detail)


class TrackingLocked(DomainError):
    """An item's tracking (none, lot, serial) cannot change once it has stock events (409)."""

    def __init__(self, sku: str, current: str) -> None:
        self.sku = sku
        self.current = current
        self.detail = f"Item {sku} has stock events: its tracking stays {current}"
        super().__init__(self.detail)


class LotRequired(DomainError):
    """A command on a lot-tracked item that names no lot where one is needed (422)."""

    def __init__(self, sku: str, action: str) -> None:
        self.sku = sku
        self.action = action
        self.detail = f"Item {sku} is tracked by lot: {action} need a lotId"
        super().__init__(self.detail)


class PurchaseOrderExists(DomainError):
    """A purchase order id placed before with another body (409)."""

    def __init__(self, purchase_order_id: str) -> None:
        self.purchase_order_id = purchase_order_id
        self.detail = f"Purchase order {purchase_order_id} exists with other details"
        super().__init__(self.detail)


class PurchaseOrderClosed(DomainError):
    """A received or cancelled purchase order cannot be changed (409)."""

    def __init__(self, purchase_order_id: str, status: str) -> None:
        self.purchase_order_id = purchase_order_id
        self.status = status
        self.detail = f"Purchase order {purchase_order_id} is {status}: nothing is left open"
        super().__init__(self.detail)


class UnitCostRequired(DomainError):
    """A receipt without unitCost whose purchase order has no line to take it from (409)."""

    def __init__(self, purchase_order_id: str, sku: str, warehouse_id: str) -> None:
        self.purchase_order_id = purchase_order_id
        self.sku = sku
        self.warehouse_id = warehouse_id
        self.detail = (
            f"unitCost is required: purchase order {purchase_order_id} has no line for "
            f"{sku}@{warehouse_id}"
        )
        super().__init__(self.detail)


class InsufficientQualityControl(DomainError):
    """An inspection releasing more than is in quality control (409)."""

    def __init__(self, sku: str, warehouse_id: str, requested: int, quality_control: int) -> None:
        self.sku = sku
        self.warehouse_id = warehouse_id
        self.requested = requested
        self.quality_control = quality_control
        self.detail = (
            f"{sku}@{warehouse_id} holds {quality_control} in quality control; the inspection "
            f"releases {requested}"
        )
        super().__init__(self.detail)


class LotExpiryMismatch(DomainError):
    """A lot received again with another expiry date than the one it is held with (409)."""

    def __init__(
        self, sku: str, warehouse_id: str, lot_id: str, expires_on: str | None, given: str | None
    ) -> None:
        self.sku = sku
        self.warehouse_id = warehouse_id
        self.lot_id = lot_id
        self.expires_on = expires_on
        self.given = given
        self.detail = (
            f"Lot {lot_id} of {sku} is held in {warehouse_id} expiring on {expires_on or 'no date'}"
            f"; this receipt says {given or 'no date'}"
        )
        super().__init__(self.detail)


class NotShippedOnOrder(DomainError):
    """A return of a lot that did not ship on that order in that quantity, net of earlier
    returns, or of a serial that did not ship on it or came back since (409)."""

    def __init__(
        self,
        order_id: str,
        sku: str,
        warehouse_id: str,
        lot_id: str | None,
        quantity: int,
        shipped: int,
        serial: str | None = None,
    ) -> None:
        self.order_id = order_id
        self.sku = sku
        self.warehouse_id = warehouse_id
        self.lot_id = lot_id
        self.quantity = quantity
        self.shipped = shipped
        self.serial = serial
        if serial is not None:
            self.detail = (
                f"Serial {serial} of {sku} did not ship on order {order_id} from {warehouse_id}, "
                "or came back since"
            )
        else:
            self.detail = (
                f"Order {order_id} has {shipped} unit(s) of lot {lot_id} of {sku} from "
                f"{warehouse_id} shipped and not returned; cannot return {quantity}"
            )
        super().__init__(self.detail)


class SerialsRequired(DomainError):
    """A command on a serial-tracked item that names no serials where they are needed (422)."""

    def __init__(self, sku: str, action: str) -> None:
        self.sku = sku
        self.action = action
        self.detail = f"Item {sku} is tracked by serial number: {action} need serials"
        super().__init__(self.detail)


class SerialInStock(DomainError):
    """A serial received or found that is already in stock or in transit somewhere (409)."""

    def __init__(self, sku: str, serial: str, warehouse_id: str, status: str) -> None:
        self.sku = sku
        self.serial = serial
        self.warehouse_id = warehouse_id
        self.status = status
        where = "in transit to" if status == "in_transit" else "in stock in"
        self.detail = f"Serial {serial} of {sku} is already {where} {warehouse_id}"
        super().__init__(self.detail)


class SerialNotInStock(DomainError):
    """A serial shipped, moved or written off that is not in stock in that warehouse (409)."""

    def __init__(self, sku: str, warehouse_id: str, serial: str) -> None:
        self.sku = sku
        self.warehouse_id = warehouse_id
        self.serial = serial
        self.detail = f"Serial {serial} of {sku} is not in stock in {warehouse_id}"
        super().__init__(self.detail)


_KINDS: dict[str, type[DomainError]] = {
    kind.__name__: kind
    for kind in (
        InsufficientStock,
        ReservationNotActive,
        NotFound,
        InvalidCommand,
        VersionMismatch,
        ConflictingDuplicate,
        LedgerConflict,
        ItemInactive,
        WarehouseInactive,
        WarehouseNotEmpty,
        ValuationMethodLocked,
        TrackingLocked,
        LotRequired,
        LotExpiryMismatch,
        NotShippedOnOrder,
        SerialsRequired,
        SerialInStock,
        SerialNotInStock,
        UnknownItem,
        UnknownWarehouse,
        KitHasNoStock,
        PurchaseOrderExists,
        PurchaseOrderClosed,
        InsufficientQualityControl,
        UnitCostRequired,
    )
}
