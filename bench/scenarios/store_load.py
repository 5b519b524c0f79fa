"""P7: load a stream of 10,000 events with an empty cache (StateLoader.load, no HTTP), next to
the `eventsourcing` library loading the same stream as an aggregate with its snapshot.

Both sides snapshot every 100 versions, so "the stream" is its snapshot at 10,000 plus no
tail; the worst case, 99 events after the snapshot, is measured too (the state at version
9,999 on both sides). Neither side caches aggregates; Postgres' buffer cache is warm for both.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application

from bench.esmodel import Stock, fresh_app
from bench.results import Result
from bench.runner import Context, scenario
from bench.scenarios.store_timetravel import stream_database
from bench.storebench import Timer, connection, load_average, percentile, summary_ms
from stockledger.domain.stock.state import StockState
from stockledger.store.db import create_pool
from stockledger.store.snapshots import StateLoader

GOAL_MS = 2.0
VERSIONS = 10_000


async def copy_into_eventsourcing(url: str, stream: str) -> tuple[Application[Any], UUID]:
    """The same 10,000 events as one `Stock` aggregate, saved 100 at a time (snapshots every
    100 versions, taken by the library's application)."""
    async with connection(url) as conn:
        rows = await conn.fetch(
            "SELECT type, data, d_on_hand, d_reserved, d_in_transit, d_damaged FROM events "
            "WHERE stream_id = $1 ORDER BY version",
            stream,
        )
    app = await fresh_app(url, "eventsourcing_p7")
    _, sku, warehouse = stream.split(":")

    def write() -> UUID:
        events = [(r["type"], orjson.loads(r["data"]), list(r.values())[2:]) for r in rows]
        first, rest = events[0], events[1:]
        stock = Stock(sku, warehouse, *first)
        for start in range(0, len(rest), 100):
            for type_name, data, delta in rest[start : start + 100]:
                stock.record(type_name, data, delta)
            app.save(stock)
        return stock.id

    return app, await asyncio.to_thread(write)


def time_eventsourcing(
    app: Application[Any], aggregate_id: UUID, version: int | None, n: int
) -> tuple[list[float], Stock]:
    samples: list[float] = []
    stock: Stock | None = None
    for _ in range(n):
        started = time.perf_counter()
        stock = app.repository.get(aggregate_id, version=version)
        samples.append(time.perf_counter() - started)
    assert stock is not None
    return samples, stock


@scenario("P7", "load a 10,000-event stream, empty cache, vs eventsourcing with its snapshot")
async def run(context: Context) -> list[Result]:
    url, stream = await stream_database(
        context, "stockledger_bench_load", "LD", VERSIONS, timedelta(seconds=60)
    )
    n, warm = (100, 10) if context.quick else (1_000, 50)
    app, aggregate_id = await copy_into_eventsourcing(url, stream)
    pool = await create_pool(url, 2)
    results: list[Result] = []
    try:
        loader = StateLoader(pool)
        load = load_average()
        for version, label in ((None, "snapshot + 0 events"), (VERSIONS - 1, "snapshot + 99")):
            ours: list[float] = []
            state: Any = None
            for i in range(n + warm):
                with Timer() as took:
                    state = (await loader.load([stream], version=version))[stream]
                if i >= warm:
                    ours.append(took.seconds)
            theirs, stock = await asyncio.to_thread(
                time_eventsourcing, app, aggregate_id, version, n + warm
            )
            theirs = theirs[warm:]
            # Same stream, same state on both sides.
            assert isinstance(state, StockState)
            assert stock.version == state.version == (version or VERSIONS)
            assert [state.levels.on_hand, state.levels.reserved] == stock.levels[:2]
            assert len(stock.processed) == len(state.processed)
            p50, p99 = statistics.median(ours), percentile(ours, 99)
            results.append(
                Result(
                    scenario=f"P7 StateLoader.load of a {VERSIONS:,}-event stream ({label}), "
                    "empty cache",
                    figure=f"{summary_ms(ours)} ({n:,} loads; {len(state.processed)} processed "
                    f"ids in the state; {load})",
                    ceiling=f"eventsourcing 9.5.6 (psycopg 3) repository.get: {summary_ms(theirs)}",
                    ratio=statistics.median(theirs) / p50,
                    goal=f"p99 <= {GOAL_MS:.0f} ms (ratio: their p50 / our p50)",
                    met=p99 * 1000 <= GOAL_MS,
                )
            )
    finally:
        await pool.close()
        await asyncio.to_thread(app.close)
    return results
