"""An item's and a warehouse's catalog entry, and `evolve`: pure folds of their events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from ..events import Event
from .events import (
    ItemActivated,
    ItemChanged,
    ItemDeactivated,
    ItemDefined,
    Tracking,
    ValuationMethod,
    WarehouseChanged,
    WarehouseDeactivated,
    WarehouseDefined,
)


@dataclass(frozen=True, slots=True)
class ItemState:
    """An SKU's catalog entry. Never defined (version 0): implicitly active (v1 clients)."""

    sku: str
    version: int = 0
    name: str = ""
    description: str = ""
    unit_of_measure: str = "each"
    valuation_method: ValuationMethod = "fifo"
    tracking: Tracking = "none"
    active: bool = True
    updated_at: datetime | None = None


def evolve_item(state: ItemState, event: Event, recorded_at: datetime) -> ItemState:
    match event:
        case ItemDefined():
            state = replace(
                state,
                name=event.name,
                description=event.description,
                unit_of_measure=event.unit_of_measure,
                valuation_method=event.valuation_method,
                tracking=event.tracking,
            )
        case ItemChanged():
            state = replace(
                state,
                name=_given(event.name, state.name),
                description=_given(event.description, state.description),
                unit_of_measure=_given(event.unit_of_measure, state.unit_of_measure),
                valuation_method=_given(event.valuation_method, state.valuation_method),
                tracking=_given(event.tracking, state.tracking),
            )
        case ItemDeactivated():
            state = replace(state, active=False)
        case ItemActivated():
            state = replace(state, active=True)
    return replace(state, version=state.version + 1, updated_at=recorded_at)


@dataclass(frozen=True, slots=True)
class WarehouseState:
    """A warehouse's catalog entry. Never defined (version 0): implicitly active."""

    warehouse_id: str
    version: int = 0
    name: str = ""
    address: str = ""
    active: bool = True
    updated_at: datetime | None = None


def evolve_warehouse(state: WarehouseState, event: Event, recorded_at: datetime) -> WarehouseState:
    match event:
        case WarehouseDefined():
            state = replace(state, name=event.name, address=event.address)
        case WarehouseChanged():
            state = replace(
                state,
                name=_given(event.name, state.name),
                address=_given(event.address, state.address),
            )
        case WarehouseDeactivated():
            state = replace(state, active=False)
    return replace(state, version=state.version + 1, updated_at=recorded_at)


T = TypeVar("T")


def _given(changed: T | None, current: T) -> T:
    return current if changed is None else changed
