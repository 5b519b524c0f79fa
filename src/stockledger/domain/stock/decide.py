"""A stock stream's rules: receipts, shipments without a reservation, returns, adjustments and
counts; and the checks every decision that moves stock meets (availability, capacity)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..catalog.decide import require_active, require_open_warehouse
from ..catalog.state import ItemState
from ..decision import AlreadyRecorded, Decision, Pending, Place, States, get, line_streams
from ..errors import (
    InsufficientQualityControl,
    InsufficientStock,
    InvalidCommand,
    LedgerConflict,
    ShortLine,
    UnitCostRequired,
    VersionMismatch,
)
from ..kit.decide import require_not_kit
from ..purchase_order.events import PurchaseOrderReceived
from ..purchase_order.state import PurchaseOrderState
from ..streams import item_stream, kit_stream, po_stream, stock_stream, warehouse_stream
from .commands import (
    AdjustStock,
    CountStock,
    InspectStock,
    ReceiveStock,
    ReturnStock,
    ShipStock,
    StockCommand,
    merge_lines,
)
from .events import (
    Line,
    ShippedLine,
    StockAdjusted,
    StockCounted,
    StockInspected,
    StockReceived,
    StockReturned,
    StockShipped,
)
from .state import StockState, delta

MAX_LEVEL = 2**31 - 1  # any bucket of a stock stream: fits the 32-bit columns of every read model


def reads(command: StockCommand, states: States) -> tuple[str, ...]:
    """The streams a stock command reads: its stock streams, the item and warehouse whose
    status a receipt or a return into the warehouse depends on, and whether the SKU is a kit
    (which holds no stock) for every command that could put units on it."""
    match command:
        case ReceiveStock(sku=s, warehouse_id=w, purchase_order_id=po):
            # inactive items and warehouses take none, nor does a kit; the order's open line
            # takes it off
            return (
                stock_stream(s, w),
                item_stream(s),
                warehouse_stream(w),
                kit_stream(s),
                po_stream(po),
            )
        case ReturnStock(sku=s, warehouse_id=w):
            return (stock_stream(s, w), warehouse_stream(w), kit_stream(s))
        case AdjustStock(sku=s, warehouse_id=w) | CountStock(sku=s, warehouse_id=w):
            return (stock_stream(s, w), kit_stream(s))
        case InspectStock(sku=s, warehouse_id=w):
            return (stock_stream(s, w),)
        case ShipStock(lines=lines):
            return tuple(stock_stream(x.sku, x.warehouse_id) for x in lines or ())


def places(command: StockCommand) -> tuple[Place, ...]:
    """The (SKU, warehouse) pairs the command names itself."""
    match command:
        case ReceiveStock(sku=s, warehouse_id=w) | ReturnStock(sku=s, warehouse_id=w):
            return ((s, w),)
        case AdjustStock(sku=s, warehouse_id=w) | CountStock(sku=s, warehouse_id=w):
            return ((s, w),)
        case InspectStock(sku=s, warehouse_id=w):
            return ((s, w),)
        case ShipStock(lines=lines):
            return tuple((x.sku, x.warehouse_id) for x in lines or ())


def decide(command: StockCommand, states: States, now: datetime) -> Decision:
    match command:
        case ReceiveStock():
            return _receive(command, states)
        case ShipStock():
            return _ship_direct(command, states)
        case ReturnStock():
            return _return(command, states)
        case AdjustStock():
            require_not_kit(states, command.sku, "adjustments")
            return _adjust(command, stock_of(states, command.sku, command.warehouse_id))
        case CountStock():
            require_not_kit(states, command.sku, "counts")
            return _count(command, stock_of(states, command.sku, command.warehouse_id))
        case InspectStock():
            return _inspect(command, stock_of(states, command.sku, command.warehouse_id))


def _receive(cmd: ReceiveStock, states: States) -> Decision:
    stream = stock_stream(cmd.sku, cmd.warehouse_id)
    stock = get(states, stream, StockState)
    if cmd.receipt_id and f"receipt:{cmd.receipt_id}" in stock.processed:
        return Decision(
            already=AlreadyRecorded(stream, StockReceived.TYPE, {"receipt_id": cmd.receipt_id}),
            touched=(stream,),
        )
    require_not_kit(states, cmd.sku, "receipts")
    require_active(states, cmd.sku, "receipts")
    require_open_warehouse(states, cmd.warehouse_id, "receipts")
    method = get(states, item_stream(cmd.sku), ItemState).valuation_method
    order = states.get(po_stream(cmd.purchase_order_id))
    line = order.line(cmd.sku, cmd.warehouse_id) if isinstance(order, PurchaseOrderState) else None
    unit_cost = cmd.unit_cost
    if unit_cost is None:
        if line is None:  # the ledger decides it (the order may have the line): 409
            raise UnitCostRequired(cmd.purchase_order_id, cmd.sku, cmd.warehouse_id)
        unit_cost = line.unit_cost
    # Against an order's line that is not cancelled: what is still open comes off the line and
    # off `incoming` (never below 0); the rest arrived beyond the line.
    expected = over = None
    if line is not None and isinstance(order, PurchaseOrderState) and not order.cancelled:
        expected = min(cmd.quantity, line.open)
        over = cmd.quantity - expected
    event = StockReceived(
        sku=cmd.sku,
        warehouse_id=cmd.warehouse_id,
        quantity=cmd.quantity,
        purchase_order_id=cmd.purchase_order_id,
        unit_cost=unit_cost,
        supplier=cmd.supplier,
        receipt_id=cmd.receipt_id,
        valuation_method=method,
        expected=expected,
        over_received=over,
        inspect=True if cmd.inspect else None,
    )
    events: list[Pending] = [(stream, event)]
    if expected is not None and over is not None:
        taken = PurchaseOrderReceived(
            cmd.purchase_order_id, cmd.sku, cmd.warehouse_id, expected, over, cmd.receipt_id
        )
        events.append((po_stream(cmd.purchase_order_id), taken))
    return Decision(events=tuple(events), touched=(stream,))


def _inspect(cmd: InspectStock, stock: StockState) -> Decision:
    stream = stock_stream(stock.sku, stock.warehouse_id)
    if f"inspection:{cmd.inspection_id}" in stock.processed:
        return Decision(
            already=AlreadyRecorded(
                stream, StockInspected.TYPE, {"inspection_id": cmd.inspection_id}
            ),
            touched=(stream,),
        )
    if cmd.accepted < 0 or cmd.rejected < 0 or cmd.accepted + cmd.rejected == 0:
        raise InvalidCommand("accepted and rejected are at least 0, and not both 0")
    released = cmd.accepted + cmd.rejected
    if released > stock.levels.quality_control:
        raise InsufficientQualityControl(
            stock.sku, stock.warehouse_id, released, stock.levels.quality_control
        )
    event = StockInspected(
        cmd.inspection_id, stock.sku, stock.warehouse_id, cmd.accepted, cmd.rejected, cmd.lot_id
    )
    return Decision(events=((stream, event),), touched=(stream,))


def _ship_direct(cmd: ShipStock, states: States) -> Decision:
    if not cmd.lines:
        raise InvalidCommand("A shipment without reservationId needs lines")
    lines = merge_lines(cmd.lines)
    first = stock_of(states, lines[0].sku, lines[0].warehouse_id)
    touched = line_streams(lines)
    if f"shipment:{cmd.shipment_id}" in first.processed:
        return Decision(
            already=AlreadyRecorded(
                touched[0], StockShipped.TYPE, {"shipment_id": cmd.shipment_id}
            ),
            touched=touched,
        )
    check_available(states, lines)
    events = tuple(
        (
            stock_stream(x.sku, x.warehouse_id),
            StockShipped(
                cmd.shipment_id,
                cmd.order_id,
                (
                    ShippedLine(
                        sku=x.sku,
                        warehouse_id=x.warehouse_id,
                        quantity=x.quantity,
                        reserved_quantity=0,
                    ),
                ),
            ),
        )
        for x in lines
    )
    return Decision(events=events, touched=touched)


def _return(cmd: ReturnStock, states: States) -> Decision:
    stream = stock_stream(cmd.sku, cmd.warehouse_id)
    if f"return:{cmd.return_id}" in get(states, stream, StockState).processed:
        return Decision(
            already=AlreadyRecorded(stream, StockReturned.TYPE, {"return_id": cmd.return_id}),
            touched=(stream,),
        )
    require_not_kit(states, cmd.sku, "returns")
    if cmd.condition != "dispose":  # disposed goods never enter the warehouse
        require_open_warehouse(states, cmd.warehouse_id, "returns")
    event = StockReturned(
        cmd.return_id,
        cmd.order_id,
        cmd.sku,
        cmd.warehouse_id,
        cmd.quantity,
        cmd.reason,
        cmd.condition,
    )
    return Decision(events=((stream, event),), touched=(stream,))


def _check_version(stock: StockState, expected: int | None) -> None:
    if expected is not None and expected != stock.version:
        raise VersionMismatch(stock_stream(stock.sku, stock.warehouse_id), expected, stock.version)


def _adjust(cmd: AdjustStock, stock: StockState) -> Decision:
    _check_version(stock, cmd.expected_version)
    if cmd.quantity_change == 0:
        raise InvalidCommand("quantityChange must not be 0")
    before = stock.levels.on_hand
    after = before + cmd.quantity_change
    held = stock.levels.reserved + stock.levels.quality_control
    if after < held:  # also covers after < 0, since both are >= 0
        raise InsufficientStock(
            [
                ShortLine(
                    stock.sku, stock.warehouse_id, -cmd.quantity_change, stock.levels.available
                )
            ],
            f"onHand would become {after}, below the {held} reserved or in quality control",
        )
    stream = stock_stream(stock.sku, stock.warehouse_id)
    event = StockAdjusted(
        stock.sku,
        stock.warehouse_id,
        cmd.quantity_change,
        cmd.reason,
        before,
        after,
        cmd.notes,
        unit_cost=cmd.unit_cost if cmd.quantity_change > 0 else None,
    )
    return Decision(events=((stream, event),), touched=(stream,))


def _count(cmd: CountStock, stock: StockState) -> Decision:
    _check_version(stock, cmd.expected_version)
    before = stock.levels.on_hand
    counted = cmd.counted_quantity
    held = stock.levels.reserved + stock.levels.quality_control
    if counted < held:
        raise InsufficientStock(
            [ShortLine(stock.sku, stock.warehouse_id, before - counted, stock.levels.available)],
            f"Counted {counted} is below the {held} reserved or in quality control; release or "
            "ship reservations (or inspect) first",
        )
    stream = stock_stream(stock.sku, stock.warehouse_id)
    events: list[Pending] = [
        (stream, StockCounted(stock.sku, stock.warehouse_id, counted, before, cmd.notes))
    ]
    if counted != before:
        events.append(
            (
                stream,
                StockAdjusted(
                    stock.sku,
                    stock.warehouse_id,
                    counted - before,
                    "physical_count",
                    before,
                    counted,
                    cmd.notes,
                ),
            )
        )
    return Decision(events=tuple(events), touched=(stream,))


# -- what every decision that moves stock meets --------------------------------------------------


def stock_of(states: States, sku: str, warehouse_id: str) -> StockState:
    return get(states, stock_stream(sku, warehouse_id), StockState)


def check_available(states: States, lines: tuple[Line, ...]) -> None:
    short = [
        ShortLine(x.sku, x.warehouse_id, x.quantity, s.levels.available)
        for x in lines
        if x.quantity > (s := stock_of(states, x.sku, x.warehouse_id)).levels.available
    ]
    if short:
        raise InsufficientStock(short)


def check_capacity(decision: Decision, states: States) -> None:
    """No bucket of a stock stream may grow past MAX_LEVEL: refused, never an overflow later."""
    after: dict[str, StockState] = {}
    for stream_id, event in decision.events:
        state = after.get(stream_id) or states.get(stream_id)
        if not isinstance(state, StockState):
            continue
        levels = state.levels + delta(state, event)
        buckets = (levels.on_hand, levels.reserved, levels.in_transit, levels.damaged)
        if max(*buckets, levels.incoming, levels.quality_control) > MAX_LEVEL:
            raise LedgerConflict(
                f"{state.sku}@{state.warehouse_id} would hold more than {MAX_LEVEL} units"
            )
        after[stream_id] = replace(state, levels=levels)
