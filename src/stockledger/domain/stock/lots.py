"""The lots of a lot-tracked stock stream: what each lot holds, which reservation holds which
lots, what each order took from each lot; FEFO allocation; and `step_lots`, the pure fold.

A stream's lots live in its own state (no stream per lot): a reservation stays one stream per
line and FEFO is a pure choice in `decide` over these lots, with the clock passed in. The book
keeps only what holds something: a lot holding no units, a hold released, an order's lot
returned in full are dropped, so the state stays small.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

from ..events import Event
from ..reservation.events import ReservationExpired, ReservationReleased, StockReserved
from ..transfer.events import TransferDispatched, TransferReceived
from .events import (
    LotExpired,
    LotQuantity,
    StockAdjusted,
    StockInspected,
    StockReceived,
    StockReturned,
    StockShipped,
)


@dataclass(frozen=True, slots=True)
class Lot:
    lot_id: str
    expires_on: date | None
    first_received_at: datetime
    on_hand: int = 0
    reserved: int = 0
    expired: int = 0
    quality_control: int = 0  # on hand, awaiting inspection (a receipt with `inspect`)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.quality_control

    @property
    def holds_units(self) -> bool:
        return bool(self.on_hand or self.reserved or self.expired)

    def usable_on(self, today: date) -> bool:
        """A lot expiring on D can be allocated while the UTC date is before D."""
        return self.expires_on is None or today < self.expires_on


@dataclass(frozen=True, slots=True)
class LotHold:
    """The lots an open reservation holds on this stream."""

    reservation_id: str
    lots: tuple[LotQuantity, ...]


@dataclass(frozen=True, slots=True)
class OrderLot:
    """Units of a lot shipped on an order from this stream, net of what came back."""

    order_id: str
    lot_id: str
    quantity: int
    expires_on: date | None
    first_received_at: datetime


@dataclass(frozen=True, slots=True)
class LotBook:
    lots: tuple[Lot, ...] = ()
    holds: tuple[LotHold, ...] = ()
    shipped: tuple[OrderLot, ...] = ()

    def lot(self, lot_id: str) -> Lot | None:
        return next((x for x in self.lots if x.lot_id == lot_id), None)

    def hold(self, reservation_id: str) -> LotHold | None:
        return next((x for x in self.holds if x.reservation_id == reservation_id), None)

    def shipped_on(self, order_id: str, lot_id: str) -> OrderLot | None:
        return next((x for x in self.shipped if (x.order_id, x.lot_id) == (order_id, lot_id)), None)


def fefo_key(lot: Lot) -> tuple[bool, date, datetime, str]:
    """First expired, first out: earliest expiry first, lots without one last, ties by first
    receipt."""
    return (lot.expires_on is None, lot.expires_on or date.max, lot.first_received_at, lot.lot_id)


def allocatable(
    lots: Iterable[Lot], today: date, lot_id: str | None = None, min_expires_on: date | None = None
) -> list[Lot]:
    """The lots a request may take units from, in FEFO order."""
    return sorted(
        (
            x
            for x in lots
            if x.available > 0
            and x.usable_on(today)
            and lot_id in (None, x.lot_id)
            and (min_expires_on is None or x.expires_on is None or x.expires_on >= min_expires_on)
        ),
        key=fefo_key,
    )


def allocate(lots: list[Lot], quantity: int) -> tuple[LotQuantity, ...]:
    """`quantity` units taken from `lots` in their order (they must hold enough)."""
    taken: list[LotQuantity] = []
    for lot in lots:
        if quantity <= 0:
            break
        q = min(quantity, lot.available)
        taken.append(LotQuantity(lot.lot_id, q, lot.expires_on))
        quantity -= q
    return tuple(taken)


def taking(lots: tuple[Lot, ...], taken: Iterable[LotQuantity]) -> tuple[Lot, ...]:
    """`lots` with `taken` reserved (a working copy while one decision allocates more lines)."""
    by_id = {x.lot_id: x.quantity for x in merge(taken)}
    return tuple(
        replace(x, reserved=x.reserved + by_id[x.lot_id]) if x.lot_id in by_id else x for x in lots
    )


def merge(parts: Iterable[LotQuantity]) -> tuple[LotQuantity, ...]:
    """Quantities of the same lot summed, in first-seen order."""
    out: dict[str, LotQuantity] = {}
    for x in parts:
        seen = out.get(x.lot_id)
        out[x.lot_id] = replace(seen, quantity=seen.quantity + x.quantity) if seen else x
    return tuple(out.values())


def shipped_from_hold(hold: LotHold, quantity: int) -> tuple[LotQuantity, ...]:
    """A shipment of `quantity` of a held line takes the hold's lots in their order."""
    taken: list[LotQuantity] = []
    for x in hold.lots:
        if quantity <= 0:
            break
        q = min(quantity, x.quantity)
        taken.append(replace(x, quantity=q))
        quantity -= q
    return tuple(taken)


# -- the fold -----------------------------------------------------------------------------------


def _moved(lots: tuple[Lot, ...], lot_id: str, **changes: int) -> tuple[Lot, ...]:
    out = []
    for x in lots:
        if x.lot_id == lot_id:
            x = replace(x, **{k: getattr(x, k) + v for k, v in changes.items()})
        if x.holds_units:
            out.append(x)
    return tuple(out)


def _with_lot(book: LotBook, lot: Lot) -> LotBook:
    return book if book.lot(lot.lot_id) else replace(book, lots=(*book.lots, lot))


def _shipped(book: LotBook, order_id: str, lot: Lot, quantity: int) -> tuple[OrderLot, ...]:
    found = book.shipped_on(order_id, lot.lot_id)
    total = (found.quantity if found else 0) + quantity
    rest = tuple(x for x in book.shipped if x is not found)
    if total <= 0:
        return rest
    first = found.first_received_at if found else lot.first_received_at
    return (*rest, OrderLot(order_id, lot.lot_id, total, lot.expires_on, first))


def step_lots(
    book: LotBook, sku: str, warehouse_id: str, event: Event, recorded_at: datetime
) -> LotBook:
    """How one event appended to the stream `stock:{sku}:{warehouse_id}` moves its lots."""
    match event:
        case StockReceived(lot_id=str(lot_id), quantity=q, expires_on=expires_on, inspect=inspect):
            book = _with_lot(book, Lot(lot_id, expires_on, recorded_at))
            checked = q if inspect else 0
            return replace(book, lots=_moved(book.lots, lot_id, on_hand=q, quality_control=checked))
        case StockReserved(reservation_id=rid, lines=lines):
            own = [
                x.lots
                for x in lines
                if (x.sku, x.warehouse_id) == (sku, warehouse_id) and getattr(x, "lots", None)
            ]
            if not own:
                return book
            lots = book.lots
            for part in own:
                for taken in part or ():
                    lots = _moved(lots, taken.lot_id, reserved=taken.quantity)
            held = LotHold(rid, merge(x for part in own for x in part or ()))
            return replace(book, lots=lots, holds=(*book.holds, held))
        case ReservationReleased(reservation_id=rid) | ReservationExpired(reservation_id=rid):
            return _unhold(book, rid)
        case StockShipped(order_id=order_id, lines=lines, reservation_id=rid):
            if rid is not None:
                book = _unhold(book, rid)
            for line in lines:
                if (line.sku, line.warehouse_id) != (sku, warehouse_id):
                    continue
                for taken in line.lots or ():
                    lot = book.lot(taken.lot_id)
                    if lot is None:
                        continue
                    shipped = _shipped(book, order_id, lot, taken.quantity)
                    lots = _moved(book.lots, taken.lot_id, on_hand=-taken.quantity)
                    book = replace(book, lots=lots, shipped=shipped)
            return book
        case StockReturned(lot_id=str(lot_id), order_id=order_id, quantity=q, condition=cond):
            sent = book.shipped_on(order_id, lot_id)
            if sent is not None:
                back = Lot(lot_id, sent.expires_on, sent.first_received_at)
                book = replace(book, shipped=_shipped(book, order_id, back, -q))
            if cond == "resellable":
                start = Lot(lot_id, sent.expires_on if sent else None, recorded_at)
                book = _with_lot(book, start)
                book = replace(book, lots=_moved(book.lots, lot_id, on_hand=q))
            return book
        case StockAdjusted(lot_id=str(lot_id), reason="expiry", quantity_change=change) if (
            change < 0
        ):  # expired units written off
            return replace(book, lots=_moved(book.lots, lot_id, expired=change))
        case StockAdjusted(lot_id=str(lot_id), quantity_change=change):
            book = _with_lot(book, Lot(lot_id, None, recorded_at))
            return replace(book, lots=_moved(book.lots, lot_id, on_hand=change))
        case StockInspected(lot_id=str(lot_id), accepted=accepted, rejected=rejected):
            # out of the lot's quality control; the rejected units out of it, to damaged
            released = accepted + rejected
            moved = _moved(book.lots, lot_id, on_hand=-rejected, quality_control=-released)
            return replace(book, lots=moved)
        case LotExpired(lot_id=lot_id, quantity=q):
            return replace(book, lots=_moved(book.lots, lot_id, on_hand=-q, expired=q))
        case TransferDispatched(lots=lots, from_warehouse_id=source) if source == warehouse_id:
            for x in lots or ():
                book = replace(book, lots=_moved(book.lots, x.lot_id, on_hand=-x.quantity))
            return book
        case TransferReceived(lots=lots):  # the lot and its expiry travel with the units
            for x in lots or ():
                book = _with_lot(book, Lot(x.lot_id, x.expires_on, recorded_at))
                book = replace(book, lots=_moved(book.lots, x.lot_id, on_hand=x.quantity))
            return book
        case _:
            return book


def _unhold(book: LotBook, reservation_id: str) -> LotBook:
    hold = book.hold(reservation_id)
    if hold is None:
        return book
    lots = book.lots
    for x in hold.lots:
        lots = _moved(lots, x.lot_id, reserved=-x.quantity)
    return replace(book, lots=lots, holds=tuple(x for x in book.holds if x is not hold))


def touches_lots(event: Event) -> bool:
    """Whether an event may move a stream's lots (the others skip the lot fold)."""
    match event:
        case StockReceived(lot_id=str()) | StockReturned(lot_id=str()):
            return True
        case StockAdjusted(lot_id=str()) | LotExpired() | StockInspected(lot_id=str()):
            return True
        case TransferDispatched(lots=tuple()) | TransferReceived(lots=tuple()):
            return True
        case StockReserved(lines=lines):
            return any(getattr(x, "lots", None) for x in lines)
        case StockShipped(lines=lines):
            return any(x.lots for x in lines)
        case _:
            return False
