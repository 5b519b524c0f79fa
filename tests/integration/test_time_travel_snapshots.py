"""Time travel over a stream with many snapshots equals the plain sum of its events."""

from __future__ import annotations

import random
from datetime import timedelta

import asyncpg
from bench.storedata import Shop, Snapshots, build, until_version

from stockledger.domain.aggregates import initial_state
from stockledger.domain.stock.state import Levels
from stockledger.read.stock import StockReader
from stockledger.store.db import create_pool
from stockledger.store.event_store import EventStore
from stockledger.store.snapshots import StateLoader, fold

from ..databases import fresh_database

PLAIN = """
SELECT COALESCE(sum(d_on_hand), 0)::int, COALESCE(sum(d_reserved), 0)::int,
       COALESCE(sum(d_in_transit), 0)::int, COALESCE(sum(d_damaged), 0)::int
FROM events WHERE stream_id = $1 AND ($2::int IS NULL OR version <= $2)
  AND ($3::timestamptz IS NULL OR recorded_at <= $3)
"""


async def test_levels_at_any_time_or_version_match_the_events(postgres_server: str) -> None:
    async with fresh_database(postgres_server) as url:
        shop = Shop(skus=1, warehouses=1, step=timedelta(minutes=3), prefix="TT")
        stream = shop.stock[0]
        snapshots = Snapshots(10, lambda s: s == stream)
        await build(url, shop, until_version(0, 400), batch=300, snapshots=snapshots)
        pool = await create_pool(url, 2)
        try:
            await _check(pool, stream)
        finally:
            await pool.close()


async def _check(pool: asyncpg.Pool[asyncpg.Record], stream: str) -> None:
    times = [r[0] for r in await pool.fetch("SELECT recorded_at FROM snapshots")]
    times += [r[0] for r in await pool.fetch("SELECT recorded_at FROM events LIMIT 200")]
    assert len(times) > 40
    rng = random.Random(5)
    moments = times + [t + timedelta(seconds=rng.choice((-1, 1))) for t in times]
    reader = StockReader(pool)
    _, sku, warehouse = stream.split(":")
    for moment in moments:
        found = await reader.level(sku, warehouse, until=moment)
        plain = await pool.fetchrow(PLAIN, stream, None, moment)
        assert plain is not None
        assert (found.levels if found else Levels()) == Levels(*plain.values()), moment
    for version in [*range(1, 40), *rng.sample(range(40, 401), 60)]:
        found = await reader.level(sku, warehouse, version=version)
        plain = await pool.fetchrow(PLAIN, stream, version, None)
        assert found is not None
        assert plain is not None
        assert (found.levels, found.version) == (Levels(*plain.values()), version)


async def test_loaded_states_equal_the_fold_of_every_event(postgres_server: str) -> None:
    async with fresh_database(postgres_server) as url:
        shop = Shop(skus=3, warehouses=2, step=timedelta(minutes=2), prefix="LD")
        snapshots = Snapshots(10, lambda s: s.startswith("stock:"))
        await build(url, shop, lambda s: s.emitted >= 1500, batch=250, snapshots=snapshots)
        pool = await create_pool(url, 2)
        try:
            assert await pool.fetchval("SELECT count(*) FROM snapshots") > 10
            store, loader = EventStore(pool), StateLoader(pool)
            loaded = await loader.load(shop.stock)  # every stream in one query
            for stream in shop.stock:
                events = await store.read_stream(stream)
                assert loaded[stream] == fold(initial_state(stream), events)
                for version in (5, 10, 11, 19, len(events) - 1):
                    at = (await loader.load([stream], version=version))[stream]
                    assert at == fold(initial_state(stream), events[:version])
        finally:
            await pool.close()
