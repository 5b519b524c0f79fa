"""A reservation's state, and `evolve`: a pure fold of its events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from ..events import Event
from ..kit.events import KitLine
from ..stock.events import ReservedLine, StockShipped
from .events import ReservationConfirmed, ReservationExpired, ReservationReleased, StockReserved


class ReservationStatus(StrEnum):
    NONE = "none"
    ACTIVE = "active"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"
    SHIPPED = "shipped"


@dataclass(frozen=True, slots=True)
class ReservationState:
    reservation_id: str
    version: int = 0
    status: ReservationStatus = ReservationStatus.NONE
    order_id: str = ""
    lines: tuple[ReservedLine, ...] = ()  # what it holds on each stock stream
    expires_at: datetime | None = None
    shipment_id: str | None = None
    updated_at: datetime | None = None
    kits: tuple[KitLine, ...] = ()  # the lines that named a kit, as they were reserved

    @property
    def is_open(self) -> bool:
        return self.status in (ReservationStatus.ACTIVE, ReservationStatus.CONFIRMED)

    @property
    def deadline(self) -> datetime | None:
        """When it expires unless confirmed, released or shipped first (only an active one)."""
        return self.expires_at if self.status is ReservationStatus.ACTIVE else None


def _reservation_change(event: Event, state: ReservationState) -> ReservationState:
    match event:
        case StockReserved():
            return replace(
                state,
                status=ReservationStatus.ACTIVE,
                order_id=event.order_id,
                lines=event.lines,
                expires_at=event.expires_at,
                kits=event.kits,
            )
        case ReservationConfirmed():
            return replace(state, status=ReservationStatus.CONFIRMED)
        case ReservationReleased():
            return replace(state, status=ReservationStatus.RELEASED)
        case ReservationExpired():
            return replace(state, status=ReservationStatus.EXPIRED)
        case StockShipped():
            return replace(state, status=ReservationStatus.SHIPPED, shipment_id=event.shipment_id)
        case _:
            return state


def evolve_reservation(
    state: ReservationState, event: Event, recorded_at: datetime
) -> ReservationState:
    changed = _reservation_change(event, state)
    return replace(changed, version=state.version + 1, updated_at=recorded_at)
