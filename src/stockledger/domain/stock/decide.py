"""A stock stream's rules: receipts, shipments without a reservation, returns, adjustments and
counts; and the checks every decision that moves stock meets (availability, capacity)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime

from ..catalog.decide import require_active, require_open_warehouse
from ..catalog.state import ItemState
from ..decision import AlreadyRecorded, Decision, Pending, Place, States, get, line_streams
from ..errors import (
    InsufficientQualityControl,
    InsufficientStock,
    InvalidCommand,
    LedgerConflict,
    LotExpiryMismatch,
    LotRequired,
    NotShippedOnOrder,
    SerialInStock,
    SerialNotInStock,
    SerialsRequired,
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
    ExpireLot,
    InspectStock,
    ReceiveStock,
    ReturnStock,
    ShipStock,
    StockCommand,
    line_serials,
    merge_lines,
)
from .events import (
    Line,
    LotExpired,
    LotQuantity,
    ShippedLine,
    StockAdjusted,
    StockCounted,
    StockInspected,
    StockReceived,
    StockReturned,
    StockShipped,
)
from .lots import Lot, allocatable, allocate
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
        case ReturnStock(sku=s, warehouse_id=w):  # and whether the item is tracked
            return (stock_stream(s, w), warehouse_stream(w), kit_stream(s), item_stream(s))
        case AdjustStock(sku=s, warehouse_id=w) | CountStock(sku=s, warehouse_id=w):
            return (stock_stream(s, w), kit_stream(s), item_stream(s))
        case InspectStock(sku=s, warehouse_id=w):  # and whether the item is tracked by lot
            return (stock_stream(s, w), item_stream(s))
        case ExpireLot(sku=s, warehouse_id=w):
            return (stock_stream(s, w),)
        case ShipStock(lines=lines):
            stock = (stock_stream(x.sku, x.warehouse_id) for x in lines or ())
            return (*stock, *dict.fromkeys(item_stream(x.sku) for x in lines or ()))


def places(command: StockCommand) -> tuple[Place, ...]:
    """The (SKU, warehouse) pairs the command names itself."""
    match command:
        case ReceiveStock(sku=s, warehouse_id=w) | ReturnStock(sku=s, warehouse_id=w):
            return ((s, w),)
        case AdjustStock(sku=s, warehouse_id=w) | CountStock(sku=s, warehouse_id=w):
            return ((s, w),)
        case InspectStock(sku=s, warehouse_id=w) | ExpireLot(sku=s, warehouse_id=w):
            return ((s, w),)
        case ShipStock(lines=lines):
            return tuple((x.sku, x.warehouse_id) for x in lines or ())


def decide(command: StockCommand, states: States, now: datetime) -> Decision:
    match command:
        case ReceiveStock():
            return _receive(command, states)
        case ShipStock():
            return _ship_direct(command, states, now)
        case ReturnStock():
            return _return(command, states)
        case AdjustStock():
            require_not_kit(states, command.sku, "adjustments")
            lot = _named_lot(states, command.sku, command.lot_id, "adjustments")
            change = abs(command.quantity_change)
            named = named_serials(states, command.sku, command.serials, change, "adjustments")
            stock = stock_of(states, command.sku, command.warehouse_id)
            if named is not None and command.quantity_change < 0:
                serials_in_stock(stock, named)
            elif named is not None:
                serials_new_here(stock, named)
            return _adjust(command, stock, lot, named)
        case ExpireLot():
            return _expire_lot(command, stock_of(states, command.sku, command.warehouse_id), now)
        case CountStock():
            require_not_kit(states, command.sku, "counts")
            lot = _named_lot(states, command.sku, command.lot_id, "counts")
            stock = stock_of(states, command.sku, command.warehouse_id)
            quantity = command.counted_quantity
            counted = named_serials(states, command.sku, command.serials, quantity, "counts")
            if counted is not None:
                return _count_serials(command, stock, counted)
            return _count(command, stock, lot)
        case InspectStock():
            lot = _named_lot(states, command.sku, command.lot_id, "inspections")
            return _inspect(command, stock_of(states, command.sku, command.warehouse_id), lot)


def tracking(states: States, sku: str) -> str:
    """How the item's units are told apart: none, lot or serial."""
    return get(states, item_stream(sku), ItemState).tracking


def named_serials(
    states: States, sku: str, serials: tuple[str, ...] | None, quantity: int, action: str
) -> tuple[str, ...] | None:
    """The serials a command on a serial-tracked item must name: exactly `quantity`, distinct
    (and an item not tracked by serial names none)."""
    if tracking(states, sku) != "serial":
        if serials:
            raise LedgerConflict(f"Item {sku} is not tracked by serial number: no serials apply")
        return None
    if serials is None:
        raise SerialsRequired(sku, action)
    if len(serials) != quantity or len(set(serials)) != len(serials):
        raise InvalidCommand(
            f"{action.capitalize()} of {sku} name {quantity} distinct serial(s), one per unit; "
            f"got {len(set(serials))} distinct of {len(serials)}"
        )
    return serials


def serials_in_stock(stock: StockState, serials: tuple[str, ...]) -> None:
    """Each serial must be on hand in the stream's warehouse (409 serial-not-in-stock)."""
    held = stock.serials.in_stock if stock.serials else frozenset()
    for serial in serials:
        if serial not in held:
            raise SerialNotInStock(stock.sku, stock.warehouse_id, serial)


def serials_new_here(stock: StockState, serials: Iterable[str]) -> None:
    """A serial coming in must not already be here (the database checks everywhere else)."""
    for serial in serials:
        if stock.serials and (status := stock.serials.status(serial)):
            raise SerialInStock(stock.sku, serial, stock.warehouse_id, status)


def _named_lot(states: States, sku: str, lot_id: str | None, action: str) -> str | None:
    """The lot a command on a lot-tracked item must name (and an untracked one must not)."""
    if tracking(states, sku) == "lot":
        if lot_id is None:
            raise LotRequired(sku, action)
        return lot_id
    if lot_id is not None:
        raise LedgerConflict(f"Item {sku} is not tracked by lot: lotId does not apply")
    return None


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
    lot_id = _named_lot(states, cmd.sku, cmd.lot_id, "receipts")
    if lot_id is None and cmd.expires_on is not None:
        raise LedgerConflict(f"Item {cmd.sku} is not tracked by lot: expiresOn does not apply")
    serials = named_serials(states, cmd.sku, cmd.serials, cmd.quantity, "receipts")
    if serials is not None and cmd.inspect:  # an inspection names no serials to reject
        raise LedgerConflict(
            f"Item {cmd.sku} is tracked by serial number: its receipts skip quality control"
        )
    serials_new_here(stock, serials or ())
    held = stock.lots.lot(lot_id) if lot_id and stock.lots else None
    if held is not None and held.expires_on != cmd.expires_on:
        raise LotExpiryMismatch(
            cmd.sku,
            cmd.warehouse_id,
            held.lot_id,
            _iso(held.expires_on),
            _iso(cmd.expires_on),
        )
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
        lot_id=lot_id,
        expires_on=cmd.expires_on if lot_id else None,
        serials=serials,
    )
    events: list[Pending] = [(stream, event)]
    if expected is not None and over is not None:
        taken = PurchaseOrderReceived(
            cmd.purchase_order_id, cmd.sku, cmd.warehouse_id, expected, over, cmd.receipt_id
        )
        events.append((po_stream(cmd.purchase_order_id), taken))
    return Decision(events=tuple(events), touched=(stream,))


def _inspect(cmd: InspectStock, stock: StockState, lot_id: str | None) -> Decision:
    """Units out of quality control; on a lot-tracked item, the lot named (required) gives up
    the rejected units, so the lots keep summing to the levels."""
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
    checked = _lot_or_empty(stock, lot_id).quality_control if lot_id is not None else None
    if checked is not None and released > checked:  # the lot's own units in quality control
        raise InsufficientQualityControl(stock.sku, stock.warehouse_id, released, checked)
    event = StockInspected(
        cmd.inspection_id, stock.sku, stock.warehouse_id, cmd.accepted, cmd.rejected, lot_id
    )
    return Decision(events=((stream, event),), touched=(stream,))


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _ship_direct(cmd: ShipStock, states: States, now: datetime) -> Decision:
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
    lots = _fefo_lots(states, lines, now)
    serials = shipped_serials(states, lines, line_serials(cmd.lines))
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
                        lots=lots.get((x.sku, x.warehouse_id)),
                        serials=serials.get((x.sku, x.warehouse_id)),
                    ),
                ),
            ),
        )
        for x in lines
    )
    return Decision(events=events, touched=touched)


def shipped_serials(
    states: States, lines: tuple[Line, ...], named: dict[Place, tuple[str, ...]]
) -> dict[Place, tuple[str, ...]]:
    """The serials each line of a serial-tracked item ships: named on the line, exactly its
    quantity, each on hand in that warehouse."""
    out: dict[Place, tuple[str, ...]] = {}
    for x in lines:
        place = (x.sku, x.warehouse_id)
        serials = named_serials(states, x.sku, named.get(place), x.quantity, "shipments")
        if serials is not None:
            serials_in_stock(stock_of(states, *place), serials)
            out[place] = serials
    return out


def _fefo_lots(
    states: States, lines: tuple[Line, ...], now: datetime
) -> dict[Place, tuple[LotQuantity, ...]]:
    """The lots a shipment without a reservation takes on lot-tracked items: FEFO."""
    out: dict[Place, tuple[LotQuantity, ...]] = {}
    short: list[ShortLine] = []
    for x in lines:
        if tracking(states, x.sku) != "lot":
            continue
        book = stock_of(states, x.sku, x.warehouse_id).lots
        candidates = allocatable(book.lots if book else (), now.date())
        held = sum(lot.available for lot in candidates)
        if held < x.quantity:
            short.append(ShortLine(x.sku, x.warehouse_id, x.quantity, held))
        else:
            out[(x.sku, x.warehouse_id)] = allocate(candidates, x.quantity)
    if short:
        raise InsufficientStock(short)
    return out


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
    lot_id = _named_lot(states, cmd.sku, cmd.lot_id, "returns")
    if lot_id is not None:  # only what shipped on that order, net of earlier returns
        book = get(states, stream, StockState).lots
        sent = book.shipped_on(cmd.order_id, lot_id) if book else None
        shipped = sent.quantity if sent else 0
        if cmd.quantity > shipped:
            raise NotShippedOnOrder(
                cmd.order_id, cmd.sku, cmd.warehouse_id, lot_id, cmd.quantity, shipped
            )
    serials = named_serials(states, cmd.sku, cmd.serials, cmd.quantity, "returns")
    if serials is not None:  # each shipped on that order and not back since
        stock = get(states, stream, StockState)
        out = stock.serials.shipped_on(cmd.order_id) if stock.serials else frozenset()
        for serial in serials:
            if serial not in out:
                raise NotShippedOnOrder(
                    cmd.order_id, cmd.sku, cmd.warehouse_id, None, cmd.quantity, 0, serial
                )
        if cmd.condition != "dispose":  # received here again since it left: not this unit
            serials_new_here(stock, serials)
    event = StockReturned(
        cmd.return_id,
        cmd.order_id,
        cmd.sku,
        cmd.warehouse_id,
        cmd.quantity,
        cmd.reason,
        cmd.condition,
        lot_id=lot_id,
        serials=serials,
    )
    return Decision(events=((stream, event),), touched=(stream,))


def _check_version(stock: StockState, expected: int | None) -> None:
    if expected is not None and expected != stock.version:
        raise VersionMismatch(stock_stream(stock.sku, stock.warehouse_id), expected, stock.version)


def _lot_or_empty(stock: StockState, lot_id: str) -> Lot:
    held = stock.lots.lot(lot_id) if stock.lots else None
    return held or Lot(lot_id, None, stock.updated_at or datetime.min)


def _adjust(
    cmd: AdjustStock, stock: StockState, lot_id: str | None, serials: tuple[str, ...] | None
) -> Decision:
    _check_version(stock, cmd.expected_version)
    if cmd.quantity_change == 0:
        raise InvalidCommand("quantityChange must not be 0")
    before = stock.levels.on_hand
    after = before + cmd.quantity_change
    held = stock.levels.reserved + stock.levels.quality_control
    write_off = lot_id is not None and cmd.reason == "expiry" and cmd.quantity_change < 0
    if write_off:  # of expired units: onHand stays (previous/new say the expired bucket's)
        before, after = stock.levels.expired, stock.levels.expired + cmd.quantity_change
    elif after < held:  # also covers after < 0, since both are >= 0
        raise InsufficientStock(
            [
                ShortLine(
                    stock.sku, stock.warehouse_id, -cmd.quantity_change, stock.levels.available
                )
            ],
            f"onHand would become {after}, below the {held} reserved or in quality control",
        )
    if write_off:
        lot = _lot_or_empty(stock, lot_id)  # type: ignore[arg-type]
        if lot.expired < -cmd.quantity_change:
            raise InsufficientStock(
                [ShortLine(stock.sku, stock.warehouse_id, -cmd.quantity_change, lot.expired)],
                f"Lot {lot_id} holds {lot.expired} expired unit(s) to write off",
            )
    elif lot_id is not None:  # and the lot itself keeps what is reserved of it
        lot = _lot_or_empty(stock, lot_id)
        if lot.on_hand + cmd.quantity_change < lot.reserved + lot.quality_control:
            raise InsufficientStock(
                [ShortLine(stock.sku, stock.warehouse_id, -cmd.quantity_change, lot.available)],
                f"Lot {lot_id} holds {lot.on_hand} on hand, {lot.reserved} of them reserved and "
                f"{lot.quality_control} in quality control",
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
        lot_id=lot_id,
        serials=serials,
    )
    return Decision(events=((stream, event),), touched=(stream,))


def _count(cmd: CountStock, stock: StockState, lot_id: str | None) -> Decision:
    """A count of the stream, or (lot-tracked) of one lot: the difference becomes an
    adjustment of the stream's onHand, and of that lot."""
    _check_version(stock, cmd.expected_version)
    lot = _lot_or_empty(stock, lot_id) if lot_id is not None else None
    before = lot.on_hand if lot else stock.levels.on_hand
    reserved = lot.reserved if lot else stock.levels.reserved
    counted = cmd.counted_quantity
    held = reserved + (lot.quality_control if lot else stock.levels.quality_control)
    if counted < held:
        raise InsufficientStock(
            [ShortLine(stock.sku, stock.warehouse_id, before - counted, before - held)],
            f"Counted {counted} is below the {held} reserved or in quality control; release or "
            "ship reservations (or inspect) first",
        )
    stream = stock_stream(stock.sku, stock.warehouse_id)
    count = StockCounted(stock.sku, stock.warehouse_id, counted, before, cmd.notes, lot_id)
    events: list[Pending] = [(stream, count)]
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
                    lot_id=lot_id,
                ),
            )
        )
    return Decision(events=tuple(events), touched=(stream,))


def _expire_lot(cmd: ExpireLot, stock: StockState, now: datetime) -> Decision:
    """From its date on (UTC), a lot's unreserved units are expired; its reserved units stay
    reserved (the order service decides). Nothing to do before, or when none are left."""
    stream = stock_stream(stock.sku, stock.warehouse_id)
    lot = stock.lots.lot(cmd.lot_id) if stock.lots else None
    if lot is None or lot.expires_on is None or lot.usable_on(now.date()) or lot.available <= 0:
        return Decision(touched=(stream,))
    event = LotExpired(stock.sku, stock.warehouse_id, lot.lot_id, lot.expires_on, lot.available)
    return Decision(events=((stream, event),), touched=(stream,))


def _count_serials(cmd: CountStock, stock: StockState, counted: tuple[str, ...]) -> Decision:
    """A count of a serial-tracked stream names the serials found on hand: those missing are
    removed, those not known here are found, each an adjustment naming its serials."""
    _check_version(stock, cmd.expected_version)
    on_hand = stock.serials.in_stock if stock.serials else frozenset()
    missing = tuple(sorted(on_hand - set(counted)))
    found = tuple(sorted(set(counted) - on_hand))
    serials_new_here(stock, found)
    before, reserved = stock.levels.on_hand, stock.levels.reserved
    if len(counted) < reserved:
        raise InsufficientStock(
            [ShortLine(stock.sku, stock.warehouse_id, len(missing), stock.levels.available)],
            f"Counted {len(counted)} is below the {reserved} reserved; release or ship "
            "reservations first",
        )
    stream = stock_stream(stock.sku, stock.warehouse_id)
    count = StockCounted(
        stock.sku, stock.warehouse_id, len(counted), before, cmd.notes, serials=tuple(counted)
    )
    events: list[Pending] = [(stream, count)]
    level = before
    for change, serials in ((-len(missing), missing), (len(found), found)):
        if serials:
            adjusted = StockAdjusted(
                stock.sku,
                stock.warehouse_id,
                change,
                "physical_count",
                level,
                level + change,
                cmd.notes,
                serials=serials,
            )
            events.append((stream, adjusted))
            level += change
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
