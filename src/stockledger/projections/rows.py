"""Read-model rows and how events change them: the domain's own `delta` and `evolve`, so a
projection, a replay and `verify` can only agree or expose a real drift."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..domain.events import Line, from_data
from ..domain.state import (
    Levels,
    ReservationState,
    ReservationStatus,
    StockState,
    delta,
    evolve_reservation,
)
from ..domain.streams import parse_stock_stream
from ..store.records import RecordedEvent


@dataclass(frozen=True, slots=True)
class StockRow:
    stream_id: str
    sku: str
    warehouse_id: str
    levels: Levels
    version: int
    updated_at: datetime

    @classmethod
    def empty(cls, stream_id: str) -> StockRow:
        sku, warehouse_id = parse_stock_stream(stream_id)
        return cls(stream_id, sku, warehouse_id, Levels(), 0, datetime.min)


def apply_stock(row: StockRow, events: Iterable[RecordedEvent]) -> StockRow:
    stream = StockState(row.sku, row.warehouse_id)  # delta only needs the stream's identity
    levels, version, updated_at = row.levels, row.version, row.updated_at
    for event in events:
        levels = levels + delta(stream, from_data(event.type, event.data))
        version, updated_at = event.version, event.recorded_at
    return replace(row, levels=levels, version=version, updated_at=updated_at)


def reservation_from_row(row: Any) -> ReservationState:
    return ReservationState(
        reservation_id=row["reservation_id"],
        version=row["version"],
        status=ReservationStatus(row["status"]),
        order_id=row["order_id"],
        lines=tuple(Line(**x) for x in row["lines"]),
        expires_at=row["expires_at"],
        updated_at=row["updated_at"],
    )


def apply_reservation(state: ReservationState, events: Iterable[RecordedEvent]) -> ReservationState:
    for event in events:
        state = evolve_reservation(state, from_data(event.type, event.data), event.recorded_at)
    return state


def lines_json(state: ReservationState) -> list[dict[str, Any]]:
    return [
        {"sku": x.sku, "warehouse_id": x.warehouse_id, "quantity": x.quantity} for x in state.lines
    ]
