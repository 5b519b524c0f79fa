"""V1: the whole inventory valued as of an instant over P5's 2,000,000-event ledger, and the
month's COGS and turnover reports over every stock stream.

The ledger's events are written as schemaVersion 1 (bench/storedata.py predates valuation), so
the first run derives their `stock_values` rows once, as `stockledger migrate` does on an
upgraded database (`backfill_stock_values`: one position-ordered fold of the whole ledger);
that pass is timed and reported too.

Figure: `valuations.inventory` as of mid-February 2026 (what GET /v1/valuation runs: one
set-based statement over the per-event value deltas giving a page and the totals of all
streams). Ceiling, same run: P5's replay (`rebuild_stock_levels`) rate in events/s; the goal is
to value the ledger's events at least as fast as a replay folds them (and within 2 s), since a
per-stream fold of 45,000 streams is what the set-based query replaces.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.results import Result
from bench.runner import Context, scenario
from bench.scenarios.store_replay import events_database, replay
from bench.storebench import Timer, load_average, vacuum_analyze
from stockledger.audit.event_export import horizon
from stockledger.ops.value_backfill import backfill_stock_values, count_stock_events, needs_backfill
from stockledger.read import cost_of_goods
from stockledger.read import inventory_value as valuations
from stockledger.reports.turnover import TurnoverQuery, turnover_rows
from stockledger.store.db import create_pool

GOAL_SECONDS = 2.0
AT = datetime(2026, 2, 15, tzinfo=UTC)
SINCE, UNTIL = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)


@scenario("V1", "whole-inventory valuation as of an instant over the 2,000,000-event ledger")
async def run(context: Context) -> list[Result]:
    total = 200_000 if context.quick else 2_000_000
    url = await events_database(context, total)
    pool = await create_pool(url, 2)
    results: list[Result] = []
    try:
        if await needs_backfill(pool):
            stock_events = await count_stock_events(pool)
            with Timer() as took:
                written = await backfill_stock_values(pool, lambda _: None)
            await vacuum_analyze(url)
            context.console.print(f"derived {written:,} stock_values rows in {took.seconds:.1f} s")
            results.append(
                Result(
                    scenario=f"V1 derive stock_values of {stock_events:,} v1 stock events "
                    "(backfill_stock_values, once per upgraded database: `stockledger migrate`)",
                    figure=f"{took.seconds:.1f} s ({stock_events / took.seconds:,.0f} events/s, "
                    f"{written:,} rows; {load_average()})",
                    ceiling="-",
                    ratio=None,
                    goal="-",
                    met=None,
                )
            )
        as_of = await horizon(pool)
        events = await pool.fetchval(
            "SELECT count(*) FROM events WHERE recorded_at <= $1 AND position <= $2", AT, as_of
        )
        load = load_average()
        replay_seconds = await replay(url)
        rate_ceiling = total / replay_seconds
        values: list[float] = []
        found = None
        for _ in range(1 if context.quick else 3):  # best of three, warm cache
            with Timer() as took:
                found = await valuations.inventory(pool, AT, as_of, limit=1000)
            values.append(took.seconds)
        assert found is not None
        figure = min(values)
        context.console.print(
            f"valuation {figure:.2f} s ({found.totals['streams']:,} streams, value "
            f"{found.totals['value']}), replay {replay_seconds:.2f} s"
        )
        rate = events / figure
        results.append(
            Result(
                scenario=f"V1 whole inventory as of {AT:%Y-%m-%d}: {found.totals['streams']:,} "
                f"streams, {events:,} events (valuations.inventory, first page of 1,000 + totals)",
                figure=f"{figure:.2f} s ({rate:,.0f} events/s; best of {len(values)}; {load})",
                ceiling=f"{rate_ceiling:,.0f} events/s (P5 replay of {total:,} events, same run: "
                f"{replay_seconds:.2f} s)",
                ratio=rate / rate_ceiling,
                goal=f"<= {GOAL_SECONDS:.0f} s, >= 1x the replay rate",
                met=figure <= GOAL_SECONDS and rate >= rate_ceiling,
            )
        )
        with Timer() as walked:
            first = await valuations.inventory(pool, AT, as_of, limit=1000)
            rows, last, pages = len(first.rows), first.next, 1
            while last is not None:
                page, last = await valuations.inventory_page(
                    pool, AT, as_of, after=last, limit=1000
                )
                rows, pages = rows + len(page), pages + 1
        with Timer() as streamed:
            whole = sum([1 async for _ in valuations.inventory_rows(pool, AT, as_of)])
        context.console.print(f"{pages} pages {walked.seconds:.2f} s, one statement "
                              f"{streamed.seconds:.2f} s")  # fmt: skip
        results.append(
            Result(
                scenario=f"V1 the whole inventory walked in {pages} pages of 1,000 rows (the "
                "first with the totals, then `inventory_page`, as an HTTP client pages "
                "GET /v1/valuation, no HTTP)",
                figure=f"{walked.seconds:.2f} s ({rows:,} rows; {load})",
                ceiling=f"{streamed.seconds:.2f} s (every row from one statement, "
                f"`inventory_rows`: {whole:,} rows, the CLI's way)",
                ratio=streamed.seconds / walked.seconds,
                goal=f"<= {GOAL_SECONDS:.0f} s",
                met=walked.seconds <= GOAL_SECONDS and rows == whole,
            )
        )
        with Timer() as took:
            cogs = await cost_of_goods.cogs(pool, SINCE, UNTIL, as_of)
        with Timer() as turned:
            query = TurnoverQuery(SINCE, UNTIL)
            skus = sum([1 async for _ in turnover_rows(pool, query, as_of)])
        context.console.print(f"cogs {took.seconds:.2f} s, turnover {turned.seconds:.2f} s")
        results.append(
            Result(
                scenario=f"V1 February 2026 over every stream: COGS ({len(cogs['rows']):,} rows) "
                f"and turnover ({skus:,} SKUs)",
                figure=f"COGS {took.seconds:.2f} s, turnover {turned.seconds:.2f} s ({load})",
                ceiling=f"{figure:.2f} s (the whole inventory as of an instant, above)",
                ratio=figure / max(took.seconds, turned.seconds),
                goal=f"<= {GOAL_SECONDS:.0f} s each",
                met=max(took.seconds, turned.seconds) <= GOAL_SECONDS,
            )
        )
    finally:
        await pool.close()
    return results
