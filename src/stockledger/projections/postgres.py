"""The Postgres read models: apply a batch of events idempotently, with gap filling and parking.

Per stream the row's `version` is the last event applied, written in the same transaction as
the levels: an event at or below it is a duplicate (ignored); one more is applied; a jump means
events are missing, and they are read from the event store first. A stream whose event cannot be
decoded or applied is parked (reported, never skipped); the other streams keep flowing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import structlog

from ..domain.catalog.state import ItemState, WarehouseState
from ..domain.reorder.alerts import Alert
from ..domain.reorder.state import ReorderState
from ..domain.reservation.state import ReservationState
from ..domain.stock.state import Levels, StockLevel
from ..domain.streams import category, reorder_stream
from ..metrics import PARKED, PROJECTED, PROJECTION_APPLY
from ..store.rows import RecordedEvent, level_columns, levels_of
from ..store.snapshots import state_to_json
from .rows import (
    Catalog,
    alert_from_row,
    apply_catalog,
    apply_reorder,
    apply_reservation,
    apply_stock,
    catalog_from_row,
    catalog_stream,
    lines_json,
    no_reorder,
    no_stock,
    reorder_from_row,
    reservation_from_row,
)

log = structlog.get_logger()

PROJECTION = "postgres"
PROJECTED_KINDS = frozenset({"stock", "reservation", "reorder", "item", "warehouse"})
CATALOG_KINDS = frozenset({"item", "warehouse"})
_EVENT_COLUMNS = (
    "position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at"
)
_UPSERT_STOCK = """
INSERT INTO stock_levels AS s (stream_id, sku, warehouse_id, on_hand, reserved, in_transit,
                               damaged, incoming, quality_control, expired, version,
                               updated_at, projected_at)
SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[],
                            $7::int[], $8::int[], $9::int[], $10::int[], $11::int[],
                            $12::timestamptz[])
ON CONFLICT (stream_id) DO UPDATE SET
    on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, in_transit = EXCLUDED.in_transit,
    damaged = EXCLUDED.damaged, incoming = EXCLUDED.incoming,
    quality_control = EXCLUDED.quality_control, expired = EXCLUDED.expired,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, projected_at = now()
WHERE s.version < EXCLUDED.version
"""
_UPSERT_RESERVATION = """
INSERT INTO reservation_views AS r (reservation_id, order_id, status, expires_at, lines, version,
                                    updated_at, projected_at)
SELECT x.id, x.order_id, x.status, x.expires_at, x.lines::jsonb, x.version, x.updated_at, now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::int[],
            $7::timestamptz[]) AS x(id, order_id, status, expires_at, lines, version, updated_at)
ON CONFLICT (reservation_id) DO UPDATE SET
    status = EXCLUDED.status, order_id = EXCLUDED.order_id, expires_at = EXCLUDED.expires_at,
    lines = EXCLUDED.lines, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
    projected_at = now()
WHERE r.version < EXCLUDED.version
"""
_UPSERT_REORDER = """
INSERT INTO {table} AS r (stream_id, sku, warehouse_id, reorder_point, reorder_quantity,
                          safety_stock, alert_id, alert_kind, version, updated_at, projected_at)
SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[],
                            $7::text[], $8::text[], $9::int[], $10::timestamptz[])
ON CONFLICT (stream_id) DO UPDATE SET
    reorder_point = EXCLUDED.reorder_point, reorder_quantity = EXCLUDED.reorder_quantity,
    safety_stock = EXCLUDED.safety_stock, alert_id = EXCLUDED.alert_id,
    alert_kind = EXCLUDED.alert_kind, version = EXCLUDED.version,
    updated_at = EXCLUDED.updated_at, projected_at = now()
WHERE r.version < EXCLUDED.version
"""
_UPSERT_CATALOG = """
INSERT INTO {table} AS c (stream_id, active, state, version, updated_at, projected_at)
SELECT *, now() FROM unnest($1::text[], $2::bool[], $3::jsonb[], $4::int[], $5::timestamptz[])
ON CONFLICT (stream_id) DO UPDATE SET
    active = EXCLUDED.active, state = EXCLUDED.state, version = EXCLUDED.version,
    updated_at = EXCLUDED.updated_at, projected_at = now()
WHERE c.version < EXCLUDED.version
"""
_UPSERT_ALERT = """
INSERT INTO {table} AS a (stream_id, opened_version, alert_id, sku, warehouse_id, kind,
                          opened_at, closed_at, available, reorder_point,
                          suggested_order_quantity, projected_at)
SELECT *, now() FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[],
                            $6::text[], $7::timestamptz[], $8::timestamptz[], $9::int[],
                            $10::int[], $11::int[])
ON CONFLICT (stream_id, opened_version) DO UPDATE SET
    kind = EXCLUDED.kind, closed_at = EXCLUDED.closed_at, available = EXCLUDED.available,
    suggested_order_quantity = EXCLUDED.suggested_order_quantity, projected_at = now()
"""


def group(events: Iterable[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    """Events per stream in version order, each version once."""
    streams: dict[str, dict[int, RecordedEvent]] = {}
    for event in events:
        streams.setdefault(event.stream_id, {}).setdefault(event.version, event)
    return {s: [v[k] for k in sorted(v)] for s, v in streams.items()}


async def _missing(conn: Any, stream_id: str, after: int, through: int) -> list[RecordedEvent]:
    rows = await conn.fetch(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 "
        "AND version <= $3 ORDER BY version",
        stream_id,
        after,
        through,
    )
    return [RecordedEvent(*r.values()) for r in rows]


async def _todo(
    conn: Any, stream_id: str, last: int, events: list[RecordedEvent]
) -> list[RecordedEvent]:
    """The events after `last`, contiguous: duplicates dropped, a gap filled from the store."""
    todo = [e for e in events if e.version > last]
    if todo and [e.version for e in todo] != list(range(last + 1, last + 1 + len(todo))):
        todo = await _missing(conn, stream_id, last, todo[-1].version)
    return todo


class PostgresProjection:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool

    async def apply(
        self, events: Sequence[RecordedEvent], poison: Sequence[tuple[str, str]] = ()
    ) -> list[StockLevel]:
        """Apply in ONE transaction; returns the stock rows that changed (for Redis)."""
        streams = group(events)
        ids = list(streams)
        async with self.pool.acquire() as conn, conn.transaction():
            for stream_id, error in poison:
                await self._park(conn, stream_id, 0, error)
            parked = {
                r["stream_id"]
                for r in await conn.fetch(
                    "SELECT stream_id FROM parked_streams WHERE projection = $1 "
                    "AND stream_id = ANY($2::text[])",
                    PROJECTION,
                    ids,
                )
            }
            stock = {
                r["stream_id"]: r
                for r in await conn.fetch(
                    "SELECT * FROM stock_levels WHERE stream_id = ANY($1::text[]) "
                    "ORDER BY stream_id FOR UPDATE",
                    ids,
                )
            }
            held = {
                f"reservation:{r['reservation_id']}": r
                for r in await conn.fetch(
                    "SELECT * FROM reservation_views WHERE reservation_id = ANY($1::text[]) "
                    "ORDER BY reservation_id FOR UPDATE",
                    [s.split(":", 1)[1] for s in ids if category(s) == "reservation"],
                )
            }
            rules, open_alerts = await _reorder_rows(conn, ids)
            entries = await _catalog_rows(conn, ids)
            changed: list[StockLevel] = []
            reservations: list[ReservationState] = []
            reorders: list[ReorderState] = []
            alerts: list[Alert] = []
            catalog: list[Catalog] = []
            for stream_id, stream_events in streams.items():
                kind = category(stream_id)
                if stream_id in parked or kind not in PROJECTED_KINDS:
                    continue
                try:
                    before: StockLevel | ReservationState | ReorderState | Catalog
                    if kind == "stock":
                        before = _stock_row(stock.get(stream_id), stream_id)
                    elif kind == "reservation":
                        before = _reservation(held.get(stream_id), stream_id)
                    elif kind == "reorder":
                        before = _reorder(rules.get(stream_id), stream_id)
                    else:
                        before = catalog_from_row(entries.get(stream_id), stream_id)
                except Exception as error:  # an unreadable row: rebuild it with `replay`
                    await self._park(conn, stream_id, 0, f"read model row: {error!r}")
                    continue
                todo = await _todo(conn, stream_id, before.version, stream_events)
                if not todo:
                    continue
                try:
                    if isinstance(before, StockLevel):
                        changed.append(apply_stock(before, todo))
                    elif isinstance(before, ReservationState):
                        reservations.append(apply_reservation(before, todo))
                    elif isinstance(before, ItemState | WarehouseState):
                        catalog.append(apply_catalog(before, todo))
                    else:
                        after, touched = apply_reorder(before, open_alerts.get(stream_id), todo)
                        reorders.append(after)
                        alerts += touched
                except Exception as error:  # a poison event: park the stream, keep the rest
                    await self._park(conn, stream_id, todo[0].version, repr(error))
            await _write(conn, changed, reservations)
            await write_reorders(conn, reorders, alerts)
            await write_catalog(conn, catalog)
        now = datetime.now(UTC)
        for event in events:
            PROJECTION_APPLY.observe(max(0.0, (now - event.recorded_at).total_seconds()))
        PROJECTED.labels(PROJECTION).inc(len(events))
        return changed

    async def _park(self, conn: Any, stream_id: str, version: int, error: str) -> None:
        log.error("projection parked a stream", stream_id=stream_id, version=version, error=error)
        PARKED.inc()
        await conn.execute(
            "INSERT INTO parked_streams (projection, stream_id, version, error) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            PROJECTION,
            stream_id,
            version,
            error[:2000],
        )


def _stock_row(row: Any, stream_id: str) -> StockLevel:
    if row is None:
        return no_stock(stream_id)
    return StockLevel(
        row["sku"],
        row["warehouse_id"],
        _levels(row),
        row["version"],
        row["updated_at"],
    )


def _reservation(row: Any, stream_id: str) -> ReservationState:
    if row is None:
        return ReservationState(stream_id.split(":", 1)[1])
    return reservation_from_row(row)


def _reorder(row: Any, stream_id: str) -> ReorderState:
    return no_reorder(stream_id) if row is None else reorder_from_row(row)


async def _reorder_rows(conn: Any, ids: list[str]) -> tuple[dict[str, Any], dict[str, Alert]]:
    """The reorder rows of the batch's reorder streams (locked) and their open alerts."""
    wanted = [s for s in ids if category(s) == "reorder"]
    if not wanted:
        return {}, {}
    rows = await conn.fetch(
        "SELECT * FROM reorder_views WHERE stream_id = ANY($1::text[]) "
        "ORDER BY stream_id FOR UPDATE",
        wanted,
    )
    alerts = await conn.fetch(
        "SELECT * FROM alerts WHERE stream_id = ANY($1::text[]) AND closed_at IS NULL", wanted
    )
    return {r["stream_id"]: r for r in rows}, {r["stream_id"]: alert_from_row(r) for r in alerts}


async def write_reorders(
    conn: Any,
    states: Sequence[ReorderState],
    alerts: Sequence[Alert],
    tables: tuple[str, str] = ("reorder_views", "alerts"),
) -> None:
    """Upsert reorder rows (never back in version) and alerts (their last shape)."""
    if states:
        rules = [s.rule for s in states]
        await conn.execute(
            _UPSERT_REORDER.format(table=tables[0]),
            [reorder_stream(s.sku, s.warehouse_id) for s in states],
            [s.sku for s in states],
            [s.warehouse_id for s in states],
            [r.reorder_point if r else None for r in rules],
            [r.reorder_quantity if r else None for r in rules],
            [r.safety_stock if r else None for r in rules],
            [s.alert_id for s in states],
            [s.alert_kind for s in states],
            [s.version for s in states],
            [s.updated_at for s in states],
        )
    if alerts:
        await conn.execute(
            _UPSERT_ALERT.format(table=tables[1]),
            [reorder_stream(a.sku, a.warehouse_id) for a in alerts],
            [a.opened_version for a in alerts],
            [a.alert_id for a in alerts],
            [a.sku for a in alerts],
            [a.warehouse_id for a in alerts],
            [a.kind for a in alerts],
            [a.opened_at for a in alerts],
            [a.closed_at for a in alerts],
            [a.available for a in alerts],
            [a.reorder_point for a in alerts],
            [a.suggested_order_quantity for a in alerts],
        )


async def _catalog_rows(conn: Any, ids: list[str]) -> dict[str, Any]:
    wanted = [s for s in ids if category(s) in CATALOG_KINDS]
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT * FROM catalog_views WHERE stream_id = ANY($1::text[]) "
        "ORDER BY stream_id FOR UPDATE",
        wanted,
    )
    return {r["stream_id"]: r for r in rows}


async def write_catalog(conn: Any, states: Sequence[Catalog], table: str = "catalog_views") -> None:
    """Upsert catalog rows, never back in version."""
    if states:
        await conn.execute(
            _UPSERT_CATALOG.format(table=table),
            [catalog_stream(s) for s in states],
            [s.active for s in states],
            [state_to_json(s) for s in states],
            [s.version for s in states],
            [s.updated_at for s in states],
        )


def _levels(row: Any) -> Levels:
    return levels_of(row)


async def _write(conn: Any, stock: list[StockLevel], reservations: list[ReservationState]) -> None:
    if stock:
        await conn.execute(
            _UPSERT_STOCK,
            [r.stream_id for r in stock],
            [r.sku for r in stock],
            [r.warehouse_id for r in stock],
            *level_columns([r.levels for r in stock]),
            [r.version for r in stock],
            [r.updated_at for r in stock],
        )
    if reservations:
        await conn.execute(
            _UPSERT_RESERVATION,
            [r.reservation_id for r in reservations],
            [r.order_id for r in reservations],
            [r.status.value for r in reservations],
            [r.expires_at for r in reservations],
            [orjson.dumps(lines_json(r)).decode() for r in reservations],
            [r.version for r in reservations],
            [r.updated_at for r in reservations],
        )
