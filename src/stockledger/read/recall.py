"""A recall: every movement of one lot (or one serial) across the ledger, where its units are
now, and whether every unit received is accounted for.

One indexed path: `tracked_events` (written with the events, write/tracked_events.py) gives the
positions of the lot's events by one range of its primary key, and the events' primary key
gives the events; nothing scans the ledger. The figures come from the events' data read through
the upcasters, each movement from the stock stream it happened on. The trail and the lot's
holdings now are read in one snapshot (REPEATABLE READ), so `balanced` compares figures of the
same instant. Every committed event is in it, not only those below the commit horizon: a recall
must not miss the last shipment because some unrelated transaction is still open; its
`asOfPosition` is the highest position it includes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

from ..domain.events import Event, from_data
from ..domain.reservation.events import StockReserved
from ..domain.stock.events import (
    LotExpired,
    StockAdjusted,
    StockReceived,
    StockReturned,
    StockShipped,
)
from ..domain.stock.state import StockState
from ..domain.streams import parse_stock_stream
from ..domain.transfer.events import TransferDispatched, TransferReceived
from ..store.rows import RecordedEvent
from ..store.snapshots import StateLoader
from ..write.tracked_events import lot_unit, serial_unit

_TRAIL = """
SELECT e.position, e.event_id, e.stream_id, e.version, e.type, e.schema_version, e.data,
       e.metadata, e.recorded_at, e.hash
FROM tracked_events t JOIN events e ON e.position = t.position
WHERE t.sku = $1 AND t.unit = $2
ORDER BY t.position
"""
_HOLDINGS = """
SELECT warehouse_id, on_hand, reserved, expired FROM lot_holdings
WHERE sku = $1 AND lot_id = $2 ORDER BY warehouse_id
"""

# The CSV of a recall: one row per movement, a transfer being two (out of the source, into the
# destination), sortable by any column.
MOVEMENT_COLUMNS = (
    "position",
    "at",
    "movement",
    "warehouseId",
    "quantity",
    "orderId",
    "shipmentId",
    "returnId",
    "transferId",
    "purchaseOrderId",
    "supplier",
    "reason",
    "eventId",
)


@dataclass
class Trail:
    sku: str
    unit: str
    as_of: int
    events: list[RecordedEvent] = field(default_factory=list)
    expires_on: date | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    shipped: list[dict[str, Any]] = field(default_factory=list)
    returned: list[dict[str, Any]] = field(default_factory=list)
    transferred: list[dict[str, Any]] = field(default_factory=list)
    adjusted: list[dict[str, Any]] = field(default_factory=list)
    movements: list[dict[str, Any]] = field(default_factory=list)
    in_transit: dict[str, int] = field(default_factory=dict)
    lost: int = 0

    def move(self, event: RecordedEvent, movement: str, warehouse: str, q: int, **ids: Any) -> None:
        self.movements.append(
            {
                "position": event.position,
                "at": event.recorded_at.isoformat(),
                "movement": movement,
                "warehouseId": warehouse,
                "quantity": q,
                **{c: ids.get(c) for c in MOVEMENT_COLUMNS[5:12]},
                "eventId": str(event.event_id),
            }
        )


async def trail_events(
    pool: asyncpg.Pool[Any], sku: str, unit: str, lot_id: str | None = None
) -> tuple[list[RecordedEvent], list[asyncpg.Record]]:
    """The events that moved `unit` of `sku`, in position order, and (for a lot) its holdings
    now, in one snapshot."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        rows = await conn.fetch(_TRAIL, sku, unit)
        held = await conn.fetch(_HOLDINGS, sku, lot_id) if lot_id is not None else []
    return [RecordedEvent(*r.values()) for r in rows], held


def _lot_quantity(parts: Any, lot_id: str) -> int:
    return sum(x.quantity for x in parts or () if x.lot_id == lot_id)


def _lot_movements(trail: Trail, lot_id: str) -> None:
    """Sort each event of the lot into the recall's lists (quantities of this lot only)."""
    for recorded in trail.events:
        event: Event = from_data(recorded.type, recorded.data, recorded.schema_version)
        _, warehouse = parse_stock_stream(recorded.stream_id)
        at = recorded.recorded_at.isoformat()
        match event:
            case StockReceived(quantity=q):
                trail.expires_on = event.expires_on or trail.expires_on
                entry = {"warehouseId": warehouse, "quantity": q, "at": at}
                entry |= {"purchaseOrderId": event.purchase_order_id, "supplier": event.supplier}
                trail.received.append(entry)
                trail.move(recorded, "received", warehouse, q, **_ids(entry))
            case StockShipped(order_id=order, shipment_id=shipment):
                q = sum(_lot_quantity(x.lots, lot_id) for x in event.lines)
                entry = {"orderId": order, "shipmentId": shipment, "warehouseId": warehouse}
                trail.shipped.append(entry | {"quantity": q, "at": at})
                trail.move(recorded, "shipped", warehouse, q, **_ids(entry))
            case StockReturned(quantity=q, condition=condition):
                entry = {"orderId": event.order_id, "returnId": event.return_id}
                trail.returned.append(
                    entry
                    | {"warehouseId": warehouse, "quantity": q, "condition": condition}
                    | {"at": at}
                )
                trail.move(recorded, f"returned_{condition}", warehouse, q, **_ids(entry))
            case TransferDispatched(from_warehouse_id=source, to_warehouse_id=target):
                if warehouse != source:
                    continue  # the destination's copy: the same units, in transit to it
                q = _lot_quantity(event.lots, lot_id)
                trail.in_transit[target] = trail.in_transit.get(target, 0) + q
                entry = {"transferId": event.transfer_id, "from": source, "to": target}
                trail.transferred.append(entry | {"quantity": q, "at": at})
                trail.move(recorded, "transferred_out", source, q, transferId=event.transfer_id)
            case TransferReceived(to_warehouse_id=target):
                q = _lot_quantity(event.lots, lot_id)
                sent = trail.in_transit.get(target, 0)
                dispatched = _dispatched_of(trail, event.transfer_id)
                trail.in_transit[target] = sent - dispatched
                trail.lost += dispatched - q
                trail.move(recorded, "transferred_in", target, q, transferId=event.transfer_id)
                if dispatched - q:
                    trail.move(
                        recorded,
                        "lost_in_transit",
                        target,
                        dispatched - q,
                        transferId=event.transfer_id,
                    )
            case StockAdjusted(quantity_change=change, reason=reason):
                entry = {"warehouseId": warehouse, "quantity": change, "reason": reason}
                trail.adjusted.append(entry | {"at": at})
                trail.move(recorded, "adjusted", warehouse, change, reason=reason)
            case LotExpired(quantity=q):
                trail.move(recorded, "expired", warehouse, q)
            case StockReserved():
                pass  # a reservation moves no unit: the open ones are listed from the state


def lot_trail(sku: str, lot_id: str, events: list[RecordedEvent]) -> Trail:
    """The lot's movements sorted from its events (stock streams' copies, position order)."""
    trail = Trail(sku, lot_unit(lot_id), events[-1].position if events else 0, events)
    _lot_movements(trail, lot_id)
    return trail


def accounted(trail: Trail) -> int:
    """The units the movements say the lot holds: received - shipped + returned into it +
    adjusted (found, lost, written off) - lost in transit. A recall is balanced when that is
    what the lot holds now (onHand + inTransit + expired, wherever it is)."""
    received: int = sum(x["quantity"] for x in trail.received)
    shipped: int = sum(x["quantity"] for x in trail.shipped)
    back: int = sum(x["quantity"] for x in trail.returned if x["condition"] == "resellable")
    adjusted: int = sum(x["quantity"] for x in trail.adjusted)
    return received - shipped + back + adjusted - trail.lost


def _dispatched_of(trail: Trail, transfer_id: str) -> int:
    return sum(x["quantity"] for x in trail.transferred if x["transferId"] == transfer_id)


def _ids(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k in MOVEMENT_COLUMNS}


async def lot_recall(
    pool: asyncpg.Pool[Any], loader: StateLoader, sku: str, lot_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The recall of lot `lot_id` of `sku`, and its movements one per row (the CSV); None when
    no event names the lot."""
    events, held = await trail_events(pool, sku, lot_unit(lot_id), lot_id)
    if not events:
        return None
    trail = lot_trail(sku, lot_id, events)
    in_transit = {w: q for w, q in trail.in_transit.items() if q}
    places = sorted({*(r["warehouse_id"] for r in held), *in_transit})
    by_place = {r["warehouse_id"]: r for r in held}
    now = [
        {
            "warehouseId": w,
            "onHand": by_place[w]["on_hand"] if w in by_place else 0,
            "reserved": by_place[w]["reserved"] if w in by_place else 0,
            "inTransit": in_transit.get(w, 0),
            "expired": by_place[w]["expired"] if w in by_place else 0,
        }
        for w in places
    ]
    streams = sorted({e.stream_id for e in events})
    states = await loader.load(streams)
    orders = {e.data.get("reservationId"): e.data.get("orderId") for e in events}
    open_reservations: list[dict[str, Any]] = [
        {
            "reservationId": hold.reservation_id,
            "orderId": orders.get(hold.reservation_id),
            "warehouseId": state.warehouse_id,
            "quantity": _lot_quantity(hold.lots, lot_id),
        }
        for state in states.values()
        if isinstance(state, StockState) and state.lots
        for hold in state.lots.holds
        if _lot_quantity(hold.lots, lot_id)
    ]
    balanced = accounted(trail) == sum(x["onHand"] + x["inTransit"] + x["expired"] for x in now)
    body = {
        "sku": sku,
        "lotId": lot_id,
        "expiresOn": trail.expires_on.isoformat() if trail.expires_on else None,
        "received": trail.received,
        "shipped": trail.shipped,
        "returned": trail.returned,
        "transferred": trail.transferred,
        "adjusted": trail.adjusted,
        "now": now,
        "openReservations": open_reservations,
        "balanced": balanced,
        "events": [e.envelope() for e in events],
        "asOfPosition": trail.as_of,
    }
    return body, trail.movements


async def serial_history(pool: asyncpg.Pool[Any], sku: str, serial: str) -> dict[str, Any] | None:
    """Where serial `serial` of `sku` is, and every event that moved it (None: none did)."""
    events, _ = await trail_events(pool, sku, serial_unit(serial))
    if not events:
        return None
    place = await pool.fetchrow(
        "SELECT warehouse_id, status FROM serial_places WHERE sku = $1 AND serial = $2",
        sku,
        serial,
    )
    body: dict[str, Any] = {"sku": sku, "serial": serial}
    last = from_data(events[-1].type, events[-1].data, events[-1].schema_version)
    if place is not None:
        status = "in_transit" if place["status"] == "in_transit" else "in_stock"
        body |= {"status": status, "warehouseId": place["warehouse_id"]}
    else:
        match last:
            case StockShipped(order_id=order):
                body |= {"status": "shipped", "orderId": order}
            case TransferReceived():
                body |= {"status": "lost"}
            case _:
                body |= {"status": "removed"}  # written off, counted missing or disposed
    return body | {"events": [e.envelope() for e in events]}
