"""A reservation's events, appended to its own stream `reservation:{reservationId}` with every
line and to each stock stream it holds with that stream's line. Its shipment is a `StockShipped`
(stock/events.py) that names it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from pydantic import ConfigDict

from ..codec import WIRE
from ..kit.events import KitLine
from ..stock.events import Line, ReservedLine


@dataclass(frozen=True, slots=True)
class StockReserved:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockReserved"
    reservation_id: str
    order_id: str
    expires_at: datetime
    lines: tuple[ReservedLine, ...]  # v2: lots allocated on lot-tracked items
    # v2: the lines that named a kit, with the components they were reserved as (on the
    # reservation's stream; `lines` holds what every stock stream reserved, kits' components
    # summed with the other lines)
    kits: tuple[KitLine, ...] = ()


@dataclass(frozen=True, slots=True)
class ReservationConfirmed:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ReservationConfirmed"
    reservation_id: str
    order_id: str


@dataclass(frozen=True, slots=True)
class ReservationReleased:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ReservationReleased"
    reservation_id: str
    order_id: str
    lines: tuple[Line, ...]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReservationExpired:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ReservationExpired"
    reservation_id: str
    order_id: str
    lines: tuple[Line, ...]
