"""Domain and store values as wire dicts (camelCase), in one place."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..domain.catalog.state import ItemState, WarehouseState
from ..domain.codec import encode_all
from ..domain.kit.state import KitState
from ..domain.reorder.alerts import Alert
from ..domain.reorder.state import ReorderState
from ..domain.reservation.state import ReservationState
from ..domain.stock.state import Levels, StockLevel, StockState
from ..domain.valuation import text
from ..read.kits import KitLevel
from ..read.sources import Source
from ..read.stock import HistoryEntry
from ..store.rows import RecordedEvent
from ..write.ledger import Outcome


def levels_out(levels: Levels) -> dict[str, int]:
    return {
        "onHand": levels.on_hand,
        "reserved": levels.reserved,
        "available": levels.available,
        "inTransit": levels.in_transit,
        "damaged": levels.damaged,
        "incoming": levels.incoming,
        "qualityControl": levels.quality_control,
        "expired": levels.expired,
    }


def stock_out(level: StockLevel) -> dict[str, Any]:
    updated = level.updated_at
    return {
        "sku": level.sku,
        "warehouseId": level.warehouse_id,
        **levels_out(level.levels),
        "version": level.version,
        "updatedAt": updated.isoformat() if updated else None,
    }


def totals_out(levels: Iterable[StockLevel]) -> dict[str, int]:
    total = Levels()
    for level in levels:
        total = total + level.levels
    return levels_out(total)


def events_out(events: Iterable[RecordedEvent]) -> list[dict[str, Any]]:
    return [e.envelope() for e in events]


def events_page_out(events: list[RecordedEvent], limit: int) -> dict[str, Any]:
    """A page of a trail or the feed: the envelopes, and the last position when it is full."""
    return {
        "events": events_out(events),
        "next": str(events[-1].position) if len(events) == limit else None,
    }


def history_out(entries: Iterable[HistoryEntry]) -> list[dict[str, Any]]:
    return [{**x.event.envelope(), "balance": levels_out(x.balance)} for x in entries]


def reservation_out(state: ReservationState) -> dict[str, Any]:
    return {
        "reservationId": state.reservation_id,
        "orderId": state.order_id,
        "status": state.status.value,
        "expiresAt": state.expires_at.isoformat() if state.expires_at else None,
        "lines": reservation_lines_out(state),
    }


def reservation_lines_out(state: ReservationState) -> list[dict[str, Any]]:
    """The lines as the order named them: each kit line with its components (the units it
    holds of each), then what the reservation holds beyond its kits' components. A line or
    component that alone holds its stock stream shows the lots allocated there (lot-tracked
    items); the reservation's events carry every stream's lots."""
    beyond = Counter({(x.sku, x.warehouse_id): x.quantity for x in state.lines})
    held = {(x.sku, x.warehouse_id): x for x in state.lines}

    def lots(place: tuple[str, str], units: int) -> dict[str, Any]:
        line = held.get(place)
        if line is None or line.lots is None or line.quantity != units:
            return {}
        return {"lots": encode_all(line.lots)}

    kits: list[dict[str, Any]] = []
    for kit in state.kits:
        parts = []
        for part in kit.components:
            units = kit.quantity * part.quantity
            place = (part.sku, kit.warehouse_id)
            beyond[place] -= units
            parts.append(
                {"sku": part.sku, "perKit": part.quantity, "quantity": units, **lots(place, units)}
            )
        kits.append(
            {
                "sku": kit.sku,
                "warehouseId": kit.warehouse_id,
                "quantity": kit.quantity,
                "components": parts,
            }
        )
    plain = [
        {
            "sku": x.sku,
            "warehouseId": x.warehouse_id,
            "quantity": beyond[(x.sku, x.warehouse_id)],
            **lots((x.sku, x.warehouse_id), beyond[(x.sku, x.warehouse_id)]),
        }
        for x in state.lines
        if beyond[(x.sku, x.warehouse_id)] > 0
    ]
    return kits + plain


def kit_out(state: KitState) -> dict[str, Any]:
    return {
        "sku": state.sku,
        "components": [{"sku": x.sku, "quantity": x.quantity} for x in state.components],
        "version": state.version,
        "updatedAt": state.updated_at.isoformat() if state.updated_at else None,
    }


def kit_level_out(found: KitLevel) -> dict[str, Any]:
    return {
        "sku": found.kit.sku,
        "warehouseId": found.warehouse_id,
        "kit": True,
        "available": found.available,
        "components": [
            {**stock_out(level), "perKit": part.quantity}
            for part, level in zip(found.kit.components, found.components, strict=True)
        ],
    }


def source_headers(source: Source, header: str = "X-Stock-Source") -> dict[str, str]:
    """Where a read came from (`header`), and when a projection last wrote it."""
    headers = {header: source.name}
    if source.projected_at is not None:
        headers["X-Projected-At"] = source.projected_at.isoformat()
    return headers


def command_out(outcome: Outcome) -> dict[str, Any]:
    """A command's answer: the events it appended and the levels of every stream it touched."""
    return {"events": events_out(outcome.events), "stock": [stock_out(s) for s in outcome.stock]}


def reservation_command_out(outcome: Outcome) -> dict[str, Any]:
    """A reservation command's answer: the reservation, then what `command_out` gives."""
    assert outcome.reservation is not None
    return {**reservation_out(outcome.reservation), **command_out(outcome)}


def alert_out(alert: Alert) -> dict[str, Any]:
    return {
        "alertId": alert.alert_id,
        "sku": alert.sku,
        "warehouseId": alert.warehouse_id,
        "kind": alert.kind,
        "status": alert.status,
        "openedAt": alert.opened_at.isoformat(),
        "closedAt": alert.closed_at.isoformat() if alert.closed_at else None,
        "available": alert.available,
        "reorderPoint": alert.reorder_point,
        "suggestedOrderQuantity": alert.suggested_order_quantity,
    }


def item_out(state: ItemState) -> dict[str, Any]:
    return {
        "sku": state.sku,
        "name": state.name,
        "description": state.description,
        "unitOfMeasure": state.unit_of_measure,
        "valuationMethod": state.valuation_method,
        "tracking": state.tracking,
        "active": state.active,
        "version": state.version,
        "updatedAt": state.updated_at.isoformat() if state.updated_at else None,
    }


def warehouse_out(state: WarehouseState) -> dict[str, Any]:
    return {
        "warehouseId": state.warehouse_id,
        "name": state.name,
        "address": state.address,
        "active": state.active,
        "version": state.version,
        "updatedAt": state.updated_at.isoformat() if state.updated_at else None,
    }


def rule_out(state: ReorderState) -> dict[str, Any]:
    rule = state.rule
    return {
        "sku": state.sku,
        "warehouseId": state.warehouse_id,
        "reorderPoint": rule.reorder_point if rule else None,
        "reorderQuantity": rule.reorder_quantity if rule else None,
        "safetyStock": rule.safety_stock if rule else None,
        "alertId": state.alert_id,
        "alertKind": state.alert_kind,
        "version": state.version,
        "updatedAt": state.updated_at.isoformat() if state.updated_at else None,
    }


def catalog_command_out(outcome: Outcome) -> dict[str, Any]:
    """A catalog command's answer: the item or warehouse as it now is, and the events."""
    events = {"events": events_out(outcome.events)}
    match outcome.catalog:
        case ItemState() as item:
            return {**item_out(item), **events}
        case WarehouseState() as warehouse:
            return {**warehouse_out(warehouse), **events}
        case ReorderState() as rule:
            return {**rule_out(rule), **events}
        case KitState() as kit:
            return {**kit_out(kit), **events}
    raise TypeError("a catalog command's outcome names its item or warehouse")


def stream_value_out(state: StockState, at: datetime) -> dict[str, Any]:
    """One stream's value as of `at`: the levels, the values and (FIFO) the cost layers."""
    value = state.value
    on_hand = value.on_hand
    return {
        "sku": state.sku,
        "warehouseId": state.warehouse_id,
        "method": on_hand.method,
        "at": at.isoformat(),
        "version": state.version,
        "onHand": state.levels.on_hand,
        "value": text(on_hand.value),
        "unitCost": text(on_hand.unit_cost),
        "inTransit": state.levels.in_transit,
        "inTransitValue": text(value.in_transit_value),
        "damaged": state.levels.damaged,
        "damagedValue": text(value.damaged),
        "layers": [
            {
                "quantity": x.quantity,
                "unitCost": text(x.unit_cost),
                "value": text(x.value),
                "receivedAt": x.received_at.isoformat() if x.received_at else None,
            }
            for x in on_hand.layers
        ],
    }
