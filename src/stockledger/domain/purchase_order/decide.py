"""A purchase order's rules: place it (with `StockExpected` on every stock stream it names),
reschedule its lines, cancel what is still open; and what a receipt naming it does to it."""

from __future__ import annotations

from datetime import datetime

from ..decision import AlreadyRecorded, Decision, Pending, Place, States, get
from ..errors import (
    InvalidCommand,
    LedgerConflict,
    NotFound,
    PurchaseOrderClosed,
    PurchaseOrderExists,
)
from ..stock.events import Line
from ..streams import po_stream, stock_stream
from .commands import (
    CancelPurchaseOrder,
    PlacePurchaseOrder,
    PurchaseOrderCommand,
    ReschedulePurchaseOrder,
)
from .events import (
    PurchaseOrderCancelled,
    PurchaseOrderPlaced,
    PurchaseOrderRescheduled,
    StockExpected,
)
from .state import PurchaseOrderState, PurchaseOrderStatus

MAX_LINES = 500


def reads(command: PurchaseOrderCommand, states: States) -> tuple[str, ...]:
    """Placing reads the order and every stock stream it names; cancelling, once the order is
    known, the stock streams of its open lines; rescheduling only the order."""
    stream = po_stream(command.purchase_order_id)
    match command:
        case PlacePurchaseOrder(lines=lines):
            return (stream, *dict.fromkeys(stock_stream(x.sku, x.warehouse_id) for x in lines))
        case CancelPurchaseOrder():
            own = states.get(stream)
            if isinstance(own, PurchaseOrderState):
                opened = (stock_stream(x.sku, x.warehouse_id) for x in own.lines if x.open > 0)
                return (stream, *opened)
            return (stream,)
        case ReschedulePurchaseOrder():
            return (stream,)


def places(command: PurchaseOrderCommand) -> tuple[Place, ...]:
    match command:
        case PlacePurchaseOrder(lines=lines):
            return tuple((x.sku, x.warehouse_id) for x in lines)
    return ()


def decide(command: PurchaseOrderCommand, states: States, now: datetime) -> Decision:
    order = get(states, po_stream(command.purchase_order_id), PurchaseOrderState)
    match command:
        case PlacePurchaseOrder():
            return _place(command, order)
        case ReschedulePurchaseOrder():
            return _reschedule(command, order)
        case CancelPurchaseOrder():
            return _cancel(command, order)


def _place(cmd: PlacePurchaseOrder, order: PurchaseOrderState) -> Decision:
    if not 1 <= len(cmd.lines) <= MAX_LINES:
        raise InvalidCommand(f"A purchase order has 1 to {MAX_LINES} lines")
    if any(x.quantity <= 0 for x in cmd.lines):
        raise InvalidCommand("Every line's quantity must be above 0")
    places_named = [(x.sku, x.warehouse_id) for x in cmd.lines]
    if len(set(places_named)) != len(places_named):
        raise InvalidCommand("A purchase order has one line per sku and warehouse")
    stream = po_stream(cmd.purchase_order_id)
    touched = tuple(stock_stream(s, w) for s, w in places_named)
    placed = PurchaseOrderPlaced(cmd.purchase_order_id, cmd.supplier, cmd.lines)
    if order.placed is not None:
        if order.placed != placed:
            raise PurchaseOrderExists(cmd.purchase_order_id)
        return Decision(
            already=AlreadyRecorded(stream, PurchaseOrderPlaced.TYPE, {}), touched=touched
        )
    events: list[Pending] = [(stream, placed)]
    events += [
        (
            stock_stream(x.sku, x.warehouse_id),
            StockExpected(
                cmd.purchase_order_id,
                cmd.supplier,
                x.sku,
                x.warehouse_id,
                x.quantity,
                x.expected_on,
            ),
        )
        for x in cmd.lines
    ]
    return Decision(events=tuple(events), touched=touched)


def _require_known(order: PurchaseOrderState) -> None:
    if order.placed is None:
        raise NotFound(f"Purchase order {order.purchase_order_id}")


def _reschedule(cmd: ReschedulePurchaseOrder, order: PurchaseOrderState) -> Decision:
    _require_known(order)
    if not order.is_open:
        raise PurchaseOrderClosed(cmd.purchase_order_id, order.status.value)
    for x in cmd.lines:
        if order.line(x.sku, x.warehouse_id) is None:
            raise LedgerConflict(
                f"Purchase order {cmd.purchase_order_id} has no line for {x.sku}@{x.warehouse_id}"
            )
    stream = po_stream(cmd.purchase_order_id)
    event = PurchaseOrderRescheduled(cmd.purchase_order_id, cmd.lines)
    return Decision(events=((stream, event),))


def _cancel(cmd: CancelPurchaseOrder, order: PurchaseOrderState) -> Decision:
    _require_known(order)
    stream = po_stream(cmd.purchase_order_id)
    if order.status is PurchaseOrderStatus.CANCELLED:
        return Decision(already=AlreadyRecorded(stream, PurchaseOrderCancelled.TYPE, {}))
    if order.status is PurchaseOrderStatus.RECEIVED:
        raise PurchaseOrderClosed(cmd.purchase_order_id, order.status.value)
    still = tuple(Line(x.sku, x.warehouse_id, x.open) for x in order.lines if x.open > 0)
    events: list[Pending] = [(stream, PurchaseOrderCancelled(cmd.purchase_order_id, cmd.reason,
                                                             still))]  # fmt: skip
    events += [
        (
            stock_stream(x.sku, x.warehouse_id),
            PurchaseOrderCancelled(cmd.purchase_order_id, cmd.reason, (x,)),
        )
        for x in still
    ]
    touched = tuple(stock_stream(x.sku, x.warehouse_id) for x in still)
    return Decision(events=tuple(events), touched=touched)
