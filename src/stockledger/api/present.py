"""Domain and store values as wire dicts (camelCase), in one place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..domain.state import Levels, ReservationState, StockState
from ..projections.redis_stock import ProjectedLevel
from ..reads import HistoryEntry, StockLevel
from ..service import Outcome
from ..store.records import RecordedEvent


def levels_out(levels: Levels) -> dict[str, int]:
    return {
        "onHand": levels.on_hand,
        "reserved": levels.reserved,
        "available": levels.available,
        "inTransit": levels.in_transit,
        "damaged": levels.damaged,
    }


def stock_out(level: StockLevel | StockState | ProjectedLevel) -> dict[str, Any]:
    updated = level.updated_at
    return {
        "sku": level.sku,
        "warehouseId": level.warehouse_id,
        **levels_out(level.levels),
        "version": level.version,
        "updatedAt": updated.isoformat() if updated else None,
    }


def totals_out(levels: Iterable[StockLevel | ProjectedLevel]) -> dict[str, int]:
    total = Levels()
    for level in levels:
        total = total + level.levels
    return levels_out(total)


def events_out(events: Iterable[RecordedEvent]) -> list[dict[str, Any]]:
    return [e.envelope() for e in events]


def history_out(entries: Iterable[HistoryEntry]) -> list[dict[str, Any]]:
    return [{**x.event.envelope(), "balance": levels_out(x.balance)} for x in entries]


def reservation_out(state: ReservationState) -> dict[str, Any]:
    return {
        "reservationId": state.reservation_id,
        "orderId": state.order_id,
        "status": state.status.value,
        "expiresAt": state.expires_at.isoformat() if state.expires_at else None,
        "lines": [
            {"sku": x.sku, "warehouseId": x.warehouse_id, "quantity": x.quantity}
            for x in state.lines
        ],
    }


def render_command(outcome: Outcome) -> tuple[int, dict[str, Any]]:
    return 201, {
        "events": events_out(outcome.events),
        "stock": [stock_out(s) for s in outcome.stock],
    }


def render_reservation(outcome: Outcome) -> tuple[int, dict[str, Any]]:
    status, body = render_command(outcome)
    assert outcome.reservation is not None
    return status, {**reservation_out(outcome.reservation), **body}
