"""A stock stream's levels and value, and `evolve`: pure folds of the events appended to it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..costing import EMPTY, Move, StockValue, apply
from ..events import Event
from ..purchase_order.events import PurchaseOrderCancelled, StockExpected
from ..reservation.events import ReservationExpired, ReservationReleased, StockReserved
from ..streams import stock_stream
from ..transfer.events import TransferDispatched, TransferReceived
from .events import (
    LotExpired,
    StockAdjusted,
    StockInspected,
    StockReceived,
    StockReturned,
    StockShipped,
)
from .lots import LotBook, step_lots, touches_lots
from .serials import SerialBook, step_serials, touches_serials


@dataclass(frozen=True, slots=True)
class Levels:
    """Stock buckets; also used as the per-event delta of a stock stream."""

    on_hand: int = 0
    reserved: int = 0
    in_transit: int = 0
    damaged: int = 0
    incoming: int = 0  # expected from open purchase order lines, not yet here
    quality_control: int = 0  # on hand, awaiting inspection: not available
    expired: int = 0  # lot-tracked items: units of lots past their date, not sellable

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.quality_control

    def __add__(self, other: Levels) -> Levels:
        return Levels(
            self.on_hand + other.on_hand,
            self.reserved + other.reserved,
            self.in_transit + other.in_transit,
            self.damaged + other.damaged,
            self.incoming + other.incoming,
            self.quality_control + other.quality_control,
            self.expired + other.expired,
        )

    def is_valid(self) -> bool:
        """Invariant 2: 0 <= reserved, 0 <= qualityControl, reserved + qualityControl <=
        onHand; inTransit, damaged, incoming and expired >= 0."""
        held = self.reserved + self.quality_control
        return (
            min(self.reserved, self.quality_control, self.in_transit, self.damaged) >= 0
            and held <= self.on_hand
            and min(self.incoming, self.expired) >= 0
        )


NO_CHANGE = Levels()


@dataclass(frozen=True, slots=True)
class StockLevel:
    """One stock stream's levels at a version: what every read of stock answers (the ledger's
    fold, the Postgres and Redis read models, a command's outcome)."""

    sku: str
    warehouse_id: str
    levels: Levels = NO_CHANGE
    version: int = 0
    updated_at: datetime | None = None

    @property
    def stream_id(self) -> str:
        return stock_stream(self.sku, self.warehouse_id)


@dataclass(frozen=True, slots=True)
class StockState:
    sku: str
    warehouse_id: str
    version: int = 0
    levels: Levels = NO_CHANGE
    updated_at: datetime | None = None
    # Ids already applied on this stream (`return:R1`, `receipt:X`, `shipment:S`): retries of
    # those commands append nothing (invariant 4).
    processed: frozenset[str] = frozenset()
    value: StockValue = EMPTY  # what its units cost (costing.py)
    # A lot-tracked item's lots (lots.py); None for an untracked one. Σ lots = the levels.
    lots: LotBook | None = None
    # A serial-tracked item's serials (serials.py); None otherwise. Each bucket counts them.
    serials: SerialBook | None = None

    @property
    def level(self) -> StockLevel:
        return StockLevel(self.sku, self.warehouse_id, self.levels, self.version, self.updated_at)


def _own(lines: tuple[Any, ...], state: StockState) -> int:
    return sum(
        x.quantity for x in lines if (x.sku, x.warehouse_id) == (state.sku, state.warehouse_id)
    )


def delta(state: StockState, event: Event) -> Levels:
    """How one event moves this stock stream's buckets (stored per event for set-based reads)."""
    match event:
        case StockReceived(quantity=q, expected=expected, inspect=inspect):
            return Levels(on_hand=q, incoming=-(expected or 0), quality_control=q if inspect else 0)
        case StockExpected(quantity=q):
            return Levels(incoming=q)
        case PurchaseOrderCancelled(lines=lines):
            return Levels(incoming=-_own(lines, state))
        case StockInspected(accepted=accepted, rejected=rejected):
            return Levels(
                on_hand=-rejected, damaged=rejected, quality_control=-(accepted + rejected)
            )
        case StockReserved(lines=lines):
            return Levels(reserved=_own(lines, state))
        case ReservationReleased(lines=lines) | ReservationExpired(lines=lines):
            return Levels(reserved=-_own(lines, state))
        case StockShipped(lines=lines):
            own = [x for x in lines if (x.sku, x.warehouse_id) == (state.sku, state.warehouse_id)]
            return Levels(
                on_hand=-sum(x.quantity for x in own),
                reserved=-sum(x.reserved_quantity for x in own),
            )
        case StockReturned(quantity=q, condition="resellable"):
            return Levels(on_hand=q)
        case StockReturned(quantity=q, condition="damaged"):
            return Levels(damaged=q)
        case TransferDispatched(quantity=q, from_warehouse_id=src, to_warehouse_id=dst):
            if state.warehouse_id == src:
                return Levels(on_hand=-q)
            return Levels(in_transit=q) if state.warehouse_id == dst else NO_CHANGE
        case TransferReceived(quantity=q, received_quantity=received):
            return Levels(on_hand=received, in_transit=-q)
        case StockAdjusted(lot_id=str(), reason="expiry", quantity_change=change) if change < 0:
            return Levels(expired=change)  # a lot's expired units written off
        case StockAdjusted(quantity_change=change):
            return Levels(on_hand=change)
        case LotExpired(quantity=q):
            return Levels(on_hand=-q, expired=q)
        case _:
            return NO_CHANGE


def _processed_key(event: Event) -> str | None:
    match event:
        case StockReceived(receipt_id=str(receipt_id)):
            return f"receipt:{receipt_id}"
        case StockReturned(return_id=return_id):
            return f"return:{return_id}"
        case StockInspected(inspection_id=inspection_id):
            return f"inspection:{inspection_id}"
        case StockShipped(shipment_id=shipment_id, reservation_id=None):
            return f"shipment:{shipment_id}"
        case _:
            return None


def evolve_stock(state: StockState, event: Event, recorded_at: datetime) -> StockState:
    return fold_stock(state, ((event, recorded_at),))


def step_stock(state: StockState, event: Event, recorded_at: datetime) -> tuple[StockState, Move]:
    """One event applied, and how it moved the stream's value (what the store keeps beside
    the quantity delta)."""
    value, move = apply(state.value, state.sku, state.warehouse_id, event, recorded_at)
    return replace(_fold(state, ((event, recorded_at),), valued=False), value=value), move


def fold_stock(state: StockState, events: Iterable[tuple[Event, datetime]]) -> StockState:
    """This stream's next events, in version order, applied at once: one new state at the end
    rather than one per event (a snapshot's tail of up to 99 events, for instance)."""
    return _fold(state, events, valued=True)


def _fold(
    state: StockState, events: Iterable[tuple[Event, datetime]], *, valued: bool
) -> StockState:
    levels, version, updated_at, value = state.levels, state.version, state.updated_at, state.value
    lots, serials = state.lots, state.serials
    keys: list[str] = []
    for event, recorded_at in events:
        levels = levels + delta(state, event)  # delta reads only the stream's sku/warehouse
        if valued:
            value = apply(value, state.sku, state.warehouse_id, event, recorded_at)[0]
        if (lots is not None and lots.holds) or touches_lots(event):
            lots = step_lots(lots or LotBook(), state.sku, state.warehouse_id, event, recorded_at)
        if touches_serials(event):
            serials = step_serials(serials or SerialBook(), state.warehouse_id, event)
        if key := _processed_key(event):
            keys.append(key)
        version, updated_at = version + 1, recorded_at
    if version == state.version:
        return state
    return replace(
        state,
        version=version,
        levels=levels,
        updated_at=updated_at,
        processed=state.processed.union(keys) if keys else state.processed,
        value=value,
        lots=lots,
        serials=serials,
    )
