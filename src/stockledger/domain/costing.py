"""What each event does to a stock stream's value: the valuation rules, pure.

`apply(value, sku, warehouse_id, event, at)` is the one place they are written. The write path
runs it in `decide` to record the cost on the event (v2); the fold runs it on every event, v1 or
v2, so a stream's value is a function of its events alone, and a v1 event's missing cost is
derived by the very rule that would have recorded it. `Move` is how one event moved the value:
the write path stores it beside the event's quantity delta (table `stock_values`), which is what
the set-based valuation and COGS queries sum.

- A receipt adds a layer at its unitCost (moving average: into the average).
- A shipment, a negative adjustment, a transfer out take cost out, oldest layers first.
- A transfer carries its layers to the destination: in transit, then on hand at arrival (the
  oldest units arrive; a shortfall takes the rest, lost at cost).
- A resellable return comes back at the cost at which that order's units left this stream (the
  stream remembers its last RECENT_ORDERS shipped orders), else at the current average cost;
  a damaged one keeps that cost apart, in `damaged`; a disposed one leaves at that cost.
- Units rejected at inspection leave on hand at cost (oldest layers first) and keep that cost
  apart, in `damaged`, as a damaged return does.
- A positive adjustment (or count gain) enters at its `unitCost` if given, else at the current
  average cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from .events import Event
from .stock.events import (
    StockAdjusted,
    StockInspected,
    StockReceived,
    StockReturned,
    StockShipped,
)
from .transfer.events import TransferDispatched, TransferReceived
from .valuation import ZERO, Layer, Method, Valuation, put_back, receive, rounded, take

RECENT_ORDERS = 32  # shipped orders a stream remembers the cost of (for their returns)


@dataclass(frozen=True, slots=True)
class InTransit:
    """One transfer's units on their way to this stream, with the layers they carry."""

    transfer_id: str
    layers: tuple[Layer, ...]

    @property
    def value(self) -> Decimal:
        return sum((x.value for x in self.layers), ZERO)


@dataclass(frozen=True, slots=True)
class Shipped:
    """What an order's units cost when they left this stream."""

    order_id: str
    quantity: int
    cost: Decimal


@dataclass(frozen=True, slots=True)
class StockValue:
    """A stock stream's value: on hand (layers or an average), in transit, damaged."""

    on_hand: Valuation = field(default_factory=Valuation)
    in_transit: tuple[InTransit, ...] = ()
    damaged: Decimal = ZERO
    shipped: tuple[Shipped, ...] = ()  # the last RECENT_ORDERS orders, newest last

    @property
    def in_transit_value(self) -> Decimal:
        return sum((x.value for x in self.in_transit), ZERO)


EMPTY = StockValue()


@dataclass(frozen=True, slots=True)
class Move:
    """How one event moved a stream's value. `cost` is the figure its event records (None:
    the event moves no value); `layers`, what a transfer out carries."""

    value: Decimal = ZERO
    in_transit: Decimal = ZERO
    damaged: Decimal = ZERO
    cost: Decimal | None = None
    layers: tuple[Layer, ...] | None = None
    lost: Decimal | None = None  # a transfer's shortfall, at cost
    cogs: Decimal = ZERO  # cost of goods shipped
    shipped: int = 0  # the units shipped at that cost
    loss: Decimal = ZERO
    loss_reason: str | None = None

    @property
    def moves_value(self) -> bool:
        return bool(self.value or self.in_transit or self.damaged or self.cogs or self.loss)


NO_MOVE = Move()


def convert(valuation: Valuation, method: Method) -> Valuation:
    """The same units and value under another method (a stream's first units arrived before
    its item said how to value them)."""
    if valuation.method == method:
        return valuation
    quantity, value = valuation.quantity, valuation.value
    if method == "moving_average":
        return Valuation(method, average_quantity=quantity, average_value=value)
    layers = (Layer(quantity, rounded(value / quantity), None, value),) if quantity else ()
    return Valuation(method, layers=layers)


def _take(valuation: Valuation, quantity: int) -> tuple[Valuation, Decimal, tuple[Layer, ...]]:
    """`take`, never failing in a fold: units beyond the valued ones leave at no cost (verify
    reports a stream whose valued units differ from its onHand)."""
    quantity = min(quantity, valuation.quantity)
    return take(valuation, quantity) if quantity > 0 else (valuation, ZERO, ())


def _at_average(valuation: Valuation, quantity: int) -> Decimal:
    return rounded(valuation.unit_cost * quantity)


def _own_quantity(event: StockShipped, sku: str, warehouse_id: str) -> int:
    return sum(x.quantity for x in event.lines if (x.sku, x.warehouse_id) == (sku, warehouse_id))


def _returned_cost(value: StockValue, order_id: str, quantity: int) -> Decimal:
    for shipped in reversed(value.shipped):
        if shipped.order_id == order_id and shipped.quantity:
            if quantity == shipped.quantity:
                return shipped.cost
            return rounded(shipped.cost * quantity / shipped.quantity)
    return _at_average(value.on_hand, quantity)


def _remember(value: StockValue, order_id: str, quantity: int, cost: Decimal) -> StockValue:
    kept = [x for x in value.shipped if x.order_id != order_id]
    before = next((x for x in value.shipped if x.order_id == order_id), None)
    if before is not None:
        quantity, cost = quantity + before.quantity, cost + before.cost
    kept.append(Shipped(order_id, quantity, cost))
    return replace(value, shipped=tuple(kept[-RECENT_ORDERS:]))


def _split(layers: tuple[Layer, ...], quantity: int) -> tuple[tuple[Layer, ...], Decimal]:
    """The first `quantity` units of `layers` (the ones that arrive) and the value of the rest."""
    carried = Valuation("fifo", layers=layers)
    if quantity >= carried.quantity:
        return layers, ZERO
    rest, _, first = _take(carried, quantity)
    return first, rest.value


def apply(
    value: StockValue, sku: str, warehouse_id: str, event: Event, at: datetime
) -> tuple[StockValue, Move]:
    """The stream's value after `event` (recorded at `at`) and how the event moved it."""
    on_hand = value.on_hand
    match event:
        case StockReceived(quantity=q, unit_cost=unit_cost, valuation_method=method):
            if method is not None:
                on_hand = convert(on_hand, method)
            return replace(value, on_hand=receive(on_hand, q, unit_cost, at)), Move(
                value=unit_cost * q, cost=unit_cost * q
            )
        case StockShipped(order_id=order_id):
            quantity = _own_quantity(event, sku, warehouse_id)
            on_hand, cost, _ = _take(on_hand, quantity)
            left = replace(value, on_hand=on_hand)
            if quantity:
                left = _remember(left, order_id, quantity, cost)
            return left, Move(value=-cost, cost=cost, cogs=cost, shipped=quantity)
        case StockReturned(order_id=order_id, quantity=q, condition=condition):
            cost = _returned_cost(value, order_id, q)
            if condition == "resellable":
                layer = Layer(
                    q, rounded(cost / q), at, None if cost == rounded(cost / q) * q else cost
                )
                return replace(value, on_hand=put_back(on_hand, (layer,))), Move(
                    value=cost, cost=cost
                )
            if condition == "damaged":
                return replace(value, damaged=value.damaged + cost), Move(damaged=cost, cost=cost)
            return value, Move(cost=cost, loss=cost, loss_reason="disposed")
        case TransferDispatched(quantity=q) if warehouse_id == event.from_warehouse_id:
            on_hand, cost, layers = _take(on_hand, q)
            return replace(value, on_hand=on_hand), Move(value=-cost, cost=cost, layers=layers)
        case TransferDispatched(quantity=q) if warehouse_id == event.to_warehouse_id:
            carried = event.layers
            if carried is None:  # unresolved v1 dispatch: the destination's own average
                cost = _at_average(on_hand, q)
                carried = (Layer(q, rounded(cost / q), None, cost),) if q else ()
            lot = InTransit(event.transfer_id, carried)
            moved = replace(value, in_transit=(*value.in_transit, lot))
            return moved, Move(in_transit=lot.value, cost=lot.value)
        case TransferReceived(transfer_id=transfer_id, received_quantity=received):
            lots = [x.layers for x in value.in_transit if x.transfer_id == transfer_id]
            arrived, lost = _split(lots[0] if lots else (), received)
            arrived_value = sum((x.value for x in arrived), ZERO)
            left = replace(
                value,
                on_hand=put_back(on_hand, arrived),
                in_transit=tuple(x for x in value.in_transit if x.transfer_id != transfer_id),
            )
            return left, Move(
                value=arrived_value,
                in_transit=-(arrived_value + lost),
                cost=arrived_value,
                lost=lost,
                loss=lost,
                loss_reason="lost_in_transit" if lost else None,
            )
        case StockInspected(rejected=rejected) if rejected > 0:
            on_hand, cost, _ = _take(on_hand, rejected)
            return replace(value, on_hand=on_hand, damaged=value.damaged + cost), Move(
                value=-cost, damaged=cost, cost=cost
            )
        case StockAdjusted(quantity_change=change, reason=reason) if change < 0:
            on_hand, cost, _ = _take(on_hand, -change)
            return replace(value, on_hand=on_hand), Move(
                value=-cost, cost=cost, loss=cost, loss_reason=reason
            )
        case StockAdjusted(quantity_change=change, unit_cost=unit_cost):
            unit = _gain_unit_cost(on_hand, unit_cost)
            return replace(value, on_hand=receive(on_hand, change, unit, at)), Move(
                value=unit * change, cost=unit * change
            )
    return value, NO_MOVE


def _gain_unit_cost(on_hand: Valuation, given: Decimal | None) -> Decimal:
    return given if given is not None else on_hand.unit_cost


def recorded(event: Event, move: Move, sku: str, warehouse_id: str) -> Event:
    """`event` with the figures `move` says it took, as a v2 event records them."""
    match event:
        case StockShipped():
            lines = tuple(
                replace(x, cost=move.cost) if (x.sku, x.warehouse_id) == (sku, warehouse_id) else x
                for x in event.lines
            )
            return replace(event, lines=lines)
        case TransferDispatched() if warehouse_id == event.from_warehouse_id:
            return replace(event, cost=move.cost, layers=move.layers)
        case TransferReceived():
            return replace(event, cost=move.cost, lost_cost=move.lost)
        case StockReturned() | StockAdjusted():
            return replace(event, cost=move.cost)
        case StockInspected() if move.cost is not None:
            return replace(event, cost=move.cost)
    return event


def recorded_figures(event: Event, sku: str, warehouse_id: str) -> dict[str, Any]:
    """The cost figures a v2 event recorded for this stream (empty for a v1 event): what
    verify compares with what the rules give."""
    match event:
        case StockShipped():
            costs = [x.cost for x in event.lines if (x.sku, x.warehouse_id) == (sku, warehouse_id)]
            return {"cost": costs[0]} if costs and costs[0] is not None else {}
        case TransferDispatched() if warehouse_id == event.from_warehouse_id:
            return {} if event.cost is None else {"cost": event.cost}
        case TransferReceived():
            return {} if event.cost is None else {"cost": event.cost, "lost": event.lost_cost}
        case StockReturned() | StockAdjusted() | StockInspected():
            return {} if event.cost is None else {"cost": event.cost}
    return {}


def method_at(changes: Sequence[tuple[datetime, str | None]], at: datetime) -> Method:
    """The valuation method an SKU's item had at `at`, from its (recordedAt, valuationMethod)
    definitions in order (FIFO for an SKU not defined by then): what a v1 receipt, which did
    not record it, valued by."""
    known = [method for when, method in changes if when <= at and method]
    return "moving_average" if known and known[-1] == "moving_average" else "fifo"
