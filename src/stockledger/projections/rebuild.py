"""`replay`: rebuild a read model from the event store into a shadow, then swap it in.

Reads keep working: the live table serves them (and the projector keeps writing it) until one
short transaction locks it, recomputes the streams that changed since the rebuild's snapshot,
and renames the shadow into place. The projector then carries on against the new table; its
per-stream versions make anything it sees twice harmless. Redis has no shadow: every hash is
rewritten with a compare-and-set that only refuses to go back in version.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg

from ..domain.reorder.alerts import Alert
from ..domain.reorder.state import ReorderState
from ..domain.reservation.state import ReservationState
from ..domain.stock.state import StockLevel
from ..store.rows import RecordedEvent, levels_of
from .postgres import write_catalog, write_reorders
from .redis_stock import RedisStock
from .rows import (
    Catalog,
    apply_catalog,
    apply_reorder,
    apply_reservation,
    catalog_from_row,
    lines_json,
    no_reorder,
)

Progress = Callable[[int], None]  # called with the number of events just processed
# Events per position chunk of the stock-levels replay. Every chunk upserts each stream it
# touches once, so fewer, larger chunks do less work: on 2,000,000 events over 45,000 streams,
# 200,000 took 10.2 s and 1,000,000 took 4.1 s (one pass: 3.5 s). bench P5 measures it.
CHUNK = 1_000_000

_STOCK_SUMS = """
SELECT stream_id, split_part(stream_id, ':', 2) AS sku, split_part(stream_id, ':', 3) AS wh,
       sum(d_on_hand)::int AS on_hand, sum(d_reserved)::int AS reserved,
       sum(d_in_transit)::int AS in_transit, sum(d_damaged)::int AS damaged,
       sum(d_incoming)::int AS incoming, sum(d_quality_control)::int AS quality_control,
       sum(d_expired)::int AS expired, max(version) AS version, max(recorded_at) AS updated_at,
       count(*) AS n
FROM events WHERE {where}
GROUP BY stream_id
"""
_MERGE = """
INSERT INTO {table} AS t (stream_id, sku, warehouse_id, on_hand, reserved, in_transit, damaged,
                          incoming, quality_control, expired, version, updated_at,
                          projected_at)
SELECT stream_id, sku, wh, on_hand, reserved, in_transit, damaged, incoming, quality_control,
       expired, version, updated_at, now()
FROM ({sums}) s
ON CONFLICT (stream_id) DO UPDATE SET
    on_hand = t.on_hand + EXCLUDED.on_hand, reserved = t.reserved + EXCLUDED.reserved,
    in_transit = t.in_transit + EXCLUDED.in_transit, damaged = t.damaged + EXCLUDED.damaged,
    incoming = t.incoming + EXCLUDED.incoming,
    quality_control = t.quality_control + EXCLUDED.quality_control,
    expired = t.expired + EXCLUDED.expired, version = GREATEST(t.version, EXCLUDED.version),
    updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)
"""
_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16"


async def count_events(pool: asyncpg.Pool[Any], prefix: str) -> int:
    total: int = await pool.fetchval(
        "SELECT count(*) FROM events WHERE stream_id LIKE $1", prefix + "%"
    )
    return total


async def _swap(conn: Any, table: str) -> None:
    await conn.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    await conn.execute(f"ALTER TABLE {table}_shadow RENAME TO {table}")
    await conn.execute(f"DROP TABLE {table}_old")
    await conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO stockledger_app")


async def _shadow(conn: Any, table: str) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {table}_shadow")
    await conn.execute(f"CREATE TABLE {table}_shadow (LIKE {table} INCLUDING ALL)")


async def rebuild_stock_levels(pool: asyncpg.Pool[Any], progress: Progress) -> None:
    async with pool.acquire() as conn:
        await _shadow(conn, "stock_levels")
        # One repeatable-read snapshot for every chunk; events from transactions below the
        # horizon are all in it. Chunks go by position; per-stream sums simply add up.
        async with conn.transaction(isolation="repeatable_read", readonly=False):
            horizon: int = await conn.fetchval(_HORIZON)
            after = 0
            while True:
                chunk = await conn.fetchrow(
                    "SELECT max(position) AS last, count(*) AS n FROM (SELECT position FROM events "
                    "WHERE position > $1 AND position < $2 ORDER BY position LIMIT $3) p",
                    after,
                    horizon,
                    CHUNK,
                )
                if chunk is None or not chunk["n"]:
                    break
                where = "position > $1 AND position <= $2 AND stream_id LIKE 'stock:%'"
                sums = _STOCK_SUMS.format(where=where)
                await conn.execute(
                    _MERGE.format(table="stock_levels_shadow", sums=sums), after, chunk["last"]
                )
                progress(chunk["n"])
                after = chunk["last"]
        async with conn.transaction():
            await conn.execute("LOCK TABLE stock_levels IN ACCESS EXCLUSIVE MODE")
            changed = [
                r["stream_id"]
                for r in await conn.fetch(
                    "SELECT DISTINCT stream_id FROM events WHERE position >= $1 "
                    "AND stream_id LIKE 'stock:%'",
                    horizon,
                )
            ]
            await conn.execute("DELETE FROM stock_levels_shadow WHERE stream_id = ANY($1)", changed)
            sums = _STOCK_SUMS.format(where="stream_id = ANY($1::text[])")
            await conn.execute(_MERGE.format(table="stock_levels_shadow", sums=sums), changed)
            await _swap(conn, "stock_levels")


async def _streams(
    conn: Any, where: str, *args: Any, progress: Progress | None = None
) -> AsyncIterator[list[RecordedEvent]]:
    """The events matching `where`, one stream at a time in stream order, from a cursor."""
    stream: list[RecordedEvent] = []
    seen = 0
    async for row in conn.cursor(
        "SELECT position, event_id, stream_id, version, type, schema_version, data, metadata, "
        f"recorded_at FROM events WHERE {where} ORDER BY stream_id, version",
        *args,
        prefetch=5000,
    ):
        event = RecordedEvent(*row.values())
        if stream and stream[0].stream_id != event.stream_id:
            yield stream
            stream = []
        stream.append(event)
        seen += 1
        if progress is not None and seen % 5000 == 0:
            progress(5000)
    if stream:
        yield stream
    if progress is not None:
        progress(seen % 5000)


async def _fold_reservations(
    conn: Any, where: str, *args: Any, progress: Progress | None = None
) -> list[ReservationState]:
    return [
        apply_reservation(ReservationState(events[0].stream_id.split(":", 1)[1]), events)
        async for events in _streams(conn, where, *args, progress=progress)
    ]


async def _insert_reservations(conn: Any, table: str, states: list[ReservationState]) -> None:
    await conn.executemany(
        f"INSERT INTO {table} (reservation_id, order_id, status, expires_at, lines, version, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                s.reservation_id,
                s.order_id,
                s.status.value,
                s.expires_at,
                lines_json(s),
                s.version,
                s.updated_at,
            )
            for s in states
        ],
    )


Fill = Callable[[Any, str, tuple[Any, ...], Progress | None], Awaitable[None]]


async def _rebuild_folded(
    pool: asyncpg.Pool[Any],
    tables: tuple[str, ...],
    selection: str,
    fill: Fill,
    forget: Callable[[Any, list[str]], Awaitable[None]],
    progress: Progress,
) -> None:
    """The rebuild of read models folded per stream (see the module docstring): `fill` folds
    the streams matching a condition into the shadows of `tables` from one snapshot; then,
    under the tables' locks, `forget` drops the shadow rows of the streams written since, which
    `fill` folds again, and the shadows are swapped in."""
    async with pool.acquire() as conn:
        for table in tables:
            await _shadow(conn, table)
        async with conn.transaction(isolation="repeatable_read", readonly=False):
            horizon: int = await conn.fetchval(_HORIZON)
            await fill(conn, f"{selection} AND position < $1", (horizon,), progress)
        async with conn.transaction():
            await conn.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
            changed = [
                r["stream_id"]
                for r in await conn.fetch(
                    f"SELECT DISTINCT stream_id FROM events WHERE position >= $1 AND {selection}",
                    horizon,
                )
            ]
            await forget(conn, changed)
            await fill(conn, "stream_id = ANY($1::text[])", (changed,), None)
            for table in tables:
                await _swap(conn, table)


async def _forget_by_stream(conn: Any, tables: tuple[str, ...], changed: list[str]) -> None:
    for table in tables:
        await conn.execute(f"DELETE FROM {table} WHERE stream_id = ANY($1)", changed)


async def rebuild_reservations(pool: asyncpg.Pool[Any], progress: Progress) -> None:
    async def fill(conn: Any, where: str, args: tuple[Any, ...], advance: Progress | None) -> None:
        states = await _fold_reservations(conn, where, *args, progress=advance)
        await _insert_reservations(conn, "reservation_views_shadow", states)

    async def forget(conn: Any, changed: list[str]) -> None:
        await conn.execute(
            "DELETE FROM reservation_views_shadow WHERE reservation_id = ANY($1)",
            [s.split(":", 1)[1] for s in changed],
        )

    selection = "stream_id LIKE 'reservation:%'"
    await _rebuild_folded(pool, ("reservation_views",), selection, fill, forget, progress)


async def rebuild_redis(pool: asyncpg.Pool[Any], redis: RedisStock, progress: Progress) -> None:
    """Every stock hash from the event store, CAS-written (never back in version), and the
    projection marked complete."""

    async def batches() -> AsyncGenerator[list[StockLevel], None]:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            batch: list[StockLevel] = []
            async for row in conn.cursor(
                _STOCK_SUMS.format(where="stream_id LIKE 'stock:%'"), prefetch=5000
            ):
                batch.append(
                    StockLevel(
                        row["sku"],
                        row["wh"],
                        levels_of(row),
                        row["version"],
                        row["updated_at"],
                    )
                )
                progress(row["n"])
                if len(batch) >= 2000:
                    yield batch
                    batch = []
            yield batch

    if not await redis.refill(batches(), allow_equal=True):
        raise ConnectionError("Redis refused the rebuild; nothing is lost, run replay again")


async def _fold_reorders(
    conn: Any, where: str, *args: Any, progress: Progress | None = None
) -> tuple[list[ReorderState], list[Alert]]:
    """Every reorder stream matching `where`, folded from its first event: its row and its
    alerts."""
    states: list[ReorderState] = []
    alerts: list[Alert] = []
    async for events in _streams(conn, where, *args, progress=progress):
        state, touched = apply_reorder(no_reorder(events[0].stream_id), None, events)
        states.append(state)
        alerts += touched
    return states, alerts


async def rebuild_alerts(pool: asyncpg.Pool[Any], progress: Progress) -> None:
    """The reorder rows and every alert, from the reorder streams, shadowed and swapped."""
    shadows = ("reorder_views_shadow", "alerts_shadow")

    async def fill(conn: Any, where: str, args: tuple[Any, ...], advance: Progress | None) -> None:
        states, alerts = await _fold_reorders(conn, where, *args, progress=advance)
        await write_reorders(conn, states, alerts, shadows)

    async def forget(conn: Any, changed: list[str]) -> None:
        await _forget_by_stream(conn, shadows, changed)

    selection = "stream_id LIKE 'reorder:%'"
    await _rebuild_folded(pool, ("reorder_views", "alerts"), selection, fill, forget, progress)


async def _fold_catalog(
    conn: Any, where: str, *args: Any, progress: Progress | None = None
) -> list[Catalog]:
    return [
        apply_catalog(catalog_from_row(None, events[0].stream_id), events)
        async for events in _streams(conn, where, *args, progress=progress)
    ]


async def rebuild_catalog(pool: asyncpg.Pool[Any], progress: Progress) -> None:
    """Every item and warehouse from its stream, shadowed and swapped."""

    async def fill(conn: Any, where: str, args: tuple[Any, ...], advance: Progress | None) -> None:
        states = await _fold_catalog(conn, where, *args, progress=advance)
        await write_catalog(conn, states, "catalog_views_shadow")

    async def forget(conn: Any, changed: list[str]) -> None:
        await _forget_by_stream(conn, ("catalog_views_shadow",), changed)

    selection = "(stream_id LIKE 'item:%' OR stream_id LIKE 'warehouse:%')"
    await _rebuild_folded(pool, ("catalog_views",), selection, fill, forget, progress)
