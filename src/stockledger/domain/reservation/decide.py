"""A reservation's rules: reserve available stock, confirm, release, expire when due, and ship
what it holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..catalog.decide import require_active
from ..catalog.state import ItemState
from ..decision import (
    AlreadyRecorded,
    Decision,
    Pending,
    Place,
    States,
    get,
    line_streams,
    per_line,
)
from ..errors import (
    ConflictingDuplicate,
    InsufficientStock,
    LedgerConflict,
    NotFound,
    ReservationNotActive,
    ShortLine,
)
from ..kit.decide import expand
from ..stock.commands import ShipStock, line_serials, merge_lines
from ..stock.decide import check_available, named_serials, serials_in_stock, stock_of
from ..stock.events import Line, LotQuantity, ReservedLine, ShippedLine, StockShipped
from ..stock.lots import allocatable, allocate, merge, shipped_from_hold, taking
from ..streams import item_stream, kit_stream, parse_stock_stream, reservation_stream, stock_stream
from .commands import (
    ConfirmReservation,
    ExpireReservation,
    LotLine,
    ReleaseReservation,
    ReservationCommand,
    ReserveStock,
)
from .events import ReservationConfirmed, ReservationExpired, ReservationReleased, StockReserved
from .state import ReservationState, ReservationStatus


def reads(command: ReservationCommand, states: States) -> tuple[str, ...]:
    """A new reservation reads whether each line's SKU is a kit, its stock streams and their
    items (a kit line's once its kit is known: its components'); any other command its
    reservation, then (once it is known) the stock streams it holds."""
    match command:
        case ReserveStock(reservation_id=rid, lines=lines):
            kits = tuple(dict.fromkeys(kit_stream(x.sku) for x in lines))
            skus = tuple(x.sku for x in lines)
            if all(k in states for k in kits):
                lines, kit_lines = expand(lines, states)
                skus = (*(x.sku for x in kit_lines), *(x.sku for x in lines))
            stock = tuple(stock_stream(x.sku, x.warehouse_id) for x in lines)
            items = tuple(item_stream(s) for s in skus)
            return (reservation_stream(rid), *kits, *stock, *items)
        case ShipStock(reservation_id=str(rid), lines=shipped):  # and whether items are tracked
            named = (stock_stream(x.sku, x.warehouse_id) for x in shipped or ())
            held = _held(states, rid)
            owned = dict.fromkeys(item_stream(parse_stock_stream(x)[0]) for x in held)
            return (reservation_stream(rid), *named, *held, *owned)
        case ShipStock():
            raise TypeError("a shipment without a reservation is stock's (stock/decide.py)")
        case _:
            rid = command.reservation_id
            return (reservation_stream(rid), *_held(states, rid))


def _held(states: States, reservation_id: str) -> tuple[str, ...]:
    """The stock streams a reservation holds, once its state is known."""
    own = states.get(reservation_stream(reservation_id))
    if not isinstance(own, ReservationState):
        return ()
    return tuple(stock_stream(x.sku, x.warehouse_id) for x in own.lines)


def places(command: ReservationCommand) -> tuple[Place, ...]:
    """A new reservation names its lines' places; the others go on with what was accepted."""
    match command:
        case ReserveStock(lines=lines):
            return tuple((x.sku, x.warehouse_id) for x in lines)
    return ()


def decide(command: ReservationCommand, states: States, now: datetime) -> Decision:
    match command:
        case ReserveStock():
            return _reserve(command, states, now)
        case ShipStock(reservation_id=str(rid)):
            return _ship_reserved(
                command, get(states, reservation_stream(rid), ReservationState), states, now
            )
        case ShipStock():
            raise TypeError("a shipment without a reservation is stock's (stock/decide.py)")
        case _:
            res = get(states, reservation_stream(command.reservation_id), ReservationState)
            return _lifecycle(command, res, now)


def _reserve(cmd: ReserveStock, states: States, now: datetime) -> Decision:
    stream = reservation_stream(cmd.reservation_id)
    if get(states, stream, ReservationState).version:
        raise ConflictingDuplicate(f"Reservation {cmd.reservation_id} already exists")
    # A kit line reserves its components; every line's units are summed per stock stream
    # before the check, so two lines sharing a component never take more than is there.
    held, kits = expand(cmd.lines, states)
    lines = merge_lines(held)
    for sku in dict.fromkeys((*(x.sku for x in kits), *(x.sku for x in lines))):
        require_active(states, sku, "reservations")
    # A kit's lot-tracked components are allocated FEFO like any line; a kit line cannot
    # choose their lots.
    for kit in kits:
        line = next(x for x in cmd.lines if x.sku == kit.sku)
        if isinstance(line, LotLine) and (line.lot_id or line.min_expires_on):
            raise LedgerConflict(f"{kit.sku} is a kit: its components' lots are taken FEFO")
    check_available(states, lines)
    lots = _allocate_lots(held, states, now)
    reserved = tuple(
        ReservedLine(x.sku, x.warehouse_id, x.quantity, lots.get((x.sku, x.warehouse_id)))
        for x in lines
    )

    def make(ls: tuple[ReservedLine, ...]) -> StockReserved:
        own = kits if ls is reserved else ()  # the kit lines go on the reservation's stream
        return StockReserved(cmd.reservation_id, cmd.order_id, cmd.expires_at, ls, own)

    return Decision(events=tuple(per_line(stream, reserved, make)), touched=line_streams(lines))


def _allocate_lots(
    lines: tuple[Line, ...], states: States, now: datetime
) -> dict[Place, tuple[LotQuantity, ...]]:
    """The lots each line on a lot-tracked item takes, FEFO, line after line against what the
    earlier lines took; refused with every short line when a line's lots do not hold enough
    (lots expired by today, or outside its `lotId` / `minExpiresOn`, do not count)."""
    working: dict[Place, tuple[Any, ...]] = {}
    taken: dict[Place, list[LotQuantity]] = {}
    short: list[ShortLine] = []
    for line in lines:
        lot_id = line.lot_id if isinstance(line, LotLine) else None
        min_expires_on = line.min_expires_on if isinstance(line, LotLine) else None
        place = (line.sku, line.warehouse_id)
        if get(states, item_stream(line.sku), ItemState).tracking != "lot":
            if lot_id is not None or min_expires_on is not None:
                raise LedgerConflict(f"Item {line.sku} is not tracked by lot: no lotId to choose")
            continue
        if place not in working:
            book = stock_of(states, *place).lots
            working[place] = book.lots if book else ()
        candidates = allocatable(working[place], now.date(), lot_id, min_expires_on)
        held = sum(x.available for x in candidates)
        if held < line.quantity:
            short.append(ShortLine(line.sku, line.warehouse_id, line.quantity, held))
            continue
        allocation = allocate(candidates, line.quantity)
        working[place] = taking(working[place], allocation)
        taken.setdefault(place, []).extend(allocation)
    if short:
        raise InsufficientStock(short)
    return {place: merge(parts) for place, parts in taken.items()}


def _lifecycle(
    cmd: ConfirmReservation | ReleaseReservation | ExpireReservation,
    res: ReservationState,
    now: datetime,
) -> Decision:
    stream = reservation_stream(res.reservation_id)
    touched = line_streams(res.lines)
    if res.status is ReservationStatus.NONE:
        raise NotFound(f"Reservation {res.reservation_id}")
    match cmd:
        case ExpireReservation():
            due = res.status is ReservationStatus.ACTIVE and res.expires_at is not None
            if not due or now < res.expires_at:  # type: ignore[operator]
                return Decision(touched=touched)  # confirmed, ended or not yet due: nothing to do
            return Decision(
                events=tuple(
                    per_line(
                        stream,
                        _plain(res.lines),
                        lambda ls: ReservationExpired(res.reservation_id, res.order_id, ls),
                    )
                ),
                touched=touched,
            )
        case ConfirmReservation():
            if res.status is ReservationStatus.CONFIRMED:
                return Decision(
                    already=AlreadyRecorded(stream, ReservationConfirmed.TYPE, {}), touched=touched
                )
            _require_open(res, now, "confirm")
            event = ReservationConfirmed(res.reservation_id, res.order_id)
            return Decision(events=((stream, event),), touched=touched)
        case ReleaseReservation():
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
                        _plain(res.lines),
                        lambda ls: ReservationReleased(
                            res.reservation_id, res.order_id, ls, cmd.reason
                        ),
                    )
                ),
                touched=touched,
            )


def _plain(lines: tuple[ReservedLine, ...]) -> tuple[Line, ...]:
    """A reservation's lines without their lots (each stock stream knows what it holds)."""
    return tuple(Line(x.sku, x.warehouse_id, x.quantity) for x in lines)


def _require_open(res: ReservationState, now: datetime, action: str) -> None:
    """Open means confirmed, or active and not yet due (a due one awaits the expiry worker)."""
    if res.status is ReservationStatus.CONFIRMED:
        return
    due = res.expires_at is not None and now >= res.expires_at
    if res.status is not ReservationStatus.ACTIVE or due:
        status = ReservationStatus.EXPIRED if due else res.status
        raise ReservationNotActive(res.reservation_id, status.value, action)


def _ship_reserved(
    cmd: ShipStock, res: ReservationState, states: States, now: datetime
) -> Decision:
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
    wanted = {(x.sku, x.warehouse_id): x.quantity for x in merge_lines(cmd.lines or res.lines)}
    reserved = {(x.sku, x.warehouse_id): x.quantity for x in res.lines}
    for key, quantity in wanted.items():
        if quantity > reserved.get(key, 0):
            raise LedgerConflict(
                f"Line {key[0]}@{key[1]} ships {quantity} but the reservation holds "
                f"{reserved.get(key, 0)}"
            )
    shipped = tuple(
        ShippedLine(
            sku=s,
            warehouse_id=w,
            quantity=wanted.get((s, w), 0),
            reserved_quantity=q,
            lots=_held_lots(states, res.reservation_id, s, w, wanted.get((s, w), 0)),
            serials=_shipped_serials(states, cmd, s, w, wanted.get((s, w), 0)),
        )
        for (s, w), q in reserved.items()
    )

    def make(ls: tuple[ShippedLine, ...]) -> StockShipped:
        return StockShipped(cmd.shipment_id, res.order_id, ls, res.reservation_id)

    events: list[Pending] = [(stream, make(shipped))]
    events += [(stock_stream(x.sku, x.warehouse_id), make((x,))) for x in shipped]
    return Decision(events=tuple(events), touched=line_streams(shipped))


def _shipped_serials(
    states: States, cmd: ShipStock, sku: str, warehouse_id: str, quantity: int
) -> tuple[str, ...] | None:
    """A reservation names no serials: its shipment's lines name the ones that go."""
    if not quantity:
        return None
    named = line_serials(cmd.lines).get((sku, warehouse_id))
    serials = named_serials(states, sku, named, quantity, "shipments")
    if serials is not None:
        serials_in_stock(stock_of(states, sku, warehouse_id), serials)
    return serials


def _held_lots(
    states: States, reservation_id: str, sku: str, warehouse_id: str, quantity: int
) -> tuple[LotQuantity, ...] | None:
    """The lots a shipment of a reservation's line takes: the ones the reservation holds."""
    book = stock_of(states, sku, warehouse_id).lots
    hold = book.hold(reservation_id) if book else None
    return shipped_from_hold(hold, quantity) if hold else None
