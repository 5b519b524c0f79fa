"""`decide(command, states, now) -> Decision`: every business rule of the ledger, pure.

`states` maps stream id -> state for every stream `required_streams` names; a stream that has
no events yet is given as its `initial_state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from . import commands as c
from .catalog import decide as catalog
from .catalog.decide import require_active, require_defined
from .decision import AlreadyRecorded, Decision, Pending, get, line_streams, per_line
from .errors import (
    ConflictingDuplicate,
    LedgerConflict,
    NotFound,
    ReservationNotActive,
)
from .events import (
    ReservationConfirmed,
    ReservationExpired,
    ReservationReleased,
    StockReserved,
)
from .reorder import decide as reorder
from .state import (
    ReservationState,
    ReservationStatus,
    State,
)
from .stock import decide as stock
from .stock.costs import with_costs
from .stock.events import Line, ShippedLine, StockShipped
from .streams import (
    reservation_stream,
    stock_stream,
)
from .transfer import decide as transfer
from .transfer.state import TransferState


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


def decide(
    command: c.Command,
    states: Mapping[str, State],
    now: datetime,
    *,
    catalog_required: bool = False,
) -> Decision:
    if catalog_required:
        require_defined(c.named_places(command), states)
    decision = with_costs(_decide(command, states, now), states, now)
    stock.check_capacity(decision, states)
    return reorder.with_alerts(decision, states, now)


def _decide(command: c.Command, states: Mapping[str, State], now: datetime) -> Decision:
    match command:
        case c.ReceiveStock() | c.ReturnStock() | c.AdjustStock() | c.CountStock():
            return stock.decide(command, states, now)
        case c.ReserveStock():
            return _reserve(command, states)
        case c.ConfirmReservation() | c.ReleaseReservation() | c.ExpireReservation():
            res = get(states, reservation_stream(command.reservation_id), ReservationState)
            return _lifecycle(command, res, now)
        case c.ShipStock(reservation_id=str(rid)):
            res = get(states, reservation_stream(rid), ReservationState)
            return _ship_reserved(command, res, now)
        case c.ShipStock():
            return stock.decide(command, states, now)
        case c.DispatchTransfer() | c.ReceiveTransfer():
            return transfer.decide(command, states, now)
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


def _reserve(cmd: c.ReserveStock, states: Mapping[str, State]) -> Decision:
    stream = reservation_stream(cmd.reservation_id)
    if get(states, stream, ReservationState).version:
        raise ConflictingDuplicate(f"Reservation {cmd.reservation_id} already exists")
    lines = c.merge_lines(cmd.lines)
    for sku in dict.fromkeys(x.sku for x in lines):
        require_active(states, sku, "reservations")
    stock.check_available(states, lines)

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
