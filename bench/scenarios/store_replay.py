"""P5: `replay` of 2,000,000 events into stock levels vs a plain orjson scan of the same rows."""

from __future__ import annotations

import orjson

from bench.results import Result
from bench.runner import Context, scenario
from bench.storebench import (
    Timer,
    connection,
    fresh_database,
    has_events,
    load_average,
    reusable_database,
    vacuum_analyze,
)
from bench.storedata import Shop, build
from stockledger.projections.rebuild import rebuild_stock_levels
from stockledger.store.db import create_pool

GOAL_SECONDS, GOAL_RATIO = 15.0, 0.55


async def events_database(context: Context, total: int) -> str:
    """`stockledger_bench_2m` (or `_200k` for --quick), built once and kept between runs."""
    millions, thousands = divmod(total, 1_000_000)
    size = f"{millions}m" if not thousands else f"{total // 1000}k"
    name = f"stockledger_bench_{size}"
    if (url := await reusable_database(name, lambda conn: has_events(conn, total))) is not None:
        context.console.print(f"reusing {name} (>= {total:,} events)")
        return url
    url = await fresh_database(name)
    console = context.console

    def progress(written: int) -> None:
        if written % 500_000 == 0:
            console.print(f"  {written:,} events written")

    with Timer() as took:
        written = await build(
            url,
            Shop(skus=15_000, warehouses=3),
            lambda shop: shop.emitted >= total,
            progress=progress,
        )
        await vacuum_analyze(url)
    console.print(
        f"built {name}: {written:,} events in {took.seconds:.0f} s "
        f"({written / took.seconds:,.0f} events/s, indexes and VACUUM ANALYZE included)"
    )
    return url


async def scan(url: str) -> tuple[float, int]:
    """The ceiling: every row's `data` in position order through a server-side cursor."""
    loads, n = orjson.loads, 0
    async with connection(url) as conn:
        with Timer() as took:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                async for row in conn.cursor(
                    "SELECT data FROM events ORDER BY position", prefetch=10_000
                ):
                    loads(row[0])
                    n += 1
    return took.seconds, n


async def replay(url: str) -> float:
    pool = await create_pool(url, 2)
    try:
        with Timer() as took:
            await rebuild_stock_levels(pool, lambda _: None)
    finally:
        await pool.close()
    return took.seconds


@scenario("P5", "replay of 2,000,000 events into stock levels vs an orjson scan of the rows")
async def run(context: Context) -> list[Result]:
    total = 200_000 if context.quick else 2_000_000
    url = await events_database(context, total)
    load = load_average()
    scans, replays, rows = [], [], 0
    for _ in range(1 if context.quick else 2):  # best of two, alternating, warm cache
        seconds, rows = await scan(url)
        scans.append(seconds)
        replays.append(await replay(url))
        context.console.print(f"scan {seconds:.2f} s, replay {replays[-1]:.2f} s")
    ceiling, figure = min(scans), min(replays)
    ratio = ceiling / figure
    return [
        Result(
            scenario=f"P5 replay {rows:,} events into stock_levels (rebuild_stock_levels)",
            figure=f"{figure:.2f} s ({rows / figure:,.0f} events/s; best of {len(replays)}; "
            f"{load})",
            ceiling=f"{ceiling:.2f} s (server-side cursor, orjson.loads of each row's data)",
            ratio=ratio,
            goal=f"<= {GOAL_SECONDS:.0f} s, >= {GOAL_RATIO:.0%} of the ceiling",
            met=figure <= GOAL_SECONDS and ratio >= GOAL_RATIO,
        )
    ]
