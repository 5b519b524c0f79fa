"""Per-stream state and `evolve`: pure folds of events. One state type per stream category."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from .catalog.state import ItemState, WarehouseState, evolve_item, evolve_warehouse
from .events import (
    Event,
    ReservationConfirmed,
    ReservationExpired,
    ReservationReleased,
    StockReserved,
)
from .reorder.state import ReorderState, evolve_reorder
from .stock.events import Line, StockShipped
from .stock.state import StockState, evolve_stock, fold_stock
from .transfer.state import TransferState, evolve_transfer


class ReservationStatus(StrEnum):
    NONE = "none"
    ACTIVE = "active"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"
    SHIPPED = "shipped"


@dataclass(frozen=True, slots=True)
class ReservationState:
    reservation_id: str
    version: int = 0
    status: ReservationStatus = ReservationStatus.NONE
    order_id: str = ""
    lines: tuple[Line, ...] = ()
    expires_at: datetime | None = None
    shipment_id: str | None = None
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in (ReservationStatus.ACTIVE, ReservationStatus.CONFIRMED)

    @property
    def deadline(self) -> datetime | None:
        """When it expires unless confirmed, released or shipped first (only an active one)."""
        return self.expires_at if self.status is ReservationStatus.ACTIVE else None


def _reservation_change(event: Event, state: ReservationState) -> ReservationState:
    match event:
        case StockReserved():
            return replace(
                state,
                status=ReservationStatus.ACTIVE,
                order_id=event.order_id,
                lines=event.lines,
                expires_at=event.expires_at,
            )
        case ReservationConfirmed():
            return replace(state, status=ReservationStatus.CONFIRMED)
        case ReservationReleased():
            return replace(state, status=ReservationStatus.RELEASED)
        case ReservationExpired():
            return replace(state, status=ReservationStatus.EXPIRED)
        case StockShipped():
            return replace(state, status=ReservationStatus.SHIPPED, shipment_id=event.shipment_id)
        case _:
            return state


def evolve_reservation(
    state: ReservationState, event: Event, recorded_at: datetime
) -> ReservationState:
    changed = _reservation_change(event, state)
    return replace(changed, version=state.version + 1, updated_at=recorded_at)


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
