"""The catalog's rules, and the checks the other aggregates make against it."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from ..decision import Decision, Place, States, get
from ..errors import (
    ItemInactive,
    NotFound,
    TrackingLocked,
    UnknownItem,
    UnknownWarehouse,
    ValuationMethodLocked,
    VersionMismatch,
    WarehouseInactive,
    WarehouseNotEmpty,
)
from ..streams import item_stream, warehouse_stream
from .commands import (
    ActivateItem,
    CatalogCommand,
    DeactivateItem,
    DeactivateWarehouse,
    DefineItem,
    DefineWarehouse,
)
from .events import (
    ItemActivated,
    ItemChanged,
    ItemDeactivated,
    ItemDefined,
    WarehouseChanged,
    WarehouseDeactivated,
    WarehouseDefined,
)
from .state import ItemState, WarehouseState


def reads(command: CatalogCommand, states: States) -> tuple[str, ...]:
    """The streams a catalog command reads: its item's or warehouse's."""
    match command:
        case DefineItem(sku=s) | DeactivateItem(sku=s) | ActivateItem(sku=s):
            return (item_stream(s),)
        case DefineWarehouse(warehouse_id=w) | DeactivateWarehouse(warehouse_id=w):
            return (warehouse_stream(w),)


def places(command: CatalogCommand) -> tuple[Place, ...]:
    """A catalog command names no place that must already be defined."""
    return ()


def decide(command: CatalogCommand, states: States, now: datetime) -> Decision:
    match command:
        case DefineItem():
            return _define_item(command, get(states, item_stream(command.sku), ItemState))
        case DeactivateItem() | ActivateItem():
            return _item_status(command, get(states, item_stream(command.sku), ItemState))
        case DefineWarehouse():
            stream = warehouse_stream(command.warehouse_id)
            return _define_warehouse(command, get(states, stream, WarehouseState))
        case DeactivateWarehouse():
            stream = warehouse_stream(command.warehouse_id)
            return _deactivate_warehouse(command, get(states, stream, WarehouseState))


# -- what the other aggregates ask of the catalog ----------------------------------------------


def place_streams(places: tuple[Place, ...]) -> tuple[str, ...]:
    """The item and warehouse streams of `places`."""
    items = (item_stream(s) for s, _ in places)
    return tuple(dict.fromkeys((*items, *(warehouse_stream(w) for _, w in places))))


def require_defined(places: tuple[Place, ...], states: States) -> None:
    """STOCKLEDGER_CATALOG_REQUIRED: every SKU and warehouse the command names was defined."""
    for sku, warehouse_id in places:
        if not get(states, item_stream(sku), ItemState).version:
            raise UnknownItem(sku)
        if not get(states, warehouse_stream(warehouse_id), WarehouseState).version:
            raise UnknownWarehouse(warehouse_id)


def require_active(states: States, sku: str, action: str) -> None:
    """An SKU that was deactivated takes no receipts, reservations or new transfers."""
    if not get(states, item_stream(sku), ItemState).active:
        raise ItemInactive(sku, action)


def require_open_warehouse(states: States, warehouse_id: str, action: str) -> None:
    """A deactivated warehouse takes no stock in: no receipts, returns or transfers to it."""
    if not get(states, warehouse_stream(warehouse_id), WarehouseState).active:
        raise WarehouseInactive(warehouse_id, action)


# -- items and warehouses -----------------------------------------------------------------------


def _define_item(cmd: DefineItem, item: ItemState) -> Decision:
    stream = item_stream(cmd.sku)
    if cmd.expected_version is not None and cmd.expected_version != item.version:
        raise VersionMismatch(stream, cmd.expected_version, item.version)
    if not item.version:
        defined = ItemDefined(
            cmd.sku,
            cmd.name,
            cmd.description,
            cmd.unit_of_measure,
            cmd.valuation_method,
            cmd.tracking,
        )
        return Decision(events=((stream, defined),))
    changed = ItemChanged(
        cmd.sku,
        name=_changed(cmd.name, item.name),
        description=_changed(cmd.description, item.description),
        unit_of_measure=_changed(cmd.unit_of_measure, item.unit_of_measure),
        valuation_method=_changed(cmd.valuation_method, item.valuation_method),
        tracking=_changed(cmd.tracking, item.tracking),
    )
    if changed.valuation_method is not None or changed.tracking is not None:
        if cmd.stocked is None:
            raise TypeError("DefineItem: the write path looks up `stocked` first")
        if cmd.stocked and changed.valuation_method is not None:
            raise ValuationMethodLocked(cmd.sku, item.valuation_method)
        if cmd.stocked:  # lots and serials already recorded would lose their meaning
            raise TrackingLocked(cmd.sku, item.tracking)
    if changed == ItemChanged(cmd.sku):
        return Decision()  # nothing changed: no event
    return Decision(events=((stream, changed),))


def _item_status(cmd: DeactivateItem | ActivateItem, item: ItemState) -> Decision:
    if not item.version:
        raise NotFound(f"Item {cmd.sku}")
    stream = item_stream(cmd.sku)
    match cmd:
        case DeactivateItem() if item.active:
            return Decision(events=((stream, ItemDeactivated(cmd.sku, cmd.reason)),))
        case ActivateItem() if not item.active:
            return Decision(events=((stream, ItemActivated(cmd.sku)),))
    return Decision()  # already in that state: no event


def _define_warehouse(cmd: DefineWarehouse, warehouse: WarehouseState) -> Decision:
    stream = warehouse_stream(cmd.warehouse_id)
    if cmd.expected_version is not None and cmd.expected_version != warehouse.version:
        raise VersionMismatch(stream, cmd.expected_version, warehouse.version)
    if not warehouse.version:
        return Decision(
            events=((stream, WarehouseDefined(cmd.warehouse_id, cmd.name, cmd.address)),)
        )
    changed = WarehouseChanged(
        cmd.warehouse_id,
        name=_changed(cmd.name, warehouse.name),
        address=_changed(cmd.address, warehouse.address),
    )
    if changed == WarehouseChanged(cmd.warehouse_id):
        return Decision()
    return Decision(events=((stream, changed),))


def _deactivate_warehouse(cmd: DeactivateWarehouse, warehouse: WarehouseState) -> Decision:
    if not warehouse.version:
        raise NotFound(f"Warehouse {cmd.warehouse_id}")
    if not warehouse.active:
        return Decision()  # already inactive: no event
    if cmd.holding is None:
        raise TypeError("DeactivateWarehouse: the write path looks up `holding` first")
    if cmd.holding:
        raise WarehouseNotEmpty(cmd.warehouse_id, list(cmd.holding))
    event = WarehouseDeactivated(cmd.warehouse_id, cmd.reason)
    return Decision(events=((warehouse_stream(cmd.warehouse_id), event),))


V = TypeVar("V")


def _changed(wanted: V, current: V) -> V | None:
    return None if wanted == current else wanted
