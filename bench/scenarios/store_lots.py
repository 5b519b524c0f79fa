"""E1: the expiring-lots list (GET /v1/lots) over 45,000 lot-tracked streams holding 5 lots each.

The rows are what the write path keeps beside the events (`lot_holdings`: one per lot holding
units, written in the append's transaction), generated directly: 225,000 lots with expiry dates
spread over the next 120 days. Figure: the first page (100 lots) of lots expiring within two
weeks, by expiry date, then sku, warehouse and lot (one index range of lot_holdings_expiring),
and a page deep in the list by its keyset cursor; best of five, warm cache. Goal: <= 1 s.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from bench.results import Result
from bench.runner import Context, scenario
from bench.storebench import Timer, fresh_database, load_average, vacuum_analyze
from stockledger.read.lots import expiring_lots
from stockledger.store.db import create_pool

GOAL_SECONDS = 1.0
STREAMS, LOTS = 45_000, 5
TODAY = date(2026, 12, 1)

_INSERT = """
INSERT INTO lot_holdings (stream_id, lot_id, sku, warehouse_id, expires_on, on_hand, reserved,
                          expired, first_received_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::int[],
                     $7::int[], $8::int[], $9::timestamptz[])
"""


def _rows(streams: int) -> list[list[object]]:
    rng = random.Random(23)
    columns: list[list[object]] = [[] for _ in range(9)]
    received = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(streams):
        sku, wh = f"FRESH-{n // 3:05d}", f"WH-{'ABC'[n % 3]}"
        for k in range(LOTS):
            row = (
                f"stock:{sku}:{wh}",
                f"L{n:05d}-{k}",
                sku,
                wh,
                TODAY + timedelta(days=rng.randint(-10, 120)),
                rng.randint(1, 60),
                0,
                rng.choice((0, 0, 0, 4)),
                received + timedelta(hours=k),
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    return columns


@scenario("E1", "expiring-lots list over 45,000 streams x 5 lots")
async def run(context: Context) -> list[Result]:
    streams = 4_500 if context.quick else STREAMS
    url = await fresh_database("stockledger_bench_lots")
    pool = await create_pool(url, 2)
    try:
        with Timer() as took:
            await pool.execute(_INSERT, *_rows(streams))
        await vacuum_analyze(url)
        context.console.print(f"{streams * LOTS:,} lots written in {took.seconds:.1f} s")
        before = TODAY + timedelta(days=14)
        first: list[float] = []
        deep: list[float] = []
        for _ in range(5):
            with Timer() as t:
                page = await expiring_lots(pool, before, None, None, None, 100)
            first.append(t.seconds)
            cursor = (TODAY + timedelta(days=7), "FRESH-07000", "WH-A", "L00000-0")
            with Timer() as t:
                await expiring_lots(pool, before, None, None, cursor, 100)
            deep.append(t.seconds)
        assert len(page) == 100
        figure = max(min(first), min(deep))
        load = load_average()
        return [
            Result(
                scenario=f"E1 GET /v1/lots?expiresBefore=+14d, {streams:,} streams x {LOTS} lots "
                "(first page and a keyset page deep in the list, 100 lots each)",
                figure=f"{min(first) * 1000:.1f} ms first page, {min(deep) * 1000:.1f} ms deep "
                f"page ({load})",
                ceiling="-",
                ratio=None,
                goal=f"<= {GOAL_SECONDS:.0f} s",
                met=figure <= GOAL_SECONDS,
            )
        ]
    finally:
        await pool.close()
