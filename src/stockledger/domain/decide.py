"""`decide(command, states, now) -> Decision`: every business rule of the ledger, pure.

`states` maps stream id -> state for every stream `required_streams` names; a stream that has
no events yet is given as its `initial_state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from . import commands as c
from .catalog import decide as catalog
from .catalog.decide import require_active, require_defined, require_open_warehouse
from .catalog.state import ItemState
from .costing import apply as apply_cost
from .costing import recorded
from .decision import AlreadyRecorded, Decision, Pending, get, line_streams, per_line
from .errors import (
    ConflictingDuplicate,
    InsufficientStock,
    InvalidCommand,
    LedgerConflict,
    NotFound,
    ReservationNotActive,
    ShortLine,
    VersionMismatch,
)
from .events import (
    Event,
    Line,
    ReservationConfirmed,
    ReservationExpired,
    ReservationReleased,
    ShippedLine,
    StockAdjusted,
    StockCounted,
    StockReceived,
    StockReserved,
    StockReturned,
    StockShipped,
    TransferDispatched,
    TransferReceived,
)
from .reorder import decide as reorder
from .state import (
    ReservationState,
    ReservationStatus,
    State,
    StockState,
    TransferState,
    TransferStatus,
    delta,
)
from .streams import (
    item_stream,
    reservation_stream,
    stock_stream,
    transfer_stream,
)

MAX_LEVEL = 2**31 - 1  # any bucket of a stock stream: fits the 32-bit columns of every read model


def required_streams(
    command: c.Command, states: Mapping[str, State], *, catalog_required: bool = False
) -> tuple[str, ...]:
    """Every stream the command reads; grows once the reservation/transfer it names is known.
    With `catalog_required`, also the item and warehouse of every place it names."""
    streams = c.primary_streams(command)
    if catalog_required:
        streams = tuple(dict.fromkeys((*streams, *c.catalog_streams(command))))
    match command:
        case (
            c.ConfirmReservation()
            | c.ReleaseReservation()
            | c.ExpireReservation()
            | c.ShipStock(reservation_id=str())
        ):
            own = states.get(streams[0])
            if isinstance(own, ReservationState):
                streams += tuple(stock_stream(x.sku, x.warehouse_id) for x in own.lines)
        case c.ReceiveTransfer():
            own = states.get(streams[0])
            if isinstance(own, TransferState) and own.dispatched is not None:
                d = own.dispatched
                streams += (stock_stream(d.sku, d.to_warehouse_id),)
    return tuple(dict.fromkeys((*streams, *reorder.rule_streams(streams))))


def _stock(states: Mapping[str, State], sku: str, warehouse_id: str) -> StockState:
    return get(states, stock_stream(sku, warehouse_id), StockState)


def _check_available(states: Mapping[str, State], lines: tuple[Line, ...]) -> None:
    short = [
        ShortLine(x.sku, x.warehouse_id, x.quantity, s.levels.available)
        for x in lines
        if x.quantity > (s := _stock(states, x.sku, x.warehouse_id)).levels.available
    ]
    if short:
        raise InsufficientStock(short)


def decide(
    command: c.Command,
    states: Mapping[str, State],
    now: datetime,
    *,
    catalog_required: bool = False,
) -> Decision:
    if catalog_required:
        require_defined(c.named_places(command), states)
    decision = _with_costs(_decide(command, states, now), states, now)
    _check_capacity(decision, states)
    return reorder.with_alerts(decision, states, now)


def _with_costs(decision: Decision, states: Mapping[str, State], now: datetime) -> Decision:
    """The decision's events with the cost each took recorded on it (v2), by the rules of
    costing.py applied to each stock stream's value in the decision's order. A fact appended
    to several streams is one object there (a transfer on its own, source and destination
    streams) and records the figures of the stock stream that gave them: a transfer the
    source's cost and layers, which the destination then carries in transit; an arrival the
    destination's. A reservation's shipment holds every line: each line gets its stream's."""
    values: dict[str, Any] = {}
    filled: dict[int, Event] = {}  # id of a decided event -> it with its figures
    for stream_id, event in decision.events:
        state = states.get(stream_id)
        if not isinstance(state, StockState):
            continue
        given = filled.get(id(event), event)
        value, move = apply_cost(
            values.get(stream_id, state.value), state.sku, state.warehouse_id, given, now
        )
        values[stream_id] = value
        filled[id(event)] = recorded(given, move, state.sku, state.warehouse_id)
    if not filled:
        return decision
    shipped = {
        (x.sku, x.warehouse_id): x.cost
        for e in filled.values()
        if isinstance(e, StockShipped)
        for x in e.lines
        if x.cost is not None
    }
    events: list[Pending] = []
    for stream_id, event in decision.events:
        if id(event) in filled:
            events.append((stream_id, filled[id(event)]))
        elif isinstance(event, StockShipped):  # the reservation's copy: every line's cost
            lines = tuple(
                replace(x, cost=shipped.get((x.sku, x.warehouse_id))) for x in event.lines
            )
            events.append((stream_id, replace(event, lines=lines)))
        else:
            events.append((stream_id, event))
    return replace(decision, events=tuple(events))


def _check_capacity(decision: Decision, states: Mapping[str, State]) -> None:
    """No bucket of a stock stream may grow past MAX_LEVEL: refused, never an overflow later."""
    after: dict[str, StockState] = {}
    for stream_id, event in decision.events:
        state = after.get(stream_id) or states.get(stream_id)
        if not isinstance(state, StockState):
            continue
        levels = state.levels + delta(state, event)
        if max(levels.on_hand, levels.reserved, levels.in_transit, levels.damaged) > MAX_LEVEL:
            raise LedgerConflict(
                f"{state.sku}@{state.warehouse_id} would hold more than {MAX_LEVEL} units"
            )
        after[stream_id] = replace(state, levels=levels)


def _decide(command: c.Command, states: Mapping[str, State], now: datetime) -> Decision:
    match command:
        case c.ReceiveStock():
            return _receive(command, states)
        case c.ReserveStock():
            return _reserve(command, states)
        case c.ConfirmReservation() | c.ReleaseReservation() | c.ExpireReservation():
            res = get(states, reservation_stream(command.reservation_id), ReservationState)
            return _lifecycle(command, res, now)
        case c.ShipStock(reservation_id=str(rid)):
            res = get(states, reservation_stream(rid), ReservationState)
            return _ship_reserved(command, res, now)
        case c.ShipStock():
            return _ship_direct(command, states)
        case c.ReturnStock():
            return _return(command, states)
        case c.DispatchTransfer():
            return _dispatch(command, states)
        case c.ReceiveTransfer():
            return _receive_transfer(command, states)
        case c.AdjustStock():
            return _adjust(command, _stock(states, command.sku, command.warehouse_id))
        case c.CountStock():
            return _count(command, _stock(states, command.sku, command.warehouse_id))
        case (
            c.DefineItem()
            | c.DeactivateItem()
            | c.ActivateItem()
            | c.DefineWarehouse()
            | c.DeactivateWarehouse()
        ):
            return catalog.decide(command, states, now)
        case c.SetReorderRule() | c.RemoveReorderRule():
            return reorder.decide(command, states, now)


def _receive(cmd: c.ReceiveStock, states: Mapping[str, State]) -> Decision:
    stream = stock_stream(cmd.sku, cmd.warehouse_id)
    stock = get(states, stream, StockState)
    if cmd.receipt_id and f"receipt:{cmd.receipt_id}" in stock.processed:
        return Decision(
            already=AlreadyRecorded(stream, StockReceived.TYPE, {"receipt_id": cmd.receipt_id}),
            touched=(stream,),
        )
    require_active(states, cmd.sku, "receipts")
    require_open_warehouse(states, cmd.warehouse_id, "receipts")
    method = get(states, item_stream(cmd.sku), ItemState).valuation_method
    event = StockReceived(
        sku=cmd.sku,
        warehouse_id=cmd.warehouse_id,
        quantity=cmd.quantity,
        purchase_order_id=cmd.purchase_order_id,
        unit_cost=cmd.unit_cost,
        supplier=cmd.supplier,
        receipt_id=cmd.receipt_id,
        valuation_method=method,
    )
    return Decision(events=((stream, event),), touched=(stream,))


def _reserve(cmd: c.ReserveStock, states: Mapping[str, State]) -> Decision:
    stream = reservation_stream(cmd.reservation_id)
    if get(states, stream, ReservationState).version:
        raise ConflictingDuplicate(f"Reservation {cmd.reservation_id} already exists")
    lines = c.merge_lines(cmd.lines)
    for sku in dict.fromkeys(x.sku for x in lines):
        require_active(states, sku, "reservations")
    _check_available(states, lines)

    def make(ls: tuple[Line, ...]) -> StockReserved:
        return StockReserved(cmd.reservation_id, cmd.order_id, cmd.expires_at, ls)

    return Decision(events=tuple(per_line(stream, lines, make)), touched=line_streams(lines))


def _lifecycle(
    cmd: c.ConfirmReservation | c.ReleaseReservation | c.ExpireReservation,
    res: ReservationState,
    now: datetime,
) -> Decision:
    stream = reservation_stream(res.reservation_id)
    touched = line_streams(res.lines)
    if res.status is ReservationStatus.NONE:
        raise NotFound(f"Reservation {res.reservation_id}")
    match cmd:
        case c.ExpireReservation():
            due = res.status is ReservationStatus.ACTIVE and res.expires_at is not None
            if not due or now < res.expires_at:  # type: ignore[operator]
                return Decision(touched=touched)  # confirmed, ended or not yet due: nothing to do
            return Decision(
                events=tuple(
                    per_line(
                        stream,
                        res.lines,
                        lambda ls: ReservationExpired(res.reservation_id, res.order_id, ls),
                    )
                ),
                touched=touched,
            )
        case c.ConfirmReservation():
            if res.status is ReservationStatus.CONFIRMED:
                return Decision(
                    already=AlreadyRecorded(stream, ReservationConfirmed.TYPE, {}), touched=touched
                )
            _require_open(res, now, "confirm")
            event = ReservationConfirmed(res.reservation_id, res.order_id)
            return Decision(events=((stream, event),), touched=touched)
        case c.ReleaseReservation():
            if res.status is ReservationStatus.RELEASED:
                return Decision(
                    already=AlreadyRecorded(stream, ReservationReleased.TYPE, {}), touched=touched
                )
            if not res.is_open:
                raise ReservationNotActive(res.reservation_id, res.status.value, "release")
            return Decision(
                events=tuple(
                    per_line(
                        stream,
                        res.lines,
                        lambda ls: ReservationReleased(
                            res.reservation_id, res.order_id, ls, cmd.reason
                        ),
                    )
                ),
                touched=touched,
            )


def _require_open(res: ReservationState, now: datetime, action: str) -> None:
    """Open means confirmed, or active and not yet due (a due one awaits the expiry worker)."""
    if res.status is ReservationStatus.CONFIRMED:
        return
    due = res.expires_at is not None and now >= res.expires_at
    if res.status is not ReservationStatus.ACTIVE or due:
        status = ReservationStatus.EXPIRED if due else res.status
        raise ReservationNotActive(res.reservation_id, status.value, action)


def _ship_reserved(cmd: c.ShipStock, res: ReservationState, now: datetime) -> Decision:
    stream = reservation_stream(res.reservation_id)
    if res.status is ReservationStatus.NONE:
        raise NotFound(f"Reservation {res.reservation_id}")
    if res.status is ReservationStatus.SHIPPED and res.shipment_id == cmd.shipment_id:
        return Decision(
            already=AlreadyRecorded(stream, StockShipped.TYPE, {"shipment_id": cmd.shipment_id}),
            touched=line_streams(res.lines),
        )
    _require_open(res, now, "ship")
    if cmd.order_id != res.order_id:
        raise LedgerConflict(f"Reservation {res.reservation_id} belongs to order {res.order_id}")
    wanted = {(x.sku, x.warehouse_id): x.quantity for x in c.merge_lines(cmd.lines or res.lines)}
    reserved = {(x.sku, x.warehouse_id): x.quantity for x in res.lines}
    for key, quantity in wanted.items():
        if quantity > reserved.get(key, 0):
            raise LedgerConflict(
                f"Line {key[0]}@{key[1]} ships {quantity} but the reservation holds "
                f"{reserved.get(key, 0)}"
            )
    shipped = tuple(
        ShippedLine(sku=s, warehouse_id=w, quantity=wanted.get((s, w), 0), reserved_quantity=q)
        for (s, w), q in reserved.items()
    )

    def make(ls: tuple[ShippedLine, ...]) -> StockShipped:
        return StockShipped(cmd.shipment_id, res.order_id, ls, res.reservation_id)

    events: list[Pending] = [(stream, make(shipped))]
    events += [(stock_stream(x.sku, x.warehouse_id), make((x,))) for x in shipped]
    return Decision(events=tuple(events), touched=line_streams(shipped))


def _ship_direct(cmd: c.ShipStock, states: Mapping[str, State]) -> Decision:
    if not cmd.lines:
        raise InvalidCommand("A shipment without reservationId needs lines")
    lines = c.merge_lines(cmd.lines)
    first = _stock(states, lines[0].sku, lines[0].warehouse_id)
    touched = line_streams(lines)
    if f"shipment:{cmd.shipment_id}" in first.processed:
        return Decision(
            already=AlreadyRecorded(
                touched[0], StockShipped.TYPE, {"shipment_id": cmd.shipment_id}
            ),
            touched=touched,
        )
    _check_available(states, lines)
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


def _return(cmd: c.ReturnStock, states: Mapping[str, State]) -> Decision:
    stream = stock_stream(cmd.sku, cmd.warehouse_id)
    if f"return:{cmd.return_id}" in get(states, stream, StockState).processed:
        return Decision(
            already=AlreadyRecorded(stream, StockReturned.TYPE, {"return_id": cmd.return_id}),
            touched=(stream,),
        )
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


def _dispatch(cmd: c.DispatchTransfer, states: Mapping[str, State]) -> Decision:
    if cmd.from_warehouse_id == cmd.to_warehouse_id:
        raise InvalidCommand("A transfer needs two different warehouses")
    stream = transfer_stream(cmd.transfer_id)
    source = stock_stream(cmd.sku, cmd.from_warehouse_id)
    target = stock_stream(cmd.sku, cmd.to_warehouse_id)
    event = TransferDispatched(
        cmd.transfer_id, cmd.sku, cmd.from_warehouse_id, cmd.to_warehouse_id, cmd.quantity
    )
    transfer = get(states, stream, TransferState)
    if transfer.dispatched is not None:
        if not transfer.dispatched.same_transfer(event):
            raise ConflictingDuplicate(f"Transfer {cmd.transfer_id} exists with other details")
        return Decision(
            already=AlreadyRecorded(stream, TransferDispatched.TYPE, {}), touched=(source, target)
        )
    require_active(states, cmd.sku, "transfers")
    require_open_warehouse(states, cmd.to_warehouse_id, "transfers in")
    _check_available(states, (Line(cmd.sku, cmd.from_warehouse_id, cmd.quantity),))
    return Decision(
        events=((stream, event), (source, event), (target, event)), touched=(source, target)
    )


def _receive_transfer(cmd: c.ReceiveTransfer, states: Mapping[str, State]) -> Decision:
    stream = transfer_stream(cmd.transfer_id)
    transfer = get(states, stream, TransferState)
    sent = transfer.dispatched
    if sent is None:
        raise NotFound(f"Transfer {cmd.transfer_id}")
    target = stock_stream(sent.sku, sent.to_warehouse_id)
    if transfer.status is TransferStatus.RECEIVED:
        return Decision(
            already=AlreadyRecorded(stream, TransferReceived.TYPE, {}), touched=(target,)
        )
    received = sent.quantity if cmd.received_quantity is None else cmd.received_quantity
    if not 0 <= received <= sent.quantity:
        raise LedgerConflict(
            f"receivedQuantity must be between 0 and the {sent.quantity} dispatched"
        )
    event = TransferReceived(
        sent.transfer_id,
        sent.sku,
        sent.from_warehouse_id,
        sent.to_warehouse_id,
        sent.quantity,
        received,
        sent.quantity - received,
    )
    return Decision(events=((stream, event), (target, event)), touched=(target,))


def _check_version(stock: StockState, expected: int | None) -> None:
    if expected is not None and expected != stock.version:
        raise VersionMismatch(stock_stream(stock.sku, stock.warehouse_id), expected, stock.version)


def _adjust(cmd: c.AdjustStock, stock: StockState) -> Decision:
    _check_version(stock, cmd.expected_version)
    if cmd.quantity_change == 0:
        raise InvalidCommand("quantityChange must not be 0")
    before = stock.levels.on_hand
    after = before + cmd.quantity_change
    if after < stock.levels.reserved:  # also covers after < 0, since reserved >= 0
        raise InsufficientStock(
            [
                ShortLine(
                    stock.sku, stock.warehouse_id, -cmd.quantity_change, stock.levels.available
                )
            ],
            f"onHand would become {after}, below the {stock.levels.reserved} reserved",
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


def _count(cmd: c.CountStock, stock: StockState) -> Decision:
    _check_version(stock, cmd.expected_version)
    before = stock.levels.on_hand
    counted = cmd.counted_quantity
    if counted < stock.levels.reserved:
        raise InsufficientStock(
            [ShortLine(stock.sku, stock.warehouse_id, before - counted, stock.levels.available)],
            f"Counted {counted} is below the {stock.levels.reserved} reserved; release or ship "
            "reservations first",
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
