"""Read-model rows and how events change them: the domain's own `delta` and `evolve`, so a
projection, a replay and `verify` can only agree or expose a real drift."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from pydantic import TypeAdapter

from ..domain.aggregates import initial_state
from ..domain.catalog.state import ItemState, WarehouseState
from ..domain.codec import decode, encode_all
from ..domain.events import from_data
from ..domain.kit.events import KitLine
from ..domain.reorder.alerts import Alert, fold_reorder
from ..domain.reorder.state import ReorderRule, ReorderState
from ..domain.reservation.state import ReservationState, ReservationStatus, evolve_reservation
from ..domain.stock.events import LotQuantity, ReservedLine
from ..domain.stock.state import StockLevel, StockState, delta
from ..domain.streams import item_stream, parse_reorder_stream, parse_stock_stream, warehouse_stream
from ..store.rows import RecordedEvent
from ..store.snapshots import fold, state_from_json


def no_stock(stream_id: str) -> StockLevel:
    """The level of a stock stream the read model has no row for yet."""
    sku, warehouse_id = parse_stock_stream(stream_id)
    return StockLevel(sku, warehouse_id)


def apply_stock(row: StockLevel, events: Iterable[RecordedEvent]) -> StockLevel:
    stream = StockState(row.sku, row.warehouse_id)  # delta only needs the stream's identity
    levels, version, updated_at = row.levels, row.version, row.updated_at
    for event in events:
        levels = levels + delta(stream, from_data(event.type, event.data, event.schema_version))
        version, updated_at = event.version, event.recorded_at
    return replace(row, levels=levels, version=version, updated_at=updated_at)


def reservation_from_row(row: Any) -> ReservationState:
    return ReservationState(
        reservation_id=row["reservation_id"],
        version=row["version"],
        status=ReservationStatus(row["status"]),
        order_id=row["order_id"],
        lines=tuple(_reserved_line(**x) for x in row["lines"] if "components" not in x),
        kits=tuple(_KIT_LINE.validate_python(x) for x in row["lines"] if "components" in x),
        expires_at=row["expires_at"],
        updated_at=row["updated_at"],
    )


def apply_reservation(state: ReservationState, events: Iterable[RecordedEvent]) -> ReservationState:
    for event in events:
        state = evolve_reservation(
            state, from_data(event.type, event.data, event.schema_version), event.recorded_at
        )
    return state


def lines_json(state: ReservationState) -> list[dict[str, Any]]:
    """The `lines` column: what each stock stream holds (with the lots it took, lot-tracked
    items), then the kit lines (the entries with `components`), so the view shows the
    reservation as the order named it."""
    held = [
        {
            "sku": x.sku,
            "warehouse_id": x.warehouse_id,
            "quantity": x.quantity,
            **({"lots": encode_all(x.lots)} if x.lots is not None else {}),
        }
        for x in state.lines
    ]
    return held + [_KIT_LINE.dump_python(x, mode="json") for x in state.kits]


_KIT_LINE = TypeAdapter(KitLine)


def _reserved_line(
    sku: str, warehouse_id: str, quantity: int, lots: list[Any] | None = None
) -> ReservedLine:
    held = None if lots is None else tuple(decode(LotQuantity, x) for x in lots)
    return ReservedLine(sku, warehouse_id, quantity, held)


def reorder_from_row(row: Any) -> ReorderState:
    rule = None
    if row["reorder_point"] is not None:
        rule = ReorderRule(row["reorder_point"], row["reorder_quantity"], row["safety_stock"])
    return ReorderState(
        row["sku"],
        row["warehouse_id"],
        row["version"],
        rule,
        row["alert_id"],
        row["alert_kind"],
        row["updated_at"],
    )


def no_reorder(stream_id: str) -> ReorderState:
    return ReorderState(*parse_reorder_stream(stream_id))


def alert_from_row(row: Any) -> Alert:
    return Alert(
        row["alert_id"],
        row["sku"],
        row["warehouse_id"],
        row["kind"],
        row["opened_version"],
        row["opened_at"],
        row["available"],
        row["reorder_point"],
        row["suggested_order_quantity"],
        row["closed_at"],
    )


def apply_reorder(
    state: ReorderState, open_alert: Alert | None, events: Iterable[RecordedEvent]
) -> tuple[ReorderState, list[Alert]]:
    """The reorder stream after `events`, and every alert they touched (see fold_reorder)."""
    steps = (
        (from_data(e.type, e.data, e.schema_version), e.version, e.recorded_at) for e in events
    )
    state, alerts = fold_reorder(state, open_alert, steps)
    return state, list(alerts.values())


Catalog = ItemState | WarehouseState


def catalog_stream(state: Catalog) -> str:
    if isinstance(state, ItemState):
        return item_stream(state.sku)
    return warehouse_stream(state.warehouse_id)


def catalog_from_row(row: Any, stream_id: str) -> Catalog:
    """The item or warehouse a catalog_views row holds (as never defined without a row)."""
    state = initial_state(stream_id) if row is None else state_from_json(stream_id, row["state"])
    if not isinstance(state, ItemState | WarehouseState):
        raise TypeError(f"{stream_id} is not a catalog stream")
    return state


def apply_catalog(state: Catalog, events: Iterable[RecordedEvent]) -> Catalog:
    after = fold(state, events)
    if not isinstance(after, ItemState | WarehouseState):
        raise TypeError(f"{type(after).__name__} is not a catalog state")
    return after
