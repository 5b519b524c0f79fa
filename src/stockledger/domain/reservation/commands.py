"""What a reservation can be asked: be made, confirmed, released, expired (its shipment is a
`ShipStock` that names it, stock/commands.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ..stock.commands import ShipStock
from ..stock.events import Line


@dataclass(frozen=True, slots=True)
class LotLine(Line):
    """A reservation line on a lot-tracked item that narrows the lots it may take: only
    `lot_id`, or only lots expiring on or after `min_expires_on`."""

    lot_id: str | None = None
    min_expires_on: date | None = None


@dataclass(frozen=True, slots=True)
class ReserveStock:
    reservation_id: str
    order_id: str
    lines: tuple[Line, ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConfirmReservation:
    reservation_id: str


@dataclass(frozen=True, slots=True)
class ReleaseReservation:
    reservation_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ExpireReservation:
    reservation_id: str


ReservationCommand = (
    ReserveStock | ConfirmReservation | ReleaseReservation | ExpireReservation | ShipStock
)
