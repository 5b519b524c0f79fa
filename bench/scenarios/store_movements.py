"""R1: the movement report for one month over every stock stream of P5's 2,000,000-event ledger.

Figure: `movement_rows` for February 2026 by month (what `stockledger report movements` runs: one
statement streamed through a server-side cursor, every row built as the API's dict), 44,940
stock streams. Ceiling, same run, same rows: one bare aggregate of the four delta columns per
stream over every stock event before `to` — the least any report must read without snapshots
(each opening needs every earlier delta). Also measured: the same report walked page by page
(`movement_page`, 1,000 rows a page, as an HTTP client pages it, without HTTP), and a bare count
of the month's own events (context: what the month alone costs).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.results import Result
from bench.runner import Context, scenario
from bench.scenarios.store_replay import events_database
from bench.storebench import Timer, connection, load_average
from stockledger.audit.event_export import horizon
from stockledger.reports.movements import MovementQuery, RowKey, movement_page, movement_rows
from stockledger.store.db import create_pool

GOAL_SECONDS = 2.0
SINCE, UNTIL = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
_FLOOR = """
SELECT count(*) FROM (
    SELECT stream_id, sum(d_on_hand), sum(d_reserved), sum(d_in_transit), sum(d_damaged)
    FROM events WHERE stream_id >= 'stock:' AND stream_id < 'stock;' AND recorded_at < $1
      AND position <= $2
    GROUP BY stream_id
) t
"""
_MONTH = """
SELECT count(*), sum(d_on_hand) FROM events
WHERE stream_id >= 'stock:' AND stream_id < 'stock;' AND recorded_at >= $1 AND recorded_at < $2
"""


async def _whole(url: str, query: MovementQuery, as_of: int) -> tuple[float, int]:
    pool = await create_pool(url, 2)
    try:
        with Timer() as took:
            rows = [row async for row in movement_rows(pool, query, as_of)]
    finally:
        await pool.close()
    return took.seconds, len(rows)


async def _paged(url: str, query: MovementQuery, as_of: int) -> tuple[float, int, int]:
    pool = await create_pool(url, 2)
    rows = pages = 0
    after: RowKey | None = None
    try:
        with Timer() as took:
            while True:
                found, after = await movement_page(pool, query, as_of, 1000, after)
                rows, pages = rows + len(found), pages + 1
                if after is None:
                    break
    finally:
        await pool.close()
    return took.seconds, rows, pages


async def _bare(url: str, sql: str, *args: object) -> float:
    async with connection(url) as conn:
        await conn.execute("SET work_mem = '64MB'; SET jit = off")  # as the report's statement
        with Timer() as took:
            await conn.fetchval(sql, *args)
    return took.seconds


@scenario("R1", "movement report, one month by month, every stream of the 2,000,000-event ledger")
async def run(context: Context) -> list[Result]:
    total = 200_000 if context.quick else 2_000_000
    url = await events_database(context, total)
    load = load_average()
    pool = await create_pool(url, 1)
    try:
        as_of = await horizon(pool)
    finally:
        await pool.close()
    query = MovementQuery(SINCE, UNTIL, "month")
    wholes, floors, rows = [], [], 0
    for _ in range(1 if context.quick else 3):  # best of three, alternating, warm cache
        seconds, rows = await _whole(url, query, as_of)
        wholes.append(seconds)
        floors.append(await _bare(url, _FLOOR, UNTIL, as_of))
        context.console.print(f"report {seconds:.2f} s ({rows:,} rows), floor {floors[-1]:.2f} s")
    paged, paged_rows, pages = await _paged(url, query, as_of)
    month = await _bare(url, _MONTH, SINCE, UNTIL)
    context.console.print(f"paged {paged:.2f} s ({pages} pages), month alone {month:.2f} s")
    figure, ceiling = min(wholes), min(floors)
    return [
        Result(
            scenario=f"R1 movement report 2026-02 by month, {rows:,} rows (every stock stream of "
            f"{total:,} events), movement_rows",
            figure=f"{figure:.2f} s (best of {len(wholes)}; the month's own events: a bare count "
            f"{month:.2f} s; {load})",
            ceiling=f"{ceiling:.2f} s (a bare GROUP BY stream of the four delta sums over every "
            "stock event before `to`)",
            ratio=ceiling / figure,
            goal=f"<= {GOAL_SECONDS:.0f} s",
            met=figure <= GOAL_SECONDS,
        ),
        Result(
            scenario=f"R1 the same report walked in {pages} pages of 1,000 rows (movement_page, "
            "as an HTTP client pages it, no HTTP)",
            figure=f"{paged:.2f} s ({paged_rows:,} rows; {load})",
            ceiling=f"{figure:.2f} s (the whole report in one statement, above)",
            ratio=figure / paged,
            goal=f"<= {GOAL_SECONDS:.0f} s",
            met=paged <= GOAL_SECONDS and paged_rows == rows,
        ),
    ]
