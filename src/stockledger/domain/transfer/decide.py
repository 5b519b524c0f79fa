"""A transfer's rules: dispatch (out of the source's stock, into the destination's in transit)
and receipt (in transit to on hand, a shortfall recorded as lost)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..catalog.decide import require_active, require_open_warehouse
from ..decision import AlreadyRecorded, Decision, Place, States, get
from ..errors import (
    ConflictingDuplicate,
    InsufficientStock,
    InvalidCommand,
    LedgerConflict,
    NotFound,
    ShortLine,
)
from ..kit.decide import require_not_kit
from ..stock.decide import check_available, named_serials, serials_in_stock, stock_of, tracking
from ..stock.events import Line, LotQuantity
from ..stock.lots import LotHold, allocatable, allocate, shipped_from_hold
from ..streams import item_stream, kit_stream, stock_stream, transfer_stream, warehouse_stream
from .commands import DispatchTransfer, ReceiveTransfer, TransferCommand
from .events import TransferDispatched, TransferReceived
from .state import TransferState, TransferStatus


def reads(command: TransferCommand, states: States) -> tuple[str, ...]:
    """A dispatch reads both stock streams, the item and the destination warehouse; a receipt
    its transfer, then (once the transfer is known) the destination's stock stream."""
    match command:
        case DispatchTransfer(transfer_id=tid, sku=s, from_warehouse_id=a, to_warehouse_id=b):
            moved = (stock_stream(s, a), stock_stream(s, b), item_stream(s), warehouse_stream(b))
            return (transfer_stream(tid), *moved, kit_stream(s))
        case ReceiveTransfer(transfer_id=tid):
            own = states.get(transfer_stream(tid))
            if isinstance(own, TransferState) and own.dispatched is not None:
                d = own.dispatched
                return (transfer_stream(tid), stock_stream(d.sku, d.to_warehouse_id))
            return (transfer_stream(tid),)


def places(command: TransferCommand) -> tuple[Place, ...]:
    """A dispatch names its SKU at both warehouses; a receipt goes on with what was accepted."""
    match command:
        case DispatchTransfer(sku=s, from_warehouse_id=a, to_warehouse_id=b):
            return ((s, a), (s, b))
    return ()


def decide(command: TransferCommand, states: States, now: datetime) -> Decision:
    match command:
        case DispatchTransfer():
            return _dispatch(command, states, now)
        case ReceiveTransfer():
            return _receive_transfer(command, states)


def _dispatch(cmd: DispatchTransfer, states: States, now: datetime) -> Decision:
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
    require_not_kit(states, cmd.sku, "transfers")
    require_active(states, cmd.sku, "transfers")
    require_open_warehouse(states, cmd.to_warehouse_id, "transfers in")
    check_available(states, (Line(cmd.sku, cmd.from_warehouse_id, cmd.quantity),))
    lots = _lots_dispatched(cmd, states, now)
    if lots is not None:
        event = replace(event, lots=lots)
    elif cmd.lot_id is not None:
        raise LedgerConflict(f"Item {cmd.sku} is not tracked by lot: lotId does not apply")
    serials = named_serials(states, cmd.sku, cmd.serials, cmd.quantity, "transfers")
    if serials is not None:
        serials_in_stock(stock_of(states, cmd.sku, cmd.from_warehouse_id), serials)
        event = replace(event, serials=serials)
    return Decision(
        events=((stream, event), (source, event), (target, event)), touched=(source, target)
    )


def _lots_dispatched(
    cmd: DispatchTransfer, states: States, now: datetime
) -> tuple[LotQuantity, ...] | None:
    """The lots a dispatch of a lot-tracked item carries: the one named (whatever its date), or
    FEFO among the lots not expired by today. None: the item is not tracked by lot."""
    if tracking(states, cmd.sku) != "lot":
        return None
    book = stock_of(states, cmd.sku, cmd.from_warehouse_id).lots
    held = book.lots if book else ()
    if cmd.lot_id is not None:
        candidates = [x for x in held if x.lot_id == cmd.lot_id and x.available > 0]
    else:
        candidates = allocatable(held, now.date())
    available = sum(x.available for x in candidates)
    if available < cmd.quantity:
        short = ShortLine(cmd.sku, cmd.from_warehouse_id, cmd.quantity, available)
        raise InsufficientStock([short])
    return allocate(candidates, cmd.quantity)


def _serials_received(
    cmd: ReceiveTransfer, sent: TransferDispatched
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """The serials that arrived (`receivedSerials`, default every one dispatched) and the ones
    lost in transit; (None, None) when the transfer carries no serials."""
    if sent.serials is None:
        if cmd.received_serials:
            raise InvalidCommand(f"Transfer {sent.transfer_id} carries no serials")
        return None, None
    arrived = sent.serials if cmd.received_serials is None else cmd.received_serials
    unknown = [x for x in arrived if x not in sent.serials]
    if unknown or len(set(arrived)) != len(arrived):
        raise InvalidCommand(
            f"receivedSerials must be distinct serials the transfer carries: {unknown or arrived}"
        )
    return tuple(arrived), tuple(x for x in sent.serials if x not in set(arrived))


def _receive_transfer(cmd: ReceiveTransfer, states: States) -> Decision:
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
    arrived, lost = _serials_received(cmd, sent)
    received = sent.quantity if cmd.received_quantity is None else cmd.received_quantity
    if arrived is not None:
        if cmd.received_quantity is not None and cmd.received_quantity != len(arrived):
            raise InvalidCommand("receivedQuantity must be the number of receivedSerials")
        received = len(arrived)
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
        lots=shipped_from_hold(LotHold("", sent.lots), received) if sent.lots else None,
        serials=arrived,
        lost_serials=lost,
    )
    return Decision(events=((stream, event), (target, event)), touched=(target,))
