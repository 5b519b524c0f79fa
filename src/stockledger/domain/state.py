"""Per-stream state and `evolve`: pure folds of events. One state type per stream category."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .catalog.state import ItemState, WarehouseState, evolve_item, evolve_warehouse
from .events import Event
from .reorder.state import ReorderState, evolve_reorder
from .reservation.state import ReservationState, evolve_reservation
from .stock.state import StockState, evolve_stock, fold_stock
from .transfer.state import TransferState, evolve_transfer

State = StockState | ReservationState | TransferState | ItemState | WarehouseState | ReorderState


def evolve(state: State, event: Event, recorded_at: datetime) -> State:
    """Fold one event into the state of the stream it was appended to."""
    match state:
        case StockState():
            return evolve_stock(state, event, recorded_at)
        case ReservationState():
            return evolve_reservation(state, event, recorded_at)
        case TransferState():
            return evolve_transfer(state, event, recorded_at)
        case ItemState():
            return evolve_item(state, event, recorded_at)
        case WarehouseState():
            return evolve_warehouse(state, event, recorded_at)
        case ReorderState():
            return evolve_reorder(state, event, recorded_at)


def fold_events(state: State, events: Iterable[tuple[Event, datetime]]) -> State:
    """Fold a stream's events (with their recordedAt), in version order, into its state."""
    if isinstance(state, StockState):
        return fold_stock(state, events)
    for event, recorded_at in events:
        state = evolve(state, event, recorded_at)
    return state


def initial_state(stream_id: str) -> State:
    """The state of a stream before its first event."""
    kind, _, rest = stream_id.partition(":")
    if kind == "stock":
        sku, warehouse_id = rest.split(":")
        return StockState(sku=sku, warehouse_id=warehouse_id)
    if kind == "reservation":
        return ReservationState(reservation_id=rest)
    if kind == "transfer":
        return TransferState(transfer_id=rest)
    if kind == "item":
        return ItemState(sku=rest)
    if kind == "warehouse":
        return WarehouseState(warehouse_id=rest)
    if kind == "reorder":
        sku, warehouse_id = rest.split(":")
        return ReorderState(sku=sku, warehouse_id=warehouse_id)
    raise ValueError(f"unknown stream category in {stream_id!r}")
