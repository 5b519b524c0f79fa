"""L1: ops list every stock stream through GET /v1/stock, page by page, vs the bare query.

A fresh server (the API with relay, projector and expiry worker) gets a receipt on each of
15,000 SKUs x 3 warehouses = 45,000 stock streams; once all are projected, one client walks
`GET /v1/stock?skuPrefix=<run>&limit=1000` from the first page to the last (`after` = `next`),
twice (the first walk warms the server's and Postgres' caches; the second is the figure). The
ceiling, in the same run on the same database: the same keyset pages of stock_levels read with
asyncpg directly and serialized with orjson, no HTTP: what the pages cost the database and a
client library alone.
"""

from __future__ import annotations

import time

import asyncpg
import httpx
import orjson

from bench.harness import harness
from bench.results import Result
from bench.runner import Context, scenario
from stockledger.domain.streams import like_prefix

WAREHOUSES = ("WH-A", "WH-B", "WH-C")
PAGE = 1_000
TOTAL_GOAL_S, PAGE_P99_GOAL_MS = 2.0, 50.0
_PAGE_SQL = (
    "SELECT sku, warehouse_id, on_hand, reserved, in_transit, damaged, version, updated_at, "
    "projected_at FROM stock_levels WHERE stream_id > $1 AND stream_id LIKE $2 "
    "ORDER BY stream_id LIMIT $3"
)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _walk_api(base: str, headers: dict[str, str], prefix: str) -> tuple[int, list[float]]:
    """Every page through the API: (levels seen, seconds per page)."""
    seen, pages, after = 0, [], None
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        while True:
            params: dict[str, str | int] = {"skuPrefix": prefix, "limit": PAGE}
            if after:
                params["after"] = after
            started = time.perf_counter()
            response = await client.get("/v1/stock", params=params)
            body = response.json()
            pages.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"listing failed: {response.status_code} {response.text}")
            seen += len(body["levels"])
            after = body["next"]
            if not after:
                return seen, pages


async def _walk_sql(url: str, prefix: str) -> tuple[int, list[float]]:
    """The same pages straight from stock_levels with asyncpg + orjson."""
    seen, pages, after = 0, [], "stock:"
    conn = await asyncpg.connect(url)
    try:
        while True:
            started = time.perf_counter()
            rows = await conn.fetch(_PAGE_SQL, after, like_prefix(f"stock:{prefix}"), PAGE)
            orjson.dumps([dict(r) for r in rows])
            pages.append(time.perf_counter() - started)
            seen += len(rows)
            if len(rows) < PAGE:
                return seen, pages
            after = f"stock:{rows[-1]['sku']}:{rows[-1]['warehouse_id']}"
    finally:
        await conn.close()


@scenario("L1", "list all 45,000 stock streams through GET /v1/stock in pages of 1,000")
async def listing(context: Context) -> list[Result]:
    h = await harness()
    skus = 1_500 if context.quick else 15_000
    prefix = h.ids("L1")
    streams = [(f"{prefix}-{n:05d}", wh) for n in range(skus) for wh in WAREHOUSES]
    async with h.server("L1") as server:
        context.console.print(f"setup: receiving {len(streams):,} streams")
        await server.receive(streams, 10)
        await server.wait_projected(streams, 1, within=300)
        headers = server.auth("orders")
        await _walk_api(server.base, headers, prefix)  # warm
        started = time.perf_counter()
        seen, pages = await _walk_api(server.base, headers, prefix)
        total = time.perf_counter() - started
        started = time.perf_counter()
        bare, bare_pages = await _walk_sql(h.database_url, prefix)
        bare_total = time.perf_counter() - started
    p99 = _p99(pages) * 1000
    context.console.print(f"api {total:.2f} s ({len(pages)} pages), bare {bare_total:.2f} s")
    return [
        Result(
            scenario=f"L1 list all {len(streams):,} stock streams, GET /v1/stock?skuPrefix= in "
            f"pages of {PAGE:,} (Postgres read model), one client",
            figure=f"{total:.2f} s for {seen:,} levels in {len(pages)} pages, page p99 "
            f"{p99:.1f} ms",
            ceiling=f"{bare_total:.2f} s: the same pages by asyncpg + orjson (page p99 "
            f"{_p99(bare_pages) * 1000:.1f} ms)",
            ratio=bare_total / total if total else None,
            goal=f"<= {TOTAL_GOAL_S:g} s in total, each page p99 <= {PAGE_P99_GOAL_MS:g} ms",
            met=seen == bare == len(streams) and total <= TOTAL_GOAL_S and p99 <= PAGE_P99_GOAL_MS,
        )
    ]
