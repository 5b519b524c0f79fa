"""The serial numbers of a serial-tracked stock stream: which are on hand, damaged or on their
way in, and which shipped on which order (for returns); and `step_serials`, the pure fold.

A stream knows only its own serials. That a serial is in stock or in transit in one place of
the whole ledger is kept by the database, in the append's transaction (`serial_places`,
`write/serial_places.py`): `claims` and `releases` below say what a batch changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ..events import Event
from ..transfer.events import TransferDispatched, TransferReceived
from .events import StockAdjusted, StockReceived, StockReturned, StockShipped

SerialStatus = Literal["in_stock", "in_transit", "damaged"]


@dataclass(frozen=True, slots=True)
class ShippedSerial:
    serial: str
    order_id: str


@dataclass(frozen=True, slots=True)
class SerialBook:
    in_stock: frozenset[str] = frozenset()
    in_transit: frozenset[str] = frozenset()  # on their way here
    damaged: frozenset[str] = frozenset()
    shipped: tuple[ShippedSerial, ...] = field(default=())  # out on orders, not back

    def status(self, serial: str) -> SerialStatus | None:
        if serial in self.in_stock:
            return "in_stock"
        if serial in self.in_transit:
            return "in_transit"
        return "damaged" if serial in self.damaged else None

    def shipped_on(self, order_id: str) -> frozenset[str]:
        return frozenset(x.serial for x in self.shipped if x.order_id == order_id)

    def held(self) -> dict[str, SerialStatus]:
        """Every serial this warehouse holds or awaits, with how."""
        out: dict[str, SerialStatus] = dict.fromkeys(self.in_transit, "in_transit")
        out |= dict.fromkeys(self.damaged, "damaged")
        return out | dict.fromkeys(self.in_stock, "in_stock")


def step_serials(book: SerialBook, warehouse_id: str, event: Event) -> SerialBook:
    """How one event appended to a stock stream of `warehouse_id` moves its serials."""
    match event:
        case StockReceived(serials=tuple(serials)):
            return replace(book, in_stock=book.in_stock | set(serials))
        case StockShipped(order_id=order_id, lines=lines):
            out = [s for x in lines if x.warehouse_id == warehouse_id for s in x.serials or ()]
            return replace(
                book,
                in_stock=book.in_stock - set(out),
                shipped=(*book.shipped, *(ShippedSerial(s, order_id) for s in out)),
            )
        case StockReturned(serials=tuple(serials), order_id=order_id, condition=condition):
            back = set(serials)
            shipped = tuple(
                x for x in book.shipped if not (x.order_id == order_id and x.serial in back)
            )
            book = replace(book, shipped=shipped)
            if condition == "resellable":
                return replace(book, in_stock=book.in_stock | back)
            if condition == "damaged":
                return replace(book, damaged=book.damaged | back)
            return book
        case StockAdjusted(serials=tuple(serials), quantity_change=change):
            if change > 0:
                return replace(book, in_stock=book.in_stock | set(serials))
            return replace(book, in_stock=book.in_stock - set(serials))
        case TransferDispatched(
            serials=tuple(serials), from_warehouse_id=source, to_warehouse_id=t
        ):
            if source == warehouse_id:
                return replace(book, in_stock=book.in_stock - set(serials))
            if t == warehouse_id:
                return replace(book, in_transit=book.in_transit | set(serials))
            return book
        case TransferReceived(serials=tuple(serials), lost_serials=lost):
            arrived = set(serials)
            gone = arrived | set(lost or ())
            return replace(
                book, in_transit=book.in_transit - gone, in_stock=book.in_stock | arrived
            )
        case _:
            return book


def touches_serials(event: Event) -> bool:
    match event:
        case StockReceived(serials=tuple()) | StockReturned(serials=tuple()):
            return True
        case StockAdjusted(serials=tuple()) | TransferDispatched(serials=tuple()):
            return True
        case TransferReceived(serials=tuple()):
            return True
        case StockShipped(lines=lines):
            return any(x.serials for x in lines)
        case _:
            return False
