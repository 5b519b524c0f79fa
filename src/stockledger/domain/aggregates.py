"""Every aggregate, listed once: the dispatcher of commands and of events.

A command goes to the aggregate whose rules take it (`rules`): its `reads` name the streams it
reads, its `decide` decides it against their states. Every decision then meets what holds
across aggregates, in this order: the catalog, when required, knows every place the command
names; each event that moves stock records what it cost; no stock bucket overflows; and each
stock stream whose level changed raises or closes its low-stock alert. An event folds into the
state of the stream it was appended to (`evolve`), which `initial_state` starts by the stream's
category.

A new aggregate is a package beside the others (events, state, commands, decide) and a line in
each list below, plus its event types in `events.EVENT_TYPES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from .catalog import decide as catalog
from .catalog.commands import (
    ActivateItem,
    CatalogCommand,
    DeactivateItem,
    DeactivateWarehouse,
    DefineItem,
    DefineWarehouse,
)
from .catalog.state import ItemState, WarehouseState, evolve_item, evolve_warehouse
from .decision import Decision, Place, States
from .events import Event
from .kit import decide as kit
from .kit.commands import DefineKit, KitCommand
from .kit.state import KitState, evolve_kit
from .purchase_order import decide as purchase_order
from .purchase_order.commands import (
    CancelPurchaseOrder,
    PlacePurchaseOrder,
    PurchaseOrderCommand,
    ReschedulePurchaseOrder,
)
from .purchase_order.state import PurchaseOrderState, evolve_purchase_order
from .reorder import decide as reorder
from .reorder.commands import RemoveReorderRule, ReorderCommand, SetReorderRule
from .reorder.state import ReorderState, evolve_reorder
from .reservation import decide as reservation
from .reservation.commands import (
    ConfirmReservation,
    ExpireReservation,
    ReleaseReservation,
    ReservationCommand,
    ReserveStock,
)
from .reservation.state import ReservationState, evolve_reservation
from .stock import decide as stock
from .stock.commands import (
    AdjustStock,
    CountStock,
    ExpireLot,
    InspectStock,
    ReceiveStock,
    ReturnStock,
    ShipStock,
    StockCommand,
)
from .stock.costs import with_costs
from .stock.state import StockState, evolve_stock, fold_stock
from .transfer import decide as transfer
from .transfer.commands import DispatchTransfer, ReceiveTransfer, TransferCommand
from .transfer.state import TransferState, evolve_transfer

Command = (
    StockCommand
    | ReservationCommand
    | TransferCommand
    | CatalogCommand
    | ReorderCommand
    | KitCommand
    | PurchaseOrderCommand
)
State = (
    StockState
    | ReservationState
    | TransferState
    | ItemState
    | WarehouseState
    | ReorderState
    | KitState
    | PurchaseOrderState
)

# stream category -> the state of its streams
STATE_TYPES: dict[str, type[State]] = {
    "stock": StockState,
    "reservation": ReservationState,
    "transfer": TransferState,
    "item": ItemState,
    "warehouse": WarehouseState,
    "reorder": ReorderState,
    "kit": KitState,
    "po": PurchaseOrderState,
}


class Rules(Protocol):
    """What each aggregate's `decide` module offers: for one of its own commands, the streams
    it reads (more once a state it reads is known), the (SKU, warehouse) places it names
    itself, and the decision."""

    def reads(self, command: Any, states: States) -> tuple[str, ...]: ...

    def places(self, command: Any) -> tuple[Place, ...]: ...

    def decide(self, command: Any, states: States, now: datetime) -> Decision: ...


def rules(command: Command) -> Rules:
    """The aggregate whose rules take `command`."""
    match command:
        case (
            ReserveStock()
            | ConfirmReservation()
            | ReleaseReservation()
            | ExpireReservation()
            | ShipStock(reservation_id=str())
        ):
            return reservation
        case (
            ReceiveStock()
            | ShipStock()
            | ReturnStock()
            | AdjustStock()
            | CountStock()
            | InspectStock()
        ):
            return stock
        case ExpireLot():
            return stock
        case DispatchTransfer() | ReceiveTransfer():
            return transfer
        case (
            DefineItem()
            | DeactivateItem()
            | ActivateItem()
            | DefineWarehouse()
            | DeactivateWarehouse()
        ):
            return catalog
        case SetReorderRule() | RemoveReorderRule():
            return reorder
        case DefineKit():
            return kit
        case PlacePurchaseOrder() | ReschedulePurchaseOrder() | CancelPurchaseOrder():
            return purchase_order


def primary_streams(command: Command) -> tuple[str, ...]:
    """The streams a command reads before anything else is known (its own ids)."""
    return rules(command).reads(command, {})


def required_streams(
    command: Command, states: Mapping[str, State], *, catalog_required: bool = False
) -> tuple[str, ...]:
    """Every stream the command reads; grows once the reservation/transfer it names is known.
    With `catalog_required`, also the item and warehouse of every place it names. Then the
    reorder rule of every stock stream among them (a change of its level may cross it)."""
    aggregate = rules(command)
    streams = aggregate.reads(command, states)
    if catalog_required:
        streams = (*streams, *catalog.place_streams(aggregate.places(command)))
    return tuple(dict.fromkeys((*streams, *reorder.rule_streams(streams))))


def decide(
    command: Command,
    states: Mapping[str, State],
    now: datetime,
    *,
    catalog_required: bool = False,
) -> Decision:
    """`command` decided against `states` (every stream `required_streams` names; a stream
    without events as its `initial_state`) at `now`. Pure: raises the DomainError of a refusal."""
    aggregate = rules(command)
    if catalog_required:
        catalog.require_defined(aggregate.places(command), states)
    decision = with_costs(aggregate.decide(command, states, now), states, now)
    stock.check_capacity(decision, states)
    return reorder.with_alerts(decision, states, now)


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
        case KitState():
            return evolve_kit(state, event, recorded_at)
        case PurchaseOrderState():
            return evolve_purchase_order(state, event, recorded_at)


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
    if kind == "kit":
        return KitState(sku=rest)
    if kind == "po":
        return PurchaseOrderState(purchase_order_id=rest)
    raise ValueError(f"unknown stream category in {stream_id!r}")
