"""Benchmark data (bench/storedata.py) is exactly what the domain and the append path write."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import asyncpg
import orjson
from bench.storedata import Row, Shop, Snapshots, build, canonical_fast

from stockledger.domain.aggregates import evolve, initial_state
from stockledger.domain.events import from_data, to_data
from stockledger.domain.stock.state import Levels, StockState, delta
from stockledger.domain.upcasting import upcast
from stockledger.store.event_store import EventStore
from stockledger.store.hashchain import canonical, canonical_time
from stockledger.store.rows import NewEvent, StreamWrite
from stockledger.store.snapshots import state_to_json

from ..databases import fresh_database

COMPARED = (
    "event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, "
    "correlation_id, order_id, d_on_hand, d_reserved, d_in_transit, d_damaged, hash"
)


def rows(orders: int, skus: int = 4) -> list[Row]:
    shop = Shop(skus=skus, step=Shop.step * 30)
    return [r for batch in shop.batches(500, lambda s: s.emitted >= orders) for r in batch]


def test_rows_are_what_the_domain_writes() -> None:
    states: dict[str, Any] = {}
    seen: defaultdict[str, int] = defaultdict(int)
    for row in rows(3000):
        event = from_data(row.type, row.data, 1)  # the bench ledger is written as v1 events
        assert to_data(event) == upcast(row.type, 1, row.data)
        assert row.metadata["correlationId"] == row.correlation_id
        assert row.order_id == row.data.get("orderId")
        state = states.get(row.stream_id) or initial_state(row.stream_id)
        if isinstance(state, StockState):
            assert Levels(*row.delta) == delta(state, event)
        else:
            assert row.delta == (0, 0, 0, 0)
        assert state.updated_at is None or state.updated_at <= row.recorded_at
        states[row.stream_id] = evolve(state, event, row.recorded_at)
        seen[row.stream_id] += 1
        assert row.version == seen[row.stream_id]
        at = canonical_time(row.recorded_at)
        assert canonical_fast(row, at) == canonical(
            event_id=row.event_id,
            type=row.type,
            stream_id=row.stream_id,
            version=row.version,
            recorded_at=row.recorded_at,
            schema_version=1,
            data=row.data,
            metadata=row.metadata,
        )
    stock = [s for s in states.values() if isinstance(s, StockState)]
    assert stock
    assert all(s.levels.is_valid() for s in stock)


async def test_bulk_rows_equal_appended_rows(postgres_server: str) -> None:
    async with (
        fresh_database(postgres_server) as appended,
        fresh_database(postgres_server) as bulk,
    ):
        await _compare(appended, bulk)


async def _compare(appended: str, bulk: str) -> None:
    made = rows(2000)
    pool = await asyncpg.create_pool(appended, min_size=1, max_size=2)
    try:
        store = EventStore(pool)
        for start in range(0, len(made), 400):
            chunk = made[start : start + 400]
            per_stream: dict[str, list[Row]] = {}
            for row in chunk:
                per_stream.setdefault(row.stream_id, []).append(row)
            await store.append(
                [
                    StreamWrite(s, rs[0].version - 1, tuple(_new(r) for r in rs))
                    for s, rs in per_stream.items()
                ]
            )
    finally:
        await pool.close()
    shop = Shop(skus=4, step=Shop.step * 30)
    snapshots = Snapshots(10, lambda stream: stream.startswith("stock:"))
    written = await build(
        bulk, shop, lambda s: s.emitted >= 2000, batch=400, outbox=True, snapshots=snapshots
    )
    assert written == len(made)

    async def table(url: str, sql: str) -> list[Any]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r.values()) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    order = " ORDER BY stream_id, version"
    assert await table(bulk, f"SELECT {COMPARED} FROM events{order}") == await table(
        appended, f"SELECT {COMPARED} FROM events{order}"
    )
    # The outbox holds every event, and positions are (xid << 16) + 1..n in each transaction.
    outbox = await table(bulk, "SELECT position, stream_id, version FROM outbox" + order)
    assert outbox == await table(bulk, "SELECT position, stream_id, version FROM events" + order)
    low = await table(bulk, "SELECT min(position & 65535), max(position & 65535) FROM events")
    assert low == [(1, 400)]
    # Snapshots hold what the ledger saves: the folded state every N versions.
    snaps = await table(bulk, "SELECT stream_id, version, state FROM snapshots")
    assert snaps
    for stream_id, version, state in snaps[:5]:
        conn = await asyncpg.connect(bulk)
        try:
            events = await conn.fetch(
                "SELECT type, data::text, recorded_at FROM events WHERE stream_id = $1 "
                "AND version <= $2 ORDER BY version",
                stream_id,
                version,
            )
        finally:
            await conn.close()
        folded = initial_state(stream_id)
        for e in events:
            folded = evolve(
                folded, from_data(e["type"], orjson.loads(e["data"]), 1), e["recorded_at"]
            )
        assert orjson.loads(state) == state_to_json(folded)


def _new(row: Row) -> NewEvent:
    return NewEvent(
        row.event_id,
        row.type,
        1,
        row.data,
        row.metadata,
        row.recorded_at,
        row.correlation_id,
        row.order_id,
        Levels(*row.delta),
    )
