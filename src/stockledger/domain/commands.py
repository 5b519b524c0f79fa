"""Commands: imperative, frozen, already validated for shape at the edge (API schemas)."""

from __future__ import annotations

from .catalog.commands import (
    ActivateItem,
    DeactivateItem,
    DeactivateWarehouse,
    DefineItem,
    DefineWarehouse,
)
from .catalog.decide import place_streams
from .reorder.commands import RemoveReorderRule, SetReorderRule
from .reservation.commands import (
    ConfirmReservation,
    ExpireReservation,
    ReleaseReservation,
    ReserveStock,
)
from .stock.commands import (
    AdjustStock,
    CountStock,
    ReceiveStock,
    ReturnStock,
    ShipStock,
    merge_lines,
)
from .streams import (
    item_stream,
    reorder_stream,
    reservation_stream,
    stock_stream,
    transfer_stream,
    warehouse_stream,
)
from .transfer.commands import DispatchTransfer, ReceiveTransfer

__all__ = [
    "ActivateItem",
    "AdjustStock",
    "ConfirmReservation",
    "CountStock",
    "DeactivateItem",
    "DeactivateWarehouse",
    "DefineItem",
    "DefineWarehouse",
    "DispatchTransfer",
    "ExpireReservation",
    "ReceiveStock",
    "ReceiveTransfer",
    "ReleaseReservation",
    "RemoveReorderRule",
    "ReserveStock",
    "ReturnStock",
    "SetReorderRule",
    "ShipStock",
    "merge_lines",
]


Command = (
    ReceiveStock
    | ReserveStock
    | ConfirmReservation
    | ReleaseReservation
    | ExpireReservation
    | ShipStock
    | ReturnStock
    | DispatchTransfer
    | ReceiveTransfer
    | AdjustStock
    | CountStock
    | DefineItem
    | DeactivateItem
    | ActivateItem
    | DefineWarehouse
    | DeactivateWarehouse
    | SetReorderRule
    | RemoveReorderRule
)


def named_places(command: Command) -> tuple[tuple[str, str], ...]:
    """The (SKU, warehouse) pairs a command names itself: what STOCKLEDGER_CATALOG_REQUIRED
    checks. Commands that name a reservation or transfer (confirm, release, ship a
    reservation, receive a transfer) or remove a rule only go on with what was accepted."""
    match command:
        case ReceiveStock(sku=s, warehouse_id=w) | ReturnStock(sku=s, warehouse_id=w):
            return ((s, w),)
        case AdjustStock(sku=s, warehouse_id=w) | CountStock(sku=s, warehouse_id=w):
            return ((s, w),)
        case SetReorderRule(sku=s, warehouse_id=w):
            return ((s, w),)
        case ReserveStock(lines=lines):
            return tuple((x.sku, x.warehouse_id) for x in lines)
        case ShipStock(reservation_id=None, lines=lines):
            return tuple((x.sku, x.warehouse_id) for x in lines or ())
        case DispatchTransfer(sku=s, from_warehouse_id=a, to_warehouse_id=b):
            return ((s, a), (s, b))
    return ()


def catalog_streams(command: Command) -> tuple[str, ...]:
    """The item and warehouse streams of `named_places`."""
    return place_streams(named_places(command))


def primary_streams(command: Command) -> tuple[str, ...]:
    """Streams a command reads before anything else is known (its own ids)."""
    match command:
        case ReceiveStock(sku=s, warehouse_id=w):  # inactive items and warehouses take none
            return (stock_stream(s, w), item_stream(s), warehouse_stream(w))
        case ReturnStock(sku=s, warehouse_id=w):
            return (stock_stream(s, w), warehouse_stream(w))
        case AdjustStock(sku=s, warehouse_id=w) | CountStock(sku=s, warehouse_id=w):
            return (stock_stream(s, w),)
        case ReserveStock(reservation_id=rid, lines=lines):
            stock = (stock_stream(x.sku, x.warehouse_id) for x in lines)
            return (reservation_stream(rid), *stock, *(item_stream(x.sku) for x in lines))
        case ConfirmReservation(reservation_id=rid) | ReleaseReservation(reservation_id=rid):
            return (reservation_stream(rid),)
        case ExpireReservation(reservation_id=rid):
            return (reservation_stream(rid),)
        case ShipStock(reservation_id=rid, lines=lines):
            own = () if rid is None else (reservation_stream(rid),)
            return own + tuple(stock_stream(x.sku, x.warehouse_id) for x in lines or ())
        case DispatchTransfer(transfer_id=tid, sku=s, from_warehouse_id=a, to_warehouse_id=b):
            moved = (stock_stream(s, a), stock_stream(s, b), item_stream(s), warehouse_stream(b))
            return (transfer_stream(tid), *moved)
        case ReceiveTransfer(transfer_id=tid):
            return (transfer_stream(tid),)
        case DefineItem(sku=s) | DeactivateItem(sku=s) | ActivateItem(sku=s):
            return (item_stream(s),)
        case DefineWarehouse(warehouse_id=w) | DeactivateWarehouse(warehouse_id=w):
            return (warehouse_stream(w),)
        case SetReorderRule(sku=s, warehouse_id=w) | RemoveReorderRule(sku=s, warehouse_id=w):
            return (reorder_stream(s, w), stock_stream(s, w))  # evaluated at once
